"""Tables of the core group's kinds besides pods: services, nodes, namespaces, events, service
accounts, config maps, secrets, endpoints and pod templates."""

from collections.abc import Mapping
from typing import Any

from emulator.kube.apiserver.tables.columns import (
    AGE,
    NAME,
    Column,
    Obj,
    Printer,
    name_and_age,
    wide,
)
from emulator.kube.apiserver.tables.durations import age, since

_ROLE_PREFIX = "node-role.kubernetes.io/"
_MAX_ENDPOINTS = 3


def format_labels(labels: Mapping[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _service_external_ip(service: Obj) -> str:
    spec = service.get("spec") or {}
    kind, external = spec.get("type", "ClusterIP"), spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    if kind != "LoadBalancer":
        return "<unknown>"
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    balancers = [entry.get("ip") or entry.get("hostname", "") for entry in ingress]
    return ",".join([*balancers, *external]) or "<pending>"


def _ports(spec: Obj) -> str:
    pieces = []
    for port in spec.get("ports") or []:
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        pieces.append(f"{port['port']}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(pieces) or "<none>"


def _service(obj: Obj, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    return [
        obj["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        (spec.get("clusterIPs") or ["<none>"])[0],
        _service_external_ip(obj),
        _ports(spec),
        age(obj, now),
        format_labels(spec.get("selector")),
    ]


def _node_status(node: Obj) -> str:
    """`Ready`, `NotReady` or `Unknown` (no Ready condition), `,SchedulingDisabled` if cordoned."""
    ready = [c for c in (node.get("status") or {}).get("conditions", []) if c["type"] == "Ready"]
    status = ["Unknown" if not ready else "Ready" if ready[0]["status"] == "True" else "NotReady"]
    if (node.get("spec") or {}).get("unschedulable"):
        status.append("SchedulingDisabled")
    return ",".join(status)


def _node_roles(labels: Mapping[str, str]) -> str:
    roles = {key.removeprefix(_ROLE_PREFIX) for key in labels if key.startswith(_ROLE_PREFIX)}
    roles.add(labels.get("kubernetes.io/role", ""))
    return ",".join(sorted(role for role in roles if role)) or "<none>"


def _node_address(node: Obj, kind: str) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((a["address"] for a in addresses if a.get("type") == kind), "<none>")


def _node(obj: Obj, now: float) -> list[Any]:
    info = (obj.get("status") or {}).get("nodeInfo") or {}
    return [
        obj["metadata"]["name"],
        _node_status(obj),
        _node_roles(obj["metadata"].get("labels") or {}),
        age(obj, now),
        info.get("kubeletVersion", ""),
        _node_address(obj, "InternalIP"),
        _node_address(obj, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _event(obj: Obj, now: float) -> list[Any]:
    first = since(obj.get("firstTimestamp") or obj.get("eventTime"), now)
    last = since(obj["lastTimestamp"], now) if obj.get("lastTimestamp") else first
    count = obj.get("count") or 1  # singleton events of the events.k8s.io API have none
    if obj.get("series"):
        last = since(obj["series"].get("lastObservedTime"), now)
        count = obj["series"].get("count", count)
    involved, source = obj.get("involvedObject") or {}, obj.get("source") or {}
    kind = involved.get("kind", "").lower()
    component = source.get("component") or obj.get("reportingComponent", "")
    instance = source.get("host") or obj.get("reportingInstance", "")
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{kind}/{involved['name']}" if involved.get("name") else kind,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        obj.get("message", "").strip(),
        first,
        count,
        obj["metadata"]["name"],
    ]


def _endpoints(obj: Obj) -> str:
    """Up to three `ip:port`, then `+ N more...`."""
    shown: list[str] = []
    count = 0
    for subset in obj.get("subsets") or []:
        addresses = [a["ip"] for a in subset.get("addresses") or []]
        ports = [p["port"] for p in subset.get("ports") or []]
        targets = (
            [
                f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
                for port in ports
                for ip in addresses
            ]
            if ports
            else addresses
        )
        count += len(targets)
        shown.extend(targets[: _MAX_ENDPOINTS - len(shown)])
    if count > len(shown):
        return f"{','.join(shown)} + {count - len(shown)} more..."
    return ",".join(shown) or "<none>"


def _data(*fields: str) -> Column:
    return Column("Data", f"Number of entries in {' and '.join(fields)}.", "integer")


SERVICE = Printer(
    (
        NAME,
        Column("Type", "How the service is exposed."),
        Column("Cluster-IP", "The service's IP inside the cluster."),
        Column("External-IP", "Addresses the service is reached at from outside."),
        Column("Port(s)", "The ports the service serves."),
        AGE,
        wide("Selector", "The labels of the pods the service routes to."),
    ),
    _service,
)
NODE = Printer(
    (
        NAME,
        Column("Status", "The status of the node"),
        Column("Roles", "The roles of the node"),
        AGE,
        Column("Version", "The kubelet's version."),
        wide("Internal-IP", "The node's address inside the network."),
        wide("External-IP", "The node's public address."),
        wide("OS-Image", "The node's operating system image."),
        wide("Kernel-Version", "The node's kernel version."),
        wide("Container-Runtime", "The container runtime and its version."),
    ),
    _node,
)
NAMESPACE = Printer(
    (NAME, Column("Status", "The phase of the namespace."), AGE),
    name_and_age(lambda obj: (obj.get("status") or {}).get("phase", "")),
)
EVENT = Printer(
    (
        Column("Last Seen", "When the event was last seen."),
        Column("Type", "Normal or Warning."),
        Column("Reason", "Why the event happened, in one word."),
        Column("Object", "The object the event is about."),
        wide("Subobject", "The part of the object, such as a container."),
        wide("Source", "The component that reported the event."),
        Column("Message", "What happened."),
        wide("First Seen", "When the event was first seen."),
        wide("Count", "How many times it happened."),
        Column("Name", NAME.description, format="name", priority=1),
    ),
    _event,
)
SERVICE_ACCOUNT = Printer(
    (NAME, Column("Secrets", "Number of secrets of the account.", "integer"), AGE),
    name_and_age(lambda obj: len(obj.get("secrets") or [])),
)
CONFIG_MAP = Printer(
    (NAME, _data("data", "binaryData"), AGE),
    name_and_age(lambda obj: len(obj.get("data") or {}) + len(obj.get("binaryData") or {})),
)
SECRET = Printer(
    (NAME, Column("Type", "The type of the secret."), _data("data"), AGE),
    name_and_age(lambda obj: obj.get("type", ""), lambda obj: len(obj.get("data") or {})),
)
ENDPOINTS = Printer(
    (NAME, Column("Endpoints", "The addresses of the service's ready pods."), AGE),
    name_and_age(_endpoints),
)


def _pod_template(obj: Obj, now: float) -> list[Any]:
    template = obj.get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    return [
        obj["metadata"]["name"],
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        format_labels((template.get("metadata") or {}).get("labels")),
    ]


# As the API server prints them: no AGE.
POD_TEMPLATE = Printer(
    (
        NAME,
        Column("Containers", "Names of each container in the template."),
        Column("Images", "Images referenced by each container in the template."),
        Column("Pod Labels", "The labels for the pod template."),
    ),
    _pod_template,
)
