"""The ReplicaSet controller: keeps `spec.replicas` active pods from the template, and reports
how many are ready and available."""

from typing import Any

from emulator.kube.controllers import pods
from emulator.kube.controllers.base import (
    Controller,
    children,
    controller_ref,
    find_condition,
    min_requeue,
    omit_empty,
    parse_timestamp,
    set_condition,
)
from emulator.kube.errors import KubeApiError
from emulator.kube.selectors import selector_matcher
from emulator.kube.store import Obj

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def available_count(pod_list: list[Obj], min_ready_seconds: int, now: float, scale: float) -> int:
    """Pods ready for at least minReadySeconds (modelled) count as available."""
    return sum(
        1
        for pod in pod_list
        if (since := pods.ready_since(pod)) is not None
        and (now - since) >= min_ready_seconds * scale
    )


class ReplicaSetController(Controller):
    source = "replicaset-controller"

    async def reconcile(self) -> float | None:
        replicasets = self.rtype("apps/v1", "ReplicaSet")
        requeues: list[float | None] = []
        for rs in self.store.list_objects(replicasets):
            requeues.append(await self._sync(rs))
        return min_requeue(*requeues)

    async def _sync(self, rs: Obj) -> float | None:
        pod_type = self.rtype("v1", "Pod")
        owned = children(self, pod_type, rs)
        active = [pod for pod in owned if pods.is_active(pod)]
        failure = None
        if not rs["metadata"].get("deletionTimestamp"):
            failure = await self._manage(rs, active)
            owned = children(self, pod_type, rs)
            active = [pod for pod in owned if pods.is_active(pod)]
        return self._update_status(rs, active, failure)

    async def _manage(self, rs: Obj, active: list[Obj]) -> str | None:
        """Create or delete pods towards spec.replicas; the error of a failed create, if any."""
        wanted = rs["spec"].get("replicas", 1)
        pod_type = self.rtype("v1", "Pod")
        if len(active) < wanted:
            for _ in range(wanted - len(active)):
                pod = pods.template_pod(rs["spec"]["template"])
                pod["metadata"]["generateName"] = f"{rs['metadata']['name']}-"
                pod["metadata"]["namespace"] = rs["metadata"]["namespace"]
                pod["metadata"]["ownerReferences"] = [controller_ref(rs)]
                try:
                    created = await self.create(pod_type, pod)
                except KubeApiError as error:
                    self.failed(rs, "FailedCreate", f"Error creating: {error.message}")
                    return error.message
                self.event(rs, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        elif len(active) > wanted:
            for pod in sorted(active, key=_deletion_rank)[: len(active) - wanted]:
                self.store.delete(pod_type, pod["metadata"]["namespace"], pod["metadata"]["name"])
                self.event(rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
        return None

    def _update_status(self, rs: Obj, active: list[Obj], failure: str | None) -> float | None:
        min_ready = rs["spec"].get("minReadySeconds", 0)
        now = self.clock.now()
        template_labels = (rs["spec"]["template"].get("metadata") or {}).get("labels") or {}
        labelled = selector_matcher({"matchLabels": template_labels})
        ready = [pod for pod in active if pods.is_ready(pod)]
        status: dict[str, Any] = omit_empty(
            {
                "replicas": len(active),
                "fullyLabeledReplicas": sum(1 for pod in active if labelled(pod)),
                "readyReplicas": len(ready),
                "availableReplicas": available_count(ready, min_ready, now, self.clock.time_scale),
                "observedGeneration": rs["metadata"].get("generation", 1),
            },
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
        )
        conditions = [dict(c) for c in (rs.get("status") or {}).get("conditions") or []]
        if failure:
            set_condition(
                conditions,
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "lastTransitionTime": self.now(),
                    "reason": "FailedCreate",
                    "message": failure,
                },
            )
        elif find_condition(rs, "ReplicaFailure"):
            conditions = [c for c in conditions if c["type"] != "ReplicaFailure"]
        if conditions:
            status["conditions"] = conditions
        if status != rs.get("status"):
            self.store.replace(
                self.rtype("apps/v1", "ReplicaSet"), {**rs, "status": status}, "status"
            )
        waiting = [
            min_ready - (now - since) / self.clock.time_scale
            for pod in ready
            if (since := pods.ready_since(pod)) is not None
            and (now - since) < min_ready * self.clock.time_scale
        ]
        return min_requeue(*waiting)


def _deletion_rank(pod: Obj) -> tuple[Any, ...]:
    """Which pods a scale-down removes first (controller.ActivePodsWithRanks): unscheduled
    before scheduled, pending before running, not ready before ready, the most restarted, and
    the newest."""
    return (
        bool(pod.get("spec", {}).get("nodeName")),
        _PHASE_RANK.get(pods.phase(pod), 2),
        pods.is_ready(pod),
        -pods.restart_count(pod),
        -parse_timestamp(pod["metadata"]["creationTimestamp"]),
    )
