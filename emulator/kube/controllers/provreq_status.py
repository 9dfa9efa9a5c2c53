"""A ProvisioningRequest's conditions, with the reasons and messages GKE's autoscaler writes.

Types are upstream's (Accepted, Provisioned, BookingExpired, CapacityRevoked, Failed); the
reasons and messages here are GKE's (GoogleCloudPlatform/cluster-autoscaler,
pkg/provisioningrequests: provreqstate, reconciler, scaleup/reasons); the few the emulator words
itself (an unsupported class, counts that are not whole slices) live where they are decided.
Failed and CapacityRevoked are terminal.
"""

from dataclasses import dataclass
from typing import Any

from emulator.kube.controllers.base import is_true, set_condition
from emulator.kube.store import kube_timestamp

ACCEPTED = "Accepted"
PROVISIONED = "Provisioned"
BOOKING_EXPIRED = "BookingExpired"
CAPACITY_REVOKED = "CapacityRevoked"
FAILED = "Failed"
TERMINAL = (FAILED, CAPACITY_REVOKED)


@dataclass(frozen=True)
class Outcome:
    """A condition's reason and message."""

    reason: str
    message: str


NOT_ACCEPTED = Outcome("NotAccepted", "Provisioning Request wasn't accepted.")
QUEUED = Outcome("SuccessfullyQueued", "Provisioning Request was successfully queued.")
NOT_PROVISIONED = Outcome("NotProvisioned", "Provisioning Request wasn't provisioned.")
ALL_PROVISIONED = Outcome("Provisioned", "Provisioning Request was successfully provisioned.")
EXPIRED = Outcome(
    "BookingExpired",
    "Capacity booking for the Provisioning Request has expired and the nodes are now "
    "candidates for scale down when underutilized.",
)
REVOKED = Outcome(
    "CapacityRevoked",
    "Capacity provisioned for the Provisioning Request was reclaimed and is no longer "
    "available in the cluster.",
)
NO_QUEUED_POOL = Outcome(
    "NoQueuedNodepoolAvailable",
    "No nodepool with QueuedProvisioning enabled is available for scale up",
)
CANCELLED = Outcome(
    "RequestWasCancelled", "Request was unexpectedly cancelled, no errors were provided."
)
MAX_RUN_DURATION_UNPARSED = Outcome(
    "InvalidArgumentMaxRunDurationParseError",
    "Additional parameter maxRunDurationSeconds could not be parsed.",
)
# What a waiting request's Provisioned condition says while a zone lacks room for its nodes.
STOCKOUT_REASON = "ResourcePoolExhausted"
MISSING_TEMPLATES_REASON = "MissingPodTemplates"


def missing_templates(missing: list[str], referenced: int, final: bool) -> Outcome:
    """GKE waits a while for pod templates before it fails the request."""
    detail = (
        f"missing pod templates, {referenced} pod templates were referenced, {len(missing)} "
        f"templates were missing: {', '.join(missing)}"
    )
    if final:
        message = f"Provisioning Request failed because there were {detail}"
    else:
        message = f"Provisioning Request will fail soon as it is {detail}"
    return Outcome(MISSING_TEMPLATES_REASON, message)


def nodepool_size_reached(pools: list[str]) -> Outcome:
    """Every matching pool already holds another request's nodes (a pool is whole slices)."""
    return Outcome(
        "NodepoolSizeReached", f"Max nodepool size reached, affected nodepools: {', '.join(pools)}"
    )


class Conditions:
    """A request's conditions, being brought up to date."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.items: list[dict[str, Any]] = [
            dict(condition) for condition in (request.get("status") or {}).get("conditions") or []
        ]
        self._generation = request["metadata"].get("generation", 1)

    def true(self, condition_type: str) -> bool:
        return is_true(self.items, condition_type)

    def present(self, condition_type: str) -> bool:
        return any(condition["type"] == condition_type for condition in self.items)

    @property
    def terminal(self) -> bool:
        return any(self.true(condition_type) for condition_type in TERMINAL)

    def set(self, condition_type: str, status: bool, outcome: Outcome, at: float) -> None:
        """Set a condition; one whose status stays keeps its lastTransitionTime."""
        set_condition(
            self.items,
            {
                "type": condition_type,
                "status": "True" if status else "False",
                "observedGeneration": self._generation,
                "lastTransitionTime": kube_timestamp(at),
                "reason": outcome.reason,
                "message": outcome.message,
            },
        )
