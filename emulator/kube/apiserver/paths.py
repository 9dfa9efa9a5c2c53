"""Resource URLs: `/api/v1/namespaces/{ns}/{plural}/{name}/{subresource}/...` and the same under
`/apis/{group}/{version}`, cluster-scoped kinds without the namespace part."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.kube.errors import KubeApiError, bad_request
from emulator.kube.resources import ResourceType, ResourceTypes


@dataclass(frozen=True)
class Target:
    rtype: ResourceType
    namespace: str | None  # None: a cluster-scoped kind, or every namespace
    name: str | None
    subresource: str
    rest: str  # what follows `proxy/`


def not_found() -> KubeApiError:
    return KubeApiError(404, "NotFound", "the server could not find the requested resource")


def parse_target(
    types: ResourceTypes, group: str, version: str, segments: list[str], trailing_slash: bool
) -> Target:
    """Where a request under a group version goes; 404 for what the server does not serve."""
    namespace = None
    if (
        len(segments) >= 3
        and segments[0] == "namespaces"
        and _namespaced(types, group, version, segments[2])
    ):
        namespace, segments = segments[1], segments[2:]
    rtype = types.by_path(group, version, segments[0])
    if (namespace is not None) != rtype.namespaced and not (
        rtype.namespaced and len(segments) == 1
    ):
        raise not_found()
    name = segments[1] if len(segments) > 1 else None
    subresource = segments[2] if len(segments) > 2 else ""
    if subresource and subresource not in rtype.subresources:
        raise not_found()
    if len(segments) > 3 and subresource != "proxy":
        raise not_found()
    rest = "/".join(segments[3:]) + ("/" if trailing_slash and len(segments) > 3 else "")
    return Target(rtype, namespace, name, subresource, rest)


def query_flag(query: Mapping[str, Any], name: str) -> bool:
    """A boolean option: `true` (any case) or `1` is true, anything else or nothing false."""
    return str(query.get(name, "")).lower() in ("true", "1")


def query_int(query: Mapping[str, Any], name: str) -> int | None:
    """An integer option, None when absent or empty; 400 when it is not an integer."""
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name}: {value!r}") from None


def _namespaced(types: ResourceTypes, group: str, version: str, plural: str) -> bool:
    try:
        return types.by_path(group, version, plural).namespaced
    except KubeApiError:
        return False
