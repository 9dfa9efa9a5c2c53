"""What a pod asks of a node: resource requests and host ports.

Pods reach the scheduler defaulted by the API server (requests copied from limits, the
ExtendedResourceToleration's `google.com/tpu` toleration added), so only requests count here.
"""

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from emulator.kube.quantity import parse_quantity

Requests = dict[str, Fraction]
HostPort = tuple[str, str, int]  # (protocol, host IP, port)


def container_requests(container: Mapping[str, Any]) -> Requests:
    requests = (container.get("resources") or {}).get("requests") or {}
    return {name: parse_quantity(value) for name, value in requests.items()}


def pod_requests(pod: Mapping[str, Any]) -> Requests:
    """The larger of the app containers' sum and any one init container, plus overhead."""
    spec = pod.get("spec") or {}
    total: Requests = {}
    for container in spec.get("containers") or []:
        for name, amount in container_requests(container).items():
            total[name] = total.get(name, Fraction(0)) + amount
    for container in spec.get("initContainers") or []:
        for name, amount in container_requests(container).items():
            total[name] = max(total.get(name, Fraction(0)), amount)
    for name, amount in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, Fraction(0)) + parse_quantity(amount)
    return {name: amount for name, amount in total.items() if amount > 0}


def host_ports(pod: Mapping[str, Any]) -> set[HostPort]:
    """Ports the pod takes on its node: declared hostPorts, every port with hostNetwork."""
    spec = pod.get("spec") or {}
    taken = set()
    host_network = bool(spec.get("hostNetwork"))
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for port in container.get("ports") or []:
            number = port.get("hostPort") or (port["containerPort"] if host_network else 0)
            if number:
                taken.add((port.get("protocol", "TCP"), port.get("hostIP") or "0.0.0.0", number))
    return taken


def ports_conflict(wanted: set[HostPort], used: set[HostPort]) -> bool:
    for protocol, address, number in wanted:
        for used_protocol, used_address, used_number in used:
            same_address = address == used_address or "0.0.0.0" in (address, used_address)
            if (protocol, number) == (used_protocol, used_number) and same_address:
                return True
    return False
