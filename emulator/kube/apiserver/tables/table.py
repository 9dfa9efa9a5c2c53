"""`meta.k8s.io` Tables: what a client gets when its Accept header asks `as=Table` (`kubectl
get` does, to print the server's columns), for a get, a list or each event of a watch."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.kube.apiserver.tables.columns import Printer
from emulator.kube.errors import bad_request

_GROUP = "meta.k8s.io"
_VERSIONS = ("v1", "v1beta1")
_INCLUDE = ("None", "Metadata", "Object")


@dataclass(frozen=True)
class TableRequest:
    """A request for Tables: their apiVersion, and what each row carries of its object."""

    api_version: str
    include: str = "Metadata"


def _media_params(media_range: str) -> tuple[str, dict[str, str]]:
    kind, *params = (part.strip() for part in media_range.split(";"))
    pairs = (param.split("=", 1) for param in params if "=" in param)
    return kind.lower(), {key.strip(): value.strip() for key, value in pairs}


def table_request(accept: str, query: Mapping[str, str]) -> TableRequest | None:
    """The Table the Accept header asks for, if its first range the server serves is one (a
    plain JSON range first means the object); 400 for an unknown `includeObject`."""
    for media_range in accept.split(","):
        kind, params = _media_params(media_range)
        if kind not in ("application/json", "application/*", "*/*"):
            continue
        if "as" not in params:
            return None
        if (params["as"], params.get("g"), params.get("v")) in (
            ("Table", _GROUP, version) for version in _VERSIONS
        ):
            include = query.get("includeObject") or "Metadata"
            if include not in _INCLUDE:
                raise bad_request(f'unrecognized includeObject value: "{include}"')
            return TableRequest(f"{_GROUP}/{params['v']}", include)
    return None


@dataclass(frozen=True)
class TableBuilder:
    """Tables of one kind's objects; ages are counted to `now()`, the server's time."""

    request: TableRequest
    printer: Printer
    now: Callable[[], float]

    def table(
        self, objects: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any], headers: bool
    ) -> dict[str, Any]:
        """`metadata`: the list's (resourceVersion, continue, remainingItemCount); `headers`
        False leaves out the column definitions, as watch events after the first do."""
        now = self.now()
        return {
            "kind": "Table",
            "apiVersion": self.request.api_version,
            "metadata": dict(metadata),
            "columnDefinitions": (
                [column.definition() for column in self.printer.columns] if headers else []
            ),
            "rows": [self._row(obj, now) for obj in objects],
        }

    def of_list(self, listed: Mapping[str, Any]) -> dict[str, Any]:
        """The Table of a `<Kind>List` (one page of it), with its list metadata."""
        return self.table(listed["items"], listed["metadata"], headers=True)

    def of_object(self, obj: Mapping[str, Any], headers: bool = True) -> dict[str, Any]:
        version = obj["metadata"].get("resourceVersion", "")
        return self.table([obj], {"resourceVersion": version}, headers)

    def _row(self, obj: Mapping[str, Any], now: float) -> dict[str, Any]:
        row: dict[str, Any] = {"cells": self.printer.cells(obj, now)}
        conditions = self.printer.conditions(obj)
        if conditions:
            row["conditions"] = conditions
        if self.request.include == "Object":
            row["object"] = obj
        elif self.request.include == "Metadata":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": self.request.api_version,
                "metadata": obj["metadata"],
            }
        return row
