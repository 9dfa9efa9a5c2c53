"""The Kubernetes-side fault scenarios of the control API, each seen as a user sees it on GKE:
pod status and events, node conditions, a JobSet restarting, API and log errors, a Service
without an address. One cluster (two CPU nodes and two v5e 2x4 slices, JobSet installed) serves
the whole module; every test clears the faults it set."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.emulator.cluster_client import kube_client, wait
from tests.emulator.conftest import Control, Ready
from tests.emulator.jobset_support import (
    JOBSET,
    install_jobset_from,
    manager_available,
    wait_for_jobset,
)
from tests.emulator.test_gke_support import connect, tpu_pool, tutorial_cluster

BUSYBOX = "busybox:1.36"
POOL = "cloud.google.com/gke-nodepool"
JOBSET_NAME = "jobset.sigs.k8s.io/jobset-name"
RESTART_ATTEMPT = "jobset.sigs.k8s.io/restart-attempt"


@pytest.fixture(scope="module")
def api(
    emulator: Ready, control: Control, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[client.ApiClient]:
    control.post("/reset").raise_for_status()
    gke = connect(emulator)
    cluster = gke.running_cluster(
        {
            **tutorial_cluster(emulator["project_id"]),
            "node_pools": [
                {"name": "default-pool", "initial_node_count": 2, "config": {}},
                tpu_pool("tpu1", topology="2x4", nodes=2),
                tpu_pool("tpu2", topology="2x4", nodes=2),
            ],
        }
    )
    with kube_client(cluster, gke.credentials, tmp_path_factory.mktemp("kube")) as api_client:
        install_jobset_from(emulator, api_client)
        wait_for_jobset(api_client)
        yield api_client


@pytest.fixture(autouse=True)
def clear_faults(control: Control) -> Iterator[None]:
    yield
    control.delete("/faults").raise_for_status()


def apply_scenario(control: Control, scenario: str, **params: Any) -> dict[str, Any]:
    response = control.post("/faults", json={"scenario": scenario, "params": params})
    response.raise_for_status()
    return response.json()["result"]


def run_pod(api: client.ApiClient, name: str, image: str = BUSYBOX) -> None:
    pod = {"metadata": {"name": name}, "spec": {"containers": [{"name": "main", "image": image}]}}
    client.CoreV1Api(api).create_namespaced_pod("default", pod)


def running(api: client.ApiClient, name: str) -> Any:
    core = client.CoreV1Api(api)
    return wait(
        lambda: (
            (pod := core.read_namespaced_pod(name, "default")).status.phase == "Running" and pod
        ),
        what=f"pod {name} to run",
    )


def events_of(api: client.ApiClient, name: str, namespace: str = "default") -> list[Any]:
    selector = f"involvedObject.name={name}"
    return client.CoreV1Api(api).list_namespaced_event(namespace, field_selector=selector).items


def status_of(error: ApiException) -> dict[str, Any]:
    return json.loads(error.body)


def test_a_killed_pod_restarts_with_exit_code_137(api: client.ApiClient, control: Control) -> None:
    run_pod(api, "victim")
    running(api, "victim")
    assert apply_scenario(control, "kill-pod", name="victim") == {"killed": ["default/victim"]}

    core = client.CoreV1Api(api)
    status = wait(
        lambda: (
            (
                s := core.read_namespaced_pod("victim", "default").status.container_statuses[0]
            ).restart_count
            == 1
            and s
        ),
        what="the killed container to restart",
    )
    assert (status.last_state.terminated.exit_code, status.last_state.terminated.reason) == (
        137,
        "Error",
    )


def test_a_failed_tpu_node_takes_its_slice_down_and_the_jobset_restarts(
    api: client.ApiClient, control: Control
) -> None:
    tpu = {"google.com/tpu": "4"}
    pod_spec = {
        "nodeSelector": {
            "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
            "cloud.google.com/gke-tpu-topology": "2x4",
        },
        "containers": [
            {
                "name": "worker",
                "image": BUSYBOX,
                "resources": {"requests": tpu, "limits": tpu},
            }
        ],
    }
    jobset = {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {
            "name": "slices",
            "annotations": {"alpha.jobset.sigs.k8s.io/exclusive-topology": POOL},
        },
        "spec": {
            "failurePolicy": {"maxRestarts": 3},
            "replicatedJobs": [
                {
                    "name": "workers",
                    "replicas": 2,
                    "template": {
                        "spec": {
                            "parallelism": 2,
                            "completions": 2,
                            "backoffLimit": 0,
                            "template": {"spec": pod_spec},
                        }
                    },
                }
            ],
        },
    }
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    custom.create_namespaced_custom_object(*JOBSET, "default", "jobsets", jobset)

    def pods_running(attempt: str) -> list[Any]:
        pods = core.list_namespaced_pod("default", label_selector=f"{JOBSET_NAME}=slices").items
        up = [
            p
            for p in pods
            if p.metadata.labels[RESTART_ATTEMPT] == attempt
            and p.status.phase == "Running"
            and not p.metadata.deletion_timestamp
        ]
        return up if len(up) == 4 else []

    first = wait(lambda: pods_running("0"), what="the JobSet's four pods to run")
    victim = first[0]
    node = victim.spec.node_name
    result = apply_scenario(control, "fail-node", node=node)
    assert result == {"failed": [node], "repair_seconds": 600.0}

    ready = wait(
        lambda: (
            next(c for c in core.read_node(node).status.conditions if c.type == "Ready").status
            == "Unknown"
            and core.read_node(node)
        ),
        what="the node to go NotReady",
    )
    condition = next(c for c in ready.status.conditions if c.type == "Ready")
    assert (condition.reason, condition.message) == (
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    assert {(t.key, t.effect) for t in ready.spec.taints} >= {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    restarted = wait(
        lambda: (
            (
                custom.get_namespaced_custom_object_status(
                    *JOBSET, "default", "jobsets", "slices"
                ).get("status")
                or {}
            ).get("restarts")
            == 1
        ),
        what="the JobSet to restart",
    )
    assert restarted
    reasons = {e.reason for e in events_of(api, victim.metadata.name)}
    assert {"NodeNotReady", "TaintManagerEviction"} <= reasons
    jobset_events = {e.reason for e in events_of(api, "slices")}
    assert "RestartJobSetFailurePolicyAction" in jobset_events
    # GKE's auto-repair brings the VM back, and the restarted JobSet runs whole again.
    wait(lambda: pods_running("1"), what="the restarted JobSet to run on the repaired slice")
    conditions = core.read_node(node).status.conditions
    assert next(c for c in conditions if c.type == "Ready").status == "True"


def test_an_image_that_cannot_be_pulled_leaves_the_pod_waiting(
    api: client.ApiClient, control: Control
) -> None:
    image = "us-docker.pkg.dev/my-project/sax/sax-http:v9"
    apply_scenario(control, "image-pull-error", image=image)
    run_pod(api, "unpullable", image)
    core = client.CoreV1Api(api)
    waiting = wait(
        lambda: (
            (
                statuses := core.read_namespaced_pod(
                    "unpullable", "default"
                ).status.container_statuses
            )
            and statuses[0].state.waiting
            and statuses[0].state.waiting.reason in ("ErrImagePull", "ImagePullBackOff")
            and statuses[0].state.waiting
        ),
        what="the pull to fail",
    )
    assert waiting.reason in ("ErrImagePull", "ImagePullBackOff")
    messages = [e.message for e in events_of(api, "unpullable") if e.reason == "Failed"]
    assert (
        f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and '
        f'unpack image "{image}": failed to resolve reference "{image}": {image}: not found'
    ) in messages


def test_a_load_balancer_without_address_quota_stays_pending(
    api: client.ApiClient, control: Control
) -> None:
    apply_scenario(control, "lb-address-never-assigned")
    service = {
        "metadata": {"name": "pending-lb"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 18888}]},
    }
    core = client.CoreV1Api(api)
    core.create_namespaced_service("default", service)
    failure = wait(
        lambda: next(
            (e for e in events_of(api, "pending-lb") if e.reason == "SyncLoadBalancerFailed"),
            None,
        ),
        what="the load balancer sync to fail",
    )
    assert failure.type == "Warning"
    assert "googleapi: Error 403: QUOTA_EXCEEDED - Quota 'IN_USE_ADDRESSES' exceeded." in (
        failure.message
    )
    assert "(default/pending-lb)" in failure.message
    status = core.read_namespaced_service_status("pending-lb", "default").status
    assert not status.load_balancer.ingress
    core.delete_namespaced_service("pending-lb", "default")


def test_a_jobset_webhook_that_stops_answering_fails_jobset_writes_closed(
    api: client.ApiClient, control: Control
) -> None:
    apply_scenario(control, "jobset-webhook-down")
    wait(lambda: not manager_available(api), what="the JobSet controller to become unavailable")
    custom = client.CustomObjectsApi(api)
    jobset = {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": "refused"},
        "spec": {
            "replicatedJobs": [
                {
                    "name": "w",
                    "template": {
                        "spec": {
                            "template": {"spec": {"containers": [{"name": "m", "image": BUSYBOX}]}}
                        }
                    },
                }
            ]
        },
    }
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(*JOBSET, "default", "jobsets", jobset)
    assert refused.value.status == 500
    assert status_of(refused.value)["message"].endswith(
        'no endpoints available for service "jobset-webhook-service"'
    )

    control.delete("/faults").raise_for_status()
    wait(lambda: manager_available(api), what="the JobSet controller to serve again")
    custom.create_namespaced_custom_object(*JOBSET, "default", "jobsets", jobset)


def test_the_kubernetes_api_answers_errors_then_recovers(
    api: client.ApiClient, control: Control
) -> None:
    apply_scenario(control, "kube-api-errors", status=503, times=2, verb="list", resource="pods")
    core = client.CoreV1Api(api)
    for _ in range(2):
        with pytest.raises(ApiException) as failed:
            core.list_namespaced_pod("default")
        assert failed.value.status == 503
        status = status_of(failed.value)
        assert (status["reason"], status["message"]) == (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        )
    core.list_namespaced_pod("default")
    core.list_namespaced_service("default")

    apply_scenario(control, "kube-api-errors", status=None, delay=250, resource="services")
    started = time.monotonic()
    core.list_namespaced_service("default")
    assert time.monotonic() - started >= 0.45  # 250 modelled seconds at a time scale of 0.002


def test_pod_log_reads_fail_while_the_kubelet_is_unreachable(
    api: client.ApiClient, control: Control
) -> None:
    run_pod(api, "chatty")
    pod = running(api, "chatty")
    apply_scenario(control, "pod-log-errors", times=1)
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as failed:
        core.read_namespaced_pod_log("chatty", "default", _preload_content=False)
    assert failed.value.status == 500
    assert status_of(failed.value)["message"] == (
        f'Get "https://{pod.status.host_ip}:10250/containerLogs/default/chatty/main": '
        "No agent available"
    )
    log = core.read_namespaced_pod_log("chatty", "default", _preload_content=False)
    assert log.data.decode().startswith("Started main")


def test_scenarios_are_listed_and_bad_parameters_are_400(control: Control) -> None:
    listed = control.get("/faults").json()["scenarios"]
    assert {
        "kill-pod",
        "fail-node",
        "image-pull-error",
        "lb-address-never-assigned",
        "jobset-webhook-down",
        "kube-api-errors",
        "pod-log-errors",
    } <= set(listed)
    response = control.post("/faults", json={"scenario": "kill-pod", "params": {}})
    assert response.status_code == 400
    assert "name or selector" in response.json()["error"]["message"]
