"""The chip quotas `regions.get` does not report (v5p, v6e): limits through the Cloud Quotas API,
usage through Cloud Monitoring, both following GKE's nodes, and GKE refusing what exceeds them.

Cloud Quotas ships no discovery document with google-api-python-client, so it is driven with
google-auth's AuthorizedSession, as Google's REST samples do; Monitoring with its discovery
client.
"""

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core import exceptions
from google.auth.transport.requests import AuthorizedSession
from googleapiclient.errors import HttpError

from tests.emulator.conftest import (
    Control,
    RunningEmulator,
    api_error,
    credentials_for,
    operator_key,
)
from tests.emulator.test_gke_support import apply_scenario, connect, tpu_pool, tutorial_cluster

ZONE = "us-south1-a"  # offers v6e and v5p
REGION = "us-south1"
FAMILY = "TPUS-PER-TPU-FAMILY-per-project-region"
USAGE = "serviceruntime.googleapis.com/quota/allocation/usage"
# The regions of the emulated zones.
REGIONS = [
    "europe-west4",
    "us-central1",
    "us-central2",
    "us-east1",
    "us-east5",
    "us-south1",
    "us-west4",
]
QUOTA_IDS = [
    "CPUS-per-project-region",
    "PREEMPTIBLE-CPUS-per-project-region",
    "TPU-LITE-PODSLICE-V5-per-project-region",
    "PREEMPTIBLE-TPU-LITE-PODSLICE-V5-per-project-region",
    "TPU-PODSLICE-V4-per-project-region",
    "PREEMPTIBLE-TPU-PODSLICE-V4-per-project-region",
    "TPU-V5P-per-project-region",
    "PREEMPTIBLE-TPU-V5P-per-project-region",
    FAMILY,
    "PREEMPTIBLE-TPU-V6E-per-project-region",
]
REGIONS_GET_METRICS = {
    "CPUS",
    "PREEMPTIBLE_CPUS",
    "TPU_LITE_PODSLICE_V5",
    "PREEMPTIBLE_TPU_LITE_PODSLICE_V5",
    "TPU_PODSLICE_V4",
    "PREEMPTIBLE_TPU_PODSLICE_V4",
}


class CloudQuotas:
    """Cloud Quotas v1 over REST, with the operator's (or given) credentials."""

    def __init__(self, ready: dict[str, Any], credentials: Any = None) -> None:
        self.session = AuthorizedSession(credentials or credentials_for(operator_key(ready)))
        self.endpoint = ready["endpoints"]["cloudquotas"]
        self.project = ready["project_id"]

    def request(self, path: str, **params: Any) -> tuple[int, dict[str, Any]]:
        response = self.session.get(f"{self.endpoint}/v1/{path}", params=params, timeout=10)
        return response.status_code, response.json()

    def info(self, quota_id: str, project: str = "") -> dict[str, Any]:
        status, body = self.request(
            f"projects/{project or self.project}/locations/global/services/"
            f"compute.googleapis.com/quotaInfos/{quota_id}"
        )
        assert status == 200, body
        return body


def limit_in(info: dict[str, Any], region: str, **dimensions: str) -> int:
    """The limit in `region`: the most specific matching entry (Google's dimension precedence)."""
    wanted = {"region": region, **dimensions}
    matching = [
        entry
        for entry in info["dimensionsInfos"]
        if all(wanted.get(key) == value for key, value in entry["dimensions"].items())
        and region in entry["applicableLocations"]
    ]
    best = max(matching, key=lambda entry: len(entry["dimensions"]))
    return int(best["details"]["value"])


def usage_filter(metric: str, region: str = REGION) -> str:
    return (
        f'metric.type = "{USAGE}" AND metric.labels.quota_metric = "{metric}" AND '
        f'resource.type = "consumer_quota" AND resource.label.location="{region}"'
    )


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def quotas(fresh_world: dict[str, Any]) -> CloudQuotas:
    return CloudQuotas(fresh_world)


@pytest.fixture
def series(fresh_world: dict[str, Any], api: Any) -> Any:
    """`series(filter)`: the time series Monitoring lists for the filter, now."""
    monitoring = api("monitoring", "v3")
    name = f"projects/{fresh_world['project_id']}"

    def listed(expression: str) -> list[dict[str, Any]]:
        call = (
            monitoring.projects()
            .timeSeries()
            .list(name=name, filter=expression, interval_endTime=now())
        )
        return call.execute().get("timeSeries", [])

    return listed


@pytest.fixture
def gke(fresh_world: dict[str, Any]) -> Any:
    return dataclasses.replace(connect(fresh_world), zone=ZONE)


def test_a_regional_limit_is_the_most_specific_entry_of_its_quota_info(
    quotas, control, fresh_world
):
    result = apply_scenario(control, "quota", metric=FAMILY, limit=8, region="us-east5")
    assert {"region": "us-east5", "metric": FAMILY, "limit": 8.0} in result["limits"]

    number = fresh_world["project_number"]
    info = quotas.info(FAMILY, project=number)  # the project's number works as its id
    others = [region for region in REGIONS if region != "us-east5"]
    assert info == {
        "name": (
            f"projects/{number}/locations/global/services/compute.googleapis.com/quotaInfos/"
            f"{FAMILY}"
        ),
        "quotaId": FAMILY,
        "metric": "compute.googleapis.com/tpus_per_tpu_family",
        "service": "compute.googleapis.com",
        "isPrecise": True,
        "containerType": "PROJECT",
        "dimensions": ["region", "tpu_family"],
        "metricDisplayName": "TPUs per TPU family",
        "quotaDisplayName": "TPUs per TPU family per project per region",
        "metricUnit": "1",
        "dimensionsInfos": [
            {"dimensions": {}, "details": {"value": "0"}, "applicableLocations": REGIONS},
            {
                "dimensions": {"tpu_family": "CT6E"},
                "details": {"value": "512"},
                "applicableLocations": others,
            },
            {
                "dimensions": {"region": "us-east5", "tpu_family": "CT6E"},
                "details": {"value": "8"},
                "applicableLocations": ["us-east5"],
            },
        ],
    }
    assert limit_in(info, "us-east5", tpu_family="CT6E") == 8
    assert limit_in(info, "europe-west4", tpu_family="CT6E") == 512
    assert limit_in(info, "us-east5", tpu_family="CT5LP") == 0

    v5p = quotas.info("TPU-V5P-per-project-region")
    assert v5p["dimensions"] == ["region"]
    assert v5p["metric"] == "compute.googleapis.com/tpu_v5p"
    assert [(e["dimensions"], e["details"]) for e in v5p["dimensionsInfos"]] == [
        ({}, {"value": "512"})
    ]


def test_either_name_of_a_quota_sets_the_one_limit_regions_get_and_cloud_quotas_report(
    quotas, control, api, fresh_world
):
    compute = api("compute", "v1")
    project = fresh_world["project_id"]

    def reported(region: str) -> float:
        body = compute.regions().get(project=project, region=region).execute()
        return next(q["limit"] for q in body["quotas"] if q["metric"] == "TPU_LITE_PODSLICE_V5")

    v5e = "TPU-LITE-PODSLICE-V5-per-project-region"
    apply_scenario(control, "quota", metric="TPU_LITE_PODSLICE_V5", limit=16, region="us-west4")
    assert limit_in(quotas.info(v5e), "us-west4") == 16 and reported("us-west4") == 16.0
    apply_scenario(control, "quota", metric=v5e, limit=20, region="us-west4")
    assert limit_in(quotas.info(v5e), "us-west4") == 20 and reported("us-west4") == 20.0

    # Without a region the project's limit replaces every region's own.
    apply_scenario(control, "quota", metric=v5e, limit=64)
    info = quotas.info(v5e)
    assert [(e["dimensions"], e["details"]["value"]) for e in info["dimensionsInfos"]] == [
        ({}, "64")
    ]
    assert reported("us-west4") == 64.0 and reported("us-east5") == 64.0
    control.delete("/faults").raise_for_status()
    assert limit_in(quotas.info(v5e), "us-west4") == 512 and reported("us-west4") == 512.0


def test_the_quota_scenario_refuses_what_it_cannot_set(control):
    def refused(**params: Any) -> str:
        response = control.post("/faults", json={"scenario": "quota", "params": params})
        assert response.status_code == 400
        return response.json()["error"]["message"]

    unknown = refused(metric="TPU_V6E", limit=8)
    assert unknown.startswith("unknown metric 'TPU_V6E'; known: CPUS, PREEMPTIBLE_CPUS, ")
    assert "TPU_PODSLICE_V4" in unknown and FAMILY in unknown
    assert "PREEMPTIBLE-TPU-V5P-per-project-region" in unknown
    assert refused(metric=FAMILY, limit=8, tpu_family="CT5LP") == (
        "tpu_family must be 'CT6E', the only one modelled, not 'CT5LP'"
    )
    assert refused(metric="CPUS", limit=8, tpu_family="CT6E") == (
        "CPUS-per-project-region has no tpu_family dimension"
    )
    assert refused(metric=FAMILY, limit=2.5) == "limit must be a whole number >= 0, got 2.5"
    assert apply_scenario(control, "quota", metric=FAMILY, limit=8, tpu_family="CT6E")


def test_quota_infos_are_listed_in_pages(quotas):
    path = "projects/{}/locations/global/services/compute.googleapis.com/quotaInfos"
    seen: list[str] = []
    token = ""
    while True:
        status, body = quotas.request(path.format(quotas.project), pageSize=4, pageToken=token)
        assert status == 200, body
        assert len(body["quotaInfos"]) <= 4
        seen += [info["quotaId"] for info in body["quotaInfos"]]
        token = body.get("nextPageToken", "")
        if not token:
            break
    assert seen == QUOTA_IDS


def test_usage_series_follow_v6e_and_v5p_pools_that_regions_get_does_not_report(
    gke, series, api, fresh_world
):
    assert series(f'metric.type = "{USAGE}"') == []
    gke.running_cluster(tutorial_cluster(gke.project))
    on_demand_v6e = tpu_pool("v6e", topology="2x4", nodes=2, machine_type="ct6e-standard-4t")
    spot_v5p = tpu_pool("v5p", topology="2x2x2", nodes=2, machine_type="ct5p-hightpu-4t")
    spot_v5p["config"]["spot"] = True
    for pool in (on_demand_v6e, spot_v5p):
        assert not gke.wait(gke.create_pool("saxml", pool)).error.code

    family = series(usage_filter("compute.googleapis.com/tpus_per_tpu_family"))
    assert len(family) == 1
    assert family[0]["metric"] == {
        "type": USAGE,
        "labels": {
            "quota_metric": "compute.googleapis.com/tpus_per_tpu_family",
            "tpu_family": "CT6E",
        },
    }
    assert family[0]["resource"] == {
        "type": "consumer_quota",
        "labels": {
            "project_id": gke.project,
            "service": "compute.googleapis.com",
            "location": REGION,
        },
    }
    assert (family[0]["metricKind"], family[0]["valueType"]) == ("GAUGE", "INT64")
    [point] = family[0]["points"]
    assert point["value"] == {"int64Value": "8"}  # 2 nodes of 4 chips
    assert point["interval"]["endTime"] == point["interval"]["startTime"]

    [v5p] = series(usage_filter("compute.googleapis.com/preemptible_tpu_v5p"))
    assert v5p["points"][0]["value"] == {"int64Value": "8"}
    assert "tpu_family" not in v5p["metric"]["labels"]
    assert series(usage_filter("compute.googleapis.com/tpu_v5p")) == []
    assert series(usage_filter("compute.googleapis.com/tpus_per_tpu_family", "us-east5")) == []
    in_use = {
        (each["metric"]["labels"]["quota_metric"], each["resource"]["labels"]["location"])
        for each in series(f'metric.type="{USAGE}" AND resource.labels.project_id="{gke.project}"')
    }
    assert in_use == {
        ("compute.googleapis.com/cpus", REGION),  # the 4 e2-standard-4 system nodes
        ("compute.googleapis.com/tpus_per_tpu_family", REGION),
        ("compute.googleapis.com/preemptible_tpu_v5p", REGION),
    }
    by_label = series(f'metric.type="{USAGE}" AND metric.label.tpu_family = "CT6E"')
    assert [each["points"][0]["value"] for each in by_label] == [{"int64Value": "8"}]

    compute = api("compute", "v1")
    region = compute.regions().get(project=fresh_world["project_id"], region=REGION).execute()
    quotas = {q["metric"]: (q["limit"], q["usage"]) for q in region["quotas"]}
    assert set(quotas) == REGIONS_GET_METRICS
    assert quotas["CPUS"] == (1500.0, 16.0)
    assert quotas["TPU_LITE_PODSLICE_V5"][1] == quotas["PREEMPTIBLE_TPU_LITE_PODSLICE_V5"][1] == 0

    gke.wait(gke.client.delete_node_pool(name=gke.pool_path("saxml", "v6e")))
    assert series(usage_filter("compute.googleapis.com/tpus_per_tpu_family")) == []


@pytest.mark.parametrize(
    "expression",
    [
        f'metric.type = "{USAGE}" OR resource.type = "consumer_quota"',
        f'metric.type != "{USAGE}"',
        f'metric.type = starts_with("{USAGE}")',
        f'metric.type = "{USAGE}" resource.type = "consumer_quota"',
        'resource.type = "consumer_quota"',
        f'metric.type = "{USAGE}" AND metric.type = "{USAGE}"',
        f'metric.type = "{USAGE}" AND metric.name = "x"',
        "metric.type = serviceruntime",
        "",
    ],
)
def test_a_filter_outside_the_modelled_language_is_invalid(api, fresh_world, expression):
    monitoring = api("monitoring", "v3").projects().timeSeries()
    name = f"projects/{fresh_world['project_id']}"
    error = api_error(monitoring.list(name=name, filter=expression, interval_endTime=now()))
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith(f'Field filter had an invalid value of "{expression}": ')


def test_the_interval_end_time_is_required_and_must_be_a_timestamp(api, fresh_world):
    monitoring = api("monitoring", "v3").projects().timeSeries()
    name, expression = f"projects/{fresh_world['project_id']}", f'metric.type = "{USAGE}"'
    missing = api_error(monitoring.list(name=name, filter=expression))
    assert (missing["code"], missing["status"]) == (400, "INVALID_ARGUMENT")
    assert missing["message"] == "Request was missing field interval.endTime."
    bad = api_error(monitoring.list(name=name, filter=expression, interval_endTime="yesterday"))
    assert bad["code"] == 400 and "Illegal timestamp format" in bad["message"]
    backwards = monitoring.list(
        name=name,
        filter=expression,
        interval_startTime="2030-01-02T00:00:00Z",
        interval_endTime="2030-01-01T00:00:00Z",
    )
    assert api_error(backwards)["code"] == 400


def test_unknown_quotas_services_locations_and_projects_are_refused(quotas):
    base = f"projects/{quotas.project}/locations/global/services"
    status, body = quotas.request(
        f"{base}/compute.googleapis.com/quotaInfos/TPU-V6E-per-project-region"
    )
    assert (status, body["error"]["status"]) == (404, "NOT_FOUND")
    assert body["error"]["message"] == (
        "Quota 'TPU-V6E-per-project-region' does not exist or is not visible in the service "
        "'compute.googleapis.com'."
    )
    status, body = quotas.request(f"{base}/tpu.googleapis.com/quotaInfos")
    assert (status, body["error"]["status"]) == (404, "NOT_FOUND")
    status, body = quotas.request(
        f"projects/{quotas.project}/locations/us-east5/services/compute.googleapis.com/quotaInfos"
    )
    assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT")
    status, body = quotas.request(
        "projects/someone-else/locations/global/services/compute.googleapis.com/quotaInfos"
    )
    assert (status, body["error"]["status"]) == (403, "PERMISSION_DENIED")


def test_reading_quotas_and_usage_needs_their_viewer_roles(fresh_world, issue_key, api):
    storage_only = issue_key("quota-storage-only", ["roles/storage.objectViewer"])
    status, body = CloudQuotas(fresh_world, storage_only).request(
        f"projects/{fresh_world['project_id']}/locations/global/services/compute.googleapis.com/"
        f"quotaInfos/{FAMILY}"
    )
    assert status == 403
    assert body["error"]["message"].startswith("Permission 'cloudquotas.quotas.get' denied")
    listing = (
        api("monitoring", "v3", storage_only)
        .projects()
        .timeSeries()
        .list(
            name=f"projects/{fresh_world['project_id']}",
            filter=f'metric.type = "{USAGE}"',
            interval_endTime=now(),
        )
    )
    refused = api_error(listing)
    assert refused["code"] == 403 and "monitoring.timeSeries.list" in refused["message"]

    viewer = issue_key("quota-viewer", ["roles/cloudquotas.viewer"])
    assert CloudQuotas(fresh_world, viewer).info(FAMILY)["quotaId"] == FAMILY


def test_gke_refuses_a_v6e_pool_beyond_the_family_quota_and_creates_nothing(gke, control):
    gke.running_cluster(tutorial_cluster(gke.project))
    apply_scenario(control, "quota", metric=FAMILY, limit=4, region=REGION, tpu_family="CT6E")
    v6e = tpu_pool("v6e", topology="2x4", nodes=2, machine_type="ct6e-standard-4t")
    with pytest.raises(exceptions.Forbidden) as refused:
        gke.create_pool("saxml", v6e)
    assert (
        f'Insufficient regional quota to satisfy request: resource "{FAMILY}": request requires '
        "'8.0' and is short '4.0'. project has a quota of '4.0' with '4.0' available."
        in refused.value.message
    )
    pools = gke.client.list_node_pools(parent=gke.cluster_path("saxml")).node_pools
    assert [pool.name for pool in pools] == ["default-pool"]
    # Spot v6e chips spend the preemptible quota.
    v6e["config"]["spot"] = True
    assert not gke.wait(gke.create_pool("saxml", v6e)).error.code


def test_gke_refuses_a_cluster_whose_v5p_pool_the_quota_cannot_take(gke, control):
    apply_scenario(control, "quota", metric="TPU-V5P-per-project-region", limit=0)
    cluster = tutorial_cluster(gke.project, name="v5p")
    v5p = tpu_pool("v5p", topology="2x2x2", nodes=2, machine_type="ct5p-hightpu-4t")
    cluster["node_pools"].append(v5p)
    with pytest.raises(exceptions.Forbidden) as refused:
        gke.create_cluster(cluster)
    assert "resource \"TPU-V5P-per-project-region\": request requires '8.0'" in (
        refused.value.message
    )
    assert list(gke.client.list_clusters(parent=gke.location).clusters) == []


def test_disabled_cloud_quotas_and_monitoring_apis_refuse_their_calls(quotas, series, control):
    apply_scenario(control, "service-disabled", service="cloudquotas.googleapis.com")
    status, body = quotas.request(
        f"projects/{quotas.project}/locations/global/services/compute.googleapis.com/"
        f"quotaInfos/{FAMILY}"
    )
    assert (status, body["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert body["error"]["details"][0]["reason"] == "SERVICE_DISABLED"
    assert body["error"]["message"].startswith("Cloud Quotas API has not been used in project ")
    assert series(f'metric.type = "{USAGE}"') == []  # Monitoring is still on

    apply_scenario(control, "service-disabled", service="monitoring.googleapis.com")
    with pytest.raises(HttpError) as refused:
        series(f'metric.type = "{USAGE}"')
    assert refused.value.status_code == 403 and b"SERVICE_DISABLED" in refused.value.content
    control.delete("/faults").raise_for_status()
    assert quotas.info(FAMILY)["quotaId"] == FAMILY


def test_limits_set_by_either_name_survive_a_restart(tmp_path):
    state = str(tmp_path / "state.json")
    first = RunningEmulator(tmp_path / "first", "--state-file", state)
    control = Control(first.ready)
    apply_scenario(control, "quota", metric=FAMILY, limit=32)
    apply_scenario(control, "quota", metric="TPU_PODSLICE_V4", limit=64, region="us-central2")
    assert first.stop() == 0

    second = RunningEmulator(tmp_path / "second", "--state-file", state)
    try:
        quotas = CloudQuotas(second.ready)
        assert limit_in(quotas.info(FAMILY), "us-east5", tpu_family="CT6E") == 32
        v4 = quotas.info("TPU-PODSLICE-V4-per-project-region")
        assert limit_in(v4, "us-central2") == 64 and limit_in(v4, "us-west4") == 512
    finally:
        assert second.stop() == 0
