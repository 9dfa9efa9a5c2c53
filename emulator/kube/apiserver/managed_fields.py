"""Field ownership (`metadata.managedFields`) and server-side apply, after structured-merge-diff.

Every write records which manager set which fields. An update (create, PUT, PATCH) gives its
manager the fields it changed; an apply gives its manager exactly the fields of its config,
merges the config into the live object (maps by key, associative lists by their keys, sets by
value, everything else replaced), removes fields the manager applied before and no longer does
(when nobody else owns them), and refuses to change a field another manager owns unless forced,
as 409 Conflict with one cause per field.

A path is a tuple of field-set elements, as fieldsV1 spells them: `f:name` (a field or map key),
`k:{"name":"x"}` (an associative list item), `v:"x"` (a set item).
"""

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.kube.apiserver.schemas import Shape
from emulator.kube.errors import KubeApiError

Obj = dict[str, Any]
Path = tuple[str, ...]

_MISSING = object()
_SERVER_METADATA = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
}
_KEY_DEFAULTS = {"protocol": "TCP"}
BEFORE_FIRST_APPLY = "before-first-apply"


@dataclass
class Manager:
    """One managedFields entry."""

    manager: str
    operation: str  # "Apply" or "Update"
    api_version: str
    time: str
    fields: set[Path] = field(default_factory=set)
    subresource: str = ""

    def same_as(self, name: str, operation: str, subresource: str, api_version: str) -> bool:
        """Appliers are one manager whatever their apiVersion; updaters are one per version."""
        return (self.manager, self.operation, self.subresource) == (
            name,
            operation,
            subresource,
        ) and (operation == "Apply" or self.api_version == api_version)

    def describe(self) -> str:
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


@dataclass(frozen=True)
class Request:
    """Who writes, and to which part of the object (the main resource or `status`)."""

    manager: str
    api_version: str
    subresource: str
    status_is_separate: bool
    now: str


# -- field sets ----------------------------------------------------------------------------


def scoped(obj: Mapping[str, Any], request: Request) -> Obj:
    """The part of an object a request may write: status only, or everything but status."""
    if request.subresource == "status":
        return {"status": obj["status"]} if "status" in obj else {}
    skipped = {"apiVersion", "kind"} | ({"status"} if request.status_is_separate else set())
    return {key: value for key, value in obj.items() if key not in skipped}


def field_set(obj: Mapping[str, Any], shape: Shape) -> set[Path]:
    """The paths an (already scoped) object sets, as structured-merge-diff's ToFieldSet."""
    out: set[Path] = set()
    for key, value in obj.items():
        path = (f"f:{key}",)
        if key == "metadata" and isinstance(value, Mapping):
            meta_shape = shape.field("metadata")
            for meta_key, meta_value in value.items():
                if meta_key not in _SERVER_METADATA:
                    _member(meta_value, meta_shape, meta_key, (*path, f"f:{meta_key}"), out)
        else:
            _member(value, shape, key, path, out)
    return out


def _member(value: Any, parent: Shape, key: str, path: Path, out: set[Path]) -> None:
    shape = parent.field(key)
    _walk(value, shape, path, out)
    empty_map = isinstance(value, Mapping) and not value
    if value is None or empty_map or not parent.has_field(key):
        out.add(path)


def _walk(value: Any, shape: Shape, path: Path, out: set[Path]) -> None:
    kind = shape.kind
    if isinstance(value, list) and kind == "list" and shape.list_type in ("map", "set"):
        for item in value:
            child = (*path, _item_element(item, shape))
            if shape.list_type == "map" and isinstance(item, Mapping):
                item_shape = shape.items()
                for item_key, item_value in item.items():
                    _member(item_value, item_shape, item_key, (*child, f"f:{item_key}"), out)
            out.add(child)
        return
    if isinstance(value, Mapping) and kind in ("struct", "map", "any") and not shape.atomic:
        for key, sub in value.items():
            _member(sub, shape, key, (*path, f"f:{key}"), out)
        return
    out.add(path)


def _item_element(item: Any, shape: Shape) -> str:
    if shape.list_type == "set" or not isinstance(item, Mapping):
        return "v:" + _json(item)
    return "k:" + _json({key: _key_value(item, key, shape) for key in shape.list_keys})


def _key_value(item: Mapping[str, Any], key: str, shape: Shape) -> Any:
    if key in item:
        return item[key]
    declared = (shape.items().schema.get("properties") or {}).get(key) or {}
    return declared.get("default", _KEY_DEFAULTS.get(key))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for element in path:
        kind, text = element[0], element[2:]
        if kind == "f":
            if not isinstance(node, Mapping) or text not in node:
                return _MISSING
            node = node[text]
        else:
            index = _find_item(node, kind, text)
            if index is None:
                return _MISSING
            node = node[index]
    return node


def _find_item(node: Any, kind: str, text: str) -> int | None:
    if not isinstance(node, list):
        return None
    wanted = json.loads(text)
    for index, item in enumerate(node):
        if kind == "v" and item == wanted:
            return index
        if kind == "k" and isinstance(item, Mapping) and _has_keys(item, wanted):
            return index
    return None


def _has_keys(item: Mapping[str, Any], keys: Mapping[str, Any]) -> bool:
    return all(item.get(key, _KEY_DEFAULTS.get(key)) == value for key, value in keys.items())


def _remove(obj: Any, path: Path) -> None:
    parent = value_at(obj, path[:-1])
    kind, text = path[-1][0], path[-1][2:]
    if kind == "f" and isinstance(parent, dict):
        parent.pop(text, None)
    elif kind != "f":
        index = _find_item(parent, kind, text)
        if index is not None:
            del parent[index]


def _leaves(paths: set[Path]) -> set[Path]:
    parents = {path[:i] for path in paths for i in range(1, len(path))}
    return paths - parents


def compare(
    old: Mapping[str, Any], new: Mapping[str, Any], shape: Shape
) -> tuple[set[Path], set[Path]]:
    """(changed, removed): paths added or given a new value, and paths no longer set."""
    before, after = field_set(old, shape), field_set(new, shape)
    modified = {
        path for path in _leaves(before & after) if value_at(old, path) != value_at(new, path)
    }
    return (after - before) | modified, before - after


# -- managedFields ---------------------------------------------------------------------------


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """fieldsV1: a tree of elements, with "." marking a member that also has children."""
    tree: dict[str, Any] = {}
    members = set(paths)
    for path in sorted(members):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in members:
        node = tree
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return tree


def decode_fields(tree: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for element, sub in tree.items():
        if element == ".":
            paths.add(prefix)
            continue
        path = (*prefix, element)
        if sub:
            paths |= decode_fields(sub, path)
        else:
            paths.add(path)
    return paths


def read_managers(obj: Mapping[str, Any]) -> list[Manager]:
    return [
        Manager(
            manager=entry.get("manager", ""),
            operation=entry.get("operation", "Update"),
            api_version=entry.get("apiVersion", ""),
            time=entry.get("time", ""),
            fields=decode_fields(entry.get("fieldsV1") or {}),
            subresource=entry.get("subresource", ""),
        )
        for entry in (obj.get("metadata") or {}).get("managedFields") or []
    ]


def write_managers(obj: Obj, managers: list[Manager]) -> None:
    entries = []
    for manager in managers:
        if not manager.fields:
            continue
        entry = {
            "manager": manager.manager,
            "operation": manager.operation,
            "apiVersion": manager.api_version,
            "time": manager.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": encode_fields(manager.fields),
        }
        if manager.subresource:
            entry["subresource"] = manager.subresource
        entries.append(entry)
    if entries:
        obj.setdefault("metadata", {})["managedFields"] = entries
    else:
        obj.get("metadata", {}).pop("managedFields", None)


def _entry(managers: list[Manager], request: Request, operation: str) -> Manager:
    for manager in managers:
        if manager.same_as(request.manager, operation, request.subresource, request.api_version):
            return manager
    manager = Manager(
        request.manager, operation, request.api_version, request.now, set(), request.subresource
    )
    managers.append(manager)
    return manager


def record_update(old: Mapping[str, Any] | None, new: Obj, shape: Shape, request: Request) -> None:
    """Give the updating manager the fields it changed (all it set, on create)."""
    managers = read_managers(old) if old is not None else []
    before = scoped(old, request) if old is not None else {}
    changed, removed = compare(before, scoped(new, request), shape)
    if changed or removed:
        for manager in managers:
            manager.fields -= changed | removed
        entry = _entry(managers, request, "Update")
        entry.fields |= changed
        entry.time, entry.api_version = request.now, request.api_version
    write_managers(new, managers)


def apply(
    live: Mapping[str, Any],
    config: Mapping[str, Any],
    shape: Shape,
    request: Request,
    force: bool,
) -> Obj:
    """The object after applying `config` (server-side apply), with its managedFields."""
    managers = read_managers(live)
    live_part = scoped(live, request)
    if live and not managers and live_part:
        managers = [
            Manager(
                BEFORE_FIRST_APPLY,
                "Update",
                request.api_version,
                request.now,
                field_set(live_part, shape),
            )
        ]
    config_part = scoped(config, request)
    applied = field_set(config_part, shape)
    entry = _entry(managers, request, "Apply")
    others = [manager for manager in managers if manager is not entry]
    merged = merge(copy.deepcopy(dict(live)), config_part, shape)
    owned_by_others = set().union(*(manager.fields for manager in others))
    _prune(merged, entry.fields - applied - owned_by_others, applied | owned_by_others)
    changed, removed = compare(live_part, scoped(merged, request), shape)
    conflicts = [(manager, path) for manager in others for path in sorted(manager.fields & changed)]
    if conflicts and not force:
        raise conflict_error(conflicts)
    for manager in others:
        manager.fields -= changed | removed
    if changed or removed or entry.fields != applied:
        entry.time = request.now
    entry.fields, entry.api_version = applied, request.api_version
    write_managers(merged, managers)
    return merged


def keep_times_of_noop(new: Obj, old: Mapping[str, Any]) -> None:
    """A write that changes nothing but managedFields times keeps the old times (and so is no
    write at all), as the API server's managed-fields timestamp transformer does."""

    def without_times(obj: Mapping[str, Any]) -> Any:
        copied = copy.deepcopy(dict(obj))
        for entry in copied.get("metadata", {}).get("managedFields") or []:
            entry.pop("time", None)
        copied.get("metadata", {}).pop("resourceVersion", None)
        return copied

    if "managedFields" in old.get("metadata", {}) and without_times(new) == without_times(old):
        new["metadata"]["managedFields"] = copy.deepcopy(old["metadata"]["managedFields"])


def _prune(obj: Obj, stale: set[Path], kept: set[Path]) -> None:
    """Remove what the applier no longer applies, then the maps and lists that left empty."""
    for path in sorted(stale, key=len):
        if value_at(obj, path) is _MISSING:
            continue
        _remove(obj, path)
        parent = path[:-1]
        while len(parent) > 1 and parent not in kept and value_at(obj, parent) in ({}, []):
            _remove(obj, parent)
            parent = parent[:-1]


def merge(live: Any, config: Any, shape: Shape) -> Any:
    """Merge an applied config into the live object, as the schema says each part merges."""
    kind = shape.kind
    if (
        isinstance(config, Mapping)
        and isinstance(live, dict)
        and kind != "scalar"
        and not shape.atomic
    ):
        for key, value in config.items():
            live[key] = (
                merge(live[key], value, shape.field(key)) if key in live else copy.deepcopy(value)
            )
        return live
    if isinstance(config, list) and isinstance(live, list) and kind == "list":
        if shape.list_type == "set":
            return live + [copy.deepcopy(item) for item in config if item not in live]
        if shape.list_type == "map":
            result = live
            for item in config:
                element = _item_element(item, shape)
                index = _find_item(result, element[0], element[2:])
                if index is None:
                    result.append(copy.deepcopy(item))
                else:
                    result[index] = merge(result[index], item, shape.items())
            return result
    return copy.deepcopy(config)


def path_text(path: Path) -> str:
    """`.spec.containers[name="x"].image`, as apply conflicts name fields."""
    text = ""
    for element in path:
        kind, body = element[0], element[2:]
        if kind == "f":
            text += f".{body}"
        elif kind == "k":
            keys = json.loads(body)
            text += "[" + ",".join(f"{key}={_json(value)}" for key, value in keys.items()) + "]"
        else:
            text += f"[={body}]"
    return text


def conflict_error(conflicts: list[tuple[Manager, Path]]) -> KubeApiError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {manager.describe()}",
            "field": path_text(path),
        }
        for manager, path in conflicts
    ]
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {manager.describe()}: {path_text(path)}"
        )
    else:
        lines = []
        for described in sorted({manager.describe() for manager, _ in conflicts}):
            lines.append(f"conflicts with {described}:")
            lines += [f"- {path_text(p)}" for m, p in conflicts if m.describe() == described]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return KubeApiError(409, "Conflict", message, {"causes": causes})
