"""The `scale` subresource (Deployments, ReplicaSets, custom resources that declare it) and pod
`binding`, the scheduler's way of assigning a node."""

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.kube.apiserver import patches
from emulator.kube.apiserver.paths import Target
from emulator.kube.apiserver.writes import JSON_PATCH, WriteOptions, Writer, Written
from emulator.kube.errors import bad_request, conflict
from emulator.kube.resources import ResourceType
from emulator.kube.store import Obj

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

_BUILTIN_SCALE = {
    "specReplicasPath": ".spec.replicas",
    "statusReplicasPath": ".status.replicas",
    "labelSelectorPath": ".spec.selector",
}


class Subresources:
    def __init__(self, cluster: "KubeCluster", writer: Writer) -> None:
        self.store = cluster.store
        self.writer = writer

    async def handle(
        self, request: web.Request, target: Target, verb: str, options: WriteOptions
    ) -> Written:
        rtype, namespace = target.rtype, target.namespace or ""
        name = target.name or ""
        if target.subresource == "binding":
            return self._bind(namespace, name, json.loads(await request.read() or b"{}"))
        paths = self._scale_paths(rtype)
        current = self.store.get(rtype, namespace, name)
        if verb == "get":
            return Written(_scale(current, paths), 200, [])
        raw = await request.read()
        if verb == "update":
            wanted = json.loads(raw or b"{}")
        elif request.content_type == JSON_PATCH:
            wanted = patches.json_patch(_scale(current, paths), json.loads(raw))
        else:
            wanted = patches.merge_patch(_scale(current, paths), json.loads(raw))
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise bad_request(f"invalid replicas in Scale: {replicas!r}")
        updated = json.loads(json.dumps(current))
        _set(updated, paths["specReplicasPath"], replicas)
        expected = (
            (wanted.get("metadata") or {}).get("resourceVersion") if verb == "update" else None
        )
        written = await self.writer.replace_object(rtype, current, updated, expected, "", options)
        return Written(_scale(written.obj, paths), 200, written.warnings)

    def _scale_paths(self, rtype: ResourceType) -> Mapping[str, str]:
        if rtype.crd is None:
            return _BUILTIN_SCALE
        crd = self.writer.admission.crd_of(rtype) or {}
        for version in crd.get("spec", {}).get("versions", []):
            if version["name"] == rtype.version:
                return version.get("subresources", {}).get("scale", {})
        return {}

    def _bind(self, namespace: str, name: str, binding: Mapping[str, Any]) -> Written:
        pods = self.store.types.by_kind("v1", "Pod")
        pod = self.store.get(pods, namespace, name)
        node = (binding.get("target") or {}).get("name")
        if not node:
            raise bad_request("a binding needs target.name")
        assigned = (pod.get("spec") or {}).get("nodeName")
        if assigned:
            message = f'pod {name} is already assigned to node "{assigned}"'
            raise conflict("pods/binding", name, message)
        pod["spec"]["nodeName"] = node
        self.store.replace(pods, pod)
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }
        return Written(status, 201, [])


def _scale(obj: Obj, paths: Mapping[str, str]) -> Obj:
    metadata = obj["metadata"]
    selector = _get(obj, paths.get("labelSelectorPath", ""))
    if isinstance(selector, Mapping):
        selector = selector_text(selector)
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": _get(obj, paths.get("specReplicasPath", "")) or 0},
        "status": {
            "replicas": _get(obj, paths.get("statusReplicasPath", "")) or 0,
            **({"selector": selector} if selector else {}),
        },
    }


def selector_text(selector: Mapping[str, Any]) -> str:
    """A LabelSelector as a label selector string (`app=web,tier in (a,b)`)."""
    terms = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = ",".join(sorted(expression.get("values") or []))
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    return ",".join(sorted(terms))


def _get(obj: Any, path: str) -> Any:
    for part in filter(None, path.split(".")):
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(part)
    return obj


def _set(obj: Obj, path: str, value: Any) -> None:
    parts = [part for part in path.split(".") if part]
    for part in parts[:-1]:
        obj = obj.setdefault(part, {})
    obj[parts[-1]] = value
