"""Google API errors with the real HTTP codes, canonical statuses and JSON body shape."""

from typing import Any

_CANONICAL_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# The legacy `errors[].reason` values that Google APIs send next to the canonical status.
_REASON = {
    "INVALID_ARGUMENT": "badRequest",
    "FAILED_PRECONDITION": "failedPrecondition",
    "UNAUTHENTICATED": "authError",
    "PERMISSION_DENIED": "forbidden",
    "NOT_FOUND": "notFound",
    "ALREADY_EXISTS": "alreadyExists",
    "ABORTED": "aborted",
    "RESOURCE_EXHAUSTED": "rateLimitExceeded",
    "INTERNAL": "backendError",
    "UNAVAILABLE": "backendError",
    "DEADLINE_EXCEEDED": "deadlineExceeded",
}


class GoogleApiError(Exception):
    """Raised by handlers; the HTTP layer turns it into `{"error": {...}}` with `code`."""

    def __init__(
        self,
        code: int,
        message: str,
        status: str | None = None,
        reason: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _CANONICAL_STATUS.get(code, "UNKNOWN")
        self.reason = reason or _REASON.get(self.status, "unknown")
        self.details = details or []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid_argument(message: str) -> GoogleApiError:
    return GoogleApiError(400, message, "INVALID_ARGUMENT")


def failed_precondition(message: str) -> GoogleApiError:
    """GKE answers FAILED_PRECONDITION with HTTP 400, not 412."""
    return GoogleApiError(400, message, "FAILED_PRECONDITION")


def unauthenticated(
    message: str = "Request is missing required authentication credential.",
) -> GoogleApiError:
    return GoogleApiError(401, message, "UNAUTHENTICATED")


def permission_denied(message: str) -> GoogleApiError:
    return GoogleApiError(403, message, "PERMISSION_DENIED")


def not_found(message: str) -> GoogleApiError:
    return GoogleApiError(404, message, "NOT_FOUND")


def already_exists(message: str) -> GoogleApiError:
    return GoogleApiError(409, message, "ALREADY_EXISTS")


def aborted(message: str) -> GoogleApiError:
    """Optimistic-concurrency conflicts (a stale etag) are 409 ABORTED."""
    return GoogleApiError(409, message, "ABORTED", reason="conflict")


def resource_exhausted(message: str) -> GoogleApiError:
    return GoogleApiError(429, message, "RESOURCE_EXHAUSTED")
