"""Discovery documents (`/api`, `/apis`, `/apis/{group}`, each group version's resource list)
and `/version`, from the cluster's served types, so a CRD's kinds appear and disappear with it."""

import re
from collections.abc import Iterable
from typing import Any

from emulator.kube.errors import KubeApiError
from emulator.kube.resources import ResourceType, ResourceTypes

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_SUBRESOURCES: dict[str, tuple[list[str], str | None]] = {
    "status": (["get", "patch", "update"], None),
    "scale": (["get", "patch", "update"], "Scale"),
    "log": (["get"], "Pod"),
    "binding": (["create"], "Binding"),
    "proxy": (["create", "delete", "get", "patch", "update"], None),
}
_PROXY_KINDS = {
    "Pod": "PodProxyOptions",
    "Service": "ServiceProxyOptions",
    "Node": "NodeProxyOptions",
}
_CATEGORY_ALL = {"Pod", "Service", "Deployment", "ReplicaSet", "Job"}
_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' version order: GA before beta before alpha, higher numbers first."""
    match = _VERSION.match(version)
    if not match:
        return (0, 0, 0)
    major, stage, minor = match.groups()
    return ({None: 3, "beta": 2, "alpha": 1}[stage], int(major), int(minor or 0))


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _groups(types: ResourceTypes) -> dict[str, list[str]]:
    """Named groups in the order they were served, each with versions, preferred first."""
    groups: dict[str, list[str]] = {}
    for rtype in types.all():
        if rtype.group:
            versions = groups.setdefault(rtype.group, [])
            if rtype.version not in versions:
                versions.append(rtype.version)
    return {g: sorted(v, key=version_priority, reverse=True) for g, v in groups.items()}


def _group_document(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(types: ResourceTypes) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_document(g, v) for g, v in _groups(types).items()],
    }


def api_group(types: ResourceTypes, group: str) -> dict[str, Any]:
    versions = _groups(types).get(group)
    if not versions:
        raise KubeApiError(404, "NotFound", "the server could not find the requested resource")
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_document(group, versions)}


def resource_list(types: ResourceTypes, group: str, version: str) -> dict[str, Any]:
    served = [t for t in types.all() if (t.group, t.version) == (group, version)]
    if not served:
        raise KubeApiError(404, "NotFound", "the server could not find the requested resource")
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": list(_resources(served)),
    }


def _resources(served: Iterable[ResourceType]) -> Iterable[dict[str, Any]]:
    for rtype in served:
        entry: dict[str, Any] = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": VERBS,
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.kind in _CATEGORY_ALL or rtype.crd is not None:
            entry["categories"] = ["all"]
        yield entry
        for name in sorted(rtype.subresources):
            verbs, kind = _SUBRESOURCES[name]
            if name == "proxy":
                kind = _PROXY_KINDS.get(rtype.kind, "ProxyOptions")
            sub: dict[str, Any] = {
                "name": f"{rtype.plural}/{name}",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": kind or rtype.kind,
                "verbs": verbs,
            }
            if name == "scale":
                sub.update({"group": "autoscaling", "version": "v1"})
            yield sub
