"""Request bodies checked against the discovery documents that google-api-python-client ships.

Google's frontends answer 400 INVALID_ARGUMENT for unknown fields and wrongly typed values.
Checking against the documents the clients are generated from keeps the emulator's idea of a
valid body the same as the client's, without a hand-written copy of every schema.
"""

import json
from functools import cache
from importlib import resources
from typing import Any

from emulator.core.errors import GoogleApiError, invalid_argument

_INT64_FORMATS = {"int64", "uint64"}


@cache
def _schemas(document: str) -> dict[str, Any]:
    documents = resources.files("googleapiclient") / "discovery_cache" / "documents"
    return json.loads((documents / f"{document}.json").read_text())["schemas"]


def validate(document: str, schema: str, body: Any) -> None:
    """Raise 400 unless `body` is a valid `schema` of the discovery `document` (`iam.v1`)."""
    _check(_schemas(document), {"$ref": schema}, body, "")


def _check(schemas: dict[str, Any], spec: dict[str, Any], value: Any, where: str) -> None:
    if "$ref" in spec:
        spec = schemas[spec["$ref"]]
    if value is None:
        return  # JSON null is the default value of any field
    kind = spec.get("type") or ("object" if "properties" in spec else None)
    if kind == "object":
        _check_object(schemas, spec, value, where)
    elif kind == "array":
        if not isinstance(value, list):
            raise _invalid_value(where, value, "a list")
        for index, item in enumerate(value):
            _check(schemas, spec["items"], item, f"{where}[{index}]")
    elif not _scalar_fits(kind, spec.get("format"), value):
        raise _invalid_value(where, value, kind or "a value")


def _check_object(schemas: dict[str, Any], spec: dict[str, Any], value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _invalid_value(where, value, "an object")
    properties = spec.get("properties", {})
    additional = spec.get("additionalProperties")
    for name, item in value.items():
        child = f"{where}.{name}" if where else name
        if name in properties:
            _check(schemas, properties[name], item, child)
        elif additional is not None:
            _check(schemas, additional, item, child)
        else:
            at = f" at '{where}'" if where else ""
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.'
            )


def _scalar_fits(kind: str | None, number_format: str | None, value: Any) -> bool:
    if kind == "string":
        if number_format in _INT64_FORMATS:
            return _is_integer(value) or (isinstance(value, str) and value.lstrip("-").isdigit())
        return isinstance(value, str)
    if kind == "integer":
        return _is_integer(value) or (isinstance(value, str) and value.lstrip("-").isdigit())
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return True


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid_value(where: str, value: Any, expected: str) -> GoogleApiError:
    return invalid_argument(
        f"Invalid value at '{where or 'body'}' ({expected}), {json.dumps(value)[:80]}"
    )
