"""The shapes of Kubernetes objects, read from OpenAPI schemas.

Validation needs the schemas, and so do the merges (strategic merge patch, server-side apply):
whether a list is atomic, a set, or a map keyed by some fields, and which maps are atomic. Built-in
kinds use the strict JSON schemas kubernetes-validate ships for each Kubernetes minor version
(generated from the API server's own OpenAPI, extensions included); custom resources use their
CRD's openAPIV3Schema, with the built-in ObjectMeta for `metadata`.
"""

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from kubernetes_validate import utils as kubernetes_validate_utils
from packaging.version import Version

Schema = Mapping[str, Any]

_DEFS = "#/$defs/"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_UNTYPED: Schema = {"x-kubernetes-preserve-unknown-fields": True}
_ANNOTATION_ONLY = {"description", "title", "nullable", "x-kubernetes-preserve-unknown-fields"}


@cache
def schema_directory(kubernetes_version: str) -> str:
    """The strict schema set for a version: the newest one not newer than its minor version."""
    minor = Version(kubernetes_validate_utils.major_minor(kubernetes_version.lstrip("v")))
    known = [
        v
        for v in kubernetes_validate_utils.all_versions()
        if Version(kubernetes_validate_utils.major_minor(v)) <= minor
    ]
    if not known:
        raise ValueError(f"no Kubernetes schemas for version {kubernetes_version}")
    return f"v{known[-1]}-local-strict"


@cache
def _read(directory: str, filename: str) -> dict[str, Any] | None:
    path = resources.files("kubernetes_validate") / "kubernetes-json-schema" / directory / filename
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def definitions_document(directory: str) -> dict[str, Any]:
    """The named types of a schema set (`io.k8s.api.core.v1.PodSpec`, ...) under `$defs`."""
    document = _read(directory, "_definitions.json")
    if document is None:
        raise ValueError(f"kubernetes-validate has no schema set {directory}")
    return document


def definitions(directory: str) -> dict[str, Any]:
    return definitions_document(directory)["$defs"]


def kind_schema(directory: str, api_version: str, kind: str) -> dict[str, Any] | None:
    """The top-level schema of a built-in kind (None when the set has none)."""
    suffix = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return _read(directory, f"{kind.lower()}-{suffix}.json")


class Shape:
    """One place in an object: what may be there and how lists and maps there merge."""

    __slots__ = ("_defs", "_root", "schema")

    def __init__(self, schema: Schema, defs: Mapping[str, Any], root: bool = False) -> None:
        while "$ref" in schema:
            schema = defs[schema["$ref"].split(_DEFS, 1)[1]]
        self.schema = schema
        self._defs = defs
        self._root = root

    @property
    def kind(self) -> str:
        """ "struct" (declared fields), "map", "list", "scalar", or "any" (unknown fields kept)."""
        schema = self.schema
        types = schema.get("type") or []
        types = [types] if isinstance(types, str) else types
        if "properties" in schema:
            return "struct"
        if isinstance(schema.get("additionalProperties"), Mapping):
            return "map"
        if "items" in schema or "array" in types:
            return "list"
        if "object" in types or not set(schema) - _ANNOTATION_ONLY:
            return "any"
        return "scalar"

    def has_field(self, name: str) -> bool:
        return name in (self.schema.get("properties") or {})

    def field(self, name: str) -> "Shape":
        if self._root and name == "metadata":
            return Shape({"$ref": _DEFS + _OBJECT_META}, self._defs or _builtin_defs())
        properties = self.schema.get("properties") or {}
        if name in properties:
            return Shape(properties[name], self._defs)
        extra = self.schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            return Shape(extra, self._defs)
        return Shape(_UNTYPED, self._defs)

    def items(self) -> "Shape":
        items = self.schema.get("items")
        return Shape(items if isinstance(items, Mapping) else _UNTYPED, self._defs)

    @property
    def atomic(self) -> bool:
        """A map or struct replaced as a whole (`x-kubernetes-map-type: atomic`)."""
        return self.schema.get("x-kubernetes-map-type") == "atomic"

    @property
    def list_type(self) -> str:
        """ "atomic" (the default, as in server-side apply), "set" or "map"."""
        return self.schema.get("x-kubernetes-list-type", "atomic")

    @property
    def list_keys(self) -> tuple[str, ...]:
        return tuple(self.schema.get("x-kubernetes-list-map-keys") or ())

    @property
    def patch_strategy(self) -> tuple[str, ...]:
        return tuple(filter(None, self.schema.get("x-kubernetes-patch-strategy", "").split(",")))

    @property
    def patch_merge_key(self) -> str | None:
        return self.schema.get("x-kubernetes-patch-merge-key")


@cache
def _builtin_defs() -> dict[str, Any]:
    """ObjectMeta for custom resources: it is the same in every schema set."""
    return definitions(schema_directory(kubernetes_validate_utils.latest_version()))


def builtin_shape(directory: str, api_version: str, kind: str) -> Shape:
    schema = kind_schema(directory, api_version, kind)
    return Shape(schema if schema is not None else _UNTYPED, definitions(directory), root=True)


def custom_shape(schema: Schema) -> Shape:
    return Shape(schema, {}, root=True)
