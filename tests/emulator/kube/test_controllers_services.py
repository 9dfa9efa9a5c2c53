"""Endpoints and LoadBalancer Services, driven through the store as the API server writes it."""

import asyncio
import socket
from typing import Any

import pytest
from controller_harness import Harness, container, eventually, run

from emulator.gcp.compute import compute_service
from emulator.kube.controllers import EndpointsController, ServiceLoadBalancerController
from emulator.kube.controllers.service_lb import FINALIZER, load_balancer_name

LB_PORT = 18080


def pod(name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    ports = [{"name": "http", "containerPort": 8080}]
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [container(ports=ports)], **spec},
    }


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": "sax", "tier": "frontend"}},
        "spec": {"selector": {"app": "sax"}, "ports": [{"port": 80, "targetPort": "http"}], **spec},
    }


def test_endpoints_list_ready_and_not_ready_pods_of_a_service() -> None:
    async def scenario() -> None:
        cluster = Harness()
        cluster.start(EndpointsController(cluster))
        ready = await cluster.create(
            "v1", "Pod", pod("ready", {"app": "sax"}, hostname="h0", subdomain="web")
        )
        starting = await cluster.create("v1", "Pod", pod("starting", {"app": "sax"}))
        await cluster.create("v1", "Pod", pod("other", {"app": "other"}))
        cluster.bind(ready, "node-1")
        ready = cluster.run_ready(ready)
        starting = cluster.set_phase(starting, "Running", ready=False)
        await cluster.create("v1", "Service", service("web", clusterIP="None"))

        endpoints = await eventually(lambda: cluster.find("v1", "Endpoints", "web"))
        assert endpoints["metadata"]["labels"] == {
            "app": "sax",
            "tier": "frontend",
            "service.kubernetes.io/headless": "",
        }
        (subset,) = endpoints["subsets"]
        assert subset["ports"] == [{"port": 8080, "protocol": "TCP"}]
        assert subset["addresses"] == [
            {
                "ip": ready["status"]["podIP"],
                "nodeName": "node-1",
                "hostname": "h0",
                "targetRef": {
                    "kind": "Pod",
                    "namespace": "default",
                    "name": "ready",
                    "uid": ready["metadata"]["uid"],
                },
            }
        ]
        assert [a["ip"] for a in subset["notReadyAddresses"]] == [starting["status"]["podIP"]]

        cluster.run_ready(starting)
        await eventually(
            lambda: len(cluster.get("v1", "Endpoints", "web")["subsets"][0]["addresses"]) == 2
        )
        cluster.store.delete(cluster.type("v1", "Service"), "default", "web")
        await eventually(lambda: cluster.find("v1", "Endpoints", "web") is None)
        await cluster.stop()

    run(scenario)


async def echo_server() -> tuple[asyncio.Server, int]:
    """A container's real listener: answers every line with `echo: <line>`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"echo: " + line)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def exchange(address: str, port: int) -> bytes:
    reader, writer = await asyncio.open_connection(address, port)
    writer.write(b"hello\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


def socket_exchange(address: str, port: int) -> bytes:
    """A plain blocking client, as any program outside the emulator connects."""
    with socket.create_connection((address, port), timeout=5) as raw:
        raw.sendall(b"raw\n")
        return raw.makefile("rb").readline()


async def refused(address: str, port: int) -> bool:
    try:
        await exchange(address, port)
    except ConnectionRefusedError:
        return True
    return False


async def serving_backend(cluster: Harness) -> asyncio.Server:
    """A ready pod of the Service whose port 8080 really listens."""
    backend = await cluster.create("v1", "Pod", pod("sax-0", {"app": "sax"}))
    cluster.bind(backend, "node-1")
    backend = cluster.run_ready(backend)
    server, real_port = await echo_server()
    cluster.network.register_listener(backend["status"]["podIP"], 8080, ("127.0.0.1", real_port))
    return server


def lb_service(name: str, internal: bool = False) -> dict[str, Any]:
    body = service(name, type="LoadBalancer", ports=[{"port": LB_PORT, "targetPort": "http"}])
    if internal:
        body["metadata"]["annotations"] = {"networking.gke.io/load-balancer-type": "Internal"}
    return body


def ingress_ip(cluster: Harness, name: str) -> str | None:
    status = cluster.get("v1", "Service", name).get("status") or {}
    ingress = (status.get("loadBalancer") or {}).get("ingress") or [{}]
    return ingress[0].get("ip")


def test_a_load_balancer_answers_on_its_own_loopback_address_until_the_service_goes() -> None:
    async def scenario() -> None:
        cluster = Harness()
        compute = compute_service(cluster.world)
        cluster.start(EndpointsController(cluster), ServiceLoadBalancerController(cluster))
        backend = await serving_backend(cluster)
        created = await cluster.create("v1", "Service", lb_service("public"))
        internal = await cluster.create("v1", "Service", lb_service("private", internal=True))

        await eventually(
            lambda: (
                FINALIZER
                in cluster.get("v1", "Service", "public")["metadata"].get("finalizers", [])
            )
        )
        assert ingress_ip(cluster, "public") is None  # Google takes a while to program it
        address = await eventually(lambda: ingress_ip(cluster, "public"))
        private_address = await eventually(lambda: ingress_ip(cluster, "private"))
        assert address.startswith("127.") and address != "127.0.0.1"
        assert private_address != address
        assert cluster.get("v1", "Service", "public")["status"]["loadBalancer"]["ingress"] == [
            {"ip": address, "ipMode": "VIP"}
        ]
        assert await exchange(address, LB_PORT) == b"echo: hello\n"
        assert await asyncio.to_thread(socket_exchange, private_address, LB_PORT) == b"echo: raw\n"

        rule = compute.rules[load_balancer_name(created)]
        assert (rule.address, rule.ports, rule.scheme) == (address, [LB_PORT], "EXTERNAL")
        assert rule.region == "us-central1"
        assert rule.service == "default/public"
        assert compute.rules[load_balancer_name(internal)].scheme == "INTERNAL"
        listed = {r.name: r for r in cluster.world.resources() if r.kind == "ForwardingRule"}
        path = f"projects/proj/regions/us-central1/forwardingRules/{load_balancer_name(created)}"
        assert listed[path].labels == {}  # GKE does not label the rules it creates
        reasons = [e["reason"] for e in cluster.objects("v1", "Event")]
        assert reasons.count("EnsuringLoadBalancer") == 2
        assert reasons.count("EnsuredLoadBalancer") == 2

        cluster.store.delete(cluster.type("v1", "Service"), "default", "public")
        await eventually(lambda: cluster.find("v1", "Service", "public") is None)
        assert load_balancer_name(created) not in compute.rules
        assert await refused(address, LB_PORT)
        assert path not in {r.name for r in cluster.world.resources()}
        assert await exchange(private_address, LB_PORT) == b"echo: hello\n"
        await cluster.stop()
        backend.close()

    run(scenario)


def test_a_load_balancer_outlives_a_cluster_deleted_before_its_service() -> None:
    async def scenario() -> None:
        cluster = Harness()
        compute = compute_service(cluster.world)
        cluster.start(EndpointsController(cluster), ServiceLoadBalancerController(cluster))
        backend = await serving_backend(cluster)
        created = await cluster.create("v1", "Service", lb_service("public"))
        address = await eventually(lambda: ingress_ip(cluster, "public"))
        assert await exchange(address, LB_PORT) == b"echo: hello\n"

        await cluster.stop()  # the cluster is deleted; its Service never was
        name = load_balancer_name(created)
        assert compute.rules[name].address == address
        assert any(r.name.endswith(f"/forwardingRules/{name}") for r in cluster.world.resources())
        assert await refused(address, LB_PORT)
        backend.close()

    run(scenario)


@pytest.mark.parametrize(
    "annotation", ["networking.gke.io/load-balancer-type", "cloud.google.com/load-balancer-type"]
)
def test_both_spellings_of_the_internal_annotation_make_an_internal_rule(annotation: str) -> None:
    async def scenario() -> None:
        cluster = Harness()
        compute = compute_service(cluster.world)
        cluster.start(ServiceLoadBalancerController(cluster))
        body = lb_service("private")
        body["metadata"]["annotations"] = {annotation: "Internal"}
        created = await cluster.create("v1", "Service", body)
        await eventually(lambda: ingress_ip(cluster, "private"))
        assert compute.rules[load_balancer_name(created)].scheme == "INTERNAL"
        await cluster.stop()
        await compute.stop()

    run(scenario)
