"""Nodes, scheduling and the kubelet as the real `kubernetes` client sees them."""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from conftest import ServedCluster
from kubernetes import client
from node_harness import TPU_SELECTOR, tpu_nodes

from emulator.kube.kubelet import ContainerBehaviour, ContainerContext
from emulator.kube.store import Obj

T = TypeVar("T")


def eventually(read: Callable[[], T], timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {read}")
        time.sleep(0.02)


class Crasher(ContainerBehaviour):
    start_seconds = 0.0

    def matches(self, pod: Obj, container: Obj) -> bool:
        return container["image"] == "crasher:1"

    async def run(self, ctx: ContainerContext) -> int | None:
        ctx.log(f"run {ctx.restart_count}: cannot open gs://bucket/sax-root")
        return 2


def read_log(core: client.CoreV1Api, name: str, **options: Any) -> str:
    """The log as text: the client's own `str` decoding of text/plain is `str(bytes)`."""
    response = core.read_namespaced_pod_log(name, "default", _preload_content=False, **options)
    return str(response.data.decode())


def tpu_pod(name: str) -> client.V1Pod:
    """A model-server pod as the tutorial writes it: no toleration, GKE's admission adds it."""
    chips = {"google.com/tpu": "4"}
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            node_selector=TPU_SELECTOR,
            containers=[
                client.V1Container(
                    name="sax-model-server",
                    image="us-docker.pkg.dev/cloud-tpu-images/inference/sax-model-server:v1.2.0",
                    args=["--port=10001"],
                    resources=client.V1ResourceRequirements(requests=chips, limits=chips),
                )
            ],
        ),
    )


def test_tpu_pods_wait_for_tpu_nodes_then_run(kube: ServedCluster, api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod("default", tpu_pod("model-0"))

    def unschedulable() -> str:
        pod = core.read_namespaced_pod("model-0", "default")
        for found in pod.status.conditions or []:
            if found.type == "PodScheduled" and found.reason == "Unschedulable":
                return str(found.message)
        return ""

    message = eventually(unschedulable)
    assert message == "no nodes available to schedule pods"
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.name=model-0"
    ).items
    assert any(e.reason == "FailedScheduling" and e.type == "Warning" for e in events)

    kube.add_nodes(tpu_nodes("tpu1", 8))
    nodes = core.list_node(label_selector="cloud.google.com/gke-nodepool=tpu1").items
    assert len(nodes) == 8
    node = nodes[0]
    assert node.metadata.labels["cloud.google.com/gke-tpu-topology"] == "4x8"
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [
        ("google.com/tpu", "present", "NoSchedule")
    ]
    assert node.status.allocatable["google.com/tpu"] == "4"

    pod = eventually(
        lambda: (
            (p := core.read_namespaced_pod("model-0", "default")).status.phase == "Running" and p
        )
    )
    assert pod.spec.node_name in {n.metadata.name for n in nodes}
    tolerations = {(t.key, t.operator, t.effect) for t in pod.spec.tolerations}
    assert ("google.com/tpu", "Exists", "NoSchedule") in tolerations  # added by admission
    assert pod.status.container_statuses[0].state.running is not None

    log = eventually(lambda: read_log(core, "model-0", timestamps=True))
    stamp, line = log.splitlines()[0].split(" ", 1)
    assert stamp.endswith("Z") and "T" in stamp
    assert line.endswith("] JAX process: 0 / 1")  # the model server's image runs


def test_a_crash_loop_through_the_api(kube: ServedCluster, api_client: Any) -> None:
    kube.call(kube.cluster.kubelet.behaviours.append, Crasher())
    kube.add_nodes(tpu_nodes("tpu1", 1))
    core = client.CoreV1Api(api_client)
    toleration = client.V1Toleration(key="google.com/tpu", operator="Exists", effect="NoSchedule")
    core.create_namespaced_pod(
        "default",
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="admin"),
            spec=client.V1PodSpec(
                tolerations=[toleration],
                containers=[client.V1Container(name="sax-admin-server", image="crasher:1")],
            ),
        ),
    )

    def crash_looping() -> Any:
        status = core.read_namespaced_pod("admin", "default").status
        statuses = status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        if waiting and waiting.reason == "CrashLoopBackOff" and statuses[0].restart_count >= 2:
            return statuses[0]
        return None

    status = eventually(crash_looping)
    assert status.state.waiting.message.startswith("back-off ")
    assert status.last_state.terminated.exit_code == 2
    assert status.last_state.terminated.reason == "Error"
    previous = read_log(core, "admin", previous=True)
    assert previous.startswith("run ") and previous.endswith(": cannot open gs://bucket/sax-root\n")
