"""The OpenAPI documents of one cluster, built from its served types when first asked for after
a change (a CRD created, changed or deleted), and kept until the next one."""

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.kube.apiserver import schemas
from emulator.kube.apiserver.openapi import models
from emulator.kube.apiserver.openapi.models import V2, V3, Flavor, Schema
from emulator.kube.apiserver.openapi.operations import Resource, v2_path_item
from emulator.kube.apiserver.openapi.v2_protobuf import encode_document
from emulator.kube.resources import ResourceType, ResourceTypes
from emulator.kube.version import version_info

CrdOf = Callable[[ResourceType], Mapping[str, Any] | None]

_SECURITY_SCHEME = {
    "type": "apiKey",
    "name": "authorization",
    "in": "header",
    "description": "Bearer Token authentication",
}


def group_version_path(rtype: ResourceType) -> str:
    """`api/v1`, `apis/apps/v1`: a group version's key in the v3 index."""
    return f"apis/{rtype.group}/{rtype.version}" if rtype.group else f"api/{rtype.version}"


@dataclass(frozen=True)
class Document:
    """One served document: its JSON, its hash (`ETag` and v3's `?hash=`), and what it was built
    from, so a change of served types or CRD schemas rebuilds it."""

    source: tuple[Any, ...]
    body: bytes
    hash: str

    @classmethod
    def of(cls, source: tuple[Any, ...], document: Mapping[str, Any]) -> "Document":
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        return cls(source, body, hashlib.sha512(body).hexdigest().upper())


class OpenApiDocuments:
    """v3 per group version, and v2 (JSON and protobuf) for everything served."""

    def __init__(self, types: ResourceTypes, kubernetes_version: str, crd_of: CrdOf) -> None:
        self.types = types
        self.directory = schemas.schema_directory(kubernetes_version)
        self.info = {
            "title": "Kubernetes",
            "version": version_info(kubernetes_version)["gitVersion"],
        }
        self.crd_of = crd_of
        self._built: dict[str, Document] = {}
        self._v2_protobuf: tuple[str, bytes] | None = None

    def group_versions(self) -> list[str]:
        return list(dict.fromkeys(group_version_path(t) for t in self.types.all()))

    def v3(self, group_version: str) -> Document | None:
        rtypes = [t for t in self.types.all() if group_version_path(t) == group_version]
        if not rtypes:
            return None
        return self._document(group_version, rtypes, V3)

    def v2(self) -> Document:
        return self._document("v2", self.types.all(), V2)

    def v2_protobuf(self) -> tuple[str, bytes]:
        """The v2 document as gnostic's `openapi_v2.Document`, and the hash of its JSON."""
        document = self.v2()
        if self._v2_protobuf is None or self._v2_protobuf[0] != document.hash:
            self._v2_protobuf = (document.hash, encode_document(json.loads(document.body)))
        return self._v2_protobuf

    def _document(self, key: str, rtypes: list[ResourceType], flavor: Flavor) -> Document:
        crds = [self.crd_of(t) for t in rtypes]
        source = tuple(
            (t, crd and crd["metadata"].get("resourceVersion"))
            for t, crd in zip(rtypes, crds, strict=True)
        )
        built = self._built.get(key)
        if built is None or built.source != source:
            built = Document.of(source, self._build(rtypes, crds, flavor))
            self._built[key] = built
        return built

    def _build(
        self, rtypes: list[ResourceType], crds: list[Mapping[str, Any] | None], flavor: Flavor
    ) -> Schema:
        builtin = models.builtin_models(self.directory, flavor)
        kinds = models.builtin_kinds(self.directory)
        available = dict(builtin)
        paths: dict[str, Schema] = {}
        roots = [models.STATUS, models.DELETE_OPTIONS, models.PATCH]
        for rtype, crd in zip(rtypes, crds, strict=True):
            if crd is not None:
                custom = models.crd_models(crd, rtype, builtin, flavor)
                available.update(custom)
                model, list_model = custom
            else:
                model = kinds.get((rtype.group, rtype.version, rtype.kind), "")
                list_model = kinds.get((rtype.group, rtype.version, rtype.kind + "List"), "")
                if not model or not list_model:
                    continue  # a kind the schema set lacks is served without a document
            roots += [model, list_model]
            if "scale" in rtype.subresources:
                roots.append(models.SCALE)
            paths.update(Resource(rtype, model, list_model, flavor).paths())
        carried = {
            name: available[name] for name in sorted(models.closure(roots, available, flavor))
        }
        security = [{"BearerToken": []}]
        if flavor.v3:
            return {
                "openapi": "3.0.0",
                "info": self.info,
                "paths": paths,
                "components": {
                    "schemas": carried,
                    "securitySchemes": {"BearerToken": _SECURITY_SCHEME},
                },
                "security": security,
            }
        return {
            "swagger": "2.0",
            "info": self.info,
            "paths": {path: v2_path_item(item) for path, item in paths.items()},
            "definitions": carried,
            "securityDefinitions": {"BearerToken": _SECURITY_SCHEME},
            "security": security,
        }
