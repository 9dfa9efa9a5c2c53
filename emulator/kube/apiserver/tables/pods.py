"""The pods table: READY, STATUS and RESTARTS as `kubectl get pods` shows them, the kubelet's
story of the pod condensed into one word (the real printer's logic, re-derived)."""

from typing import Any

from emulator.kube.apiserver.tables.columns import AGE, NAME, Column, Obj, Printer, wide
from emulator.kube.apiserver.tables.durations import age, human_duration
from emulator.kube.apiserver.timestamps import parse_rfc3339

COLUMNS = (
    NAME,
    Column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", "The aggregate status of the containers in this pod."),
    Column("Restarts", "The number of times the containers in this pod have been restarted."),
    AGE,
    wide("IP", "The pod's IP address."),
    wide("Node", "The node the pod is bound to."),
    wide("Nominated Node", "The node the scheduler made room on for this pod."),
    wide("Readiness Gates", "How many of the pod's readiness gates are true."),
)
_DONE = {"Succeeded": "The pod has completed successfully.", "Failed": "The pod failed."}


class _Restarts:
    """A running count of restarts, and when the latest of them ended its container."""

    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0

    def add(self, status: Obj) -> None:
        self.count += status.get("restartCount", 0)
        finished = ((status.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if finished:
            self.last = max(self.last, parse_rfc3339(finished))

    def cell(self, now: float) -> str:
        if self.count and self.last:
            return f"{self.count} ({human_duration(now - self.last)} ago)"
        return str(self.count)


def _condition_true(status: Obj, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions", [])
    )


def _terminated_reason(terminated: Obj, prefix: str = "") -> str:
    """A terminated container's reason, or its signal or exit code when it gave none."""
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


class _PodState:
    """READY, STATUS and RESTARTS of one pod, worked out as the kubelet reports it."""

    def __init__(self, pod: Obj) -> None:
        self.spec, self.status = pod.get("spec") or {}, pod.get("status") or {}
        self.sidecars = {  # restartable init containers count as containers
            c["name"]
            for c in self.spec.get("initContainers", [])
            if c.get("restartPolicy") == "Always"
        }
        self.total = len(self.spec.get("containers", [])) + len(self.sidecars)
        self.ready = 0
        self.reason = self.status.get("reason") or self.status.get("phase", "")
        for condition in self.status.get("conditions", []):
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("reason") == "SchedulingGated"
            ):
                self.reason = "SchedulingGated"
        self.restarts, self.sidecar_restarts = _Restarts(), _Restarts()
        initializing = self._init_containers()
        if not initializing or _condition_true(self.status, "Initialized"):
            self.restarts = self.sidecar_restarts  # the containers' own are added to these
            self._containers()
        deleting = pod["metadata"].get("deletionTimestamp")
        if deleting and self.status.get("reason") == "NodeLost":
            self.reason = "Unknown"
        elif deleting and self.status.get("phase") not in _DONE:
            self.reason = "Terminating"

    def _init_containers(self) -> bool:
        """Counts init containers; True while one is still to finish (STATUS then `Init:...`)."""
        inits = self.status.get("initContainerStatuses", [])
        for index, container in enumerate(inits):
            self.restarts.add(container)
            sidecar = container.get("name") in self.sidecars
            if sidecar:
                self.sidecar_restarts.add(container)
            state = container.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting") or {}
            if terminated is not None and terminated.get("exitCode", 0) == 0:
                continue
            if sidecar and container.get("started"):
                self.ready += bool(container.get("ready"))
                continue
            if terminated is not None:
                self.reason = _terminated_reason(terminated, "Init:")
            elif waiting.get("reason") and waiting["reason"] != "PodInitializing":
                self.reason = "Init:" + waiting["reason"]
            else:
                self.reason = f"Init:{index}/{len(self.spec.get('initContainers', []))}"
            return True
        return False

    def _containers(self) -> None:
        running = False
        for container in reversed(self.status.get("containerStatuses", [])):
            self.restarts.add(container)
            state = container.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting") or {}
            if waiting.get("reason"):
                self.reason = waiting["reason"]
            elif terminated is not None:
                self.reason = _terminated_reason(terminated)
            elif container.get("ready") and "running" in state:
                running = True
                self.ready += 1
        if self.reason == "Completed" and running:
            self.reason = "Running" if _condition_true(self.status, "Ready") else "NotReady"


def _readiness_gates(spec: Obj, status: Obj) -> str:
    gates = [gate["conditionType"] for gate in spec.get("readinessGates", [])]
    if not gates:
        return "<none>"
    return f"{sum(_condition_true(status, gate) for gate in gates)}/{len(gates)}"


def cells(pod: Obj, now: float) -> list[Any]:
    state = _PodState(pod)
    spec, status = state.spec, state.status
    ips = status.get("podIPs") or []
    return [
        pod["metadata"]["name"],
        f"{state.ready}/{state.total}",
        state.reason,
        state.restarts.cell(now),
        age(pod, now),
        (ips[0].get("ip") if ips else "") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        _readiness_gates(spec, status),
    ]


def conditions(pod: Obj) -> list[dict[str, str]]:
    """A finished pod's row says so (`Completed`), with the phase as its reason."""
    phase = (pod.get("status") or {}).get("phase", "")
    if phase not in _DONE:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": _DONE[phase]}]


PRINTER = Printer(COLUMNS, cells, conditions)
