"""Error classification decides what is retried, explained or failed at once."""

import pytest

from saxml_gke.errors import ErrorKind, capacity_advice, classify_http, classify_operation_error


@pytest.mark.parametrize(
    ("http_status", "status", "message", "kind"),
    [
        (500, "INTERNAL", "backend error", ErrorKind.TRANSIENT),
        (503, "UNAVAILABLE", "try later", ErrorKind.TRANSIENT),
        (429, "RESOURCE_EXHAUSTED", "Too many operations: cluster saxml hits the concurrent "
         "operations quota 5, please try again later", ErrorKind.TRANSIENT),
        (400, "FAILED_PRECONDITION", "Cluster is running incompatible operation op-1",
         ErrorKind.TRANSIENT),
        (409, "ABORTED", "There were concurrent policy changes", ErrorKind.TRANSIENT),
        (409, "Conflict", "the object has been modified", ErrorKind.TRANSIENT),
        (403, "PERMISSION_DENIED", "Quota 'TPUS_PER_PROJECT' exceeded. Limit: 0.0",
         ErrorKind.CAPACITY),
        (409, "ALREADY_EXISTS", "Already exists: saxml", ErrorKind.PERMANENT),
        (400, "INVALID_ARGUMENT", "Invalid value for field", ErrorKind.PERMANENT),
        (403, "PERMISSION_DENIED", "Permission denied on container.clusters.create",
         ErrorKind.PERMANENT),
        (404, "NOT_FOUND", "Not found", ErrorKind.PERMANENT),
        (401, "UNAUTHENTICATED", "Invalid credentials", ErrorKind.PERMANENT),
    ],
)  # fmt: skip
def test_http_errors(http_status: int, status: str, message: str, kind: ErrorKind) -> None:
    assert classify_http(http_status, status, message) is kind


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (8, "Insufficient capacity for ct5lp-hightpu-4t in us-west4-a", ErrorKind.CAPACITY),
        (9, "The zone does not have enough resources available", ErrorKind.CAPACITY),
        (13, "Internal error", ErrorKind.TRANSIENT),
        (14, "unavailable", ErrorKind.TRANSIENT),
        (3, "Invalid machine type", ErrorKind.PERMANENT),
        (7, "Permission denied", ErrorKind.PERMANENT),
    ],
)
def test_operation_errors(code: int, message: str, kind: ErrorKind) -> None:
    assert classify_operation_error(code, message) is kind


def test_capacity_advice_names_zone_machine_type_and_alternatives() -> None:
    advice = capacity_advice("us-west4-a", "ct5lp-hightpu-4t", "on-demand")
    assert "ct5lp-hightpu-4t in us-west4-a" in advice
    assert "capacity=spot" in advice
    assert "reservation" in advice
    assert "another zone" in advice
    assert "capacity=spot" not in capacity_advice("us-west4-a", "ct5lp-hightpu-4t", "spot")


def test_capacity_advice_offers_every_other_capacity_and_never_the_one_that_failed() -> None:
    advice = capacity_advice("us-west4-a", "ct5lp-hightpu-4t", "flex-start")
    assert "capacity=flex-start-queued (GKE starts every slice at once" in advice
    assert "capacity=flex-start (" not in advice
    queued = capacity_advice("us-west4-a", "ct5lp-hightpu-4t", "flex-start-queued")
    assert "ct5lp-hightpu-4t in us-west4-a (flex-start-queued)" in queued
    assert "capacity=flex-start (each slice starts" in queued
    assert "capacity=flex-start-queued" not in queued
    assert "capacity=spot" in queued and "capacity=reservation" in queued
