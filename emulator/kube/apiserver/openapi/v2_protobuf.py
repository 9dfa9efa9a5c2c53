"""`/openapi/v2` as client-go asks for it: gnostic's `openapi_v2.Document` in protobuf.

kubectl downloads v2 only in protobuf (`Accept: application/com.github.proto-openapi.spec.v2@v1.0
+protobuf`), e.g. when client-side apply updates a custom resource and reads which patch types the
kind's PATCH operation consumes. The messages below are the part of gnostic's
`openapiv2/OpenAPIv2.proto` a Kubernetes document uses, with its field numbers; a `oneof` of the
.proto is declared as plain fields, which encode the same. Vendor extensions and free values
(`default`, `enum`) are gnostic `Any`s holding YAML (JSON is YAML).
"""

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

PROTOBUF = (
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",  # the type answered
)
_PACKAGE = "openapi.v2"
_SCALARS = {
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    "bool": descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    "double": descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
}
_PARAMETER_FIELDS = "required:1:bool in:2 description:3 name:4"
# message: "field:number[:type]" (type: a scalar or a message, `*` repeated; default string).
_MESSAGES = {
    "Document": "swagger:1 info:2:Info paths:8:Paths definitions:9:Definitions "
    "security:12:*SecurityRequirement security_definitions:13:SecurityDefinitions",
    "Info": "title:1 version:2",
    "Paths": "path:2:*NamedPathItem",
    "NamedPathItem": "name:1 value:2:PathItem",
    "PathItem": "get:2:Operation put:3:Operation post:4:Operation delete:5:Operation "
    "patch:8:Operation parameters:9:*ParametersItem",
    "Operation": "tags:1:*string description:3 operation_id:5 produces:6:*string "
    "consumes:7:*string parameters:8:*ParametersItem responses:9:Responses schemes:10:*string "
    "vendor_extension:13:*NamedAny",
    "ParametersItem": "parameter:1:Parameter",
    "Parameter": "body_parameter:1:BodyParameter non_body_parameter:2:NonBodyParameter",
    "BodyParameter": "description:1 name:2 in:3 required:4:bool schema:5:Schema",
    "NonBodyParameter": "query_parameter_sub_schema:3:QueryParameterSubSchema "
    "path_parameter_sub_schema:4:PathParameterSubSchema",
    "QueryParameterSubSchema": f"{_PARAMETER_FIELDS} type:6 unique_items:20:bool",
    "PathParameterSubSchema": f"{_PARAMETER_FIELDS} type:5 unique_items:19:bool",
    "Responses": "response_code:1:*NamedResponseValue",
    "NamedResponseValue": "name:1 value:2:ResponseValue",
    "ResponseValue": "response:1:Response",
    "Response": "description:1 schema:2:SchemaItem",
    "SchemaItem": "schema:1:Schema",
    "Schema": "_ref:1 format:2 title:3 description:4 default:5:Any multiple_of:6:double "
    "maximum:7:double exclusive_maximum:8:bool minimum:9:double exclusive_minimum:10:bool "
    "max_length:11:int64 min_length:12:int64 pattern:13 max_items:14:int64 min_items:15:int64 "
    "unique_items:16:bool max_properties:17:int64 min_properties:18:int64 "
    "required:19:*string enum:20:*Any additional_properties:21:AdditionalPropertiesItem "
    "type:22:TypeItem items:23:ItemsItem all_of:24:*Schema properties:25:Properties "
    "discriminator:26 read_only:27:bool example:30:Any vendor_extension:31:*NamedAny",
    "AdditionalPropertiesItem": "schema:1:Schema boolean:2:bool",
    "TypeItem": "value:1:*string",
    "ItemsItem": "schema:1:*Schema",
    "Properties": "additional_properties:1:*NamedSchema",
    "Definitions": "additional_properties:1:*NamedSchema",
    "NamedSchema": "name:1 value:2:Schema",
    "Any": "yaml:2",
    "NamedAny": "name:1 value:2:Any",
    "SecurityRequirement": "additional_properties:1:*NamedStringArray",
    "NamedStringArray": "name:1 value:2:StringArray",
    "StringArray": "value:1:*string",
    "SecurityDefinitions": "additional_properties:1:*NamedSecurityDefinitionsItem",
    "NamedSecurityDefinitionsItem": "name:1 value:2:SecurityDefinitionsItem",
    "SecurityDefinitionsItem": "api_key_security:2:ApiKeySecurity",
    "ApiKeySecurity": "type:1 name:2 in:3 description:4",
}
_OPERATIONS = ("get", "put", "post", "delete", "patch")


def _fields(message: str) -> list[tuple[str, int, str, bool]]:
    """(name, number, type, repeated) of each field of a message of `_MESSAGES`."""
    fields = []
    for spec in _MESSAGES[message].split():
        name, number, kind = (spec + ":string").split(":")[:3]
        fields.append((name, int(number), kind.lstrip("*"), kind.startswith("*")))
    return fields


# Schema fields that take a JSON value as it is (strings, numbers, booleans, `required`).
_SCHEMA_VALUES = frozenset(name for name, _, kind, _ in _fields("Schema") if kind in _SCALARS)


@cache
def _classes() -> dict[str, type[Message]]:
    """Message classes from descriptors built from `_MESSAGES`, in a pool of their own."""
    file = descriptor_pb2.FileDescriptorProto(
        name="emulator/openapiv2.proto", package=_PACKAGE, syntax="proto3"
    )
    for name in _MESSAGES:
        message = file.message_type.add(name=name)
        for field_name, number, kind, repeated in _fields(name):
            field = message.field.add(name=field_name, number=number)
            field.label = (
                descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
                if repeated
                else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
            )
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            else:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                field.type_name = f".{_PACKAGE}.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MESSAGES
    }


def _new(message: str, /, **fields: Any) -> Message:
    return _classes()[message](**fields)


def _any(value: Any) -> Message:
    return _new("Any", yaml=json.dumps(value))


def _extensions(node: Mapping[str, Any]) -> list[Message]:
    return [
        _new("NamedAny", name=key, value=_any(value))
        for key, value in node.items()
        if key.startswith("x-")
    ]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _schema(schema: Mapping[str, Any]) -> Message:
    fields: dict[str, Any] = {"vendor_extension": _extensions(schema)}
    for key, value in schema.items():
        field = "_ref" if key == "$ref" else _snake(key)
        if key in ("default", "example"):
            fields[key] = _any(value)
        elif key == "enum":
            fields[key] = [_any(item) for item in value]
        elif key == "type":
            fields[key] = _new("TypeItem", value=[value] if isinstance(value, str) else value)
        elif key == "items":
            items = value if isinstance(value, list) else [value]
            fields[key] = _new("ItemsItem", schema=[_schema(item) for item in items])
        elif key == "allOf":
            fields[field] = [_schema(item) for item in value]
        elif key == "properties":
            fields[key] = _new("Properties", additional_properties=_named_schemas(value))
        elif key == "additionalProperties":
            item = {"boolean": value} if isinstance(value, bool) else {"schema": _schema(value)}
            fields[field] = _new("AdditionalPropertiesItem", **item)
        elif field in _SCHEMA_VALUES:
            fields[field] = value
    return _new("Schema", **fields)


def _named_schemas(schemas: Mapping[str, Any]) -> list[Message]:
    return [_new("NamedSchema", name=name, value=_schema(s)) for name, s in schemas.items()]


def _parameter(parameter: Mapping[str, Any]) -> Message:
    common = {key: parameter[key] for key in ("name", "in", "description") if key in parameter}
    required = parameter.get("required", False)
    if parameter["in"] == "body":
        body = _new(
            "BodyParameter", **common, required=required, schema=_schema(parameter["schema"])
        )
        return _new("ParametersItem", parameter=_new("Parameter", body_parameter=body))
    where = "query" if parameter["in"] == "query" else "path"
    sub_schema = _new(
        f"{where.capitalize()}ParameterSubSchema",
        **common,
        required=required,
        type=parameter["type"],
        unique_items=parameter.get("uniqueItems", False),
    )
    non_body = _new("NonBodyParameter", **{f"{where}_parameter_sub_schema": sub_schema})
    return _new("ParametersItem", parameter=_new("Parameter", non_body_parameter=non_body))


def _operation(operation: Mapping[str, Any]) -> Message:
    responses = [
        _new(
            "NamedResponseValue",
            name=code,
            value=_new(
                "ResponseValue",
                response=_new(
                    "Response",
                    description=answer["description"],
                    **(
                        {"schema": _new("SchemaItem", schema=_schema(answer["schema"]))}
                        if "schema" in answer
                        else {}
                    ),
                ),
            ),
        )
        for code, answer in operation["responses"].items()
    ]
    return _new(
        "Operation",
        tags=operation.get("tags", []),
        description=operation.get("description", ""),
        operation_id=operation.get("operationId", ""),
        produces=operation.get("produces", []),
        consumes=operation.get("consumes", []),
        parameters=[_parameter(p) for p in operation.get("parameters", [])],
        responses=_new("Responses", response_code=responses),
        schemes=operation.get("schemes", []),
        vendor_extension=_extensions(operation),
    )


def _path_item(item: Mapping[str, Any]) -> Message:
    operations = {verb: _operation(item[verb]) for verb in _OPERATIONS if verb in item}
    parameters = [_parameter(p) for p in item.get("parameters", [])]
    return _new("PathItem", **operations, parameters=parameters)


def encode_document(document: Mapping[str, Any]) -> bytes:
    """A Swagger 2.0 document (as `/openapi/v2` answers it in JSON) in protobuf."""
    security = [
        _new(
            "SecurityRequirement",
            additional_properties=[
                _new("NamedStringArray", name=name, value=_new("StringArray", value=scopes))
                for name, scopes in requirement.items()
            ],
        )
        for requirement in document.get("security", [])
    ]
    definitions = [
        _new(
            "NamedSecurityDefinitionsItem",
            name=name,
            value=_new(
                "SecurityDefinitionsItem", api_key_security=_new("ApiKeySecurity", **scheme)
            ),
        )
        for name, scheme in document.get("securityDefinitions", {}).items()
    ]
    paths = [
        _new("NamedPathItem", name=path, value=_path_item(item))
        for path, item in document["paths"].items()
    ]
    message = _new(
        "Document",
        swagger=document["swagger"],
        info=_new("Info", **document["info"]),
        paths=_new("Paths", path=paths),
        definitions=_new(
            "Definitions", additional_properties=_named_schemas(document["definitions"])
        ),
        security=security,
        security_definitions=_new("SecurityDefinitions", additional_properties=definitions),
    )
    return message.SerializeToString(deterministic=True)
