"""Flex-start TPU node pools: the slice's request waits for capacity, then every node appears
at once, and the nodes go when their maximum run duration ends."""

import time
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import container_v1

from tests.emulator.conftest import TIME_SCALE, Control, RunningEmulator, discovery_client
from tests.emulator.test_gke_support import (
    ZONE,
    apply_scenario,
    billing,
    connect,
    tpu_pool,
    tutorial_cluster,
)

PoolStatus = container_v1.NodePool.Status
RUN_SECONDS = 1500  # modelled: 3 s of wall time


@pytest.fixture
def gke(fresh_world):
    gke = connect(fresh_world)
    gke.running_cluster(tutorial_cluster(gke.project))
    return gke


def flex_pool(name: str, **changes: Any) -> dict[str, Any]:
    """A v5e 4x8 slice (8 nodes) requested through flex-start, as GKE documents the pool."""
    pool = tpu_pool(name)
    pool["initial_node_count"] = 0
    pool["config"]["flex_start"] = True
    pool["config"]["max_run_duration"] = {"seconds": RUN_SECONDS}
    pool["config"]["reservation_affinity"] = {"consume_reservation_type": "NO_RESERVATION"}
    pool["autoscaling"] = {"enabled": True, "total_max_node_count": 8, "location_policy": "ANY"}
    pool["management"] = {"auto_repair": False, "auto_upgrade": True}
    pool.update(changes)
    return pool


def nodes(control, pool: str) -> int:
    resources = control.get("/resources").json()["resources"]
    return sum(1 for r in resources if r["kind"] == "Node" and f"/nodePools/{pool}/" in r["name"])


def v5e_chips(api, project: str) -> dict[str, float]:
    """The v5e chips the region's nodes use, by `regions.get` metric."""
    region = api("compute", "v1").regions().get(project=project, region="us-west4").execute()
    return {q["metric"]: q["usage"] for q in region["quotas"] if "TPU_LITE_PODSLICE" in q["metric"]}


def preemptible_chips(api, project: str) -> float:
    return v5e_chips(api, project)["PREEMPTIBLE_TPU_LITE_PODSLICE_V5"]


def wait_for_nodes(control, pool: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while nodes(control, pool) < count:
        assert time.monotonic() < deadline, f"{pool} never got its {count} nodes"
        time.sleep(0.02)


def test_the_request_waits_for_capacity_then_the_whole_slice_runs_until_its_end(gke, control, api):
    apply_scenario(control, "tpu-stockout", zone=ZONE, seconds=1000)  # 2 s of wall time
    done = gke.wait(gke.create_pool("saxml", flex_pool("flex")))
    assert not done.error.code
    pool = gke.client.get_node_pool(name=gke.pool_path("saxml", "flex"))
    assert pool.status == PoolStatus.RUNNING and pool.config.flex_start
    assert nodes(control, "flex") == 0

    deadline = time.monotonic() + 1000 * TIME_SCALE + 5
    while (first_seen := nodes(control, "flex")) == 0:
        assert time.monotonic() < deadline, "the slice never came up"
        time.sleep(0.02)
    assert first_seen == 8  # never part of the slice: all of it at once
    assert preemptible_chips(api, gke.project) == 32.0
    cluster = gke.client.get_cluster(name=gke.cluster_path("saxml"))
    assert cluster.current_node_count == 4 + 8

    time.sleep(RUN_SECONDS * TIME_SCALE + 0.5)
    assert nodes(control, "flex") == 0
    assert preemptible_chips(api, gke.project) == 0.0
    charged = billing(control)["flex"]
    assert charged["chips"] == 32
    assert charged["chip_seconds"] == pytest.approx(32 * RUN_SECONDS, rel=0.05)


def test_flex_start_nodes_spend_the_on_demand_quota_once_the_preemptible_one_is_full(
    gke, control, api
):
    """Compute Engine's "Provisioning models": "When you create a Flex-start VM, preemptible
    quota is consumed. If your project lacks preemptible quota, then standard quota is
    consumed"."""
    apply_scenario(control, "quota", metric="PREEMPTIBLE_TPU_LITE_PODSLICE_V5", limit=40)
    for name in ("flex-a", "flex-b"):
        assert not gke.wait(gke.create_pool("saxml", flex_pool(name))).error.code
        wait_for_nodes(control, name, 8)
    used = v5e_chips(api, gke.project)
    assert used == {"TPU_LITE_PODSLICE_V5": 32.0, "PREEMPTIBLE_TPU_LITE_PODSLICE_V5": 32.0}


def test_a_stockout_that_clears_after_two_looks_delays_the_slice(gke, control):
    apply_scenario(control, "tpu-stockout", zone=ZONE, machine_type="ct5lp-hightpu-4t", times=2)
    assert not gke.wait(gke.create_pool("saxml", flex_pool("flex"))).error.code
    pool = gke.client.get_node_pool(name=gke.pool_path("saxml", "flex"))
    assert pool.status == PoolStatus.RUNNING  # waiting is not a failure, as it is without flex
    deadline = time.monotonic() + 10
    while nodes(control, "flex") != 8:
        assert time.monotonic() < deadline, "the slice never came up"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"autoscaling": {"enabled": False}}, "node_pool.autoscaling.enabled"),
        ({"initial_node_count": 8}, "node_pool.initial_node_count"),
        (
            {"autoscaling": {"enabled": True, "total_max_node_count": 8}},
            "node_pool.autoscaling.location_policy",
        ),
        (
            {"autoscaling": {"enabled": True, "total_max_node_count": 6, "location_policy": "ANY"}},
            "node_pool.autoscaling.total_max_node_count",
        ),
    ],
)
def test_gke_refuses_a_flex_start_pool_it_would_not_accept(gke, changes, field):
    with pytest.raises(exceptions.BadRequest, match=f"Invalid value for field '{field}'"):
        gke.create_pool("saxml", flex_pool("flex", **changes))


def test_a_waiting_request_and_the_compute_limits_survive_a_restart(tmp_path):
    state_file = str(tmp_path / "state.json")
    first = RunningEmulator(tmp_path / "first", "--state-file", state_file)
    try:
        gke = connect(first.ready)
        control = Control(first.ready)
        gke.running_cluster(tutorial_cluster(gke.project))
        apply_scenario(control, "tpu-stockout", zone=ZONE, seconds=1500)  # 3 s of wall time
        apply_scenario(control, "quota", metric="CPUS", limit=100)
        reservation = {"name": "r1", "zone": ZONE, "machine_type": "ct5lp-hightpu-4t", "count": 8}
        control.post("/faults", json={"scenario": "reservation", "params": reservation})
        assert not gke.wait(gke.create_pool("saxml", flex_pool("flex"))).error.code
        assert nodes(control, "flex") == 0
    finally:
        assert first.stop() == 0

    second = RunningEmulator(tmp_path / "second", "--state-file", state_file)
    try:
        gke = connect(second.ready)
        control = Control(second.ready)
        deadline = time.monotonic() + 10
        while nodes(control, "flex") != 8:
            assert time.monotonic() < deadline, "the request did not resume"
            time.sleep(0.05)
        compute = discovery_client(second.ready, "compute", "v1", gke.credentials)
        region = compute.regions().get(project=gke.project, region="us-west4").execute()
        assert {"metric": "CPUS", "limit": 100.0, "usage": 16.0} in region["quotas"]
        kept = compute.reservations().get(project=gke.project, zone=ZONE, reservation="r1")
        assert kept.execute()["specificReservation"]["count"] == "8"
    finally:
        assert second.stop() == 0
