"""Built-in types as a CRD embeds them: OpenAPI definitions inlined into a structural schema.

A CRD's openAPIV3Schema cannot `$ref` the API server's `PodSpec`: controller-gen inlines the Go
types of k8s.io/api into every CRD that embeds them (JobSet's job template, for one). This does
the same inlining from kubernetes-validate's schemas of one Kubernetes version, in the form the
API server requires of a structural schema: one type per node (no `null`), no `$ref`,
`additionalProperties` only as a schema, int-or-string as `x-kubernetes-int-or-string`, and the
merge markers (`x-kubernetes-list-type`, `-list-map-keys`, `-map-type`) kept. The strategic
merge patch extensions go: custom resources are never patched that way.
"""

from collections.abc import Mapping
from typing import Any

Schema = dict[str, Any]

_DEFS = "#/$defs/"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING_REF = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# resource.Quantity's own validation, which controller-gen writes wherever a Quantity is embedded.
_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?"
    r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_INT_OR_STRING: Schema = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
}
# An embedded ObjectMeta (a template's) holds only what the API server keeps of it: controller-gen's
# `crd:generateEmbeddedObjectMeta`, which JobSet's release is generated with.
_EMBEDDED_META = ("annotations", "finalizers", "labels", "name", "namespace")
_KEPT = {
    "description",
    "type",
    "format",
    "required",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
}
# kubernetes-validate's own enums (a kind's apiVersion and kind) are not the API's; the strategic
# merge patch extensions do not apply to custom resources.
_DROPPED = {
    "enum",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-group-version-kind",
    "x-kubernetes-unions",
}
# Types that embed the atomic LocalObjectReference: Go's struct embedding passes its
# `+structType=atomic` on, which controller-gen writes and the OpenAPI flattening loses.
_ATOMIC_EMBEDDERS = {
    f"io.k8s.api.core.v1.{name}"
    for name in (
        "ConfigMapEnvSource",
        "SecretEnvSource",
        "ConfigMapVolumeSource",
        "ConfigMapProjection",
        "SecretProjection",
    )
}
# Markers of the Go types that controller-gen reads and the API server's OpenAPI does not
# publish (`+default`, `+kubebuilder:validation:*`). A structural schema needs the defaults: a
# list keyed by a field that is neither required nor defaulted (ports by `protocol`) is refused.
_GO_MARKERS: dict[str, dict[str, Schema]] = {
    "io.k8s.api.core.v1.ContainerPort": {"protocol": {"default": "TCP"}},
    "io.k8s.api.core.v1.GRPCAction": {"service": {"default": ""}},
    "io.k8s.api.core.v1.FileKeySelector": {"optional": {"default": False}},
    "io.k8s.api.core.v1.AzureDiskVolumeSource": {
        "fsType": {"default": "ext4"},
        "readOnly": {"default": False},
    },
    "io.k8s.api.core.v1.ISCSIVolumeSource": {"iscsiInterface": {"default": "default"}},
    "io.k8s.api.core.v1.RBDVolumeSource": {
        "keyring": {"default": "/etc/ceph/keyring"},
        "pool": {"default": "rbd"},
        "user": {"default": "admin"},
    },
    "io.k8s.api.core.v1.ScaleIOVolumeSource": {
        "fsType": {"default": "xfs"},
        "storageMode": {"default": "ThinProvisioned"},
    },
    **{
        f"io.k8s.api.core.v1.{reference}": {"name": {"default": ""}}
        for reference in (
            "LocalObjectReference",
            "ConfigMapKeySelector",
            "SecretKeySelector",
            "ConfigMapEnvSource",
            "SecretEnvSource",
            "ConfigMapVolumeSource",
            "ConfigMapProjection",
            "SecretProjection",
        )
    },
    "io.k8s.apimachinery.pkg.apis.meta.v1.Condition": {
        "message": {"maxLength": 32768},
        "observedGeneration": {"minimum": 0},
        "reason": {
            "maxLength": 1024,
            "minLength": 1,
            "pattern": r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        },
        "status": {"enum": ["True", "False", "Unknown"]},
        "type": {
            "maxLength": 316,
            "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        },
    },
}


def structural(definitions: Mapping[str, Any], name: str, description: str = "") -> Schema:
    """The definition `name` of `definitions` (a `$defs` map), inlined; `description` is the
    embedding field's, which replaces the type's as controller-gen's does."""
    site = {"$ref": _DEFS + name} | ({"description": description} if description else {})
    return _convert(site, definitions)


def _convert(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Schema:
    ref = schema.get("$ref")
    if ref is None:
        return _inline(schema, defs, {})
    name = ref.removeprefix(_DEFS)
    site = {key: value for key, value in schema.items() if key != "$ref"}
    if name in (_QUANTITY, _INT_OR_STRING_REF):
        pattern = {"pattern": _QUANTITY_PATTERN} if name == _QUANTITY else {}
        return {**_INT_OR_STRING, **pattern, **site}
    target = defs[name]
    if name == _OBJECT_META:
        fields = (target["properties"][field] for field in _EMBEDDED_META)
        kept = [{k: v for k, v in f.items() if not k.startswith("x-kubernetes-")} for f in fields]
        target = {"type": "object", "properties": dict(zip(_EMBEDDED_META, kept, strict=True))}
    elif name in _ATOMIC_EMBEDDERS:
        target = {**target, "x-kubernetes-map-type": "atomic"}
    return _inline({**target, **site}, defs, _GO_MARKERS.get(name, {}))


def _inline(
    schema: Mapping[str, Any], defs: Mapping[str, Any], markers: Mapping[str, Schema]
) -> Schema:
    result: Schema = {}
    for key, value in schema.items():
        if key == "properties":
            result[key] = {
                field: {**_convert(sub, defs), **markers.get(field, {})}
                for field, sub in value.items()
            }
        elif key == "items" or (key == "additionalProperties" and isinstance(value, Mapping)):
            result[key] = _convert(value, defs)
        elif key == "type":
            result[key] = _single_type(value)
        elif key in _KEPT:
            result[key] = value
        elif key not in _DROPPED and key != "additionalProperties":
            raise ValueError(f"no structural form for {key!r} in {sorted(schema)}")
    return result


def _single_type(value: str | list[str]) -> str:
    """`["string", "null"]` (kubernetes-validate's optional field) is `string` in a CRD."""
    types = [value] if isinstance(value, str) else [t for t in value if t != "null"]
    if len(types) != 1:
        raise ValueError(f"a structural schema has one type per node, not {value}")
    return types[0]
