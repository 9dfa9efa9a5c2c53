"""A cluster reduced to nodes, scheduler and kubelet, for testing them through the store alone.

Pods are created as the API server stores them after defaulting (requests, the TPU toleration
the ExtendedResourceToleration admission adds), so each test shows what the node manager,
scheduler and kubelet do with them, without the API server or controllers running.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from emulator.core.clock import Clock
from emulator.core.world import World
from emulator.kube.cluster import NodeSpec
from emulator.kube.kubelet import ContainerBehaviour, Kubelet
from emulator.kube.network import ClusterNetwork
from emulator.kube.nodes import NodeManager
from emulator.kube.scheduler import Scheduler
from emulator.kube.store import Obj, Store

TIME_SCALE = 0.001
TPU_SELECTOR = {
    "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
    "cloud.google.com/gke-tpu-topology": "4x8",
}
TPU_TOLERATION = {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}


def cpu_nodes(pool: str, count: int, zone: str = "us-west4-a") -> list[NodeSpec]:
    """e2-standard-4 VMs (4 vCPU, 16 GiB)."""
    return [
        NodeSpec(
            name=f"gke-lab-{pool}-1a2b3c4d-{index:04d}",
            pool=pool,
            machine_type="e2-standard-4",
            zone=zone,
            cpu_millis=4000,
            memory_bytes=16 * 2**30,
        )
        for index in range(count)
    ]


def tpu_nodes(
    pool: str, count: int = 8, zone: str = "us-west4-a", spot: bool = False
) -> list[NodeSpec]:
    """ct5lp-hightpu-4t VMs of a v5e 4x8 slice (4 chips, 112 vCPU, 192 GiB each)."""
    return [
        NodeSpec(
            name=f"gke-lab-{pool}-5e6f7a8b-{index:04d}",
            pool=pool,
            machine_type="ct5lp-hightpu-4t",
            zone=zone,
            cpu_millis=112000,
            memory_bytes=192 * 2**30,
            tpu_chips=4,
            tpu_accelerator="tpu-v5-lite-podslice",
            tpu_topology="4x8",
            spot=spot,
            max_pods=15,
        )
        for index in range(count)
    ]


def container(name: str = "app", image: str = "busybox:1.36", **fields: Any) -> Obj:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", **fields}


def tpu_container(name: str = "server", chips: int = 4) -> Obj:
    tpu = {"google.com/tpu": str(chips)}
    return container(name, "saxml-model-server:v1", resources={"requests": tpu, "limits": tpu})


class NodeLab:
    """World, store and network, with the node manager, scheduler and kubelet over them."""

    def __init__(self, time_scale: float = TIME_SCALE) -> None:
        self.world = World("lab-project", "123456789012", Clock(time_scale))
        self.name = "lab"
        self.location = "us-west4-a"
        self.version = "1.31.5-gke.1023000"
        self.store = Store(self.world.clock)
        self.network = ClusterNetwork()
        self.nodes = NodeManager(self)  # type: ignore[arg-type]
        self.scheduler = Scheduler(self)  # type: ignore[arg-type]
        self.kubelet = Kubelet(self)  # type: ignore[arg-type]
        self._tasks: list[asyncio.Task[None]] = []
        self.store.create(self.type("Namespace"), {"metadata": {"name": "default"}})

    def type(self, kind: str) -> Any:
        return self.store.types.by_kind("v1", kind)

    async def __aenter__(self) -> "NodeLab":
        self._tasks = [
            asyncio.create_task(self.scheduler.run()),
            asyncio.create_task(self.kubelet.run()),
        ]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.kubelet.stop()

    def sync_nodes(self, nodes: list[NodeSpec]) -> None:
        self.nodes.sync(nodes)

    def create_pod(self, name: str, containers: list[Obj] | None = None, **spec: Any) -> Obj:
        """A pod as the API server stores it (labels via `labels=`)."""
        labels = spec.pop("labels", {})
        body = {
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {
                "containers": containers or [container()],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "schedulerName": "default-scheduler",
                **spec,
            },
            "status": {"phase": "Pending"},
        }
        return self.store.create(self.type("Pod"), body)

    def pod(self, name: str) -> Obj:
        return self.store.get(self.type("Pod"), "default", name)

    def node_objects(self) -> list[Obj]:
        return self.store.list_objects(self.type("Node"))

    def events(self, name: str) -> list[Obj]:
        return [
            event
            for event in self.store.list_objects(self.type("Event"), "default")
            if event["involvedObject"]["name"] == name
        ]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Poll until `predicate()` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {predicate}")
            await asyncio.sleep(0.005)


def run_on_one_cpu_node(
    scenario: Callable[[NodeLab], Any], *behaviours: ContainerBehaviour
) -> None:
    """Run `scenario` in a lab with one CPU node whose kubelet knows `behaviours`."""

    async def main() -> None:
        async with NodeLab() as lab:
            lab.kubelet.behaviours.extend(behaviours)
            lab.sync_nodes(cpu_nodes("default-pool", 1))
            await scenario(lab)

    asyncio.run(main())


def condition(pod: Obj, kind: str) -> dict[str, Any] | None:
    for entry in (pod.get("status") or {}).get("conditions") or []:
        if entry["type"] == kind:
            return entry
    return None


def container_status(pod: Obj, name: str = "app") -> dict[str, Any]:
    for entry in (pod.get("status") or {}).get("containerStatuses") or []:
        if entry["name"] == name:
            return entry
    return {}
