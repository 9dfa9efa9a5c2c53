"""What GKE answers when requests collide: 409, 404, failedPrecondition, 429 and aborted work."""

import json

import pytest
from google.api_core import exceptions
from google.cloud import container_v1

from tests.emulator.test_gke_support import (
    access_token,
    apply_scenario,
    cluster_get,
    connect,
    cpu_config,
    tpu_pool,
    tutorial_cluster,
)

Type = container_v1.Operation.Type


@pytest.fixture
def gke(fresh_world):
    return connect(fresh_world)


def _google_error(raised: pytest.ExceptionInfo) -> dict:
    return raised.value.response.json()["error"]


def _cpu_pool(name: str) -> dict:
    return {"name": name, "initial_node_count": 1, "config": cpu_config()}


def test_creating_what_exists_is_409(gke):
    gke.running_cluster(tutorial_cluster(gke.project))

    with pytest.raises(exceptions.Conflict) as raised:
        gke.create_cluster(tutorial_cluster(gke.project))
    assert _google_error(raised)["message"] == f"Already exists: {gke.cluster_path('saxml')}."
    with pytest.raises(exceptions.Conflict) as raised:
        gke.create_pool("saxml", _cpu_pool("default-pool"))
    assert _google_error(raised)["status"] == "ALREADY_EXISTS"


def test_getting_or_deleting_what_does_not_exist_is_404(gke):
    gke.running_cluster(tutorial_cluster(gke.project))
    missing_cluster = gke.cluster_path("missing")
    missing_pool = gke.pool_path("saxml", "missing")
    calls = [
        lambda: gke.client.get_cluster(name=missing_cluster),
        lambda: gke.client.delete_cluster(name=missing_cluster),
        lambda: gke.client.list_node_pools(parent=missing_cluster),
        lambda: gke.client.get_node_pool(name=missing_pool),
        lambda: gke.client.delete_node_pool(name=missing_pool),
        lambda: gke.client.get_operation(name=f"{gke.location}/operations/operation-1-missing"),
    ]
    for call in calls:
        with pytest.raises(exceptions.NotFound) as raised:
            call()
        assert _google_error(raised)["message"].startswith("Not found: projects/")


def test_node_pool_operations_wait_while_the_cluster_is_created(gke):
    creating = gke.create_cluster(tutorial_cluster(gke.project))

    with pytest.raises(exceptions.BadRequest) as raised:
        gke.create_pool("saxml", tpu_pool("tpu1"))
    with pytest.raises(exceptions.BadRequest):
        gke.client.delete_node_pool(name=gke.pool_path("saxml", "default-pool"))

    error = _google_error(raised)
    assert error["status"] == "FAILED_PRECONDITION"
    assert error["errors"][0]["reason"] == "failedPrecondition"
    assert error["message"] == f"Cluster is running incompatible operation {creating.name}."
    gke.wait(creating)
    assert not gke.wait(gke.create_pool("saxml", tpu_pool("tpu1"))).error.code


def test_more_than_five_concurrent_operations_on_a_cluster_get_429(gke, control):
    gke.running_cluster(tutorial_cluster(gke.project))
    apply_scenario(control, "slow-operations", factor=10)

    running = [gke.create_pool("saxml", _cpu_pool(f"pool-{index}")) for index in range(5)]
    with pytest.raises(exceptions.TooManyRequests) as raised:
        gke.create_pool("saxml", _cpu_pool("pool-5"))

    assert _google_error(raised)["message"] == (
        "Too many operations: cluster saxml hits the concurrent operations quota 5, please try "
        "again later."
    )
    assert _google_error(raised)["status"] == "RESOURCE_EXHAUSTED"
    control.delete("/faults").raise_for_status()  # back to normal speed for new operations
    assert all(not gke.wait(operation).error.code for operation in running)
    assert not gke.wait(gke.create_pool("saxml", _cpu_pool("pool-5"))).error.code


def test_racing_creates_of_one_pool_conflict_then_the_pool_exists(gke):
    gke.running_cluster(tutorial_cluster(gke.project))
    first = gke.create_pool("saxml", tpu_pool("tpu1"))

    with pytest.raises(exceptions.BadRequest) as raised:
        gke.create_pool("saxml", tpu_pool("tpu1"))
    assert _google_error(raised)["status"] == "FAILED_PRECONDITION"
    assert f"Operation {first.name} is currently operating on node pool tpu1" in (
        raised.value.message
    )

    gke.wait(first)
    with pytest.raises(exceptions.Conflict):
        gke.create_pool("saxml", tpu_pool("tpu1"))


def test_deleting_a_cluster_that_is_being_created_aborts_the_creation(gke):
    creating = gke.create_cluster(tutorial_cluster(gke.project))

    deleting = gke.client.delete_cluster(name=gke.cluster_path("saxml"))

    aborted = gke.operation(creating)
    assert aborted.status == container_v1.Operation.Status.DONE
    assert aborted.error.code == 10  # ABORTED
    assert "being deleted" in aborted.error.message
    assert not gke.wait(deleting).error.code
    assert gke.client.list_clusters(parent=gke.location).clusters == []


def test_a_master_upgrade_blocks_node_pools_then_restarts_the_endpoint(gke, control, credentials):
    before = gke.running_cluster(tutorial_cluster(gke.project))

    started = apply_scenario(control, "master-upgrade", cluster="saxml")

    reconciling = gke.client.get_cluster(name=gke.cluster_path("saxml"))
    assert reconciling.status == container_v1.Cluster.Status.RECONCILING
    with pytest.raises(exceptions.BadRequest) as raised:
        gke.create_pool("saxml", tpu_pool("tpu1"))
    assert started["operation"] in raised.value.message
    (upgrade,) = [
        op
        for op in gke.client.list_operations(parent=gke.location).operations
        if op.operation_type == Type.UPGRADE_MASTER
    ]
    gke.wait(upgrade)

    after = gke.client.get_cluster(name=gke.cluster_path("saxml"))
    assert after.status == container_v1.Cluster.Status.RUNNING
    assert after.current_master_version > before.current_master_version
    assert after.endpoint == before.endpoint
    assert after.master_auth == before.master_auth
    status, body = cluster_get(after, "/version", access_token(credentials))
    assert (status, json.loads(body)["gitVersion"]) == (200, f"v{after.current_master_version}")


def test_injected_method_faults_match_the_discovery_method_id(gke, control):
    gke.running_cluster(tutorial_cluster(gke.project))
    fault = {
        "method": "container.projects.locations.clusters.nodePools.create",
        "status": 503,
        "message": "The service is currently unavailable.",
    }
    control.post("/faults", json=fault).raise_for_status()

    with pytest.raises(exceptions.ServiceUnavailable):
        gke.create_pool("saxml", tpu_pool("tpu1"))
    assert not gke.wait(gke.create_pool("saxml", tpu_pool("tpu1"))).error.code
