"""GKE request bodies parse strictly as the real API types and carry the spec's shape."""

import json
from datetime import UTC, datetime

from google.cloud import container_v1

from saxml_gke.bodies import (
    cluster_body,
    cluster_mismatches,
    node_pool_body,
    node_pool_mismatches,
    node_service_account_body,
)
from saxml_gke.spec import build_spec

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


def spec(**overrides: object):
    return build_spec({"project_id": "my-project", "zone": "us-west4-a", **overrides}, now=NOW)


def test_cluster_body_is_the_tutorial_cluster() -> None:
    body = cluster_body(spec())
    cluster = container_v1.Cluster.from_json(json.dumps(body), ignore_unknown_fields=False)
    assert cluster.name == "saxml"
    assert cluster.workload_identity_config.workload_pool == "my-project.svc.id.goog"
    assert cluster.release_channel.channel == container_v1.ReleaseChannel.Channel.REGULAR
    assert cluster.initial_cluster_version == "latest"
    (pool,) = cluster.node_pools
    assert (pool.name, pool.initial_node_count, pool.config.machine_type) == (
        "default-pool",
        4,
        "e2-standard-4",
    )
    assert pool.config.workload_metadata_config.mode == (
        container_v1.WorkloadMetadataConfig.Mode.GKE_METADATA
    )
    assert cluster.resource_labels["managed-by"] == "saxml-gke"


def test_multi_host_pool_body_has_compact_placement_and_the_slice_shape() -> None:
    deployment = spec()
    body = node_pool_body(deployment, deployment.tpu.node_pools[0])
    pool = container_v1.NodePool.from_json(json.dumps(body), ignore_unknown_fields=False)
    assert (pool.name, pool.initial_node_count) == ("tpu1", 8)
    assert pool.config.machine_type == "ct5lp-hightpu-4t"
    assert pool.placement_policy.type_ == container_v1.NodePool.PlacementPolicy.Type.COMPACT
    assert pool.placement_policy.tpu_topology == "4x8"
    assert list(pool.locations) == ["us-west4-a"]
    assert pool.max_pods_constraint.max_pods_per_node == 15
    assert pool.management.auto_upgrade is False


def test_single_host_pool_has_no_placement_policy() -> None:
    deployment = spec(tpu_topology="2x4", model_path="my.Model")
    body = node_pool_body(deployment, deployment.tpu.node_pools[0])
    assert "placementPolicy" not in body
    assert body["config"]["machineType"] == "ct5lp-hightpu-8t"
    assert body["initialNodeCount"] == 1


def test_capacity_options_reach_the_pool_config() -> None:
    spot = spec(capacity="spot")
    assert node_pool_body(spot, spot.tpu.node_pools[0])["config"]["spot"] is True
    reserved = spec(capacity="reservation", reservation="my-res")
    body = node_pool_body(reserved, reserved.tpu.node_pools[0])
    pool = container_v1.NodePool.from_json(json.dumps(body), ignore_unknown_fields=False)
    affinity = pool.config.reservation_affinity
    assert affinity.consume_reservation_type == (
        container_v1.ReservationAffinity.Type.SPECIFIC_RESERVATION
    )
    assert list(affinity.values) == ["my-res"]


def test_a_flex_start_pool_is_gkes_flex_start_request_for_the_whole_slice() -> None:
    flex = spec(capacity="flex-start", ttl_hours=24)
    body = node_pool_body(flex, flex.tpu.node_pools[0])
    pool = container_v1.NodePool.from_json(json.dumps(body), ignore_unknown_fields=False)
    assert pool.config.flex_start and not pool.config.spot
    assert pool.initial_node_count == 0
    assert (pool.autoscaling.enabled, pool.autoscaling.total_max_node_count) == (True, 8)
    assert pool.autoscaling.location_policy == (container_v1.NodePoolAutoscaling.LocationPolicy.ANY)
    assert pool.config.reservation_affinity.consume_reservation_type == (
        container_v1.ReservationAffinity.Type.NO_RESERVATION
    )
    assert not pool.management.auto_repair
    assert pool.config.max_run_duration.total_seconds() == 24 * 3600  # the nodes end with the TTL
    week = spec(capacity="flex-start", ttl_hours=24 * 30)
    assert node_pool_body(week, week.tpu.node_pools[0])["config"]["maxRunDuration"] == "604800s"
    assert node_pool_mismatches(flex, flex.tpu.node_pools[0], body) == []
    on_demand = spec().tpu.node_pools[0]
    assert node_pool_mismatches(spec(), on_demand, body) == [
        "node count is 0, needs 8",
        "flex-start is True, needs False",
    ]


def test_a_queued_pool_is_flex_start_with_queued_provisioning_and_no_run_limit() -> None:
    """The run limit goes in the ProvisioningRequest: GKE's `--flex-start
    --enable-queued-provisioning` pool, empty until a request books its nodes."""
    queued = spec(capacity="flex-start-queued", ttl_hours=24)
    body = node_pool_body(queued, queued.tpu.node_pools[0])
    pool = container_v1.NodePool.from_json(json.dumps(body), ignore_unknown_fields=False)
    assert pool.queued_provisioning.enabled and pool.config.flex_start
    assert pool.initial_node_count == 0
    assert (pool.autoscaling.enabled, pool.autoscaling.total_max_node_count) == (True, 8)
    assert pool.autoscaling.location_policy == container_v1.NodePoolAutoscaling.LocationPolicy.ANY
    assert pool.config.reservation_affinity.consume_reservation_type == (
        container_v1.ReservationAffinity.Type.NO_RESERVATION
    )
    assert not pool.management.auto_repair
    assert "maxRunDuration" not in body["config"]
    assert pool.placement_policy.tpu_topology == "4x8"
    flex = spec(capacity="flex-start", ttl_hours=24)
    unqueued = node_pool_body(flex, flex.tpu.node_pools[0])
    assert "queuedProvisioning" not in unqueued
    assert {key: value for key, value in body.items() if key != "queuedProvisioning"} == {
        **unqueued,
        "config": {k: v for k, v in unqueued["config"].items() if k != "maxRunDuration"},
    }


def test_queued_and_unqueued_flex_start_pools_are_not_each_others() -> None:
    queued, flex = spec(capacity="flex-start-queued"), spec(capacity="flex-start")
    queued_pool, flex_pool = queued.tpu.node_pools[0], flex.tpu.node_pools[0]
    queued_body, flex_body = node_pool_body(queued, queued_pool), node_pool_body(flex, flex_pool)
    assert node_pool_mismatches(queued, queued_pool, queued_body) == []
    assert node_pool_mismatches(queued, queued_pool, flex_body) == [
        "queued provisioning is False, needs True"
    ]
    assert node_pool_mismatches(flex, flex_pool, queued_body) == [
        "queued provisioning is True, needs False"
    ]


def test_a_matching_cluster_and_pool_are_adopted() -> None:
    deployment = spec()
    assert cluster_mismatches(deployment, cluster_body(deployment)) == []
    pool = deployment.tpu.node_pools[0]
    assert node_pool_mismatches(deployment, pool, node_pool_body(deployment, pool)) == []


def test_mismatches_name_the_field_the_value_and_the_need() -> None:
    deployment = spec()
    assert cluster_mismatches(deployment, {"name": "saxml"}) == [
        "Workload Identity: workload pool is not set, needs my-project.svc.id.goog"
    ]
    pool = deployment.tpu.node_pools[0]
    smaller = spec(tpu_topology="4x4", model_path="my.Model")
    other = node_pool_body(smaller, smaller.tpu.node_pools[0])
    assert node_pool_mismatches(deployment, pool, other) == [
        "TPU topology is '4x4', needs '4x8'",
        "node count is 4, needs 8",
    ]
    on_default_account = node_pool_body(deployment, pool)
    del on_default_account["config"]["serviceAccount"]  # as an earlier version created it
    assert node_pool_mismatches(deployment, pool, on_default_account) == [
        f"service account is 'default', needs {deployment.node_sa_email!r}"
    ]


def test_one_function_grants_and_revokes_in_any_iam_policy() -> None:
    from saxml_gke.bodies import edit_binding

    bindings = [{"role": "roles/viewer", "members": {"user:a@example.com"}}]  # a bucket's: sets
    assert edit_binding(bindings, "roles/storage.objectAdmin", "serviceAccount:sa", add=True)
    assert not edit_binding(bindings, "roles/storage.objectAdmin", "serviceAccount:sa", add=True)
    assert edit_binding(bindings, "roles/viewer", "user:b@example.com", add=True)
    assert sorted(bindings[0]["members"]) == ["user:a@example.com", "user:b@example.com"]
    assert edit_binding(bindings, "roles/storage.objectAdmin", "serviceAccount:sa", add=False)
    assert [b["role"] for b in bindings] == ["roles/viewer"]  # an empty binding goes
    assert not edit_binding(bindings, "roles/owner", "user:a@example.com", add=False)


def test_every_node_runs_as_the_deployments_node_service_account() -> None:
    """Not the Compute Engine default account: the host-network model servers act as it."""
    deployment = spec(cluster_name="team-a")
    email = deployment.node_sa_email
    assert email == "sax-node-team-a-" + deployment.owner.digest[:8] + (
        "@my-project.iam.gserviceaccount.com"
    )
    assert cluster_body(deployment)["nodePools"][0]["config"]["serviceAccount"] == email
    for pool in deployment.tpu.node_pools:
        assert node_pool_body(deployment, pool)["config"]["serviceAccount"] == email
    body = node_service_account_body(deployment)
    assert body["accountId"] == email.split("@")[0]
    assert deployment.owner.owns_account(body["serviceAccount"])
    assert email != deployment.identity.gsa_email
    assert spec(cluster_name="team-b").node_sa_email != email
