"""PATCH bodies other than server-side apply: JSON merge patch, JSON patch, strategic merge patch.

The strategic merge patch follows the built-in kinds' `x-kubernetes-patch-strategy` and
`x-kubernetes-patch-merge-key` (containers, env, volumes and volumeMounts by name, ports by
containerPort, finalizers merged as a set, ...), with the `$patch: delete|replace`,
`$retainKeys`, `$deleteFromPrimitiveList/` and `$setElementOrder/` directives.
"""

import copy
from typing import Any

from emulator.kube.apiserver.schemas import Shape
from emulator.kube.errors import KubeApiError, bad_request

_DELETE = object()
_DIRECTIVE = "$patch"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test); failures are 422, as the API server's."""
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    result = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise bad_request("Unexpected kind: missing op")
        try:
            result = _apply_operation(result, operation)
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise _patch_failed(str(error) or f"{operation['op']} operation failed") from None
    return result


def strategic_merge_patch(original: Any, patch: Any, shape: Shape) -> Any:
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch: the patch must be a JSON object")
    merged = _merge_map(original if isinstance(original, dict) else {}, patch, shape)
    return {} if merged is _DELETE else merged


def _merge_map(original: dict[str, Any], patch: dict[str, Any], shape: Shape) -> Any:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip(patch)
    result = copy.deepcopy(original)
    for key, value in patch.items():
        if key in (_DIRECTIVE, "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [item for item in result.get(field) or [] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
            continue
        sub = shape.field(key)
        if isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, sub)
        elif isinstance(value, dict) and not sub.atomic:
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, sub)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = _strip(value)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {key: value for key, value in result.items() if key in retain}
    return result


def _merge_list(original: Any, patch: list[Any], shape: Shape) -> list[Any]:
    if "merge" not in shape.patch_strategy or not isinstance(original, list):
        return [_strip(item) for item in patch if not _is_replace_marker(item)]
    if any(_is_replace_marker(item) for item in patch):
        return [_strip(item) for item in patch if not _is_replace_marker(item)]
    merge_key = shape.patch_merge_key
    result = copy.deepcopy(original)
    if merge_key is None:
        return result + [_strip(item) for item in patch if item not in result]
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(
                f"strategic merge patch: expected a map in the list keyed by {merge_key}"
            )
        index = next(
            (
                i
                for i, existing in enumerate(result)
                if isinstance(existing, dict) and existing.get(merge_key) == item.get(merge_key)
            ),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_strip(item))
        else:
            result[index] = _merge_map(result[index], item, shape.items())
    return result


def _is_replace_marker(item: Any) -> bool:
    return isinstance(item, dict) and item.get(_DIRECTIVE) == "replace" and len(item) == 1


def _strip(value: Any) -> Any:
    """A patch value without directives, where it is taken as a whole."""
    if isinstance(value, dict):
        return {key: _strip(sub) for key, sub in value.items() if not key.startswith("$")}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return copy.deepcopy(value)


def _patch_failed(message: str) -> KubeApiError:
    return KubeApiError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": message}]},
    )


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer: {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str]) -> Any:
    node = document
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _get(document: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return document
    parent = _parent(document, parts)
    if isinstance(parent, list):
        return parent[int(parts[-1])]
    if parts[-1] not in parent:
        raise KeyError(f"doc is missing path: {path}")
    return parent[parts[-1]]


def _add(document: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return copy.deepcopy(value)
    parent = _parent(document, parts)
    if isinstance(parent, list):
        index = len(parent) if parts[-1] == "-" else int(parts[-1])
        if not 0 <= index <= len(parent):
            raise IndexError(f"add operation does not apply: doc is missing path: {path}")
        parent.insert(index, copy.deepcopy(value))
    elif isinstance(parent, dict):
        parent[parts[-1]] = copy.deepcopy(value)
    else:
        raise KeyError(f"add operation does not apply: doc is missing path: {path}")
    return document


def _remove(document: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(document, parts)
    if isinstance(parent, list):
        del parent[int(parts[-1])]
    elif parts[-1] in parent:
        del parent[parts[-1]]
    else:
        raise KeyError(f"remove operation does not apply: doc is missing path: {path}")
    return document


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    kind, path = operation["op"], operation.get("path", "")
    if kind == "add":
        return _add(document, path, operation.get("value"))
    if kind == "remove":
        return _remove(document, path)
    if kind == "replace":
        _get(document, path)
        return _add(_remove(document, path), path, operation.get("value"))
    if kind in ("move", "copy"):
        value = copy.deepcopy(_get(document, operation["from"]))
        if kind == "move":
            document = _remove(document, operation["from"])
        return _add(document, path, value)
    if kind == "test":
        if _get(document, path) != operation.get("value"):
            raise ValueError(f"testing value {path} failed: test failed")
        return document
    raise ValueError(f"Unexpected kind: {kind}")
