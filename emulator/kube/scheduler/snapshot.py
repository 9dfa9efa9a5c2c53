"""The scheduler's view of the cluster for one pass: nodes with what their pods already take."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from emulator.kube.quantity import parse_quantity
from emulator.kube.scheduler.requests import HostPort, Requests, host_ports, pod_requests
from emulator.kube.store import Obj, Store

TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass
class NodeInfo:
    node: Obj
    allocatable: Requests
    pods: list[Obj] = field(default_factory=list)
    requested: Requests = field(default_factory=dict)
    ports: set[HostPort] = field(default_factory=set)

    @property
    def name(self) -> str:
        return str(self.node["metadata"]["name"])

    @property
    def labels(self) -> Mapping[str, str]:
        return self.node["metadata"].get("labels") or {}

    def add(self, pod: Obj) -> None:
        self.pods.append(pod)
        for name, amount in pod_requests(pod).items():
            self.requested[name] = self.requested.get(name, Fraction(0)) + amount
        self.ports |= host_ports(pod)


class ClusterSnapshot:
    """Nodes (by name) and the pods bound to them that still hold resources."""

    def __init__(self, store: Store) -> None:
        types = store.types
        self.nodes: dict[str, NodeInfo] = {}
        for node in store.list_objects(types.by_kind("v1", "Node")):
            allocatable = (node.get("status") or {}).get("allocatable") or {}
            parsed = {name: parse_quantity(value) for name, value in allocatable.items()}
            self.nodes[node["metadata"]["name"]] = NodeInfo(node, parsed)
        self.namespace_labels: dict[str, Mapping[str, str]] = {
            namespace["metadata"]["name"]: namespace["metadata"].get("labels") or {}
            for namespace in store.list_objects(types.by_kind("v1", "Namespace"))
        }
        for pod in store.list_objects(types.by_kind("v1", "Pod")):
            node = self.nodes.get((pod.get("spec") or {}).get("nodeName", ""))
            if node is not None and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES:
                node.add(pod)

    def fingerprint(self) -> Any:
        """Changes exactly when a retry could place a pod that did not fit before."""
        nodes = tuple(
            (name, info.node["metadata"]["resourceVersion"]) for name, info in self.nodes.items()
        )
        pods = frozenset(
            (pod["metadata"]["uid"], info.name, _sorted_items(pod["metadata"].get("labels")))
            for pod, info in self.assigned_pods()
        )
        namespaces = tuple(
            (name, _sorted_items(labels)) for name, labels in sorted(self.namespace_labels.items())
        )
        return (nodes, pods, namespaces)

    def assigned_pods(self) -> list[tuple[Obj, NodeInfo]]:
        return [(pod, info) for info in self.nodes.values() for pod in info.pods]


def _sorted_items(mapping: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((mapping or {}).items()))
