"""Kubernetes API errors as the API server sends them: `Status` objects with reason and code."""

from typing import Any


class KubeApiError(Exception):
    """Raised anywhere in the API machinery; the HTTP layer answers with `status()`."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


def _details(kind: str, name: str, group: str = "") -> dict[str, Any]:
    details = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def not_found(plural: str, name: str, group: str = "") -> KubeApiError:
    resource = f"{plural}.{group}" if group else plural
    return KubeApiError(
        404, "NotFound", f'{resource} "{name}" not found', _details(plural, name, group)
    )


def already_exists(plural: str, name: str, group: str = "") -> KubeApiError:
    resource = f"{plural}.{group}" if group else plural
    return KubeApiError(
        409,
        "AlreadyExists",
        f'{resource} "{name}" already exists',
        _details(plural, name, group),
    )


def conflict(plural: str, name: str, message: str, group: str = "") -> KubeApiError:
    resource = f"{plural}.{group}" if group else plural
    return KubeApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource} "{name}": {message}',
        _details(plural, name, group),
    )


def modified(plural: str, name: str, group: str = "") -> KubeApiError:
    """409 for a write based on an outdated resourceVersion (optimistic concurrency)."""
    return conflict(
        plural,
        name,
        "the object has been modified; please apply your changes to the latest version and try "
        "again",
        group,
    )


def invalid(kind: str, name: str, causes: list[dict[str, str]], group: str = "") -> KubeApiError:
    """422 with one cause per field, e.g. {"reason": "FieldValueInvalid", "field": ..., ...}.

    The message names the kind with its group (`Deployment.apps "web" is invalid: ...`) and
    lists several causes in brackets, as the API server's field error lists print.
    """
    parts = [
        f"{cause['field']}: {cause.get('message', '')}" if cause.get("field") else cause["message"]
        for cause in causes
    ]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    details = _details(kind, name, group)
    details["causes"] = causes
    return KubeApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> KubeApiError:
    return KubeApiError(400, "BadRequest", message)


def gone(message: str) -> KubeApiError:
    """A watch or list from a resourceVersion older than the retained history."""
    return KubeApiError(410, "Expired", message)


def method_not_allowed(message: str) -> KubeApiError:
    return KubeApiError(405, "MethodNotAllowed", message)


def internal_error(message: str) -> KubeApiError:
    return KubeApiError(500, "InternalError", message)


def service_unavailable(message: str) -> KubeApiError:
    return KubeApiError(503, "ServiceUnavailable", message)
