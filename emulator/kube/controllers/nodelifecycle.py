"""The node lifecycle controller and taint eviction (pkg/controller/nodelifecycle, tainteviction),
plus GKE's node auto-repair, for VMs that stopped answering (`NodeManager.fail`).

A node whose kubelet has not posted status for the node monitor grace period gets its
conditions set to Unknown ("Kubelet stopped posting node status."), the `unreachable` taints
(NoSchedule, and NoExecute with the time it was added) and its pods marked not Ready. Each pod
then stays for as long as its toleration of the NoExecute taint allows (300 s by default, added
by the DefaultTolerationSeconds admission) and is deleted with a `DisruptionTarget` condition;
with no kubelet to finish the deletion it stays Terminating, which is what Jobs count as a
failed pod. When auto-repair's time comes, the VM is recreated (`NodeManager.repair`).
"""

import copy
from typing import Any

from emulator.kube.controllers import pods
from emulator.kube.controllers.base import Controller, find_condition, min_requeue
from emulator.kube.scheduler.predicates import tolerates
from emulator.kube.selectors import field_matcher
from emulator.kube.store import Obj

NODE_MONITOR_GRACE_SECONDS = 40.0
UNREACHABLE = "node.kubernetes.io/unreachable"
_STOPPED = "Kubelet stopped posting node status."
_KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


class NodeLifecycleController(Controller):
    source = "node-controller"

    async def reconcile(self) -> float | None:
        requeues: list[float | None] = []
        now = self.clock.now()
        for name, (failed_at, repair_at) in list(self.cluster.nodes.down.items()):
            if repair_at is not None and now >= repair_at:
                self.cluster.nodes.repair(name)
                continue
            if repair_at is not None:
                requeues.append((repair_at - now) / self.clock.time_scale)
            silent = (now - failed_at) / self.clock.time_scale
            if silent < NODE_MONITOR_GRACE_SECONDS:
                requeues.append(NODE_MONITOR_GRACE_SECONDS - silent)
                continue
            node = self.store.find(self.rtype("v1", "Node"), "", name)
            if node is not None:
                requeues.append(self._unreachable(node))
        return min_requeue(*requeues)

    def _unreachable(self, node: Obj) -> float | None:
        """Mark the node and its pods; evict the pods whose toleration ran out. Returns modelled
        seconds until the next eviction is due."""
        node = self._mark_unknown(node)
        added = next(
            t["timeAdded"]
            for t in node["spec"]["taints"]
            if t["key"] == UNREACHABLE and t["effect"] == "NoExecute"
        )
        pod_type = self.rtype("v1", "Pod")
        name = node["metadata"]["name"]
        due: list[float | None] = []
        for pod in self.store.list_objects(pod_type, None, field_matcher(f"spec.nodeName={name}")):
            if not pods.is_active(pod):
                continue
            if pods.is_ready(pod):
                self._mark_not_ready(pod)
            tolerated = _toleration_seconds(pod)
            if tolerated is None:
                continue
            left = self.modelled_seconds_left(added, tolerated)
            if left > 0:
                due.append(left)
            else:
                self._evict(pod)
        return min_requeue(*due)

    def _mark_unknown(self, node: Obj) -> Obj:
        status = copy.deepcopy(node.get("status") or {})
        now = self.now()
        changed = False
        for condition in status.get("conditions") or []:
            if condition["type"] in _KUBELET_CONDITIONS and condition["status"] != "Unknown":
                condition.update(
                    status="Unknown",
                    reason="NodeStatusUnknown",
                    message=_STOPPED,
                    lastTransitionTime=now,
                )
                changed = True
        if changed:
            node = self.write_status(self.rtype("v1", "Node"), node, status)
            name = node["metadata"]["name"]
            self.event(node, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        taints = node["spec"].get("taints") or []
        if not any(t["key"] == UNREACHABLE for t in taints):

            def taint(current: Obj) -> None:
                current["spec"]["taints"] = [
                    *(current["spec"].get("taints") or []),
                    {"key": UNREACHABLE, "effect": "NoSchedule"},
                    {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now},
                ]

            node = self.update(self.rtype("v1", "Node"), node, taint)
        return node

    def _mark_not_ready(self, pod: Obj) -> None:
        status = copy.deepcopy(pod.get("status") or {})
        condition = find_condition({"status": status}, "Ready")
        if condition is not None:
            condition.update(status="False", lastTransitionTime=self.now())
        self.write_status(self.rtype("v1", "Pod"), pod, status)
        self.event(pod, "NodeNotReady", "Node is not ready", warning=True)

    def _evict(self, pod: Obj) -> None:
        metadata = pod["metadata"]
        status: dict[str, Any] = copy.deepcopy(pod.get("status") or {})
        conditions = [c for c in status.get("conditions") or [] if c["type"] != "DisruptionTarget"]
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
                "lastTransitionTime": self.now(),
            }
        )
        pod_type = self.rtype("v1", "Pod")
        self.write_status(pod_type, pod, {**status, "conditions": conditions})
        self.store.delete(pod_type, metadata["namespace"], metadata["name"])
        record = f"Marking for deletion Pod {metadata['namespace']}/{metadata['name']}"
        self.event(pod, "TaintManagerEviction", record)


def _toleration_seconds(pod: Obj) -> float | None:
    """How long a pod stays on an unreachable node: 0 without a toleration, None forever."""
    taint = {"key": UNREACHABLE, "effect": "NoExecute"}
    for toleration in pod["spec"].get("tolerations") or []:
        if tolerates([toleration], taint):
            seconds = toleration.get("tolerationSeconds")
            return None if seconds is None else max(float(seconds), 0.0)
    return 0.0
