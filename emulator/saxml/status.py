"""Saxml's errors as its Go code builds them and its Python client raises them.

Saxml wraps a canonical gRPC status (`errors.ErrNotFound` = `status.Error(codes.NotFound,
"NotFound")`) with context (`fmt.Errorf("model %s not found: %w", ...)`), so the text ends in
`rpc error: code = NotFound desc = NotFound`; the Python client (which sax-http embeds) raises it
as an absl status, `NOT_FOUND: <text>`. Which codes a client retries decides whether a call
fails fast or hangs, so the code travels with the error.
"""

import re

_UPPER = {
    "InvalidArgument": "INVALID_ARGUMENT",
    "NotFound": "NOT_FOUND",
    "AlreadyExists": "ALREADY_EXISTS",
    "Aborted": "ABORTED",
    "PermissionDenied": "PERMISSION_DENIED",
    "FailedPrecondition": "FAILED_PRECONDITION",
    "Unavailable": "UNAVAILABLE",
    "Internal": "INTERNAL",
    "DeadlineExceeded": "DEADLINE_EXCEEDED",
    "ResourceExhausted": "RESOURCE_EXHAUSTED",
    "Unknown": "UNKNOWN",
}
ADMIN_RETRY_CODES = frozenset({"Unavailable", "ResourceExhausted"})
SERVER_RETRY_CODES = frozenset({"Unavailable", "ResourceExhausted", "NotFound"})


class SaxError(Exception):
    """An error a Saxml RPC or library call returns: its gRPC code and its Go error text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        """As the Python client raises it (what sax-http puts in its error body)."""
        return f"{_UPPER[self.code]}: {self.message}"


def canonical(code: str) -> str:
    """`errors.ErrNotFound` and friends, as they print."""
    return f"rpc error: code = {code} desc = {code}"


def wrapped(code: str, context: str) -> SaxError:
    """`fmt.Errorf("<context>: %w", errors.Err<code>)`."""
    return SaxError(code, f"{context}: {canonical(code)}")


def unreachable(address: str) -> SaxError:
    """What dialing an address nothing listens on gives a gRPC client."""
    return SaxError(
        "Unavailable",
        "rpc error: code = Unavailable desc = connection error: desc = "
        f'"transport: Error while dialing: dial tcp {address}: connect: connection refused"',
    )


_NAME = re.compile(r"^[a-z]+[a-z0-9-_]*$")
NAME_PATTERN = _NAME.pattern


def check_name(kind: str, name: str) -> None:
    """naming.go: cell and model names start with a lowercase letter (no dots, no uppercase)."""
    if not _NAME.match(name):
        raise wrapped("InvalidArgument", f"{kind} name {name!r} must match {NAME_PATTERN}")


def split_model_id(model_id: str) -> tuple[str, str]:
    """`/sax/<cell>/<model>` -> (`/sax/<cell>`, `<model>`), as naming.NewModelFullName checks it."""
    parts = model_id.split("/")
    if len(parts) != 4 or parts[0] != "" or parts[1] != "sax":
        raise wrapped("InvalidArgument", f"invalid model ID {model_id!r}, want /sax/<cell>/<model>")
    check_name("cell", parts[2])
    check_name("model", parts[3])
    return f"/sax/{parts[2]}", parts[3]


def check_cell(cell: str) -> None:
    """`/sax/<cell>`, as naming.SaxCellToCell checks it."""
    parts = cell.split("/")
    if len(parts) != 3 or parts[0] != "" or parts[1] != "sax":
        raise wrapped("InvalidArgument", f"invalid Sax cell {cell!r}, want /sax/<cell>")
    check_name("cell", parts[2])
