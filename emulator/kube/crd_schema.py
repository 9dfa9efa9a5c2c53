"""Validate custom resources against their CRD's structural schema, as the API server does.

The API server validates with field validation `Strict` (kubectl's default): a field the schema
does not declare is an error unless the schema preserves unknown fields there. jsonschema knows
none of Kubernetes' extensions, so the schema is translated once into plain JSON Schema.
"""

from collections.abc import Mapping
from typing import Any

import jsonschema


def version_schema(crd: Mapping[str, Any], version: str) -> Mapping[str, Any] | None:
    """The raw openAPIV3Schema of one version of a CRD, or None if it has no such version."""
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema: Mapping[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    return None


def crd_version_schema(crd: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The openAPIV3Schema of one served version of a CRD, translated for jsonschema."""
    schema = version_schema(crd, version)
    if schema is None:
        raise KeyError(f"{crd['metadata']['name']} serves no version {version}")
    return _strict(schema, is_root=True)


def validation_errors(schema: Mapping[str, Any], obj: Mapping[str, Any]) -> list[str]:
    """Every violation as `path: message`, sorted, the way a 422's causes list them."""
    validator = jsonschema.Draft7Validator(schema)
    errors = []
    for error in validator.iter_errors(obj):
        path = ".".join(str(part) for part in error.absolute_path) or "<root>"
        errors.append(f"{path}: {error.message}")
    return sorted(errors)


def _strict(schema: Mapping[str, Any], is_root: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            result[key] = {name: _strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            result[key] = _strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            result[key] = [_strict(sub) for sub in value]
        elif not key.startswith("x-kubernetes-"):
            result[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if is_root:
        # apiVersion, kind and metadata are the API server's, not the schema's, to check.
        result.setdefault("properties", {}).update(
            {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {}}
        )
    preserves = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
        "x-kubernetes-embedded-resource"
    )
    if "properties" in result and "additionalProperties" not in result and not preserves:
        result["additionalProperties"] = False
    return result
