"""Compute Engine's own error bodies, and how Go's googleapi client prints them.

Compute answers `{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}`
without the canonical `status` the newer APIs add: clients (and GKE's cloud provider) tell
errors apart by `errors[].reason` (`notFound`, `alreadyExists`, `resourceInUseByAnotherResource`).
"""

from typing import Any

from emulator.core.errors import GoogleApiError


class ComputeError(GoogleApiError):
    def __init__(self, code: int, message: str, reason: str) -> None:
        super().__init__(code, message, reason=reason)

    def body(self) -> dict[str, Any]:
        body = super().body()
        del body["error"]["status"]
        return body

    def googleapi_text(self) -> str:
        """The error as GKE's controllers log and report it (Go's `googleapi.Error`)."""
        return f"googleapi: Error {self.code}: {self.message}, {self.reason}"


def fingerprint_mismatch(path: str) -> ComputeError:
    return ComputeError(
        412,
        f"Labels fingerprint either invalid or resource labels have changed for '{path}'",
        "conditionNotMet",
    )


def not_found(path: str) -> ComputeError:
    return ComputeError(404, f"The resource '{path}' was not found", "notFound")


def already_exists(path: str) -> ComputeError:
    return ComputeError(409, f"The resource '{path}' already exists", "alreadyExists")


def not_ready(path: str) -> ComputeError:
    """A resource whose operation (a deletion) has not finished yet."""
    return ComputeError(400, f"The resource '{path}' is not ready", "resourceNotReady")


def in_use(kind: str, path: str, user: str) -> ComputeError:
    return ComputeError(
        400,
        f"The {kind} resource '{path}' is already being used by '{user}'",
        "resourceInUseByAnotherResource",
    )


def invalid_field(field: str, value: object, why: str) -> ComputeError:
    return ComputeError(400, f"Invalid value for field '{field}': '{value}'. {why}", "invalid")


def required_field(field: str) -> ComputeError:
    return ComputeError(400, f"Required field '{field}' not specified", "required")


def forbidden(permission: str, resource: str) -> ComputeError:
    return ComputeError(403, f"Required '{permission}' permission for '{resource}'", "forbidden")


def ip_in_use(ip: str) -> ComputeError:
    """An internal IP that another address or rule already holds."""
    return ComputeError(
        409,
        f"IP_IN_USE_BY_ANOTHER_RESOURCE - IP '{ip}' is already being used by another resource.",
        "conflict",
    )
