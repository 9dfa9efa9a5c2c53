"""Compute Engine's regions, zones, machine and accelerator types, and quotas that follow GKE."""

from typing import Any

import pytest
from google.api_core import exceptions

from tests.emulator.conftest import api_error
from tests.emulator.test_gke_support import (
    ZONE,
    apply_scenario,
    connect,
    tpu_pool,
    tutorial_cluster,
)

REGION = "us-west4"


@pytest.fixture
def compute(fresh_world: dict[str, Any], api: Any) -> Any:
    return api("compute", "v1")


@pytest.fixture
def gke(fresh_world: dict[str, Any]) -> Any:
    return connect(fresh_world)


def quotas(compute: Any, project: str, region: str = REGION) -> dict[str, tuple[float, float]]:
    region_body = compute.regions().get(project=project, region=region).execute()
    return {q["metric"]: (q["limit"], q["usage"]) for q in region_body["quotas"]}


def test_quota_usage_follows_the_nodes_gke_creates_and_deletes(compute, gke):
    project = gke.project
    before = quotas(compute, project)
    assert before["TPU_LITE_PODSLICE_V5"] == (512.0, 0.0)
    assert before["CPUS"] == (1500.0, 0.0)
    assert "PREEMPTIBLE_TPU_LITE_PODSLICE_V5" in before and "TPU_PODSLICE_V4" in before

    gke.running_cluster(tutorial_cluster(project))
    assert quotas(compute, project)["CPUS"][1] == 16.0  # 4 e2-standard-4 nodes
    assert not gke.wait(gke.create_pool("saxml", tpu_pool("tpu1"))).error.code
    spot = tpu_pool("spot", topology="2x4", nodes=2)
    spot["config"]["spot"] = True
    assert not gke.wait(gke.create_pool("saxml", spot)).error.code

    after = quotas(compute, project)
    assert after["TPU_LITE_PODSLICE_V5"][1] == 32.0  # 8 nodes of 4 chips
    assert after["PREEMPTIBLE_TPU_LITE_PODSLICE_V5"][1] == 8.0
    assert quotas(compute, project, "us-east5")["TPU_LITE_PODSLICE_V5"][1] == 0.0

    gke.wait(gke.client.delete_node_pool(name=gke.pool_path("saxml", "tpu1")))
    assert quotas(compute, project)["TPU_LITE_PODSLICE_V5"][1] == 0.0


def test_a_pool_beyond_the_quota_is_refused_before_anything_is_created(compute, gke, control):
    project = gke.project
    gke.running_cluster(tutorial_cluster(project))
    result = apply_scenario(
        control, "quota", region=REGION, metric="TPU_LITE_PODSLICE_V5", limit=16
    )
    assert {"region": REGION, "metric": "TPU_LITE_PODSLICE_V5", "limit": 16.0} in result["limits"]
    assert quotas(compute, project)["TPU_LITE_PODSLICE_V5"] == (16.0, 0.0)

    with pytest.raises(exceptions.Forbidden) as refused:
        gke.create_pool("saxml", tpu_pool("tpu1"))
    assert (
        'Insufficient regional quota to satisfy request: resource "TPU_LITE_PODSLICE_V5": '
        "request requires '32.0' and is short '16.0'. project has a quota of '16.0' with '16.0' "
        "available." in refused.value.message
    )
    pools = gke.client.list_node_pools(parent=gke.cluster_path("saxml")).node_pools
    assert [pool.name for pool in pools] == ["default-pool"]
    # Spot chips have their own quota; a 4x4 slice fits the on-demand one.
    assert not gke.wait(gke.create_pool("saxml", tpu_pool("small", "4x4", 4))).error.code
    control.delete("/faults").raise_for_status()
    assert quotas(compute, project)["TPU_LITE_PODSLICE_V5"] == (512.0, 16.0)


def test_zones_offer_the_machine_types_gke_accepts_there(compute, fresh_world):
    project = fresh_world["project_id"]
    listed = compute.machineTypes().list(project=project, zone="us-west4-a").execute()
    names = [item["name"] for item in listed["items"]]
    assert {"ct5lp-hightpu-4t", "e2-standard-4", "n2-standard-8"} <= set(names)
    assert not [name for name in names if name.startswith("ct6e")]
    four = next(item for item in listed["items"] if item["name"] == "ct5lp-hightpu-4t")
    assert four["accelerators"] == [{"guestAcceleratorType": "ct5lp", "guestAcceleratorCount": 4}]
    assert (four["guestCpus"], four["memoryMb"], four["zone"]) == (112, 192 * 1024, "us-west4-a")

    missing = api_error(
        compute.machineTypes().get(
            project=project, zone="us-west4-a", machineType="ct6e-standard-4t"
        )
    )
    assert missing["code"] == 404 and missing["errors"][0]["reason"] == "notFound"
    v6e = compute.machineTypes().get(
        project=project, zone="us-east5-b", machineType="ct6e-standard-4t"
    )
    assert v6e.execute()["accelerators"][0]["guestAcceleratorType"] == "ct6e"

    accelerators = compute.acceleratorTypes().list(project=project, zone="us-west4-a").execute()
    assert [(a["name"], a["maximumCardsPerInstance"]) for a in accelerators["items"]] == [
        ("ct5lp", 8)
    ]
    filtered = compute.acceleratorTypes().list(
        project=project, zone="us-east5-b", filter="name = ct6e"
    )
    assert [a["name"] for a in filtered.execute()["items"]] == ["ct6e"]


def test_regions_and_zones_are_the_catalogs(compute, fresh_world):
    project = fresh_world["project_id"]
    region = compute.regions().get(project=project, region=REGION).execute()
    assert region["status"] == "UP"
    assert [link.rsplit("/", 1)[1] for link in region["zones"]] == [ZONE]
    regions = [r["name"] for r in compute.regions().list(project=project).execute()["items"]]
    assert REGION in regions and "us-east5" in regions
    zone = compute.zones().get(project=project, zone=ZONE).execute()
    assert zone["region"].endswith(f"/regions/{REGION}") and zone["status"] == "UP"
    assert api_error(compute.zones().get(project=project, zone="mars-1-a"))["code"] == 400
    zones = compute.zones().list(project=project).execute()["items"]
    assert ZONE in [z["name"] for z in zones]


def test_reading_capacity_needs_compute_permissions(api, issue_key, fresh_world):
    reader = api("compute", "v1", issue_key("storage-only", ["roles/storage.objectViewer"]))
    project = fresh_world["project_id"]
    refused = api_error(reader.regions().get(project=project, region=REGION))
    assert refused["code"] == 403
    assert refused["message"] == (
        f"Required 'compute.regions.get' permission for 'projects/{project}/regions/{REGION}'"
    )
