"""Classify remote errors: retry transient ones, explain capacity ones, fail fast on the rest.

Pure: hooks turn client exceptions into (HTTP status, canonical status, message) and ask here,
so GKE, IAM, Storage and Kubernetes errors follow one policy.
"""

import enum
import re

from saxml_gke.parameters import Capacity


class ErrorKind(enum.Enum):
    TRANSIENT = "transient"  # retry with back-off, bounded
    CAPACITY = "capacity"  # no TPUs or no quota: retrying the same request will not help soon
    PERMANENT = "permanent"  # invalid or forbidden: fail at once with an actionable message


class DeploymentError(Exception):
    """A failure with its kind, raised by hooks after retries are spent or pointless."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# google.rpc.Code values, as a GKE operation's `error.code` carries them.
_RPC_TRANSIENT = {1, 4, 10, 13, 14}  # CANCELLED, DEADLINE_EXCEEDED, ABORTED, INTERNAL, UNAVAILABLE
_RPC_RESOURCE_EXHAUSTED = 8

_CAPACITY_TEXT = re.compile(
    r"stockout|insufficient capacity|not have enough resources|resource_pool_exhausted|"
    r"quota .*exceeded|exceeded .*quota|insufficient .*quota",
    re.IGNORECASE,
)
_CONFLICT_TEXT = re.compile(
    r"incompatible operation|please wait and try again|too many operations", re.IGNORECASE
)


def classify_http(http_status: int, status: str = "", message: str = "") -> ErrorKind:
    """An HTTP API error: 5xx, 429 rate limits, GKE operation conflicts and etag races are
    transient; stockouts and quota are capacity; everything else is permanent."""
    if _CAPACITY_TEXT.search(message):
        return ErrorKind.CAPACITY
    if http_status >= 500 or http_status == 429:
        return ErrorKind.TRANSIENT
    if http_status == 400 and (status == "FAILED_PRECONDITION" or _CONFLICT_TEXT.search(message)):
        return ErrorKind.TRANSIENT
    if http_status == 409 and status in ("ABORTED", "Conflict"):
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def classify_operation_error(code: int, message: str) -> ErrorKind:
    """A GKE operation that ended DONE with `error` set (google.rpc.Status)."""
    if code == _RPC_RESOURCE_EXHAUSTED or _CAPACITY_TEXT.search(message):
        return ErrorKind.CAPACITY
    if code in _RPC_TRANSIENT:
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


# The other ways to obtain TPUs, as capacity advice offers them.
_ALTERNATIVES = {
    Capacity.SPOT: "capacity=spot (preemptible, cheaper, often available sooner)",
    Capacity.RESERVATION: "capacity=reservation with a reservation for this machine type",
    Capacity.FLEX_START: "capacity=flex-start (each slice starts when GKE can start all of it)",
    Capacity.FLEX_START_QUEUED: "capacity=flex-start-queued (GKE starts every slice at once, "
    "when it can: for slices that must start together)",
}


def capacity_advice(zone: str, machine_type: str, capacity: str) -> str:
    """What a person can do when GKE has no TPUs (or no quota) for the request."""
    options = [advice for other, advice in _ALTERNATIVES.items() if other != capacity]
    options.append(f"another zone that offers {machine_type}")
    options.append("a smaller tpu_topology or fewer tpu_slices, if the model fits")
    return (
        f"No capacity for {machine_type} in {zone} ({capacity}). Try: " + "; ".join(options) + "."
    )
