"""LoadBalancer Services on reserved addresses: what GKE makes, what it leaks, what the API sees."""

from pathlib import Path
from typing import Any

from google.cloud import container_v1
from kubernetes import client

from tests.emulator.cluster_client import kube_client, wait
from tests.emulator.conftest import (
    Control,
    Ready,
    RunningEmulator,
    api_error,
    credentials_for,
    discovery_client,
    operator_key,
)
from tests.emulator.test_compute_api import REGION, SUBNETWORK, finished, reserve
from tests.emulator.test_gke_support import Gke, connect, tutorial_cluster

SERVICE = "sax-http-lb"


def load_balancer(
    name: str, ip: str | None = None, internal: bool = False, port: int = 8888
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {"managed-by": "saxml-gke"}}
    if internal:
        metadata["annotations"] = {"networking.gke.io/load-balancer-type": "Internal"}
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": {"app": "sax-http"},
        "ports": [{"port": port, "targetPort": 8888}],
    }
    if ip:
        spec["loadBalancerIP"] = ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def ingress_ip(core: client.CoreV1Api, name: str) -> str | None:
    status = core.read_namespaced_service(name, "default").status
    return (status.load_balancer.ingress or [client.V1LoadBalancerIngress()])[0].ip


def sync_failure(core: client.CoreV1Api, name: str) -> str:
    """The message of the Service's first SyncLoadBalancerFailed Warning, once there is one."""

    def failure() -> str | None:
        events = core.list_namespaced_event(
            "default", field_selector=f"involvedObject.name={name}"
        ).items
        found = [e for e in events if e.reason == "SyncLoadBalancerFailed"]
        return found[0].message if found else None

    return wait(failure, what=f"a SyncLoadBalancerFailed event of {name}")


def cluster_and_core(ready: Ready, tmp_path: Path) -> tuple[Gke, container_v1.Cluster, Any]:
    gke = connect(ready)
    cluster = gke.running_cluster(tutorial_cluster(ready["project_id"]))
    return gke, cluster, client.CoreV1Api(kube_client(cluster, gke.credentials, tmp_path))


def test_a_service_takes_its_reserved_address_and_a_leaked_rule_keeps_it_in_use(
    fresh_world: Ready, api: Any, control: Control, tmp_path: Path
) -> None:
    project = fresh_world["project_id"]
    compute = api("compute", "v1")
    reserved = reserve(compute, project, {"name": "sax-http", "labels": {"managed-by": "x"}})
    gke, cluster, core = cluster_and_core(fresh_world, tmp_path)

    created = core.create_namespaced_service("default", load_balancer(SERVICE, reserved["address"]))
    assert wait(lambda: ingress_ip(core, SERVICE), what="the address") == reserved["address"]

    rule_name = ("a" + created.metadata.uid.replace("-", ""))[:32]
    rules = compute.forwardingRules()
    rule = rules.get(project=project, region=REGION, forwardingRule=rule_name).execute()
    assert rule["kind"] == "compute#forwardingRule"
    assert rule["IPAddress"] == reserved["address"]
    assert rule["description"] == f'{{"kubernetes.io/service-name":"default/{SERVICE}"}}'
    assert (rule["IPProtocol"], rule["portRange"], rule["loadBalancingScheme"]) == (
        "TCP",
        "8888-8888",
        "EXTERNAL",
    )
    assert rule["target"].endswith(f"/regions/{REGION}/targetPools/{rule_name}")
    assert "labels" not in rule  # GKE does not label the rules it creates
    address = compute.addresses().get(project=project, region=REGION, address="sax-http")
    in_use = address.execute()
    assert (in_use["status"], in_use["users"]) == ("IN_USE", [rule["selfLink"]])

    gke.wait(gke.client.delete_cluster(name=gke.cluster_path(cluster.name)))  # Service remains
    leaked = {r["kind"] for r in control.get("/resources").json()["resources"]}
    assert {"Address", "ForwardingRule"} <= leaked and "Cluster" not in leaked
    assert address.execute()["status"] == "IN_USE"
    error = api_error(
        compute.addresses().delete(project=project, region=REGION, address="sax-http")
    )
    assert (error["code"], error["errors"][0]["reason"]) == (400, "resourceInUseByAnotherResource")
    assert error["message"] == (
        f"The address resource 'projects/{project}/regions/{REGION}/addresses/sax-http' is "
        f"already being used by 'projects/{project}/regions/{REGION}/forwardingRules/{rule_name}'"
    )

    finished(
        compute,
        project,
        rules.delete(project=project, region=REGION, forwardingRule=rule_name).execute(),
    )
    released = address.execute()
    assert (released["status"], released["address"]) == ("RESERVED", reserved["address"])
    assert "users" not in released
    deletion = compute.addresses().delete(project=project, region=REGION, address="sax-http")
    finished(compute, project, deletion.execute())
    assert not [r for r in control.get("/resources").json()["resources"] if r["api"] == "compute"]


def test_a_load_balancer_ip_that_is_not_a_fitting_reserved_address_is_refused(
    fresh_world: Ready, api: Any, tmp_path: Path
) -> None:
    project = fresh_world["project_id"]
    compute = api("compute", "v1")
    internal = reserve(
        compute,
        project,
        {"name": "inside", "addressType": "INTERNAL", "subnetwork": SUBNETWORK},
    )
    external = reserve(compute, project, {"name": "outside"})
    _, _, core = cluster_and_core(fresh_world, tmp_path)

    core.create_namespaced_service("default", load_balancer("unreserved", "127.0.200.9"))
    assert sync_failure(core, "unreserved") == (
        "Error syncing load balancer: failed to ensure load balancer: "
        'requested ip "127.0.200.9" is neither static nor assigned to the LB'
    )
    core.create_namespaced_service("default", load_balancer("wrong-type", internal["address"]))
    assert sync_failure(core, "wrong-type").endswith(
        f"googleapi: Error 400: Invalid value for field 'resource.IPAddress': "
        f"'{internal['address']}'. Invalid IP address specified., invalid"
    )
    core.create_namespaced_service(
        "default", load_balancer("private", external["address"], internal=True)
    )
    assert sync_failure(core, "private").endswith(
        'address "outside" does not have the expected address type "INTERNAL", actual: "EXTERNAL"'
    )
    for name in ("unreserved", "wrong-type", "private"):
        assert ingress_ip(core, name) is None

    # Reserving the requested IP lets the controller's next retry succeed.
    reserve(compute, project, {"name": "late", "address": "127.0.200.9"})
    assert wait(lambda: ingress_ip(core, "unreserved"), what="the address") == "127.0.200.9"


def test_a_rule_deleted_through_the_api_comes_back_while_its_service_exists(
    fresh_world: Ready, api: Any, tmp_path: Path
) -> None:
    project = fresh_world["project_id"]
    compute = api("compute", "v1")
    _, _, core = cluster_and_core(fresh_world, tmp_path)
    core.create_namespaced_service("default", load_balancer(SERVICE))
    wait(lambda: ingress_ip(core, SERVICE), what="an ephemeral address")
    rules = compute.forwardingRules()
    (rule,) = rules.list(project=project, region=REGION).execute()["items"]

    delete = rules.delete(project=project, region=REGION, forwardingRule=rule["name"])
    finished(compute, project, delete.execute())

    def recreated() -> dict[str, Any] | None:
        listed = rules.list(project=project, region=REGION).execute().get("items", [])
        return next((r for r in listed if r["id"] != rule["id"]), None)

    again = wait(recreated, what="the rule to be created again")
    assert again["name"] == rule["name"]
    assert not compute.addresses().list(project=project, region=REGION).execute().get("items")


def test_addresses_and_a_leaked_rule_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = RunningEmulator(tmp_path / "first", "--state-file", str(state))
    ready = first.ready
    project, key = ready["project_id"], operator_key(ready)
    compute = discovery_client(ready, "compute", "v1", credentials_for(key))
    try:
        reserved = reserve(compute, project, {"name": "kept", "labels": {"team": "ml"}})
        gke, cluster, core = cluster_and_core(ready, tmp_path)
        # Another port than the session emulator's Services, which may hold the same loopback IP.
        service = load_balancer(SERVICE, reserved["address"], port=18888)
        core.create_namespaced_service("default", service)
        wait(lambda: ingress_ip(core, SERVICE), what="the address")
        gke.wait(gke.client.delete_cluster(name=gke.cluster_path(cluster.name)))
    finally:
        assert first.stop() == 0

    second = RunningEmulator(tmp_path / "second", "--state-file", str(state))
    try:
        compute = discovery_client(second.ready, "compute", "v1", credentials_for(key))
        kept = compute.addresses().get(project=project, region=REGION, address="kept").execute()
        assert (kept["id"], kept["address"], kept["labels"]) == (
            reserved["id"],
            reserved["address"],
            {"team": "ml"},
        )
        assert kept["status"] == "IN_USE"
        (rule,) = compute.forwardingRules().list(project=project, region=REGION).execute()["items"]
        assert kept["users"] == [rule["selfLink"]]
    finally:
        assert second.stop() == 0
