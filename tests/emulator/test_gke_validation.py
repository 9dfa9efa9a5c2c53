"""What GKE refuses with 400 INVALID_ARGUMENT before it starts an operation."""

import pytest
from google.api_core import exceptions

from tests.emulator.test_gke_support import (
    ZONE,
    connect,
    cpu_config,
    tpu_pool,
    tutorial_cluster,
)


@pytest.fixture
def gke(fresh_world):
    return connect(fresh_world)


def _without_workload_identity(project: str) -> dict:
    cluster = tutorial_cluster(project)
    del cluster["workload_identity_config"]
    return cluster


@pytest.fixture(scope="module")
def saxml(emulator, control):
    """A running tutorial cluster that refused requests leave as it is (one per module)."""
    control.post("/reset").raise_for_status()
    gke = connect(emulator)
    gke.running_cluster(tutorial_cluster(gke.project))
    return gke


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        (tpu_pool("tpu1", nodes=4), "Node count 4 is not a valid size of TPU pod slice"),
        (tpu_pool("tpu1", topology="4x5"), "Not a valid TPU v5e slice topology"),
        (tpu_pool("tpu1", topology="2x2x2"), "TPU v5e topologies are AxB"),
        (tpu_pool("tpu1", topology="4x4x4", machine_type="ct5p-hightpu-4t"), "is not available"),
        (tpu_pool("tpu1", topology="2x2", nodes=1), "single-host slice"),
        (tpu_pool("tpu1", topology="2x4", nodes=1, machine_type="ct5lp-hightpu-8t"), "single-host"),
        (tpu_pool("tpu1", topology="4x4", nodes=2, machine_type="ct5lp-hightpu-8t"), "multi-host"),
        (tpu_pool("tpu1", machine_type="n2-standard-8"), "only supported for TPU machine types"),
        (tpu_pool("Bad_Name"), "Must be a match of regex"),
        (tpu_pool("a" * 41), "no longer than 40 characters"),
        ({**tpu_pool("tpu1"), "locations": ["us-west4-b"]}, "among the cluster's locations"),
        ({**tpu_pool("tpu1"), "max_pods_constraint": {"max_pods_per_node": 4}}, "Must be 8-256"),
        ({"name": "cpu", "initial_node_count": 1, "config": cpu_config("e2-huge")}, "e2-huge"),
        ({"name": "cpu", "initial_node_count": 1, "version": "1.99"}, '"1.99" is unsupported'),
    ],
)
def test_invalid_node_pools_are_rejected(saxml, pool, message):
    with pytest.raises(exceptions.BadRequest) as raised:
        saxml.create_pool("saxml", pool)

    assert message in raised.value.message
    pools = saxml.client.list_node_pools(parent=saxml.cluster_path("saxml")).node_pools
    assert [pool.name for pool in pools] == ["default-pool"]


def test_single_host_pools_need_no_topology(gke):
    gke.running_cluster(tutorial_cluster(gke.project))
    single_hosts = [
        tpu_pool("v5e-8", topology=None, nodes=1, machine_type="ct5lp-hightpu-8t"),
        tpu_pool("v5e-2x2", topology=None, nodes=3),
        tpu_pool("v5e-2x4", topology="2x4", nodes=2),  # two 4-chip VMs form a 2x4 slice
    ]
    for pool in single_hosts:
        assert not gke.wait(gke.create_pool("saxml", pool)).error.code


def test_gke_metadata_needs_workload_identity_on_the_cluster(gke):
    gke.running_cluster(_without_workload_identity(gke.project))

    with pytest.raises(exceptions.BadRequest) as raised:
        gke.create_pool("saxml", tpu_pool("tpu1"))

    assert "Workload Identity must be enabled" in raised.value.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Saxml"}, "Invalid value for field 'cluster.name'"),
        ({"name": "x" * 41}, "no longer than 40 characters"),
        ({"node_pools": []}, "Cluster.initial_node_count must be greater than zero"),
        ({"initial_node_count": 3}, "mutually exclusive"),
        ({"workload_identity_config": {"workload_pool": "other.svc.id.goog"}}, "workload pool"),
        ({"initial_cluster_version": "1.20"}, 'Master version "1.20" is unsupported.'),
        ({"resource_labels": {"App": "x"}}, "Label keys must start with a lowercase letter"),
        ({"locations": ["us-east1-c"]}, "Must be in region us-west4"),
        ({"autopilot": {"enabled": True}}, "Autopilot clusters are not modelled"),
    ],
)
def test_invalid_clusters_are_rejected(gke, change, message):
    with pytest.raises(exceptions.BadRequest) as raised:
        gke.create_cluster({**tutorial_cluster(gke.project), **change})

    assert message in raised.value.message
    assert gke.client.list_clusters(parent=gke.location).clusters == []


def test_a_cluster_with_gke_metadata_but_no_workload_identity_is_rejected(gke):
    cluster = _without_workload_identity(gke.project)
    cluster["node_pools"] = [tpu_pool("tpu1")]

    with pytest.raises(exceptions.BadRequest) as raised:
        gke.create_cluster(cluster)

    assert "cluster.node_pools[0].config.workload_metadata_config.mode" in raised.value.message


def test_an_unknown_zone_is_rejected(gke):
    mars = f"projects/{gke.project}/locations/mars-west1-a"
    calls = [
        lambda: gke.client.create_cluster(parent=mars, cluster=tutorial_cluster(gke.project)),
        lambda: gke.client.list_clusters(parent=mars),
        lambda: gke.client.get_server_config(name=mars),
    ]
    for call in calls:
        with pytest.raises(exceptions.BadRequest) as raised:
            call()
        assert 'Location "mars-west1-a" does not exist' in raised.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"cluster": {"name": "saxml", "nodePools": [{"name": "p", "colour": "blue"}]}},
            "Invalid JSON payload received. Unknown name \"colour\" at 'cluster.node_pools[0]': "
            "Cannot find field.",
        ),
        (
            {"cluster": {"name": "saxml", "releaseChannel": {"channel": "SOMETIMES"}}},
            "Invalid value at 'cluster.release_channel.channel' "
            '(type.googleapis.com/google.container.v1.ReleaseChannel.Channel), "SOMETIMES"',
        ),
        (
            {"cluster": {"name": "saxml", "releaseChannel": {"channel": 42}}},
            "Invalid value at 'cluster.release_channel.channel'",
        ),
        ({"cluster": {"name": ["saxml"]}}, "Invalid JSON payload received."),
    ],
)
def test_malformed_bodies_get_googles_payload_errors(gke, body, message):
    status, response = gke.raw("POST", f"projects/{gke.project}/locations/{ZONE}/clusters", body)

    assert status == 400
    assert response["error"]["status"] == "INVALID_ARGUMENT"
    assert response["error"]["message"].startswith(message)


def test_enum_names_are_accepted_as_well_as_numbers(gke):
    cluster = tutorial_cluster(gke.project)
    body = {
        "cluster": {
            "name": "saxml",
            "workloadIdentityConfig": cluster["workload_identity_config"],
            "releaseChannel": {"channel": "RAPID"},
            "nodePools": [
                {
                    "name": "default-pool",
                    "initialNodeCount": 1,
                    "config": {"workloadMetadataConfig": {"mode": "GKE_METADATA"}},
                    "placementPolicy": {"type": "COMPACT"},
                }
            ],
        }
    }

    status, operation = gke.raw("POST", f"projects/{gke.project}/locations/{ZONE}/clusters", body)

    assert status == 200
    assert operation["operationType"] == "CREATE_CLUSTER"
    created = gke.client.get_cluster(name=gke.cluster_path("saxml"))
    assert created.release_channel.channel.name == "RAPID"
    assert created.node_pools[0].config.machine_type == "e2-medium"  # GKE's default
