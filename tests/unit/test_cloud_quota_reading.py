"""Reading a quota the Cloud Quotas API keeps: its value by dimension precedence, and its usage
from Monitoring's newest points."""

from datetime import UTC, datetime

import pytest

from saxml_gke.cloud_quotas import (
    CloudQuota,
    limit_in,
    quota_of,
    usage_filter,
    usage_in,
    usage_interval,
)

FAMILY = CloudQuota("TPUS-PER-TPU-FAMILY-per-project-region", (("tpu_family", "CT6E"),))
PLAIN = CloudQuota("TPU-V5P-per-project-region")
REGIONS = ["us-east5", "us-central1", "europe-west4"]


def entry(value: int, regions: list[str] = REGIONS, **dimensions: str) -> dict:
    return {
        "dimensions": dimensions,
        "details": {"value": str(value)},
        "applicableLocations": regions,
    }


def info(*entries: dict) -> dict:
    return {"quotaId": "TPUS-PER-TPU-FAMILY-per-project-region", "dimensionsInfos": list(entries)}


@pytest.mark.parametrize(
    ("region", "limit"),
    [("us-east5", 64.0), ("us-central1", 16.0), ("europe-west4", 8.0)],
)
def test_the_most_specific_matching_entry_wins(region: str, limit: float):
    found = info(
        entry(8),
        # The family's default does not apply in europe-west4: the plain default does there.
        entry(16, ["us-east5", "us-central1"], tpu_family="CT6E"),
        entry(32, ["us-east5"], region="us-east5"),
        entry(64, ["us-east5"], region="us-east5", tpu_family="CT6E"),
        entry(128, ["us-central1"], region="us-central1", tpu_family="CT5LP"),
        entry(256, tpu_family="CT5LP"),
    )
    assert limit_in(found, FAMILY, region) == limit


def test_an_unset_quota_is_zero_and_minus_one_is_unlimited():
    assert limit_in(info(entry(16, tpu_family="CT5LP")), FAMILY, "us-east5") == 0.0
    assert limit_in(info(), PLAIN, "us-east5") == 0.0
    assert limit_in(info(entry(-1)), PLAIN, "us-east5") == float("inf")


def series(value: int, *older: int, **labels: str) -> dict:
    points = [{"value": {"int64Value": str(v)}} for v in (value, *older)]
    return {"metric": {"labels": {"quota_metric": "m", **labels}}, "points": points}


def test_usage_is_the_newest_point_of_the_series_of_the_quotas_dimensions():
    assert usage_in([series(24, 8, 4)], PLAIN) == 24.0
    assert usage_in([], PLAIN) == 0.0
    mixed = [series(16, tpu_family="CT6E"), series(100, tpu_family="CT5LP")]
    assert usage_in(mixed, FAMILY) == 16.0
    assert usage_in([series(40)], FAMILY) == 40.0  # unlabelled: counted whole, never understated


def test_the_usage_filter_and_window_are_what_monitoring_takes():
    assert usage_filter("compute.googleapis.com/tpus_per_tpu_family", "us-east5") == (
        'metric.type = "serviceruntime.googleapis.com/quota/allocation/usage" AND '
        'metric.labels.quota_metric = "compute.googleapis.com/tpus_per_tpu_family" AND '
        'resource.type = "consumer_quota" AND resource.labels.service = "compute.googleapis.com" '
        'AND resource.labels.location = "us-east5"'
    )
    assert usage_interval(datetime(2026, 12, 6, 18, 0, tzinfo=UTC)) == (
        "2026-12-05T18:00:00Z",
        "2026-12-06T18:00:00Z",
    )


def test_a_quota_is_named_with_its_dimensions():
    found = quota_of(FAMILY, info(entry(64)), [series(16, tpu_family="CT6E")], "us-east5")
    assert str(found) == (
        "TPUS-PER-TPU-FAMILY-per-project-region (tpu_family=CT6E) has 48 of 64 free (16 in use)"
    )
