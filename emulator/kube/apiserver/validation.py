"""Validation of objects on create and update, answered as the API server answers.

Three kinds of failure, as in the real server: a field the schema does not declare is a 400
"strict decoding error" (field validation Strict; Warn and Ignore drop it instead); a value of the
wrong JSON type in a built-in kind is a 400 decoding error; everything else (required fields,
unsupported values, names, labels, rules between fields, immutable fields) is a 422 `Invalid`
with one cause per field. Built-in kinds are checked against kubernetes-validate's strict schemas
for the cluster's minor version, custom resources against their CRD's openAPIV3Schema.
"""

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import jsonschema
from jsonschema.protocols import Validator as SchemaValidator
from referencing import Registry, Resource

from emulator.kube.apiserver import schemas
from emulator.kube.crd_schema import crd_version_schema, version_schema
from emulator.kube.errors import bad_request, invalid
from emulator.kube.resources import ResourceType

Obj = dict[str, Any]
Cause = dict[str, str]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_NAME_MESSAGES = {
    "subdomain": (
        253,
        _DNS_SUBDOMAIN,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is "
        r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
    "label": (
        63,
        _DNS_LABEL,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ),
    "1035": (
        63,
        _DNS_1035,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
        "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
        "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    ),
}
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_LABEL_KEY_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_NAME_RULES = {"Namespace": "label", "Service": "1035"}
_PATH_SEGMENT_NAMED = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
_POD_TEMPLATE_KINDS = {"Deployment", "ReplicaSet", "Job"}
_SELECTOR_IMMUTABLE = {"Deployment", "ReplicaSet", "Job"}


def field_path(parts: Iterable[Any]) -> str:
    """`spec.containers[0].image`, as field errors name fields."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def quoted(value: Any) -> str:
    """A value as Go's field errors print it: strings quoted, numbers bare."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return f'"{"object" if isinstance(value, dict) else "array"}"'
    return str(value)


class Validator:
    """Checks objects of one cluster against the schemas of its Kubernetes version."""

    def __init__(self, kubernetes_version: str) -> None:
        self.directory = schemas.schema_directory(kubernetes_version)
        self._custom: dict[tuple[str, str], tuple[str, SchemaValidator]] = {}

    def check(
        self,
        rtype: ResourceType,
        obj: Obj,
        old: Obj | None,
        crd: Mapping[str, Any] | None,
        field_validation: str = "Strict",
    ) -> list[str]:
        """Raise the API server's error for an invalid object; return warnings.

        Unknown fields are dropped from `obj` unless field validation is Strict.
        """
        if crd is not None:
            errors = list(self._custom_validator(crd, rtype.version).iter_errors(obj))
        else:
            validator = _builtin_validator(self.directory, rtype.api_version, rtype.kind)
            errors = list(validator.iter_errors(obj))
        warnings = _handle_unknown_fields(obj, errors, field_validation)
        if crd is None:
            _raise_decoding_errors(rtype, errors)
        causes = [cause for error in errors for cause in _causes(error, crd is not None)]
        causes += metadata_causes(rtype, obj)
        causes += semantic_causes(rtype, obj, old)
        if crd is not None and old is not None:
            schema = version_schema(crd, rtype.version) or {}
            causes += immutable_rule_causes(schema, obj, old, [])
        if causes:
            raise invalid(rtype.kind, obj["metadata"].get("name", ""), causes, rtype.group)
        return warnings

    def _custom_validator(self, crd: Mapping[str, Any], version: str) -> SchemaValidator:
        """One validator per CRD version, rebuilt when the CRD changes."""
        key = (crd["metadata"]["name"], version)
        revision = crd["metadata"].get("resourceVersion", "")
        cached = self._custom.get(key)
        if cached is None or cached[0] != revision:
            cached = (revision, jsonschema.Draft7Validator(crd_version_schema(crd, version)))
            self._custom[key] = cached
        return cached[1]


@cache
def _builtin_validator(directory: str, api_version: str, kind: str) -> SchemaValidator:
    schema = schemas.kind_schema(directory, api_version, kind)
    if schema is None:
        return jsonschema.Draft202012Validator({})
    registry: Registry = (
        Resource.from_contents(schemas.definitions_document(directory)) @ Registry()
    )
    registry = Resource.from_contents(schema) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _handle_unknown_fields(
    obj: Obj, errors: list[jsonschema.ValidationError], field_validation: str
) -> list[str]:
    unknown: list[tuple[Any, list[Any], str]] = []
    for error in list(errors):
        if error.validator != "additionalProperties" or error.validator_value is not False:
            continue
        errors.remove(error)
        declared = set(error.schema.get("properties") or {})
        for name in error.instance:
            if name not in declared:
                unknown.append((error.instance, list(error.absolute_path), name))
    fields = [field_path([*path, name]) for _, path, name in unknown]
    if fields and field_validation == "Strict":
        raise bad_request(
            "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in fields)
        )
    for container, _, name in unknown:
        container.pop(name, None)
    return [] if field_validation == "Ignore" else [f'unknown field "{f}"' for f in fields]


def _raise_decoding_errors(rtype: ResourceType, errors: list[jsonschema.ValidationError]) -> None:
    """Built-in kinds are Go structs: a value of the wrong type fails JSON decoding (400)."""
    for error in errors:
        if error.validator in ("type", "oneOf"):
            got = _json_type(error.instance)
            wanted = error.validator_value if error.validator == "type" else "int-or-string"
            wanted = (
                next((t for t in wanted if t != "null"), "") if isinstance(wanted, list) else wanted
            )
            raise bad_request(
                f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
                f"json: cannot unmarshal {got} into Go struct field "
                f"{field_path(error.absolute_path)} of type {wanted}"
            )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _causes(error: jsonschema.ValidationError, custom: bool) -> list[Cause]:
    path = list(error.absolute_path)
    field = field_path(path)
    if error.validator == "required":
        return [
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": field_path([*path, name]),
            }
            for name in error.validator_value
            if isinstance(error.instance, Mapping) and name not in error.instance
        ]
    if error.validator == "enum":
        supported = ", ".join(quoted(v) for v in error.validator_value)
        message = f"Unsupported value: {quoted(error.instance)}: supported values: {supported}"
        return [{"reason": "FieldValueNotSupported", "message": message, "field": field}]
    if error.validator == "type" and custom:
        wanted = error.validator_value
        message = (
            f"Invalid value: {quoted(_json_type(error.instance))}: {field} in body must be of type "
            f"{wanted}: {quoted(_json_type(error.instance))}"
        )
        return [{"reason": "FieldValueTypeInvalid", "message": message, "field": field}]
    message = f"Invalid value: {quoted(error.instance)}: {error.message}"
    return [{"reason": "FieldValueInvalid", "message": message, "field": field}]


def _field_invalid(field: str, value: Any, detail: str) -> Cause:
    return {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {quoted(value)}: {detail}",
        "field": field,
    }


def _required(field: str, detail: str = "") -> Cause:
    message = f"Required value: {detail}" if detail else "Required value"
    return {"reason": "FieldValueRequired", "message": message, "field": field}


def metadata_causes(rtype: ResourceType, obj: Mapping[str, Any]) -> list[Cause]:
    """Name and label rules every object follows."""
    metadata = obj.get("metadata") or {}
    causes: list[Cause] = []
    name = metadata.get("name") or ""
    if not name:
        causes.append(_required("metadata.name", "name or generateName is required"))
    elif rtype.kind in _PATH_SEGMENT_NAMED:
        if name in (".", "..") or "/" in name or "%" in name:
            causes.append(_field_invalid("metadata.name", name, "may not contain '/' or '%'"))
    else:
        limit, pattern, message = _NAME_MESSAGES[_NAME_RULES.get(rtype.kind, "subdomain")]
        if len(name) > limit:
            causes.append(
                _field_invalid("metadata.name", name, f"must be no more than {limit} characters")
            )
        elif not pattern.match(name):
            causes.append(_field_invalid("metadata.name", name, message))
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, local = key.rpartition("/")
        if (
            not _QUALIFIED_NAME.match(local)
            or len(local) > 63
            or (prefix and not _DNS_SUBDOMAIN.match(prefix))
        ):
            causes.append(_field_invalid("metadata.labels", key, _LABEL_KEY_MESSAGE))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(_field_invalid("metadata.labels", value, _LABEL_VALUE_MESSAGE))
    return causes


def semantic_causes(
    rtype: ResourceType, obj: Mapping[str, Any], old: Mapping[str, Any] | None
) -> list[Cause]:
    """Rules between fields that no schema expresses, for the kinds a deployment uses."""
    if rtype.crd is not None:
        return []
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    if rtype.kind == "Pod" and rtype.group == "":
        causes += _pod_spec_causes(spec, "spec")
    if rtype.kind == "PodTemplate" and rtype.group == "":
        template_spec = (obj.get("template") or {}).get("spec") or {}
        causes += _pod_spec_causes(template_spec, "template.spec")
    if rtype.kind in _POD_TEMPLATE_KINDS:
        template = spec.get("template") or {}
        causes += _pod_spec_causes(template.get("spec") or {}, "spec.template.spec")
        causes += _selector_causes(rtype.kind, spec)
        if rtype.kind == "Job":
            policy = (template.get("spec") or {}).get("restartPolicy")
            if policy not in ("OnFailure", "Never"):
                causes.append(
                    {
                        "reason": "FieldValueNotSupported",
                        "message": f"Unsupported value: {quoted(policy or '')}: supported values: "
                        '"OnFailure", "Never"',
                        "field": "spec.template.spec.restartPolicy",
                    }
                )
    if rtype.kind == "CustomResourceDefinition":
        names = spec.get("names") or {}
        expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
        name = (obj.get("metadata") or {}).get("name", "")
        if name != expected:
            detail = 'must be spec.names.plural+"."+spec.group'
            causes.append(_field_invalid("metadata.name", name, detail))
    if rtype.kind == "Service" and rtype.group == "":
        headless = spec.get("clusterIP") == "None" or spec.get("type") == "ExternalName"
        if not spec.get("ports") and not headless:
            causes.append(_required("spec.ports"))
    if old is not None:
        causes += _immutable_causes(rtype, obj, old)
    return causes


def _pod_spec_causes(spec: Mapping[str, Any], prefix: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            where = f"{prefix}.{group}[{index}]"
            name = container.get("name", "")
            if name in seen:
                causes.append(
                    {
                        "reason": "FieldValueDuplicate",
                        "message": f'Duplicate value: "{name}"',
                        "field": f"{where}.name",
                    }
                )
            elif not _DNS_LABEL.match(name):
                causes.append(_field_invalid(f"{where}.name", name, _NAME_MESSAGES["label"][2]))
            seen.add(name)
            if not container.get("image"):
                causes.append(_required(f"{where}.image"))
            for port_index, port in enumerate(container.get("ports") or []):
                number = port.get("containerPort")
                if isinstance(number, int) and not 0 < number < 65536:
                    causes.append(
                        _field_invalid(
                            f"{where}.ports[{port_index}].containerPort",
                            number,
                            "must be between 1 and 65535, inclusive",
                        )
                    )
    if "containers" in spec and not spec.get("containers"):
        causes.append(_required(f"{prefix}.containers"))
    return causes


def _selector_causes(kind: str, spec: Mapping[str, Any]) -> list[Cause]:
    selector = spec.get("selector")
    if selector is None:
        return []
    match_labels = selector.get("matchLabels") or {}
    if not match_labels and not selector.get("matchExpressions"):
        return [
            _field_invalid("spec.selector", "", f"empty selector is invalid for {kind.lower()}")
        ]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if any(labels.get(key) != value for key, value in match_labels.items()):
        shown = "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in labels.items()) + "}"
        return [
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {shown}: `selector` does not match template `labels`",
                "field": "spec.template.metadata.labels",
            }
        ]
    return []


def _immutable_causes(
    rtype: ResourceType, obj: Mapping[str, Any], old: Mapping[str, Any]
) -> list[Cause]:
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    causes = []
    if rtype.kind in _SELECTOR_IMMUTABLE and spec.get("selector") != old_spec.get("selector"):
        causes.append(_field_invalid("spec.selector", "", "field is immutable"))
    if rtype.kind == "Job" and spec.get("template") != old_spec.get("template"):
        causes.append(_field_invalid("spec.template", "", "field is immutable"))
    if (
        rtype.kind == "Service"
        and old_spec.get("clusterIP")
        and spec.get("clusterIP") != old_spec.get("clusterIP")
    ):
        causes.append(
            _field_invalid("spec.clusterIP", spec.get("clusterIP", ""), "field is immutable")
        )
    return causes


def immutable_rule_causes(
    schema: Mapping[str, Any], obj: Any, old: Any, path: list[Any]
) -> list[Cause]:
    """CRD validation rules `self == oldSelf` (the one CEL rule evaluated here)."""
    causes = []
    for rule in schema.get("x-kubernetes-validations") or []:
        if (
            rule.get("rule", "").replace(" ", "") == "self==oldSelf"
            and old is not None
            and obj != old
        ):
            message = rule.get("message") or "Invalid value"
            causes.append(
                {
                    "reason": "FieldValueInvalid",
                    "message": f"Invalid value: {quoted(obj)}: {message}",
                    "field": field_path(path),
                }
            )
    if isinstance(obj, Mapping) and isinstance(old, Mapping):
        for name, sub in (schema.get("properties") or {}).items():
            if name in obj and name in old:
                causes += immutable_rule_causes(sub, obj[name], old[name], [*path, name])
    return causes
