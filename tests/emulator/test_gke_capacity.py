"""TPU capacity (stockouts, limited room), chip-second billing, and what the control API lists."""

import time

import pytest
from google.api_core import exceptions
from google.cloud import container_v1

from tests.emulator.conftest import TIME_SCALE
from tests.emulator.test_gke_support import (
    ZONE,
    apply_scenario,
    billing,
    connect,
    cpu_config,
    tpu_pool,
    tutorial_cluster,
)

Status = container_v1.Operation.Status
PoolStatus = container_v1.NodePool.Status
RESOURCE_EXHAUSTED = 8


@pytest.fixture
def gke(fresh_world):
    return connect(fresh_world)


@pytest.fixture
def saxml(gke):
    gke.running_cluster(tutorial_cluster(gke.project))
    return gke


def test_a_stockout_fails_the_pool_after_its_operation_ran(saxml, control):
    apply_scenario(control, "tpu-stockout", zone=ZONE, machine_type="ct5lp-hightpu-4t")

    operation = saxml.create_pool("saxml", tpu_pool("tpu1"))
    assert operation.status in (Status.PENDING, Status.RUNNING)
    done = saxml.wait(operation)

    assert done.error.code == RESOURCE_EXHAUSTED
    assert f"Insufficient capacity/stockout for ct5lp-hightpu-4t in zone {ZONE}" in (
        done.error.message
    )
    pool = saxml.client.get_node_pool(name=saxml.pool_path("saxml", "tpu1"))
    assert pool.status == PoolStatus.ERROR
    assert pool.status_message == done.error.message
    assert billing(control)["tpu1"]["chips"] == 32
    assert billing(control)["tpu1"]["chip_seconds"] == 0
    # The cluster and other machine types are unaffected; the failed pool can be deleted.
    cpu = {"name": "cpu", "initial_node_count": 1, "config": cpu_config()}
    assert not saxml.wait(saxml.create_pool("saxml", cpu)).error.code
    assert not saxml.wait(
        saxml.client.delete_node_pool(name=saxml.pool_path("saxml", "tpu1"))
    ).error.code
    cluster = saxml.client.get_cluster(name=saxml.cluster_path("saxml"))
    assert cluster.status == container_v1.Cluster.Status.RUNNING
    assert [pool.name for pool in cluster.node_pools] == ["default-pool", "cpu"]


def test_capacity_returns_after_the_given_number_of_failures(saxml, control):
    apply_scenario(control, "tpu-stockout", times=1)

    first = saxml.wait(saxml.create_pool("saxml", tpu_pool("tpu1")))
    second = saxml.wait(saxml.create_pool("saxml", tpu_pool("tpu2")))

    assert (first.error.code, second.error.code) == (RESOURCE_EXHAUSTED, 0)


def test_a_stockout_elsewhere_does_not_matter(saxml, control):
    apply_scenario(control, "tpu-stockout", zone="us-east5-b")
    apply_scenario(control, "tpu-stockout", zone=ZONE, machine_type="ct6e-standard-4t")

    assert not saxml.wait(saxml.create_pool("saxml", tpu_pool("tpu1"))).error.code


def test_a_zone_with_room_for_one_slice_fails_the_second(saxml, control):
    apply_scenario(control, "tpu-capacity", zone=ZONE, machine_type="ct5lp-hightpu-4t", nodes=12)

    slices = [saxml.create_pool("saxml", tpu_pool(name)) for name in ("tpu1", "tpu2")]
    outcomes = sorted(saxml.wait(operation).error.code for operation in slices)
    assert outcomes == [0, RESOURCE_EXHAUSTED]

    apply_scenario(control, "tpu-capacity", zone=ZONE, machine_type="ct5lp-hightpu-4t")
    assert not saxml.wait(saxml.create_pool("saxml", tpu_pool("tpu3"))).error.code


def test_a_cluster_whose_initial_tpu_pool_stocks_out_ends_in_error(gke, control):
    apply_scenario(control, "tpu-stockout", zone=ZONE)
    cluster = tutorial_cluster(gke.project)
    cluster["node_pools"].append(tpu_pool("tpu1"))

    done = gke.wait(gke.create_cluster(cluster))

    assert done.error.code == RESOURCE_EXHAUSTED
    failed = gke.client.get_cluster(name=gke.cluster_path("saxml"))
    assert failed.status == container_v1.Cluster.Status.ERROR
    assert "GCE_STOCKOUT" in failed.status_message
    assert not failed.endpoint
    assert {pool.name: pool.status for pool in failed.node_pools} == {
        "default-pool": PoolStatus.RUNNING,
        "tpu1": PoolStatus.ERROR,
    }


def test_chip_seconds_accrue_in_modelled_time_while_the_nodes_exist(saxml, control):
    requested = time.monotonic()
    created = saxml.wait(saxml.create_pool("saxml", tpu_pool("tpu1")))
    up = time.monotonic()
    assert not created.error.code
    time.sleep(0.05)
    running = billing(control)["tpu1"]["chip_seconds"]
    assert running >= 32 * 0.05 / TIME_SCALE
    assert billing(control)["tpu1"]["chip_seconds"] > running  # still accruing

    delete_requested = time.monotonic()
    saxml.wait(saxml.client.delete_node_pool(name=saxml.pool_path("saxml", "tpu1")))
    gone = time.monotonic()
    billed = billing(control)["tpu1"]
    time.sleep(0.05)

    assert billing(control)["tpu1"] == billed  # nothing accrues once the nodes are deleted
    assert billed["machine_type"] == "ct5lp-hightpu-4t"
    assert (billed["cluster"], billed["zone"], billed["chips"]) == ("saxml", ZONE, 32)
    # The nodes existed at least from `up` to the delete request, at most from request to gone.
    assert 32 * (delete_requested - up) / TIME_SCALE <= billed["chip_seconds"]
    assert billed["chip_seconds"] <= 32 * (gone - requested) / TIME_SCALE


def test_the_control_api_lists_clusters_pools_nodes_and_endpoints(saxml, control):
    assert not saxml.wait(saxml.create_pool("saxml", tpu_pool("tpu1"))).error.code

    listed = control.get("/resources").json()["resources"]
    kinds = [r["kind"] for r in listed if r["api"] == "container"]
    assert kinds.count("Cluster") == 1
    assert kinds.count("ClusterEndpoint") == 1
    assert kinds.count("NodePool") == 2
    assert kinds.count("Node") == 4 + 8
    cluster = next(r for r in listed if r["kind"] == "Cluster")
    assert cluster["labels"] == {"app": "saxml"}
    nodes = [r["name"] for r in listed if r["kind"] == "Node"]
    assert any("/nodePools/tpu1/nodes/gke-saxml-tpu1-" in name for name in nodes)

    saxml.wait(saxml.client.delete_cluster(name=saxml.cluster_path("saxml")))
    after = control.get("/resources").json()["resources"]
    assert [r for r in after if r["api"] == "container"] == []


def test_an_unreachable_location_is_missing_from_lists_while_its_clusters_run(saxml, control):
    everywhere = f"projects/{saxml.project}/locations/-"
    assert apply_scenario(control, "location-unreachable", zone=ZONE) == {"unreachable": [ZONE]}

    listed = saxml.client.list_clusters(parent=everywhere)
    assert list(listed.clusters) == []
    assert list(listed.missing_zones) == [ZONE]
    with pytest.raises(exceptions.ServiceUnavailable, match=f"Location {ZONE} is temporarily"):
        saxml.client.list_clusters(parent=saxml.location, retry=None)
    cluster = saxml.client.get_cluster(name=saxml.cluster_path("saxml"))
    assert cluster.status == container_v1.Cluster.Status.RUNNING

    control.delete("/faults").raise_for_status()
    listed = saxml.client.list_clusters(parent=everywhere)
    assert [c.name for c in listed.clusters] == ["saxml"] and not listed.missing_zones
    assert (
        control.post(
            "/faults", json={"scenario": "location-unreachable", "params": {"zone": "mars-1-a"}}
        ).status_code
        == 400
    )
