"""A cluster reduced to what the controllers touch, for testing them through the store alone.

Objects are written as the API server stores them and pods are moved through their lives as the
scheduler and kubelet move them (binding, then status writes through the `status` subresource),
so each test shows one controller's behaviour without the rest of the cluster running.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from emulator.core.clock import Clock
from emulator.core.world import World
from emulator.kube.apiserver import ApiServer
from emulator.kube.network import ClusterNetwork
from emulator.kube.resources import ResourceType, crd_resource_types
from emulator.kube.store import Obj, Store, kube_timestamp

TIME_SCALE = 0.001


class Harness:
    """What controllers read from their cluster: world, store, network and the API server (whose
    in-process `create` they write through, with its defaults, webhooks and validation)."""

    def __init__(self, name: str = "c1", location: str = "us-central1-a") -> None:
        self.world = World("proj", "123456789012", Clock(TIME_SCALE))
        self.name = name
        self.location = location
        self.version = "1.31.6-gke.1020000"
        self.store = Store(self.world.clock)
        self.network = ClusterNetwork()
        self.api_server = ApiServer(self)  # type: ignore[arg-type]
        self._tasks: list[asyncio.Task[Any]] = []
        self.store.create(self.type("v1", "Namespace"), {"metadata": {"name": "default"}})

    def type(self, api_version: str, kind: str) -> ResourceType:
        return self.store.types.by_kind(api_version, kind)

    def start(self, *controllers: Any) -> None:
        self._tasks += [asyncio.create_task(controller.run()) for controller in controllers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # Objects

    async def create(self, api_version: str, kind: str, obj: Obj) -> Obj:
        """Create as a user does: through the API server (defaults, webhooks, validation)."""
        rtype = self.type(api_version, kind)
        obj = {"apiVersion": api_version, "kind": kind, **obj}
        if rtype.namespaced:
            obj["metadata"] = {"namespace": "default", **obj["metadata"]}
        return await self.api_server.create(rtype, obj, manager="kubectl")

    def get(self, api_version: str, kind: str, name: str, namespace: str = "default") -> Obj:
        return self.store.get(self.type(api_version, kind), namespace, name)

    def find(
        self, api_version: str, kind: str, name: str, namespace: str = "default"
    ) -> Obj | None:
        return self.store.find(self.type(api_version, kind), namespace, name)

    def objects(self, api_version: str, kind: str, namespace: str | None = "default") -> list[Obj]:
        return self.store.list_objects(self.type(api_version, kind), namespace)

    def pods(self) -> list[Obj]:
        return self.objects("v1", "Pod")

    def install_crd(self, crd: Obj) -> Obj:
        """A CRD as the API server registers it: its types are served from now on."""
        for rtype in crd_resource_types(crd):
            self.store.types.add(rtype)
        return self.store.create(
            self.type("apiextensions.k8s.io/v1", "CustomResourceDefinition"), crd
        )

    def remove_crd(self, name: str) -> None:
        self.store.delete(
            self.type("apiextensions.k8s.io/v1", "CustomResourceDefinition"), "", name
        )
        self.store.types.remove_crd(name)

    def add_node(self, name: str, labels: dict[str, str]) -> Obj:
        return self.store.create(
            self.type("v1", "Node"),
            {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}}},
        )

    # Pod lives, as the scheduler and the kubelet write them

    def bind(self, pod: Obj, node: str) -> Obj:
        current = self.get("v1", "Pod", pod["metadata"]["name"])
        current["spec"]["nodeName"] = node
        return self.store.replace(self.type("v1", "Pod"), current)

    def set_phase(self, pod: Obj, phase: str, ready: bool = False, restarts: int = 0) -> Obj:
        current = self.get("v1", "Pod", pod["metadata"]["name"])
        now = kube_timestamp(time.time())
        ip = current.get("status", {}).get("podIP") or self.network.allocate(self.network.pod_cidr)
        current["status"] = {
            "phase": phase,
            "podIP": ip,
            "conditions": [
                {"type": "Ready", "status": str(ready), "lastTransitionTime": now},
            ],
            "containerStatuses": [
                {"name": c["name"], "ready": ready, "restartCount": restarts}
                for c in current["spec"].get("containers", [])
            ],
        }
        return self.store.replace(self.type("v1", "Pod"), current, "status")

    def run_ready(self, pod: Obj) -> Obj:
        return self.set_phase(pod, "Running", ready=True)

    def start_kubelet(self, node: str | None = "node-1") -> None:
        """Every bound pod runs and is Ready at once, and deleted pods go: a kubelet with nothing
        to wait for; with a `node`, a scheduler that binds every pod there too."""

        async def loop() -> None:
            while True:
                for pod in self.objects("v1", "Pod", None):
                    metadata = pod["metadata"]
                    if metadata.get("deletionTimestamp"):
                        self.store.finish_pod_deletion(metadata["namespace"], metadata["name"])
                    elif not pod["spec"].get("nodeName"):
                        if node is not None:
                            self.bind(pod, node)
                    elif pod.get("status", {}).get("phase", "Pending") == "Pending":
                        self.run_ready(pod)
                await self.store.wait_for_change(0.02)

        self._tasks.append(asyncio.create_task(loop()))


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll until `check()` returns something truthy (controllers run in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        await asyncio.sleep(0.01)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def container(name: str = "main", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox:1.36", **extra}
