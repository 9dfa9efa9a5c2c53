"""Request bodies parsed and responses written with the google-cloud-container proto types.

Parsing is strict (unknown fields are rejected) and errors read like the ones Google's front end
sends for a bad JSON payload. Responses follow `$alt=json;enum-encoding=int`, which the REST
transport of the client libraries sends: enums as numbers when asked, as names otherwise.
"""

import re
from typing import Any, TypeVar

import proto
from google.protobuf.json_format import MessageToDict, ParseError

from emulator.core.errors import GoogleApiError

Message = TypeVar("Message", bound=proto.Message)

_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)" at "[A-Za-z]+\.?([^"]*)"')
_BAD_ENUM = re.compile(r"Invalid enum value (\S+) for enum type (\S+) at [A-Za-z]+\.(\S+?)\.*$")


def _snake(path: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), path)


def _bad_request(message: str, field: str) -> GoogleApiError:
    violation = {"field": field, "description": message}
    details = [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
    ]
    return GoogleApiError(400, message, "INVALID_ARGUMENT", details=details)


def _payload_error(error: ParseError) -> GoogleApiError:
    text = str(error)
    if match := _UNKNOWN_FIELD.search(text):
        name, parent = match.groups()
        message = f"Invalid JSON payload received. Unknown name \"{name}\" at '{_snake(parent)}': "
        return _bad_request(message + "Cannot find field.", _snake(parent))
    if match := _BAD_ENUM.search(text):
        value, enum_type, path = match.groups()
        field = _snake(path)
        return _bad_request(
            f"Invalid value at '{field}' (type.googleapis.com/{enum_type}), \"{value}\"", field
        )
    first_line = text.splitlines()[0] if text else "malformed body"
    return _bad_request(f"Invalid JSON payload received. {first_line}", "")


def parse(message_type: type[Message], body: str) -> Message:
    """The request message in `body`; 400 INVALID_ARGUMENT as Google sends it when malformed."""
    try:
        return message_type.from_json(body or "{}", ignore_unknown_fields=False)
    except ParseError as error:
        raise _payload_error(error) from error


def render(message: proto.Message, enums_as_numbers: bool) -> dict[str, Any]:
    """A response body in the API's camelCase JSON, default values omitted."""
    return MessageToDict(type(message).pb(message), use_integers_for_enums=enums_as_numbers)


def wants_enum_numbers(alt: str) -> bool:
    """Whether `$alt` (e.g. `json;enum-encoding=int`) asks for enums as numbers."""
    return "enum-encoding=int" in alt.split(";")
