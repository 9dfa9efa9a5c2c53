"""The Kubernetes side of one emulated GKE cluster: API server, nodes, scheduler, kubelet and
controllers over one object store.

GKE owns the cluster's lifecycle: it creates a `KubeCluster` when the cluster's control plane
comes up, mounts `routes()` on the cluster endpoint, calls `sync_nodes` whenever node pools gain
or lose nodes, and stops it when the cluster is deleted.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from emulator.core.world import World
from emulator.kube.network import ClusterNetwork
from emulator.kube.store import Store


@dataclass(frozen=True)
class NodeSpec:
    """One VM of a node pool, as GKE describes it to the cluster."""

    name: str
    pool: str
    machine_type: str
    zone: str
    cpu_millis: int
    memory_bytes: int
    tpu_chips: int = 0
    tpu_accelerator: str = ""
    tpu_topology: str = ""
    spot: bool = False
    max_pods: int = 110  # the pool's maxPodsConstraint (xpk and tpu-provisioner use 15 on TPU)
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] = ()


class KubeCluster:
    """Everything a cluster runs; components read and write only through `store`."""

    def __init__(self, world: World, name: str, location: str, version: str) -> None:
        from emulator.kube.apiserver import ApiServer
        from emulator.kube.controllers import CONTROLLERS
        from emulator.kube.images import register_images
        from emulator.kube.kubelet import Kubelet
        from emulator.kube.nodes import NodeManager
        from emulator.kube.provreq.admission import admit_consuming_pod
        from emulator.kube.scheduler import Scheduler

        self.world = world
        self.name = name
        self.location = location
        self.version = version
        self.store = Store(world.clock)
        self.network = ClusterNetwork()
        self.api_server = ApiServer(self)
        self.api_server.admission.append(admit_consuming_pod)  # GKE's, on every cluster
        self.nodes = NodeManager(self)
        self.scheduler = Scheduler(self)
        self.kubelet = Kubelet(self)
        register_images(self)
        self.controllers = [controller(self) for controller in CONTROLLERS]
        self._tasks: list[asyncio.Task[Any]] = []

    def routes(self) -> list[web.RouteDef]:
        return self.api_server.routes()

    def sync_nodes(self, nodes: Sequence[NodeSpec]) -> None:
        self.nodes.sync(nodes)

    async def start(self) -> None:
        """Bootstrap the objects every cluster has, then run the loops."""
        self.api_server.bootstrap()
        loops = [self.scheduler, self.kubelet, *self.controllers]
        self._tasks = [asyncio.create_task(loop.run(), name=type(loop).__name__) for loop in loops]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.kubelet.stop()

    def dump(self) -> dict[str, Any]:
        return {"store": self.store.dump()}

    def load(self, state: dict[str, Any]) -> None:
        self.store.load(state["store"])
