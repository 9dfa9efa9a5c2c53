"""The TPU node pools' creation rules: rounds under GKE's operation quota, stockouts asked
again with back-off until the capacity wait is over, and failures with advice."""

from typing import Any

import pytest

from saxml_gke.probes import Look
from saxml_gke.provisioning import (
    MAX_BACKOFF_SECONDS,
    CapacityRequest,
    created,
    next_moves,
    provisioning_request_look,
)

STOCKOUT = "Insufficient capacity for ct5lp-hightpu-4t in zone us-west4-a: GCE_STOCKOUT"
NOW = 1_000_000.0
FAIL_AT_ONCE = CapacityRequest(
    zone="us-west4-a", machine_type="ct5lp-hightpu-4t", capacity="on-demand", chips=64
)
WAIT_10_MIN = CapacityRequest(
    zone="us-west4-a", machine_type="ct5lp-hightpu-4t", capacity="on-demand", chips=64,
    wait_seconds=600, first_backoff_seconds=30,
)  # fmt: skip


def pool(status: str, message: str = "") -> dict[str, Any]:
    return {"status": status, "statusMessage": message}


def test_missing_pools_are_created_and_the_wait_goes_on() -> None:
    moves = next_moves({"tpu-1": None, "tpu-0": None}, {}, NOW, FAIL_AT_ONCE)
    assert moves.create == ("tpu-0", "tpu-1")
    assert moves.delete == ()
    assert (moves.look.done, moves.look.failure) == (False, None)
    assert moves.look.progress == "tpu-0 missing, tpu-1 missing"


def test_a_pool_gke_refused_to_start_is_asked_for_again_at_the_next_look() -> None:
    """GKE's 5-operation quota: the pools it did not admit are still missing, so each look
    creates them again until it admits them (the 16-slice rounds)."""
    state = created({}, "tpu-0")
    moves = next_moves({"tpu-0": pool("PROVISIONING"), "tpu-1": None}, state, NOW, FAIL_AT_ONCE)
    assert moves.create == ("tpu-1",)
    assert moves.look.state["tries"] == {"tpu-0": 1}


def test_every_pool_running_is_done_with_the_wait_in_the_result() -> None:
    pools = {"tpu-1": pool("RUNNING"), "tpu-0": pool("RUNNING")}
    state = {"tries": {"tpu-0": 1, "tpu-1": 3}, "stockout_since": NOW - 90}
    moves = next_moves(pools, state, NOW, WAIT_10_MIN)
    assert moves.look.done and moves.create == () and moves.delete == ()
    assert moves.look.result == {
        "pools": ["tpu-0", "tpu-1"],
        "capacity_wait_seconds": 90.0,
        "capacity_tries": 4,
    }
    assert moves.look.progress.endswith("; waited 1.5 min for capacity, 4 tries")


def test_a_stockout_without_a_capacity_wait_fails_with_advice() -> None:
    pools = {"tpu-0": pool("RUNNING"), "tpu-1": pool("ERROR", STOCKOUT)}
    look = next_moves(pools, created({}, "tpu-1"), NOW, FAIL_AT_ONCE).look
    assert look.failure is not None
    assert look.failure.startswith(f"TPU node pools failed: tpu-1 ERROR: {STOCKOUT}. ")
    assert "The slices ask for 64 TPU chips." in look.failure
    assert "No capacity for ct5lp-hightpu-4t in us-west4-a (on-demand)" in look.failure
    assert "capacity=spot" in look.failure and "capacity=flex-start" in look.failure
    assert "capacity_wait_minutes > 0" in look.failure
    assert "tpu-0 RUNNING" in look.progress  # the others' states are reported with it


def test_a_stockout_within_the_capacity_wait_deletes_the_pool_to_ask_again_later() -> None:
    pools = {"tpu-0": pool("RUNNING"), "tpu-1": pool("ERROR", STOCKOUT)}
    moves = next_moves(pools, created({}, "tpu-1"), NOW, WAIT_10_MIN)
    assert moves.delete == ("tpu-1",) and moves.create == ()
    assert moves.look.failure is None and not moves.look.done
    assert moves.look.state["retry_at"] == {"tpu-1": NOW + 30}
    assert moves.look.state["stockout_since"] == NOW
    assert "tpu-1 had no capacity (try 1): asking again" in moves.look.progress


def test_the_deleted_pool_waits_for_its_back_off_then_is_created_again() -> None:
    state = {"tries": {"tpu-1": 1}, "retry_at": {"tpu-1": NOW + 30}, "stockout_since": NOW}
    pools = {"tpu-0": pool("RUNNING"), "tpu-1": None}
    waiting = next_moves(pools, state, NOW + 10, WAIT_10_MIN)
    assert waiting.create == ()
    assert "tpu-1 waiting for capacity, next try in 20 s" in waiting.look.progress
    again = next_moves(pools, state, NOW + 30, WAIT_10_MIN)
    assert again.create == ("tpu-1",)  # tpu-0 got its TPUs and is kept


@pytest.mark.parametrize(
    ("tries", "backoff"), [(1, 30), (2, 60), (3, 120), (9, MAX_BACKOFF_SECONDS)]
)
def test_the_back_off_doubles_per_try_up_to_its_maximum(tries: int, backoff: float) -> None:
    state = {"tries": {"tpu-0": tries}, "stockout_since": NOW}
    moves = next_moves({"tpu-0": pool("ERROR", STOCKOUT)}, state, NOW, WAIT_10_MIN)
    assert moves.look.state["retry_at"] == {"tpu-0": NOW + backoff}


def test_a_stockout_that_outlasts_the_capacity_wait_fails_saying_how_long_it_waited() -> None:
    state = {"tries": {"tpu-0": 4}, "stockout_since": NOW - 600}
    look = next_moves({"tpu-0": pool("ERROR", STOCKOUT)}, state, NOW, WAIT_10_MIN).look
    assert look.failure is not None
    assert "waited 10.0 min for capacity, 4 tries" in look.failure
    assert "No capacity for ct5lp-hightpu-4t in us-west4-a" in look.failure
    assert "capacity_wait_minutes > 0" not in look.failure


@pytest.mark.parametrize("status", ["ERROR", "RUNNING_WITH_ERROR", "DEGRADED"])
def test_other_errors_fail_at_once_without_capacity_advice(status: str) -> None:
    message = "Invalid value for field 'tpu_topology': 3x3"
    look = next_moves({"tpu-0": pool(status, message)}, {}, NOW, WAIT_10_MIN).look
    assert look.failure == f"TPU node pools failed: tpu-0 {status}: {message}"


def test_created_counts_the_tries_of_each_pool() -> None:
    state = created(created(created({}, "tpu-0"), "tpu-1"), "tpu-0")
    assert state["tries"] == {"tpu-0": 2, "tpu-1": 1}


def test_the_capacity_request_comes_from_the_spec() -> None:
    from datetime import UTC, datetime

    from saxml_gke.spec import build_spec

    conf = {"project_id": "my-project", "zone": "us-west4-a", "capacity": "flex-start-queued",
            "capacity_wait_minutes": 30, "poll_seconds": 5}  # fmt: skip
    spec = build_spec(conf, now=datetime(2026, 11, 24, tzinfo=UTC))
    assert CapacityRequest.of(spec) == CapacityRequest(
        zone="us-west4-a", machine_type="ct5lp-hightpu-4t", capacity="flex-start-queued",
        chips=64, wait_seconds=1800, first_backoff_seconds=5,
    )  # fmt: skip


# --- flex-start-queued: what the ProvisioningRequest says while the pods wait ----------------

QUEUED = CapacityRequest(
    zone="us-west4-a", machine_type="ct5lp-hightpu-4t", capacity="flex-start-queued", chips=64
)
WHERE = ("sax-model-server-request", "saxml")
PODS_LOOK = Look(progress="2/10 pods Ready (10 exist), 8 waiting for their flex-start nodes")


def server(name: str, *, waiting: bool) -> dict[str, Any]:
    """A model-server pod: unschedulable while it waits for its node, else scheduled."""
    reason = {"reason": "Unschedulable"} if waiting else {}
    condition = {"type": "PodScheduled", "status": str(not waiting), **reason}
    return {"metadata": {"name": name}, "status": {"conditions": [condition]}}


WAITING = [server("sax-0", waiting=True), server("sax-1", waiting=True)]
SCHEDULED = [server("sax-0", waiting=False), server("sax-1", waiting=False)]


def request(*conditions: tuple[str, str, str, str]) -> dict[str, Any]:
    """A ProvisioningRequest with (type, status, reason, message) conditions."""
    return {
        "metadata": {"name": WHERE[0]},
        "status": {
            "conditions": [
                {"type": kind, "status": status, "reason": reason, "message": message}
                for kind, status, reason, message in conditions
            ]
        },
    }


ACCEPTED = ("Accepted", "True", "SuccessfullyQueued", "queued")
QUEUED_FOR_CAPACITY = ("Provisioned", "False", "WaitingForCapacity", "no capacity yet")


@pytest.mark.parametrize(
    ("found", "said"),
    [
        (request(), "no conditions yet"),
        (request(ACCEPTED), "Accepted=True (SuccessfullyQueued: queued)"),
        (request(ACCEPTED, QUEUED_FOR_CAPACITY),
         "Provisioned=False (WaitingForCapacity: no capacity yet)"),
        (request(ACCEPTED, ("Provisioned", "True", "", "")), "Provisioned=True"),
    ],
)  # fmt: skip
def test_pods_waiting_for_queued_nodes_say_what_the_request_says(found, said) -> None:
    look = provisioning_request_look(PODS_LOOK, WAITING, found, WHERE, QUEUED)
    assert look.failure is None and not look.done
    assert look.progress == f"{PODS_LOOK.progress}; ProvisioningRequest {WHERE[0]}: {said}"


@pytest.mark.parametrize(
    ("condition", "meaning"),
    [
        (("Failed", "True", "CapacityIsNotFound", "no TPUs in the zone"),
         "GKE cannot provision the nodes"),
        (("BookingExpired", "True", "BookingExpired", "capacity booking expired"),
         "did not take them in time"),
        (("CapacityRevoked", "True", "MaxRunDurationReached", "run duration reached"),
         "GKE took the nodes back"),
    ],
)  # fmt: skip
def test_a_request_that_brings_no_nodes_fails_at_once_with_advice(condition, meaning) -> None:
    found = request(ACCEPTED, ("Provisioned", "False", "", ""), condition)
    look = provisioning_request_look(PODS_LOOK, WAITING, found, WHERE, QUEUED)
    kind, _, reason, message = condition
    assert look.failure is not None and look.progress == PODS_LOOK.progress
    assert look.failure.startswith(
        f"ProvisioningRequest sax-model-server-request: {kind}=True ({reason}: {message}): "
    )
    assert meaning in look.failure
    advice = (
        "The slices ask for 64 TPU chips. No capacity for ct5lp-hightpu-4t in us-west4-a "
        "(flex-start-queued). Try: capacity=spot"
    )
    assert advice in look.failure
    assert "capacity=flex-start (each slice" in look.failure
    assert "kubectl delete provisioningrequest sax-model-server-request -n saxml" in look.failure


def test_a_booking_that_expired_after_the_pods_took_their_nodes_is_no_failure() -> None:
    """GKE holds booked nodes only until the pods land; afterwards the expiry is routine."""
    found = request(ACCEPTED, ("Provisioned", "True", "", ""), ("BookingExpired", "True", "", ""))
    loading = Look(progress="2/10 pods Ready (10 exist)")
    assert provisioning_request_look(loading, SCHEDULED, found, WHERE, QUEUED) == loading
    revoked = request(ACCEPTED, ("CapacityRevoked", "True", "", ""))
    assert provisioning_request_look(loading, SCHEDULED, revoked, WHERE, QUEUED).failure


def test_a_false_end_condition_is_no_failure() -> None:
    found = request(ACCEPTED, ("Failed", "False", "", ""), ("CapacityRevoked", "False", "", ""))
    assert provisioning_request_look(PODS_LOOK, WAITING, found, WHERE, QUEUED).failure is None


def test_a_missing_request_fails_the_wait_saying_nothing_asks_for_the_nodes() -> None:
    look = provisioning_request_look(PODS_LOOK, WAITING, None, WHERE, QUEUED)
    assert look.failure == (
        "ProvisioningRequest sax-model-server-request does not exist in namespace saxml: nothing "
        "asks GKE for the model servers' nodes. Run the deployment again to create it."
    )
