"""OpenAPI models (the named schemas of `definitions` and `components.schemas`) from the schemas
the API server validates with: kubernetes-validate's set for built-in kinds, each CRD version's
openAPIV3Schema for custom resources."""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from emulator.kube.apiserver import schemas
from emulator.kube.crd_schema import version_schema
from emulator.kube.resources import ResourceType

Schema = dict[str, Any]

GVK = "x-kubernetes-group-version-kind"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META, LIST_META = _META + "ObjectMeta", _META + "ListMeta"
STATUS, DELETE_OPTIONS, PATCH = _META + "Status", _META + "DeleteOptions", _META + "Patch"
SCALE = "io.k8s.api.autoscaling.v1.Scale"
_SOURCE_REF = "#/$defs/"
_V3_ONLY = ("nullable", "anyOf", "oneOf", "not")  # dropped from v2, as the server drops them


@dataclass(frozen=True)
class Flavor:
    """What differs between v2 and v3 documents: where models live and how a `$ref` with
    siblings is written (OpenAPI 3.0 ignores a `$ref`'s siblings, so v3 wraps it in `allOf`)."""

    v3: bool

    @property
    def prefix(self) -> str:
        return "#/components/schemas/" if self.v3 else "#/definitions/"

    def ref(self, model: str, **siblings: Any) -> Schema:
        target = {"$ref": self.prefix + model}
        if not siblings:
            return target
        return {"allOf": [target], **siblings} if self.v3 else {**target, **siblings}


V2, V3 = Flavor(v3=False), Flavor(v3=True)


def convert(schema: Any, flavor: Flavor) -> Any:
    """A JSON Schema of kubernetes-validate (or a CRD's OpenAPI v3 schema) as an OpenAPI schema.

    kubernetes-validate's strict set makes every type nullable, forbids unknown properties,
    and spells int-or-string and quantities as `oneOf`; the API server's OpenAPI does none of it.
    """
    if not isinstance(schema, Mapping):
        return schema
    result: Schema = {}
    for key, value in schema.items():
        if key == "$ref" or (key == "additionalProperties" and value is False):
            continue
        if key == "type" and isinstance(value, list):
            result[key] = next(t for t in value if t != "null")
        elif key == "oneOf" and all(set(alternative) == {"type"} for alternative in value):
            types = {t for alternative in value for t in alternative["type"]}
            result["type"] = "string"
            if "integer" in types:
                result["format"] = "int-or-string"
        elif key in _V3_ONLY and not flavor.v3:
            continue
        elif key == "properties":
            result[key] = {name: convert(sub, flavor) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            result[key] = convert(value, flavor)
        elif key in ("allOf", "anyOf", "oneOf"):
            result[key] = [convert(sub, flavor) for sub in value]
        else:
            result[key] = value
    if "$ref" in schema:
        return flavor.ref(schema["$ref"].split(_SOURCE_REF)[-1], **result)
    return result


@cache
def builtin_models(directory: str, flavor: Flavor) -> dict[str, Schema]:
    """Every named type of the schema set; apiVersion and kind lose the enum pinning them."""
    models = {
        name: convert(schema, flavor) for name, schema in schemas.definitions(directory).items()
    }
    for model in models.values():
        if GVK in model:
            for name in ("apiVersion", "kind"):
                model.get("properties", {}).get(name, {}).pop("enum", None)
    return models


@cache
def builtin_kinds(directory: str) -> dict[tuple[str, str, str], str]:
    """Model names by (group, version, kind), from their `x-kubernetes-group-version-kind`."""
    kinds = {}
    for name, schema in schemas.definitions(directory).items():
        for gvk in schema.get(GVK, []):
            kinds.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return kinds


def crd_model_name(group: str, version: str, kind: str) -> str:
    """`jobset.x-k8s.io`, `v1alpha2`, `JobSet` -> `io.x-k8s.jobset.v1alpha2.JobSet`."""
    return ".".join([*reversed(group.split(".")), version, kind])


def crd_models(
    crd: Mapping[str, Any], rtype: ResourceType, builtin: Mapping[str, Schema], flavor: Flavor
) -> dict[str, Schema]:
    """The kind and its list, as the apiextensions server publishes a CRD version: the CRD's
    schema with the built-in ObjectMeta and a group-version-kind kubectl finds it by."""
    name = crd_model_name(rtype.group, rtype.version, rtype.kind)
    type_meta = {key: builtin[STATUS]["properties"][key] for key in ("apiVersion", "kind")}
    model = convert(version_schema(crd, rtype.version) or {}, flavor)
    model.setdefault("type", "object")
    model["properties"] = {
        **model.get("properties", {}),
        **type_meta,
        "metadata": flavor.ref(OBJECT_META, description="Standard object's metadata."),
    }
    model[GVK] = [{"group": rtype.group, "kind": rtype.kind, "version": rtype.version}]
    listing = {
        "description": f"{rtype.kind}List is a list of {rtype.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            **type_meta,
            "items": {
                "description": f"List of {rtype.plural}.",
                "type": "array",
                "items": flavor.ref(name),
            },
            "metadata": flavor.ref(LIST_META, description="Standard list metadata."),
        },
        GVK: [{"group": rtype.group, "kind": f"{rtype.kind}List", "version": rtype.version}],
    }
    return {name: model, f"{name}List": listing}


def closure(roots: Iterable[str], models: Mapping[str, Schema], flavor: Flavor) -> set[str]:
    """The roots and every model they reference, transitively: what one document carries."""
    found: set[str] = set()
    pending = [root for root in roots if root in models]
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(_refs(models[name], flavor.prefix))
    return found


def _refs(schema: Any, prefix: str) -> Iterator[str]:
    if isinstance(schema, Mapping):
        for key, value in schema.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(prefix):
                yield value[len(prefix) :]
            else:
                yield from _refs(value, prefix)
    elif isinstance(schema, list):
        for item in schema:
            yield from _refs(item, prefix)
