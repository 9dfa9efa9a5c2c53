"""The Endpoints controller (pkg/controller/endpoint): every Service with a selector gets an
Endpoints object of the same name listing its pods' IPs, ready ones as `addresses` and the rest
as `notReadyAddresses` (all ready when the Service publishes not-ready addresses), grouped into
subsets by the ports each pod resolves the Service's target ports to."""

from collections.abc import Mapping
from typing import Any

from emulator.kube.controllers import pods
from emulator.kube.controllers.base import Controller
from emulator.kube.selectors import selector_matcher
from emulator.kube.store import Obj

TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
HEADLESS = "service.kubernetes.io/headless"


def target_port(pod: Obj, port: dict[str, Any]) -> int | None:
    """podutil.FindPort: a numeric targetPort as is, a named one from the pod's containers."""
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    protocol = port.get("protocol", "TCP")
    for container in pod["spec"].get("containers", []):
        for container_port in container.get("ports") or []:
            if container_port.get("name") == target and (
                container_port.get("protocol", "TCP") == protocol
            ):
                return container_port["containerPort"]
    return None


def endpoint_subsets(service: Obj, candidates: list[Obj]) -> list[dict[str, Any]]:
    spec = service["spec"]
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    headless = spec.get("clusterIP") == "None"
    by_ports: dict[tuple, dict[str, list]] = {}
    for pod in candidates:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or pods.phase(pod) in pods.TERMINAL_PHASES:
            continue
        if pods.is_terminating(pod) and not publish_not_ready:
            continue
        address: dict[str, Any] = {"ip": ip}
        if pod["spec"].get("nodeName"):
            address["nodeName"] = pod["spec"]["nodeName"]
        hostname = pod["spec"].get("hostname")
        if hostname and pod["spec"].get("subdomain") == service["metadata"]["name"]:
            address["hostname"] = hostname
        address["targetRef"] = {
            "kind": "Pod",
            "namespace": pod["metadata"]["namespace"],
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        }
        ports = []
        for port in spec.get("ports") or []:
            number = target_port(pod, port)
            if number is not None:
                entry = {"port": number, "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
        if not ports and not (headless and not spec.get("ports")):
            continue
        key = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
        subset = by_ports.setdefault(
            key, {"addresses": [], "notReadyAddresses": [], "ports": ports}
        )
        ready = publish_not_ready or pods.is_ready(pod)
        subset["addresses" if ready else "notReadyAddresses"].append(address)
    subsets = []
    for key in sorted(by_ports):
        subset = by_ports[key]
        entry: dict[str, Any] = {}
        for field in ("addresses", "notReadyAddresses"):
            if subset[field]:
                entry[field] = sorted(subset[field], key=lambda a: a["ip"])
        if subset["ports"]:
            entry["ports"] = subset["ports"]
        subsets.append(entry)
    return subsets


def ready_endpoints(
    endpoints: Mapping[str, Any] | None, service_port: Mapping[str, Any]
) -> list[tuple[str, int]]:
    """(pod IP, port) of each ready address behind one port of a Service, as kube-proxy and
    the API server's proxy pick from its Endpoints (matched by the port's name)."""
    return [
        (address["ip"], int(endpoint_port["port"]))
        for subset in (endpoints or {}).get("subsets") or []
        for endpoint_port in subset.get("ports") or []
        if endpoint_port.get("name", "") == service_port.get("name", "")
        for address in subset.get("addresses") or []
    ]


class EndpointsController(Controller):
    source = "endpoint-controller"

    async def reconcile(self) -> float | None:
        service_type = self.rtype("v1", "Service")
        endpoints_type = self.rtype("v1", "Endpoints")
        pod_type = self.rtype("v1", "Pod")
        services = {
            (s["metadata"]["namespace"], s["metadata"]["name"]): s
            for s in self.store.list_objects(service_type)
        }
        for (namespace, name), service in services.items():
            selector = service["spec"].get("selector")
            if not selector or service["metadata"].get("deletionTimestamp"):
                continue
            matches = selector_matcher({"matchLabels": selector})
            candidates = self.store.list_objects(pod_type, namespace, matches)
            labels = dict(service["metadata"].get("labels") or {})
            if service["spec"].get("clusterIP") == "None":
                labels[HEADLESS] = ""
            subsets = endpoint_subsets(service, candidates)
            current = self.store.find(endpoints_type, namespace, name)
            if current is None:
                await self.create(endpoints_type, self._endpoints(namespace, name, labels, subsets))
            elif (current.get("subsets") or []) != subsets or (
                current["metadata"].get("labels") or {}
            ) != labels:
                updated = self._endpoints(namespace, name, labels, subsets)
                updated["metadata"] = {**current["metadata"], **updated["metadata"]}
                self.store.replace(endpoints_type, updated)
        for endpoints in self.store.list_objects(endpoints_type):
            key = (endpoints["metadata"]["namespace"], endpoints["metadata"]["name"])
            managed = TRIGGER_TIME in (endpoints["metadata"].get("annotations") or {})
            if managed and key not in services:
                self.store.delete(endpoints_type, *key)
        return None

    def _endpoints(
        self, namespace: str, name: str, labels: dict[str, str], subsets: list[dict[str, Any]]
    ) -> Obj:
        endpoints: Obj = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": labels,
                "annotations": {TRIGGER_TIME: self.now()},
            },
        }
        if subsets:
            endpoints["subsets"] = subsets
        return endpoints
