"""kube-scheduler: binds pending pods to nodes, or says why none fits.

Level-triggered: every pass takes a snapshot of nodes and bound pods and tries each pending
pod in priority order, binding as it goes so later pods see earlier ones. A pod that did not
fit is tried again only when the snapshot changes (nodes, bound pods or their labels) or after
five modelled minutes, as the real scheduler's unschedulable queue flushes; so its
FailedScheduling event counts real attempts instead of every write in the cluster.
"""

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from emulator.kube.events import record_event
from emulator.kube.scheduler.messages import fit_error
from emulator.kube.scheduler.predicates import PodFit
from emulator.kube.scheduler.snapshot import ClusterSnapshot, NodeInfo
from emulator.kube.store import Obj, kube_timestamp

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

SCHEDULER_NAME = "default-scheduler"
UNSCHEDULABLE_FLUSH_SECONDS = 300.0
_SCORED_RESOURCES = ("cpu", "memory")


@dataclass(frozen=True)
class _Attempt:
    key: Any
    at: float


class Scheduler:
    def __init__(self, cluster: "KubeCluster") -> None:
        self.cluster = cluster
        self._pods = cluster.store.types.by_kind("v1", "Pod")
        self._attempts: dict[str, _Attempt] = {}

    async def run(self) -> None:
        store = self.cluster.store
        seen = None
        while True:
            if store.resource_version == seen:
                await store.wait_for_change(self.cluster.world.clock.scaled(30))
            seen = store.resource_version
            self.schedule_pending()

    def schedule_pending(self) -> None:
        """One pass over every pod waiting for a node."""
        pending = self.cluster.store.list_objects(self._pods, None, _waiting)
        self._attempts = {
            uid: attempt
            for uid, attempt in self._attempts.items()
            if uid in {pod["metadata"]["uid"] for pod in pending}
        }
        if not pending:
            return
        snapshot = ClusterSnapshot(self.cluster.store)
        for pod in sorted(pending, key=_queue_order):
            if (pod.get("spec") or {}).get("schedulingGates"):
                self._set_scheduled_condition(
                    pod,
                    "False",
                    "SchedulingGated",
                    "Scheduling is blocked due to non-empty scheduling gates",
                )
                continue
            key = (snapshot.fingerprint(), pod["metadata"].get("generation"), _labels(pod))
            if not self._due(pod, key):
                continue
            self._schedule(pod, snapshot, key)

    def _due(self, pod: Obj, key: Any) -> bool:
        attempt = self._attempts.get(pod["metadata"]["uid"])
        if attempt is None or attempt.key != key:
            return True
        clock = self.cluster.world.clock
        return clock.now() - attempt.at >= clock.scaled(UNSCHEDULABLE_FLUSH_SECONDS)

    def _schedule(self, pod: Obj, snapshot: ClusterSnapshot, key: Any) -> None:
        fit = PodFit(pod, snapshot)
        rejections, feasible = [], []
        for info in snapshot.nodes.values():
            rejection = fit.check(info)
            if rejection is None:
                feasible.append(info)
            else:
                rejections.append(rejection)
        if feasible:
            best = max(feasible, key=lambda info: _least_allocated_score(fit, info))
            self._bind(pod, best)
            best.add(pod)
            return
        message = fit_error(rejections)
        self._attempts[pod["metadata"]["uid"]] = _Attempt(key, self.cluster.world.clock.now())
        self._set_scheduled_condition(pod, "False", "Unschedulable", message)
        record_event(
            self.cluster.store, pod, "FailedScheduling", message, "Warning", SCHEDULER_NAME
        )

    def _bind(self, pod: Obj, info: NodeInfo) -> None:
        """What the pods/binding subresource does: set the node, then PodScheduled=True."""
        store = self.cluster.store
        pod["spec"]["nodeName"] = info.name
        bound = store.replace(self._pods, pod)
        self._set_scheduled_condition(bound, "True")
        metadata = pod["metadata"]
        record_event(
            store,
            bound,
            "Scheduled",
            f"Successfully assigned {metadata['namespace']}/{metadata['name']} to {info.name}",
            source=SCHEDULER_NAME,
        )

    def _set_scheduled_condition(
        self, pod: Obj, status: str, reason: str = "", message: str = ""
    ) -> None:
        conditions = (pod.get("status") or {}).get("conditions") or []
        current = next((c for c in conditions if c["type"] == "PodScheduled"), None)
        wanted = (status, reason, message)
        if (
            current
            and (current["status"], current.get("reason", ""), current.get("message", "")) == wanted
        ):
            return
        condition = {
            "type": "PodScheduled",
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": kube_timestamp(self.cluster.world.clock.now()),
        }
        if reason:
            condition["reason"] = reason
            condition["message"] = message
        updated = dict(pod)
        updated["status"] = {
            **(pod.get("status") or {}),
            "conditions": [c for c in conditions if c["type"] != "PodScheduled"] + [condition],
        }
        updated["status"].setdefault("phase", "Pending")
        self.cluster.store.replace(self._pods, updated, "status")


def _waiting(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and not pod["metadata"].get("deletionTimestamp")
        and spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
        and (pod.get("status") or {}).get("phase", "Pending") == "Pending"
    )


def _queue_order(pod: Obj) -> tuple[int, str, str]:
    """Higher priority first, then oldest first, as the PrioritySort queue orders pods."""
    metadata = pod["metadata"]
    priority = (pod.get("spec") or {}).get("priority") or 0
    return (-priority, metadata.get("creationTimestamp", ""), metadata["name"])


def _labels(pod: Obj) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((pod["metadata"].get("labels") or {}).items()))


def _least_allocated_score(fit: PodFit, info: NodeInfo) -> tuple[Fraction, str]:
    """NodeResourcesFit's LeastAllocated: prefer the emptiest node; names break ties."""
    shares = []
    for name in _SCORED_RESOURCES:
        allocatable = info.allocatable.get(name, Fraction(0))
        if allocatable > 0:
            used = info.requested.get(name, Fraction(0)) + fit.requests.get(name, Fraction(0))
            shares.append((allocatable - used) / allocatable)
    score = sum(shares, Fraction(0)) / len(shares) if shares else Fraction(0)
    return (score, _reverse_name(info.name))


def _reverse_name(name: str) -> str:
    """Sorts so that max() picks the alphabetically first node among equal scores."""
    return "".join(chr(0x10FFFF - ord(char)) for char in name)
