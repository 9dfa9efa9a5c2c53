"""kube-scheduler's filter plugins, in its order; the first one that rejects a node decides why.

NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit and
InterPodAffinity, with the plugins' own reason strings and status codes (the code decides
whether preemption could help, which the FailedScheduling message reports). On GKE a pod that
consumes a queued-provisioning request runs only on the nodes provisioned for that request
(labelled with its booking): NodeAffinity holds that as if it were one more node selector.
"""

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from emulator.kube.provreq.names import BOOKING_LABEL, consumed_booking
from emulator.kube.scheduler.affinity import (
    AffinityTerm,
    matches_node_selector_and_affinity,
    required_terms,
)
from emulator.kube.scheduler.messages import UNRESOLVABLE, UNSCHEDULABLE, Rejection
from emulator.kube.scheduler.requests import host_ports, pod_requests, ports_conflict
from emulator.kube.scheduler.snapshot import ClusterSnapshot, NodeInfo

Obj = Mapping[str, Any]
TopologyPair = tuple[str, str]

_UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
_FIXED_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        key = toleration.get("key", "")
        if key and key != taint.get("key"):
            continue
        operator = toleration.get("operator", "Equal")
        if operator == "Exists" or (key and toleration.get("value", "") == taint.get("value", "")):
            return True
    return False


class PodFit:
    """Everything about one pending pod that does not depend on the node (PreFilter state)."""

    def __init__(self, pod: Obj, snapshot: ClusterSnapshot) -> None:
        spec = pod.get("spec") or {}
        self.pod = pod
        self.requests = pod_requests(pod)
        self.ports = host_ports(pod)
        self.tolerations: list[Obj] = spec.get("tolerations") or []
        self.booking = consumed_booking(pod)
        namespaces = snapshot.namespace_labels
        self.affinity = required_terms(pod, "podAffinity", namespaces)
        self.anti_affinity = required_terms(pod, "podAntiAffinity", namespaces)
        self.affinity_counts: dict[TopologyPair, int] = {}
        self.anti_affinity_counts: dict[TopologyPair, int] = {}
        self.existing_anti_affinity: set[TopologyPair] = set()
        for existing, info in snapshot.assigned_pods():
            self._count(existing, info, namespaces)

    def _count(self, existing: Obj, info: NodeInfo, namespaces: Mapping[str, Any]) -> None:
        labels = info.labels
        if self.affinity and all(term.matches(existing) for term in self.affinity):
            for term in self.affinity:
                if term.topology_key in labels:
                    pair = (term.topology_key, labels[term.topology_key])
                    self.affinity_counts[pair] = self.affinity_counts.get(pair, 0) + 1
        for term in self.anti_affinity:
            if term.topology_key in labels and term.matches(existing):
                pair = (term.topology_key, labels[term.topology_key])
                self.anti_affinity_counts[pair] = self.anti_affinity_counts.get(pair, 0) + 1
        for term in required_terms(existing, "podAntiAffinity", namespaces):
            if term.topology_key in labels and term.matches(self.pod):
                self.existing_anti_affinity.add((term.topology_key, labels[term.topology_key]))

    def check(self, info: NodeInfo) -> Rejection | None:
        """Why `info` cannot take the pod, or None when it can."""
        for check in (
            self._unschedulable,
            self._taints,
            self._node_affinity,
            self._ports,
            self._resources,
            self._inter_pod_affinity,
        ):
            rejection = check(info)
            if rejection is not None:
                return rejection
        return None

    def _unschedulable(self, info: NodeInfo) -> Rejection | None:
        cordoned = (info.node.get("spec") or {}).get("unschedulable")
        if cordoned and not tolerates(self.tolerations, _UNSCHEDULABLE_TAINT):
            return Rejection(UNRESOLVABLE, ("node(s) were unschedulable",))
        return None

    def _taints(self, info: NodeInfo) -> Rejection | None:
        for taint in (info.node.get("spec") or {}).get("taints") or []:
            blocking = taint.get("effect") in ("NoSchedule", "NoExecute")
            if blocking and not tolerates(self.tolerations, taint):
                key, value = taint["key"], taint.get("value", "")
                return Rejection(
                    UNRESOLVABLE, (f"node(s) had untolerated taint {{{key}: {value}}}",)
                )
        return None

    def _node_affinity(self, info: NodeInfo) -> Rejection | None:
        elsewhere = self.booking is not None and info.labels.get(BOOKING_LABEL) != self.booking
        if elsewhere or not matches_node_selector_and_affinity(self.pod, info.node):
            return Rejection(UNRESOLVABLE, ("node(s) didn't match Pod's node affinity/selector",))
        return None

    def _ports(self, info: NodeInfo) -> Rejection | None:
        if ports_conflict(self.ports, info.ports):
            reason = "node(s) didn't have free ports for the requested pod ports"
            return Rejection(UNSCHEDULABLE, (reason,))
        return None

    def _resources(self, info: NodeInfo) -> Rejection | None:
        reasons = []
        if len(info.pods) + 1 > info.allocatable.get("pods", Fraction(0)):
            reasons.append("Too many pods")
        ordered = [name for name in _FIXED_RESOURCES if name in self.requests]
        ordered += sorted(name for name in self.requests if name not in _FIXED_RESOURCES)
        for name in ordered:
            free = info.allocatable.get(name, Fraction(0)) - info.requested.get(name, Fraction(0))
            if self.requests[name] > free:
                reasons.append(f"Insufficient {name}")
        return Rejection(UNSCHEDULABLE, tuple(reasons)) if reasons else None

    def _inter_pod_affinity(self, info: NodeInfo) -> Rejection | None:
        labels = info.labels
        if any(pair in self.existing_anti_affinity for pair in labels.items()):
            reason = "node(s) didn't satisfy existing pods anti-affinity rules"
            return Rejection(UNSCHEDULABLE, (reason,))
        for term in self.anti_affinity:
            if self.anti_affinity_counts.get(_pair(term, labels), 0) > 0:
                return Rejection(UNSCHEDULABLE, ("node(s) didn't match pod anti-affinity rules",))
        if not self._satisfies_affinity(labels):
            return Rejection(UNRESOLVABLE, ("node(s) didn't match pod affinity rules",))
        return None

    def _satisfies_affinity(self, labels: Mapping[str, str]) -> bool:
        """Each term's topology domain holds a matching pod; the first pod of a group that
        matches its own terms may go anywhere those domains exist."""
        if any(term.topology_key not in labels for term in self.affinity):
            return False
        if all(self.affinity_counts.get(_pair(term, labels), 0) > 0 for term in self.affinity):
            return True
        return not self.affinity_counts and all(term.matches(self.pod) for term in self.affinity)


def _pair(term: AffinityTerm, labels: Mapping[str, str]) -> TopologyPair:
    return (term.topology_key, labels.get(term.topology_key, ""))
