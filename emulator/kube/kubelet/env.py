"""A container's environment and arguments, resolved as the kubelet does before starting it.

`envFrom` first, then `env` in order with `$(VAR)` references to earlier variables expanded;
`valueFrom` reads the pod's fields, its containers' resources, ConfigMaps and Secrets. A
missing ConfigMap or Secret key that is not optional stops the container from being created
(`CreateContainerConfigError`), with the kubelet's message.
"""

import base64
import re
from collections.abc import Mapping
from typing import Any

from emulator.kube.quantity import parse_quantity
from emulator.kube.store import Obj, Store

_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")
_FIELD_LABEL = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ContainerConfigError(Exception):
    """The container cannot be configured yet (a referenced object or key is missing)."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """`$(VAR)` becomes its value when defined; `$$` escapes a literal `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, text)


def container_env(store: Store, pod: Obj, container: Mapping[str, Any]) -> dict[str, str]:
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {"HOSTNAME": _hostname(pod)}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, reference in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if reference in source:
                ref = source[reference]
                data = _data(store, kind, namespace, ref["name"], ref.get("optional", False))
                env.update({f"{prefix}{key}": value for key, value in data.items()})
    for variable in container.get("env") or []:
        if "valueFrom" in variable:
            value = _value_from(store, pod, container, variable["valueFrom"])
            if value is None:
                continue
        else:
            value = expand(variable.get("value", ""), env)
        env[variable["name"]] = value
    return env


def _hostname(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"])[:63]


def _value_from(
    store: Store, pod: Obj, container: Mapping[str, Any], source: Mapping[str, Any]
) -> str | None:
    namespace = pod["metadata"]["namespace"]
    if "fieldRef" in source:
        return _field(pod, source["fieldRef"]["fieldPath"])
    if "resourceFieldRef" in source:
        return _resource_field(container, source["resourceFieldRef"])
    for kind, reference in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        if reference in source:
            ref = source[reference]
            optional = ref.get("optional", False)
            data = _data(store, kind, namespace, ref["name"], optional)
            if ref["key"] not in data:
                if optional:
                    return None
                raise ContainerConfigError(
                    f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}"
                )
            return data[ref["key"]]
    return None


def _data(store: Store, kind: str, namespace: str, name: str, optional: bool) -> dict[str, str]:
    obj = store.find(store.types.by_kind("v1", kind), namespace, name)
    if obj is None:
        if optional:
            return {}
        raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
    if kind == "Secret":
        decoded = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
        return {**decoded, **(obj.get("stringData") or {})}
    return dict(obj.get("data") or {})


def _field(pod: Obj, path: str) -> str:
    metadata, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    if match := _FIELD_LABEL.match(path):
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    values = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.hostIPs": ",".join(ip["ip"] for ip in status.get("hostIPs") or []),
        "status.podIP": status.get("podIP"),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs") or []),
    }
    return str(values.get(path) or "")


def _resource_field(container: Mapping[str, Any], reference: Mapping[str, Any]) -> str:
    """`limits.cpu` and friends, rounded up to the divisor as the kubelet does."""
    kind, _, resource = reference["resource"].partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(resource)
    if value is None:
        return "0"
    divisor = parse_quantity(reference.get("divisor", "1"))
    amount = parse_quantity(value) / divisor
    return str(-(-amount.numerator // amount.denominator))
