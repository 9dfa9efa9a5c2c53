"""One pod on its node, from sandbox to teardown: the kubelet's pod worker.

The sandbox gets the pod's IP (its node's for hostNetwork); init containers run one after
another to completion; then the app containers run side by side, each restarting as the
restartPolicy says. The worker writes the pod's status whenever it changes. Deletion stops
the containers within the grace period, writes the final status and removes the pod; a pod
that vanished, or whose node did, is simply dropped, as nothing can report on it any more.
"""

import asyncio
from typing import TYPE_CHECKING, Any

from emulator.kube.events import record_event
from emulator.kube.kubelet.behaviour import wait_for_event
from emulator.kube.kubelet.container import ContainerRunner
from emulator.kube.kubelet.status import merge_conditions, pod_conditions, pod_phase
from emulator.kube.nodes import node_internal_ip
from emulator.kube.store import Obj, kube_timestamp

if TYPE_CHECKING:
    from emulator.kube.kubelet.kubelet import Kubelet

SANDBOX_SECONDS = 1.0
DEFAULT_GRACE_SECONDS = 30


class PodWorker:
    def __init__(self, kubelet: "Kubelet", pod: Obj) -> None:
        self.kubelet = kubelet
        self.cluster = kubelet.cluster
        self.clock = kubelet.cluster.world.clock
        self.pod = pod
        metadata, spec = pod["metadata"], pod["spec"]
        self.uid: str = metadata["uid"]
        self.namespace: str = metadata["namespace"]
        self.name: str = metadata["name"]
        self.node_name: str = spec["nodeName"]
        self.restart_policy: str = spec.get("restartPolicy", "Always")
        self.host_network = bool(spec.get("hostNetwork"))
        status = pod.get("status") or {}
        self.pod_ip: str = status.get("podIP", "")
        self.sandbox_ready = bool(self.pod_ip)
        self.start_time: str = status.get("startTime") or kube_timestamp(self.clock.now())
        node = self._node()
        self.host_ip = node_internal_ip(node) if node else ""
        self.pod_range = str(node["spec"]["podCIDR"]) if node else ""
        self.stop_event = asyncio.Event()
        self.terminated = False
        self._aborted = False
        self._network_released = False
        previous = {
            entry["name"]: entry
            for entry in [
                *(status.get("initContainerStatuses") or []),
                *(status.get("containerStatuses") or []),
            ]
        }
        self.init_runners = [
            ContainerRunner(self, container, True, previous.get(container["name"]))
            for container in spec.get("initContainers") or []
        ]
        self.runners = [
            ContainerRunner(self, container, False, previous.get(container["name"]))
            for container in spec["containers"]
        ]
        if self.init_runners:
            for runner in self.runners:
                if not runner.instances:
                    runner.state = {"waiting": {"reason": "PodInitializing"}}
        self._task = asyncio.create_task(self._run(), name=f"pod {self.namespace}/{self.name}")
        self._termination: asyncio.Task[None] | None = None

    # What the kubelet tells the worker

    def observe(self, pod: Obj) -> None:
        """The latest version of the pod: a deletion starts the graceful stop."""
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp") and self._termination is None:
            self._termination = asyncio.create_task(self._terminate())

    def abort(self) -> None:
        """The pod or its node is gone: stop everything at once, report nothing."""
        self._aborted = True
        self.stop_event.set()
        for task in (self._task, self._termination):
            if task is not None:
                task.cancel()
        self._release_network()

    def kill(self) -> bool:
        """Kill every running container at once; whether one was running."""
        killed = [runner.kill() for runner in [*self.init_runners, *self.runners]]
        return any(killed)

    async def wait_closed(self) -> None:
        tasks = [task for task in (self._task, self._termination) if task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    # What the containers ask of the worker

    @property
    def stopping(self) -> bool:
        return self.stop_event.is_set()

    @property
    def grace_seconds(self) -> float:
        """The deletion's grace period (modelled seconds), or the pod's own."""
        metadata, spec = self.pod["metadata"], self.pod["spec"]
        grace = metadata.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        return float(grace)

    async def wait_or_stop(self, seconds: float, wall: bool = False) -> bool:
        """Wait `seconds` (modelled, or wall); True if the pod started stopping meanwhile."""
        timeout = seconds if wall else self.clock.scaled(seconds)
        return await wait_for_event(self.stop_event, timeout)

    def current_pod(self) -> Obj:
        pods = self.cluster.store.types.by_kind("v1", "Pod")
        return self.cluster.store.find(pods, self.namespace, self.name) or self.pod

    def event(self, reason: str, message: str, event_type: str = "Normal", field: str = "") -> None:
        if not self._aborted:
            record_event(
                self.cluster.store,
                self.pod,
                reason,
                message,
                event_type,
                "kubelet",
                self.node_name,
                field,
            )

    def publish(self) -> None:
        """Write the pod's status if it changed, while the pod and its node still exist."""
        store = self.cluster.store
        pods = store.types.by_kind("v1", "Pod")
        current = store.find(pods, self.namespace, self.name)
        if self._aborted or current is None or current["metadata"]["uid"] != self.uid:
            return
        if self._node() is None:
            return
        status = self._status(current.get("status") or {})
        if status != current.get("status"):
            store.replace(pods, {**current, "status": status}, "status")

    # The pod's life

    async def _run(self) -> None:
        await self._start_sandbox()
        if await self._initialize() and not self.stopping:
            await asyncio.gather(*(runner.run() for runner in self.runners))
        if not self.stopping:
            self.terminated = True  # every container is done and none will restart
            self.publish()
            self._release_network()

    async def _start_sandbox(self) -> None:
        network = self.cluster.network
        if self.pod_ip:
            if not self.host_network:
                network.reserve(self.pod_range, self.pod_ip)
        else:
            if await self.wait_or_stop(SANDBOX_SECONDS):
                return
            self.pod_ip = self.host_ip if self.host_network else network.allocate(self.pod_range)
            self.sandbox_ready = True
        self.publish()

    async def _initialize(self) -> bool:
        for runner in self.init_runners:
            if runner.exit_code == 0:
                continue
            if await runner.run() != 0:
                return False
        return True

    async def _terminate(self) -> None:
        self.stop_event.set()
        for runner in [*self.init_runners, *self.runners]:
            runner.request_stop()
        await asyncio.gather(self._task, return_exceptions=True)
        self.terminated = True
        self.publish()
        self._release_network()
        self.cluster.store.finish_pod_deletion(self.namespace, self.name)

    def _release_network(self) -> None:
        """The sandbox is gone: its IP goes back to the node's range (once)."""
        if self.pod_ip and not self.host_network and not self._network_released:
            self._network_released = True
            self.cluster.network.unregister_pod(self.pod_ip)
            self.cluster.network.release(self.pod_range, self.pod_ip)

    def _node(self) -> Obj | None:
        nodes = self.cluster.store.types.by_kind("v1", "Node")
        return self.cluster.store.find(nodes, "", self.node_name)

    def _status(self, current: Obj) -> dict[str, Any]:
        init = [runner.status() for runner in self.init_runners]
        app = [runner.status() for runner in self.runners]
        phase = pod_phase(self.restart_policy, init, app, self.terminated)
        conditions = pod_conditions(self.sandbox_ready, init, app, phase)
        now = kube_timestamp(self.clock.now())
        status = {
            **current,
            "phase": phase,
            "conditions": merge_conditions(current.get("conditions") or [], conditions, now),
            "startTime": self.start_time,
            "containerStatuses": app,
        }
        if self.host_ip:
            status["hostIP"], status["hostIPs"] = self.host_ip, [{"ip": self.host_ip}]
        if self.sandbox_ready:
            status["podIP"], status["podIPs"] = self.pod_ip, [{"ip": self.pod_ip}]
        if init:
            status["initContainerStatuses"] = init
        return status
