"""The kubelet of every node of the cluster: runs the pods bound to nodes that exist.

One reconcile loop starts a pod worker for each new pod on a node, tells workers about
changes (a deletion starts the graceful stop) and drops workers whose pod or node is gone.
It also keeps the container logs, and the behaviours that decide what a container does.
"""

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from emulator.kube.errors import not_found
from emulator.kube.kubelet.backoff import Backoff
from emulator.kube.kubelet.behaviour import ContainerBehaviour, DefaultBehaviour
from emulator.kube.kubelet.images import NodeImages
from emulator.kube.kubelet.logs import ContainerLog, LogLine, chosen_container, logged_container_id
from emulator.kube.kubelet.worker import PodWorker
from emulator.kube.store import Obj

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

RESYNC_SECONDS = 30.0
_TERMINAL = ("Succeeded", "Failed")


class Kubelet:
    def __init__(self, cluster: "KubeCluster") -> None:
        self.cluster = cluster
        self.behaviours: list[ContainerBehaviour] = []
        self.default_behaviour: ContainerBehaviour = DefaultBehaviour()
        self.crash_backoff = Backoff(cluster.world.clock)
        self.pull_backoff = Backoff(cluster.world.clock)
        self.images = NodeImages()
        self._workers: dict[str, PodWorker] = {}
        self._logs: dict[str, dict[str, ContainerLog]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._pods = cluster.store.types.by_kind("v1", "Pod")
        self._nodes = cluster.store.types.by_kind("v1", "Node")

    async def run(self) -> None:
        store = self.cluster.store
        seen = None
        while True:
            if store.resource_version == seen:
                await store.wait_for_change(self.cluster.world.clock.scaled(RESYNC_SECONDS))
            seen = store.resource_version
            self.sync()

    def sync(self) -> None:
        """Match the workers to the pods bound to existing nodes whose VM runs.

        This runs after every write in the cluster, so only the pods that changed since their
        worker last observed them are copied out of the store."""
        store = self.cluster.store
        nodes = {node["metadata"]["name"] for node in store.list_objects(self._nodes)}
        nodes -= set(self.cluster.nodes.down)
        existing: set[str] = set()
        bound: set[str] = set()

        def changed(pod: Obj) -> bool:
            uid = pod["metadata"]["uid"]
            existing.add(uid)
            if (pod.get("spec") or {}).get("nodeName") not in nodes:
                return False
            bound.add(uid)
            worker = self._workers.get(uid)
            version = pod["metadata"].get("resourceVersion")
            return worker is None or worker.pod["metadata"].get("resourceVersion") != version

        for pod in store.list_objects(self._pods, None, changed):
            uid = pod["metadata"]["uid"]
            worker = self._workers.get(uid)
            if worker is None:
                if (pod.get("status") or {}).get("phase") in _TERMINAL:
                    continue
                worker = self._workers[uid] = PodWorker(self, pod)
            worker.observe(pod)
        for uid in [uid for uid in self._workers if uid not in bound]:
            self._workers.pop(uid).abort()
        for uid in [uid for uid in self._logs if uid not in existing]:
            del self._logs[uid]

    async def stop(self) -> None:
        workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.abort()
        for worker in workers:
            await worker.wait_closed()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def kill(self, namespace: str, name: str) -> bool:
        """SIGKILL the running containers of a pod (as the OOM killer or a crash would end
        them): they exit 137 and restart as the pod's restartPolicy says. False when no
        container of that pod runs here."""
        worker = next(
            (w for w in self._workers.values() if (w.namespace, w.name) == (namespace, name)),
            None,
        )
        return worker is not None and worker.kill()

    def behaviour_for(
        self, pod: Mapping[str, Any], container: Mapping[str, Any]
    ) -> ContainerBehaviour:
        for behaviour in self.behaviours:
            if behaviour.matches(pod, container):
                return behaviour
        return self.default_behaviour

    def container_log(self, pod_uid: str, container_id: str) -> ContainerLog:
        """A new, empty log for a container instance that is about to start."""
        log = self._logs.setdefault(pod_uid, {})[container_id] = ContainerLog()
        return log

    def logs(
        self, namespace: str, pod: str, container: str | None = None, previous: bool = False
    ) -> list[LogLine]:
        """The lines `kubectl logs` shows; raises the API server's 404 and 400 errors."""
        log = self._log_of(namespace, pod, container, previous)
        return list(log.lines) if log else []

    async def follow_logs(
        self, namespace: str, pod: str, container: str | None = None, start: int = 0
    ) -> AsyncIterator[LogLine]:
        """`kubectl logs -f`: lines from index `start` on, until the container stops."""
        log = self._log_of(namespace, pod, container, False)
        if log is not None:
            async for line in log.follow(start):
                yield line

    def http(self) -> aiohttp.ClientSession:
        """The session HTTP probes share."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    def _log_of(
        self, namespace: str, name: str, container: str | None, previous: bool
    ) -> ContainerLog | None:
        pod: Obj | None = self.cluster.store.find(self._pods, namespace, name)
        if pod is None:
            raise not_found("pods", name)
        chosen = chosen_container(pod, container)
        if not (pod.get("spec") or {}).get("nodeName"):
            return None
        container_id = logged_container_id(pod, chosen, previous)
        return self._logs.get(pod["metadata"]["uid"], {}).get(container_id, ContainerLog())
