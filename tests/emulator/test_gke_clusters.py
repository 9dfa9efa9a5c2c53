"""The tutorial's GKE flow through google-cloud-container: cluster, TPU slices, endpoint."""

import base64
import json
import ssl

import pytest
from google.api_core import exceptions
from google.cloud import container_v1

from tests.emulator.test_gke_support import (
    ZONE,
    access_token,
    cluster_get,
    connect,
    tpu_pool,
    tutorial_cluster,
)

Status = container_v1.Cluster.Status
PoolStatus = container_v1.NodePool.Status
Type = container_v1.Operation.Type


@pytest.fixture
def gke(fresh_world):
    return connect(fresh_world)


def test_create_the_tutorial_cluster_then_two_v5e_slices_in_parallel(gke, credentials):
    operation = gke.create_cluster(tutorial_cluster(gke.project))
    assert operation.operation_type == Type.CREATE_CLUSTER
    assert operation.status in (
        container_v1.Operation.Status.PENDING,
        container_v1.Operation.Status.RUNNING,
    )
    assert operation.target_link.endswith(f"/zones/{ZONE}/clusters/saxml")
    provisioning = gke.client.get_cluster(name=gke.cluster_path("saxml"))
    assert provisioning.status == Status.PROVISIONING
    assert not provisioning.endpoint

    done = gke.wait(operation)
    assert not done.error.code
    assert done.start_time and done.end_time

    cluster = gke.client.get_cluster(name=gke.cluster_path("saxml"))
    assert cluster.status == Status.RUNNING
    assert cluster.location == ZONE
    assert cluster.workload_identity_config.workload_pool == f"{gke.project}.svc.id.goog"
    assert cluster.resource_labels == {"app": "saxml"}
    assert cluster.current_master_version.startswith("1.")
    assert cluster.current_node_version == cluster.current_master_version
    assert cluster.release_channel.channel == container_v1.ReleaseChannel.Channel.REGULAR
    assert cluster.current_node_count == 4
    assert cluster.self_link.endswith(f"/projects/{gke.project}/zones/{ZONE}/clusters/saxml")
    (default_pool,) = cluster.node_pools
    assert default_pool.status == PoolStatus.RUNNING
    assert default_pool.config.machine_type == "e2-standard-4"
    # New pools of a Workload Identity cluster run the GKE metadata server.
    assert default_pool.config.workload_metadata_config.mode.name == "GKE_METADATA"

    slices = [gke.create_pool("saxml", tpu_pool(name)) for name in ("tpu1", "tpu2")]
    assert all(op.operation_type == Type.CREATE_NODE_POOL for op in slices)
    assert [
        gke.client.get_node_pool(name=gke.pool_path("saxml", n)).status for n in ("tpu1", "tpu2")
    ] == [PoolStatus.PROVISIONING] * 2
    for done in map(gke.wait, slices):
        assert not done.error.code

    pools = gke.client.list_node_pools(parent=gke.cluster_path("saxml")).node_pools
    assert [pool.name for pool in pools] == ["default-pool", "tpu1", "tpu2"]
    tpu1 = pools[1]
    assert tpu1.status == PoolStatus.RUNNING
    assert tpu1.initial_node_count == 8
    assert tpu1.placement_policy.tpu_topology == "4x8"
    assert tpu1.locations == [ZONE]
    assert tpu1.version == cluster.current_master_version
    assert tpu1.max_pods_constraint.max_pods_per_node == 15
    assert gke.client.get_cluster(name=gke.cluster_path("saxml")).current_node_count == 20


def test_the_cluster_endpoint_serves_tls_from_the_cluster_ca(gke, credentials):
    cluster = gke.running_cluster(tutorial_cluster(gke.project))
    assert cluster.endpoint.startswith("127.0.0.1:")
    ca_pem = base64.b64decode(cluster.master_auth.cluster_ca_certificate).decode()
    assert ca_pem.startswith("-----BEGIN CERTIFICATE-----")
    token = access_token(credentials)

    status, body = cluster_get(cluster, "/version", token)
    assert status == 200
    assert json.loads(body)["gitVersion"] == f"v{cluster.current_master_version}"
    assert cluster_get(cluster, "/healthz", token) == (200, "ok")

    status, body = cluster_get(cluster, "/healthz", None)
    assert status == 401
    assert json.loads(body)["kind"] == "Status"

    # Another cluster's CA does not vouch for this endpoint.
    other = gke.running_cluster(tutorial_cluster(gke.project, name="other"))
    other_ca = base64.b64decode(other.master_auth.cluster_ca_certificate).decode()
    with pytest.raises(ssl.SSLCertVerificationError):
        cluster_get(cluster, "/healthz", token, ca_pem=other_ca)


def test_deleting_a_cluster_deletes_its_pools_and_stops_its_endpoint(gke, credentials):
    cluster = gke.running_cluster(tutorial_cluster(gke.project))
    assert not gke.wait(gke.create_pool("saxml", tpu_pool("tpu1"))).error.code

    operation = gke.client.delete_cluster(name=gke.cluster_path("saxml"))
    assert operation.operation_type == Type.DELETE_CLUSTER
    stopping = gke.client.get_cluster(name=gke.cluster_path("saxml"))
    assert stopping.status == Status.STOPPING
    assert {pool.status for pool in stopping.node_pools} == {PoolStatus.STOPPING}
    assert not gke.wait(operation).error.code

    with pytest.raises(exceptions.NotFound):
        gke.client.get_cluster(name=gke.cluster_path("saxml"))
    with pytest.raises(exceptions.NotFound):
        gke.client.get_node_pool(name=gke.pool_path("saxml", "tpu1"))
    assert gke.client.list_clusters(parent=gke.location).clusters == []
    with pytest.raises(ConnectionRefusedError):
        cluster_get(cluster, "/healthz", access_token(credentials))


def test_operations_are_listed_and_read_with_their_timeline(gke):
    create = gke.wait(gke.create_cluster(tutorial_cluster(gke.project)))
    delete = gke.wait(gke.client.delete_cluster(name=gke.cluster_path("saxml")))

    listed = gke.client.list_operations(parent=gke.location).operations
    assert [(op.name, op.operation_type) for op in listed] == [
        (create.name, Type.CREATE_CLUSTER),
        (delete.name, Type.DELETE_CLUSTER),
    ]
    assert create.self_link.endswith(f"/zones/{ZONE}/operations/{create.name}")
    assert create.start_time < create.end_time <= delete.start_time < delete.end_time


def test_the_legacy_zonal_paths_and_the_project_number_reach_the_same_cluster(gke, emulator):
    gke.running_cluster(tutorial_cluster(gke.project))

    by_zone = gke.client.get_cluster(project_id=gke.project, zone=ZONE, cluster_id="saxml")
    by_number = gke.client.get_cluster(
        name=f"projects/{emulator['project_number']}/locations/{ZONE}/clusters/saxml"
    )
    assert by_zone.name == by_number.name == "saxml"
    everywhere = gke.client.list_clusters(parent=f"projects/{gke.project}/locations/-")
    assert [cluster.name for cluster in everywhere.clusters] == ["saxml"]


def test_server_config_lists_versions_per_release_channel(gke):
    config = gke.client.get_server_config(name=gke.location)

    channels = {channel.channel.name: channel for channel in config.channels}
    assert set(channels) == {"RAPID", "REGULAR", "STABLE", "EXTENDED"}
    regular = channels["REGULAR"]
    assert regular.default_version in regular.valid_versions
    assert config.default_cluster_version == regular.default_version


@pytest.mark.parametrize(
    ("requested", "expected_prefix"), [("latest", "1.32."), ("1.31", "1.31."), ("-", "1.31.")]
)
def test_requested_versions_resolve_within_the_release_channel(gke, requested, expected_prefix):
    body = {**tutorial_cluster(gke.project), "initial_cluster_version": requested}

    cluster = gke.running_cluster(body)

    assert cluster.current_master_version.startswith(expected_prefix)
    assert cluster.initial_cluster_version == cluster.current_master_version


def test_responses_use_enum_names_unless_numbers_are_asked_for(gke):
    gke.running_cluster(tutorial_cluster(gke.project))
    path = f"projects/{gke.project}/locations/{ZONE}/clusters/saxml"

    _, named = gke.raw("GET", path)
    _, numbered = gke.raw("GET", f"{path}?$alt=json;enum-encoding=int")

    assert named["status"] == "RUNNING"
    assert numbered["status"] == Status.RUNNING.value
    assert named["nodePools"][0]["config"]["machineType"] == "e2-standard-4"


def test_labels_of_a_cluster_and_of_a_node_pool_are_replaced(gke):
    gke.running_cluster(tutorial_cluster(gke.project))
    pool_path = gke.pool_path("saxml", "default-pool")

    relabel = gke.client.set_labels(
        request={"name": gke.cluster_path("saxml"), "resource_labels": {"expires-at": "later"}}
    )
    update = gke.client.update_node_pool(
        request={
            "name": pool_path,
            "node_version": "-",
            "image_type": "",
            "resource_labels": {"labels": {"expires-at": "later"}},
        }
    )

    assert relabel.operation_type == Type.SET_LABELS
    assert not gke.wait(relabel).error.code and not gke.wait(update).error.code
    cluster = gke.client.get_cluster(name=gke.cluster_path("saxml"))
    assert dict(cluster.resource_labels) == {"expires-at": "later"}
    assert dict(cluster.node_pools[0].config.resource_labels) == {"expires-at": "later"}
    with pytest.raises(exceptions.BadRequest, match="Label keys must start"):
        gke.client.set_labels(
            request={"name": gke.cluster_path("saxml"), "resource_labels": {"Bad": "x"}}
        )
