"""The controllers in a whole running cluster (API server, nodes, scheduler, kubelet), driven
with the real `kubernetes` client as a user drives GKE."""

import asyncio
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from conftest import ServedCluster, cpu_nodes
from kubernetes import client
from kubernetes.client.rest import ApiException
from node_harness import tpu_nodes
from test_apiserver_apply import install_jobset, wait_for_jobset_controller

from emulator.gcp.compute import compute_service
from emulator.kube.controllers import jobset_api as api
from emulator.kube.kubelet.behaviour import ContainerBehaviour, ContainerContext

ECHO_IMAGE = "example.com/echo:1"
BATCH_IMAGE = "example.com/batch:1"
POOL = "cloud.google.com/gke-nodepool"
TPU_LABEL = "cloud.google.com/gke-tpu-accelerator"
LB_PORT = 18090


class Echo(ContainerBehaviour):
    """Answers each TCP connection on port 8080 with `<pod name>: <first line>`."""

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return container.get("image") == ECHO_IMAGE

    async def run(self, ctx: ContainerContext) -> int | None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line = await reader.readline()
            writer.write(f"{ctx.pod_name}: ".encode() + line)
            await writer.drain()
            writer.close()

        await ctx.serve_tcp(8080, answer)
        await ctx.wait_until_stopped()
        return 0


class Batch(ContainerBehaviour):
    """Works a moment and exits 0; in the pod of completion index 1 of JobSet job 1, the first
    run of the first restart attempt crashes instead."""

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return container.get("image") == BATCH_IMAGE

    async def run(self, ctx: ContainerContext) -> int | None:
        labels = ctx.pod["metadata"].get("labels") or {}
        crash = (
            labels.get(api.JOB_INDEX) == "1"
            and labels.get(api.RESTART_ATTEMPT) == "0"
            and labels.get("batch.kubernetes.io/job-completion-index") == "1"
            and ctx.restart_count == 0
        )
        ctx.log(f"index {ctx.env.get('JOB_COMPLETION_INDEX')} starting")
        if crash:
            ctx.exit(1)
        if api.JOBSET_NAME in labels:  # JobSet workers serve until stopped
            await ctx.wait_until_stopped()
            return 0
        await ctx.sleep(3)
        return 0


def wait(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"not met within {timeout}s: {check}"
        time.sleep(0.02)
    return result


def behave(kube: ServedCluster, *behaviours: ContainerBehaviour) -> None:
    kube.call(kube.cluster.kubelet.behaviours.extend, behaviours)


def deployment(name: str, image: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": image,
                            "ports": [{"containerPort": 8080, "name": "tcp"}],
                        }
                    ]
                },
            },
        },
    }


def rolled_out(apps: client.AppsV1Api, name: str, generation: int, replicas: int) -> Any:
    """The Deployment once its controller has rolled out `generation` to every replica."""
    deployment = apps.read_namespaced_deployment_status(name, "default")
    status = deployment.status
    done = status and (
        status.observed_generation,
        status.replicas,
        status.updated_replicas,
        status.available_replicas,
    ) == (generation, replicas, replicas, replicas)
    return deployment if done else None


def test_a_deployment_rolls_out_a_new_template_on_real_pods(kube: ServedCluster) -> None:
    kube.add_nodes(cpu_nodes("default-pool", 2))
    with kube.api_client() as api_client:
        apps = client.AppsV1Api(api_client)
        apps.create_namespaced_deployment("default", deployment("web", "nginx:1.27"))
        available = wait(lambda: rolled_out(apps, "web", generation=1, replicas=2))
        conditions = {c.type: c for c in available.status.conditions}
        assert conditions["Available"].reason == "MinimumReplicasAvailable"
        assert conditions["Progressing"].status == "True"

        patch = {
            "spec": {
                "template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}
            }
        }
        apps.patch_namespaced_deployment("web", "default", patch)
        rolled = wait(lambda: rolled_out(apps, "web", generation=2, replicas=2))
        assert rolled.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
        replica_sets = apps.list_namespaced_replica_set("default").items
        by_revision = {
            rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs for rs in replica_sets
        }
        assert set(by_revision) == {"1", "2"}
        wait(
            lambda: (
                apps.read_namespaced_replica_set(
                    by_revision["1"].metadata.name, "default"
                ).spec.replicas
                == 0
            )
        )
        core = client.CoreV1Api(api_client)
        new_hash = by_revision["2"].metadata.labels["pod-template-hash"]
        pods = wait(
            lambda: (
                (items := core.list_namespaced_pod("default", label_selector="app=web").items)
                and len(items) == 2
                and items
            )
        )
        assert {p.metadata.labels["pod-template-hash"] for p in pods} == {new_hash}
        assert {p.spec.containers[0].image for p in pods} == {"nginx:1.28"}


def test_an_indexed_job_runs_its_pods_to_completion(kube: ServedCluster) -> None:
    kube.add_nodes(cpu_nodes("default-pool", 2))
    behave(kube, Batch())
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "batch"},
        "spec": {
            "completions": 3,
            "parallelism": 3,
            "completionMode": "Indexed",
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "work", "image": BATCH_IMAGE}],
                }
            },
        },
    }
    with kube.api_client() as api_client:
        batch, core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)
        batch.create_namespaced_job("default", job)
        done = wait(
            lambda: (
                (j := batch.read_namespaced_job_status("batch", "default")).status
                and j.status.conditions
                and any(c.type == "Complete" for c in j.status.conditions)
                and j
            )
        )
        assert done.status.succeeded == 3
        assert done.status.completed_indexes == "0-2"
        pods = core.list_namespaced_pod(
            "default", label_selector="batch.kubernetes.io/job-name=batch"
        ).items
        assert sorted(
            p.metadata.labels["batch.kubernetes.io/job-completion-index"] for p in pods
        ) == ["0", "1", "2"]
        for pod in pods:
            index = pod.metadata.annotations["batch.kubernetes.io/job-completion-index"]
            assert pod.metadata.name.startswith(f"batch-{index}-")
            assert pod.spec.hostname == f"batch-{index}"
            assert pod.status.phase == "Succeeded"
            assert not pod.metadata.finalizers
            log = core.read_namespaced_pod_log(pod.metadata.name, "default", _preload_content=False)
            assert log.data == f"index {index} starting\n".encode()


def worker_jobset() -> dict[str, Any]:
    tpu = {"google.com/tpu": "4"}
    return {
        "apiVersion": api.API_VERSION,
        "kind": "JobSet",
        "metadata": {"name": "serve", "annotations": {api.EXCLUSIVE_TOPOLOGY: POOL}},
        "spec": {
            "failurePolicy": {"maxRestarts": 2},
            "replicatedJobs": [
                {
                    "name": "workers",
                    "replicas": 2,
                    "template": {
                        "spec": {
                            "parallelism": 2,
                            "completions": 2,
                            "backoffLimit": 0,
                            "template": {
                                "spec": {
                                    "nodeSelector": {TPU_LABEL: "tpu-v5-lite-podslice"},
                                    "containers": [
                                        {
                                            "name": "worker",
                                            "image": BATCH_IMAGE,
                                            "resources": {"requests": tpu, "limits": tpu},
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


def test_a_jobset_takes_one_node_pool_per_child_job_and_restarts_after_a_crash(
    kube: ServedCluster,
) -> None:
    kube.add_nodes(cpu_nodes("default-pool", 2) + tpu_nodes("slice-a", 2) + tpu_nodes("slice-b", 2))
    behave(kube, Batch())
    with kube.api_client() as api_client:
        install_jobset(api_client)
        wait_for_jobset_controller(api_client)
        custom = client.CustomObjectsApi(api_client)
        core = client.CoreV1Api(api_client)
        custom.create_namespaced_custom_object(
            "jobset.x-k8s.io", "v1alpha2", "default", "jobsets", worker_jobset()
        )

        def jobset_status() -> dict[str, Any]:
            obj = custom.get_namespaced_custom_object_status(
                "jobset.x-k8s.io", "v1alpha2", "default", "jobsets", "serve"
            )
            return obj.get("status") or {}

        def running_pools(attempt: str) -> dict[str, set[str]] | None:
            """Node pool per child Job, once all four pods of the attempt run."""
            pods = [
                p
                for p in core.list_namespaced_pod(
                    "default", label_selector=f"{api.JOBSET_NAME}=serve"
                ).items
                if p.metadata.labels[api.RESTART_ATTEMPT] == attempt
                and p.status.phase == "Running"
                and not p.metadata.deletion_timestamp
            ]
            if len(pods) != 4:
                return None
            nodes = {n.metadata.name: n.metadata.labels[POOL] for n in core.list_node().items}
            pools: dict[str, set[str]] = {}
            for pod in pods:
                pools.setdefault(pod.metadata.labels[api.JOB_INDEX], set()).add(
                    nodes[pod.spec.node_name]
                )
            return pools

        # The crash of job 1's second pod fails that Job (backoffLimit 0): the JobSet restarts.
        restarted = wait(lambda: jobset_status().get("restarts") == 1 and jobset_status())
        assert restarted["restartsCountTowardsMax"] == 1
        pools = wait(lambda: running_pools("1"))
        assert sorted(pools) == ["0", "1"]
        assert {frozenset(p) for p in pools.values()} == {
            frozenset({"slice-a"}),
            frozenset({"slice-b"}),
        }

        ready = wait(
            lambda: (
                (status := jobset_status()).get("replicatedJobsStatus")
                and status["replicatedJobsStatus"][0]["ready"] == 2
                and status
            )
        )
        assert ready["replicatedJobsStatus"] == [
            {
                "name": "workers",
                "ready": 2,
                "succeeded": 0,
                "failed": 0,
                "active": 2,
                "suspended": 0,
            }
        ]
        assert "conditions" not in ready or not any(
            c["type"] == "Failed" for c in ready["conditions"]
        )
        jobs = client.BatchV1Api(api_client).list_namespaced_job("default").items
        assert sorted(j.metadata.name for j in jobs) == ["serve-workers-0", "serve-workers-1"]
        assert {j.metadata.labels[api.RESTART_ATTEMPT] for j in jobs} == {"1"}
        service = core.read_namespaced_service("serve", "default")
        assert service.spec.cluster_ip == "None"
        pod = core.list_namespaced_pod("default", label_selector=f"{api.JOB_INDEX}=1").items[0]
        assert pod.spec.subdomain == "serve"
        assert pod.spec.hostname.startswith("serve-workers-1-")


def ingress_ip(core: client.CoreV1Api, name: str) -> str | None:
    status = core.read_namespaced_service_status(name, "default").status
    ingress = status and status.load_balancer and status.load_balancer.ingress
    return ingress[0].ip if ingress else None


def talk(address: str) -> bytes:
    with socket.create_connection((address, LB_PORT), timeout=5) as connection:
        connection.sendall(b"hello\n")
        return connection.makefile("rb").readline()


def lb_service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "labels": {"app": "echo"},
            "annotations": {"networking.gke.io/load-balancer-type": "Internal"},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "echo"},
            "ports": [{"port": LB_PORT, "targetPort": "tcp"}],
        },
    }


def forwarding_rules(kube: ServedCluster) -> dict[str, Any]:
    return {r.name: r for r in kube.call(kube.world.resources) if r.kind == "ForwardingRule"}


def test_a_load_balancer_forwards_to_ready_pods_and_goes_with_its_service(
    kube: ServedCluster,
) -> None:
    kube.add_nodes(cpu_nodes("default-pool", 2))
    behave(kube, Echo())
    with kube.api_client() as api_client:
        client.AppsV1Api(api_client).create_namespaced_deployment(
            "default", deployment("echo", ECHO_IMAGE)
        )
        core = client.CoreV1Api(api_client)
        core.create_namespaced_service("default", lb_service("echo"))
        address = wait(lambda: ingress_ip(core, "echo"))
        answer = wait(lambda: _answer(address))
        assert answer.startswith(b"echo-") and answer.endswith(b": hello\n")
        endpoints = core.read_namespaced_endpoints("echo", "default")
        assert len(endpoints.subsets[0].addresses) == 2

        (rule,) = forwarding_rules(kube).values()
        assert rule.labels == {}  # GKE does not label the rules it creates
        compute = compute_service(kube.world)
        assert {r.scheme for r in compute.rules.values()} == {"INTERNAL"}

        core.delete_namespaced_service("echo", "default")
        wait(lambda: _gone(core, "echo"))
        assert forwarding_rules(kube) == {}
        with pytest.raises(ConnectionRefusedError):
            talk(address)


def test_a_load_balancer_leaks_when_its_cluster_is_deleted_first(kube: ServedCluster) -> None:
    kube.add_nodes(cpu_nodes("default-pool", 1))
    behave(kube, Echo())
    with kube.api_client() as api_client:
        client.AppsV1Api(api_client).create_namespaced_deployment(
            "default", deployment("echo", ECHO_IMAGE, replicas=1)
        )
        core = client.CoreV1Api(api_client)
        core.create_namespaced_service("default", lb_service("echo"))
        address = wait(lambda: ingress_ip(core, "echo"))
        wait(lambda: _answer(address))

    kube.run(kube.cluster.stop())  # GKE deletes the cluster; nobody deleted the Service
    (rule,) = forwarding_rules(kube).values()
    assert rule.name.startswith("projects/kube-lab/regions/us-west4/forwardingRules/a")
    with pytest.raises(ConnectionRefusedError):
        talk(address)


def _answer(address: str) -> bytes | None:
    try:
        return talk(address) or None
    except OSError:
        return None


def _gone(core: client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespaced_service(name, "default")
    except ApiException as error:
        return error.status == 404
    return False
