"""The cluster network: node, pod and Service IPs, and where a pod's ports really listen.

Pods are not processes here, but some containers serve real traffic (sax-http's HTTP API, a
model server's gRPC): the kubelet starts such a container's server on an ephemeral loopback
port and registers it, so the service proxy and LoadBalancer listeners can forward real bytes
to "pod IP:containerPort". Addresses in object status stay the cluster's own (10.x), as on GKE.
A container that serves admission webhooks also registers its handlers per path there, which
the API server calls in-process (`emulator.kube.webhooks`).
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClusterNetwork:
    pod_cidr: str = "10.8.0.0/14"
    service_cidr: str = "10.12.0.0/20"
    node_cidr: str = "10.128.0.0/20"
    _listeners: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    _allocated: dict[str, set[str]] = field(default_factory=dict)
    _admission: dict[tuple[str, int], Mapping[str, Any]] = field(default_factory=dict)

    def allocate(self, cidr: str) -> str:
        """The next free address of a range (pod, service or node)."""
        used = self._allocated.setdefault(cidr, set())
        for address in ipaddress.ip_network(cidr).hosts():
            text = str(address)
            if text not in used and not text.endswith(".0") and not text.endswith(".1"):
                used.add(text)
                return text
        raise RuntimeError(f"address range {cidr} is exhausted")

    def allocate_subnet(self, cidr: str, prefix_length: int) -> str:
        """The next free subnet of a range: each node's pod range (a /24 of the pod CIDR)."""
        used = self._allocated.setdefault(cidr, set())
        for subnet in ipaddress.ip_network(cidr).subnets(new_prefix=prefix_length):
            text = str(subnet)
            if text not in used:
                used.add(text)
                return text
        raise RuntimeError(f"address range {cidr} has no free /{prefix_length}")

    def reserve(self, cidr: str, address: str) -> None:
        """Mark an address (or subnet) of a range used: what restored objects already hold."""
        self._allocated.setdefault(cidr, set()).add(address)

    def release(self, cidr: str, address: str) -> None:
        self._allocated.get(cidr, set()).discard(address)

    def register_listener(self, pod_ip: str, port: int, real: tuple[str, int]) -> None:
        """A container's server for pod_ip:port really listens at `real` (host, port)."""
        self._listeners[(pod_ip, port)] = real

    def unregister_listener(self, pod_ip: str, port: int) -> None:
        """One port stops listening (hostNetwork pods share their node's IP)."""
        self._listeners.pop((pod_ip, port), None)
        self._admission.pop((pod_ip, port), None)

    def unregister_pod(self, pod_ip: str) -> None:
        for key in [key for key in self._listeners if key[0] == pod_ip]:
            self.unregister_listener(*key)

    def register_admission(self, pod_ip: str, port: int, handlers: Mapping[str, Any]) -> None:
        """The listener of pod_ip:port answers admission reviews: a handler per URL path."""
        self._admission[(pod_ip, port)] = handlers

    def admission_handlers(self, pod_ip: str, port: int) -> Mapping[str, Any] | None:
        return self._admission.get((pod_ip, port))

    def resolve(self, pod_ip: str, port: int) -> tuple[str, int] | None:
        """Where to connect for pod_ip:port; None when nothing listens there (refused)."""
        return self._listeners.get((pod_ip, port))
