"""Reservations: made by the scenario, consumed by GKE node pools with a SPECIFIC affinity."""

from typing import Any

import pytest

from tests.emulator.conftest import Control, api_error
from tests.emulator.test_gke_support import (
    ZONE,
    connect,
    tpu_pool,
    tutorial_cluster,
)

RESOURCE_EXHAUSTED = 8


@pytest.fixture
def compute(fresh_world: dict[str, Any], api: Any) -> Any:
    return api("compute", "v1")


@pytest.fixture
def gke(fresh_world: dict[str, Any]) -> Any:
    gke = connect(fresh_world)
    gke.running_cluster(tutorial_cluster(gke.project))
    return gke


def reserved_pool(name: str, reservation: str) -> dict[str, Any]:
    pool = tpu_pool(name)
    pool["config"]["reservation_affinity"] = {
        "consume_reservation_type": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": [reservation],
    }
    return pool


def reserve(control: Control, **params: Any) -> Any:
    """The `reservation` scenario (its `name` param would clash with apply_scenario's)."""
    return control.post("/faults", json={"scenario": "reservation", "params": params})


def in_use(compute: Any, project: str, name: str) -> str:
    reservation = compute.reservations().get(project=project, zone=ZONE, reservation=name)
    return reservation.execute()["specificReservation"]["inUseCount"]


def test_a_pool_consumes_its_reservation_and_the_next_one_does_not_fit(compute, gke, control):
    project = gke.project
    reserve(control, name="v5e", zone=ZONE, machine_type="ct5lp-hightpu-4t", count=8)
    reservation = compute.reservations().get(project=project, zone=ZONE, reservation="v5e")
    body = reservation.execute()
    assert body["kind"] == "compute#reservation" and body["status"] == "READY"
    assert body["specificReservation"] == {
        "instanceProperties": {"machineType": "ct5lp-hightpu-4t"},
        "count": "8",
        "inUseCount": "0",
        "assuredCount": "8",
    }
    assert body["specificReservationRequired"] is True
    assert body["zone"].endswith(f"/zones/{ZONE}")

    assert not gke.wait(gke.create_pool("saxml", reserved_pool("tpu1", "v5e"))).error.code
    assert in_use(compute, project, "v5e") == "8"
    region = compute.regions().get(project=project, region="us-west4").execute()
    usage = {q["metric"]: q["usage"] for q in region["quotas"]}
    assert usage["TPU_LITE_PODSLICE_V5"] == 0.0  # reserved chips use the reservation

    failed = gke.wait(gke.create_pool("saxml", reserved_pool("tpu2", "v5e")))
    assert failed.error.code == RESOURCE_EXHAUSTED
    assert (
        f"Specified reservation 'projects/{project}/zones/{ZONE}/reservations/v5e' does not have "
        "available resources for the request" in failed.error.message
    )
    missing = gke.wait(gke.create_pool("saxml", reserved_pool("tpu3", "nowhere")))
    assert "reservations/nowhere' was not found" in missing.error.message

    gke.wait(gke.client.delete_node_pool(name=gke.pool_path("saxml", "tpu1")))
    assert in_use(compute, project, "v5e") == "0"


def test_reservations_are_listed_per_zone_and_in_aggregate(compute, fresh_world, control):
    project = fresh_world["project_id"]
    reserve(control, name="r1", zone=ZONE, machine_type="ct5lp-hightpu-4t", count=4)
    listed = compute.reservations().list(project=project, zone=ZONE).execute()
    assert [r["name"] for r in listed["items"]] == ["r1"]
    assert "items" not in compute.reservations().list(project=project, zone="us-east5-b").execute()
    aggregated = compute.reservations().aggregatedList(project=project).execute()["items"]
    assert [r["name"] for r in aggregated[f"zones/{ZONE}"]["reservations"]] == ["r1"]
    assert aggregated["zones/us-east5-b"]["warning"]["code"] == "NO_RESULTS_ON_PAGE"
    gone = api_error(compute.reservations().get(project=project, zone=ZONE, reservation="r2"))
    assert gone["code"] == 404

    refused = reserve(control, name="v6e", zone=ZONE, machine_type="ct6e-standard-4t", count=1)
    assert refused.status_code == 400 and "offers no machine type" in refused.text
    control.delete("/faults").raise_for_status()
    assert "items" not in compute.reservations().list(project=project, zone=ZONE).execute()
