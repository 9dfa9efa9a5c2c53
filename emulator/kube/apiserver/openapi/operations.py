"""The paths and operations of a served resource, as the real server's documents list them.

What matters to kubectl: every PATCH operation names its kind in `x-kubernetes-group-version-kind`
and declares `fieldValidation` (then kubectl leaves field validation to the server), and lists
the patch types it consumes (no strategic merge patch for custom resources). Operations are
written for v3; `v2_path_item` says the same in Swagger 2.0.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.kube.apiserver.openapi.models import (
    DELETE_OPTIONS,
    GVK,
    PATCH,
    SCALE,
    STATUS,
    Flavor,
    Schema,
)
from emulator.kube.apiserver.writes import PATCH_TYPES, STRATEGIC_MERGE_PATCH
from emulator.kube.resources import ResourceType

JSON = "application/json"


def _parameter(name: str, where: str, kind: str, description: str) -> Schema:
    parameter = {"name": name, "in": where, "description": description}
    parameter["schema"] = {"type": kind, "uniqueItems": True}
    if where == "path":
        parameter["required"] = True
    return parameter


_DRY_RUN = _parameter(
    "dryRun",
    "query",
    "string",
    "When present, indicates that modifications should not be persisted. An invalid or "
    "unrecognized dryRun directive will result in an error response and no further processing "
    "of the request. Valid values are: - All: all dry run stages will be processed",
)
_FIELD_MANAGER = _parameter(
    "fieldManager",
    "query",
    "string",
    "fieldManager is a name associated with the actor or entity that is making these changes. "
    "The value must be less than or 128 characters long, and only contain printable characters, "
    "as defined by https://golang.org/pkg/unicode/#IsPrint. This field is required for apply "
    "requests (application/apply-patch) but optional for non-apply patch types.",
)
_FIELD_VALIDATION = _parameter(
    "fieldValidation",
    "query",
    "string",
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn "
    "- Strict: This will fail the request with a BadRequest error if any unknown fields would be "
    "dropped from the object, or if any duplicate fields are present.",
)
_FORCE = _parameter(
    "force",
    "query",
    "boolean",
    'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields '
    "owned by other people. Force flag must be unset for non-apply patch requests.",
)
_DELETE_PARAMETERS = (
    _DRY_RUN,
    _parameter(
        "gracePeriodSeconds",
        "query",
        "integer",
        "The duration in seconds before the object should be deleted. Value must be non-negative "
        "integer. The value zero indicates delete immediately.",
    ),
    _parameter(
        "orphanDependents",
        "query",
        "boolean",
        "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.",
    ),
    _parameter(
        "propagationPolicy",
        "query",
        "string",
        "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', "
        "'Background', 'Foreground'.",
    ),
)
_LIST_PARAMETERS = tuple(
    _parameter(name, "query", kind, description)
    for name, kind, description in (
        ("allowWatchBookmarks", "boolean", 'allowWatchBookmarks requests "BOOKMARK" events.'),
        ("continue", "string", "The continue token of a previous paged list."),
        ("fieldSelector", "string", "A selector to restrict the list by the objects' fields."),
        ("labelSelector", "string", "A selector to restrict the list by the objects' labels."),
        ("limit", "integer", "The maximum number of objects to return in one page."),
        ("resourceVersion", "string", "The resource version the list or watch starts from."),
        ("resourceVersionMatch", "string", "How resourceVersion is applied to list calls."),
        ("sendInitialEvents", "boolean", "Starts a watch with the current state of objects."),
        ("timeoutSeconds", "integer", "Timeout for the list/watch call."),
        ("watch", "boolean", "Watch for changes to the described resources."),
    )
)
_PRETTY = _parameter("pretty", "query", "string", "If 'true', the output is pretty printed.")
_NAMESPACE = _parameter(
    "namespace", "path", "string", "object name and auth scope, such as for teams and projects"
)


_DESCRIPTIONS = {
    "list": "list or watch objects of kind {kind}",
    "post": "create a {kind}",
    "get": "read {of}the specified {kind}",
    "put": "replace {of}the specified {kind}",
    "patch": "partially update {of}the specified {kind}",
    "delete": "delete a {kind}",
    "deletecollection": "delete collection of {kind}",
}
_ANSWERS = {"200": "OK", "201": "Created", "202": "Accepted"}
# Subresources with operations here: the model they take and answer (None: the kind's own), and
# the kind their operations name.
_SUBRESOURCES: dict[str, tuple[str | None, dict[str, str] | None]] = {
    "status": (None, None),
    "scale": (SCALE, {"group": "autoscaling", "kind": "Scale", "version": "v1"}),
}


def _name(kind: str) -> Schema:
    return _parameter("name", "path", "string", f"name of the {kind}")


def _group_words(group: str) -> list[str]:
    """`rbac.authorization.k8s.io` -> ["Rbac", "Authorization"], as operation ids spell groups."""
    if not group:
        return ["Core"]
    return [
        part[:1].upper() + part[1:] for part in re.split(r"[.-]", group.removesuffix(".k8s.io"))
    ]


@dataclass(frozen=True)
class Resource:
    """One served resource with the model names its operations take and answer."""

    rtype: ResourceType
    model: str
    list_model: str
    flavor: Flavor

    @property
    def tag(self) -> str:
        words = _group_words(self.rtype.group)
        return words[0].lower() + "".join(words[1:]) + "_" + self.rtype.version

    def operation(
        self,
        verb: str,
        action: str,
        *,
        suffix: str = "",
        parameters: Iterable[Schema] = (),
        body: str | None = None,
        response: str | None = None,
        gvk: Mapping[str, str] | None = None,
        codes: Iterable[str] = ("200",),
    ) -> Schema:
        """One operation; `verb` and `suffix` name it as the real server's operation ids do."""
        rtype = self.rtype
        words = "".join(_group_words(rtype.group)) + rtype.version[:1].upper() + rtype.version[1:]
        scope = "Namespaced" if rtype.namespaced and suffix != "ForAllNamespaces" else ""
        answered = {"schema": self.flavor.ref(response or self.model)}
        of = f"{suffix.lower()} of " if suffix.lower() in _SUBRESOURCES else ""
        operation: Schema = {
            "description": _DESCRIPTIONS[action].format(kind=rtype.kind, of=of),
            "operationId": f"{verb}{words}{scope}{rtype.kind}{suffix}",
            "tags": [self.tag],
            "responses": {
                **{
                    code: {"description": _ANSWERS[code], "content": {JSON: answered}}
                    for code in codes
                },
                "401": {"description": "Unauthorized"},
            },
            "x-kubernetes-action": action,
            GVK: dict(gvk or _gvk(rtype)),
        }
        if parameters:
            operation["parameters"] = list(parameters)
        if body is not None:
            content_types = _patch_types(rtype) if action == "patch" else ["*/*"]
            schema = self.flavor.ref(body)
            operation["requestBody"] = {
                "content": {content_type: {"schema": schema} for content_type in content_types},
                "required": True,
            }
        return operation

    def paths(self) -> dict[str, Schema]:
        rtype = self.rtype
        base = f"/apis/{rtype.group}/{rtype.version}" if rtype.group else f"/api/{rtype.version}"
        scoped = f"{base}/namespaces/{{namespace}}" if rtype.namespaced else base
        scope = [_NAMESPACE] if rtype.namespaced else []
        collection, item = f"{scoped}/{rtype.plural}", f"{scoped}/{rtype.plural}/{{name}}"
        writes = (_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION)
        paths = {
            collection: {
                "parameters": [*scope, _PRETTY],
                "get": self.operation(
                    "list", "list", parameters=_LIST_PARAMETERS, response=self.list_model
                ),
                "post": self.operation(
                    "create",
                    "post",
                    parameters=writes,
                    body=self.model,
                    codes=("200", "201", "202"),
                ),
                "delete": self.operation(
                    "deleteCollection",
                    "deletecollection",
                    parameters=(*_DELETE_PARAMETERS, *_LIST_PARAMETERS),
                    body=DELETE_OPTIONS,
                    response=STATUS,
                ),
            },
            item: {
                "parameters": [_name(rtype.kind), *scope, _PRETTY],
                **self._item_operations(writes),
                "delete": self.operation(
                    "delete",
                    "delete",
                    parameters=_DELETE_PARAMETERS,
                    body=DELETE_OPTIONS,
                    response=STATUS,
                    codes=("200", "202"),
                ),
            },
        }
        if rtype.namespaced:
            paths[f"{base}/{rtype.plural}"] = {
                "parameters": [_PRETTY],
                "get": self.operation(
                    "list",
                    "list",
                    suffix="ForAllNamespaces",
                    parameters=_LIST_PARAMETERS,
                    response=self.list_model,
                ),
            }
        for subresource in sorted(_SUBRESOURCES.keys() & rtype.subresources):
            paths[f"{item}/{subresource}"] = {
                "parameters": [_name(rtype.kind), *scope, _PRETTY],
                **self._item_operations(writes, subresource),
            }
        return paths

    def _item_operations(
        self, writes: tuple[Schema, ...], subresource: str = ""
    ) -> dict[str, Schema]:
        """read, replace and patch of the object, or of its status or scale subresource."""
        model, gvk = _SUBRESOURCES.get(subresource, (None, None))
        model = model or self.model
        common: dict[str, Any] = {
            "suffix": subresource.capitalize(),
            "response": model,
            "gvk": gvk,
        }
        updated = ("200", "201")
        return {
            "get": self.operation("read", "get", **common),
            "put": self.operation(
                "replace", "put", parameters=writes, body=model, codes=updated, **common
            ),
            "patch": self.operation(
                "patch", "patch", parameters=(*writes, _FORCE), body=PATCH, codes=updated, **common
            ),
        }


def _gvk(rtype: ResourceType) -> dict[str, str]:
    return {"group": rtype.group, "kind": rtype.kind, "version": rtype.version}


def _patch_types(rtype: ResourceType) -> list[str]:
    """Custom resources take no strategic merge patch: kubectl reads that here."""
    return [t for t in PATCH_TYPES if rtype.crd is None or t != STRATEGIC_MERGE_PATCH]


def _v2_operation(operation: Schema) -> Schema:
    """A v3 operation in v2's words: typed parameters, a body parameter, consumes/produces."""
    result = {k: v for k, v in operation.items() if k not in ("requestBody", "responses")}
    if "parameters" in result:
        result["parameters"] = [_v2_parameter(p) for p in result["parameters"]]
    body = operation.get("requestBody")
    if body is not None:
        content = body["content"]
        parameter = {"name": "body", "in": "body", "required": True}
        parameter["schema"] = next(iter(content.values()))["schema"]
        result["parameters"] = [parameter, *result.get("parameters", [])]
        result["consumes"] = list(content)
    result["produces"] = [JSON]
    result["schemes"] = ["https"]
    result["responses"] = {
        code: {
            "description": answer["description"],
            **({"schema": answer["content"][JSON]["schema"]} if "content" in answer else {}),
        }
        for code, answer in operation["responses"].items()
    }
    return result


def _v2_parameter(parameter: Schema) -> Schema:
    result = {k: v for k, v in parameter.items() if k != "schema"}
    return {**result, **parameter["schema"]}


def v2_path_item(item: Schema) -> Schema:
    return {
        key: [_v2_parameter(p) for p in value] if key == "parameters" else _v2_operation(value)
        for key, value in item.items()
    }
