"""Compute Engine quotas that `regions.get` does not report, read as Google documents it: the
limit from the Cloud Quotas API, the usage from Cloud Monitoring.

Pure: the preflight operator fetches, this reads. The method is Google's "Implement common use
cases" (cloud.google.com/docs/quotas/implement-common-use-cases), "Track usage":
`quotaInfos.get` for the quota's value per dimension (the most specific entry that matches
wins, "Dimension precedence"), then Monitoring's `serviceruntime.googleapis.com/quota/
allocation/usage` on the `consumer_quota` resource for the quota's `metric` and region.

How Monitoring labels a quota with a dimension beyond the region (the TPU family) is not
documented: a series that carries the dimension's name as a label counts only for its own
value; a series without it counts whole, which can only overstate what is in use.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SERVICE = "compute.googleapis.com"
USAGE_METRIC = "serviceruntime.googleapis.com/quota/allocation/usage"
# Monitoring samples allocation usage about once a minute, and keeps writing it while it lasts:
# the newest point of the last day is what is in use now.
USAGE_WINDOW = timedelta(days=1)
UNLIMITED = -1  # a QuotaInfo value of -1: no limit


@dataclass(frozen=True)
class CloudQuota:
    """A quota of Compute Engine kept by the Cloud Quotas API, in a region."""

    quota_id: str
    dimensions: tuple[tuple[str, str], ...] = ()  # beyond the region, e.g. the TPU family

    def __str__(self) -> str:
        named = ", ".join(f"{key}={value}" for key, value in self.dimensions)
        return f"{self.quota_id} ({named})" if named else self.quota_id


@dataclass(frozen=True)
class Quota:
    """A quota's limit and what is in use, in one region."""

    name: str
    limit: float
    usage: float

    @property
    def free(self) -> float:
        return self.limit - self.usage

    def __str__(self) -> str:
        return f"{self.name} has {self.free:g} of {self.limit:g} free ({self.usage:g} in use)"


def limit_in(info: Mapping[str, Any], quota: CloudQuota, region: str) -> float:
    """The quota's value in `region`: the most specific `dimensionsInfos` entry whose dimensions
    all match and that applies there; 0 when none does (an unset quota); inf when unlimited."""
    wanted = {"region": region, **dict(quota.dimensions)}
    matching = [
        entry
        for entry in info.get("dimensionsInfos", [])
        if _within(entry.get("dimensions") or {}, wanted)
        and region in entry.get("applicableLocations", [region])
    ]
    if not matching:
        return 0.0
    best = max(matching, key=lambda entry: len(entry.get("dimensions") or {}))
    value = int(best.get("details", {}).get("value", 0))
    return float("inf") if value == UNLIMITED else float(value)


def _within(dimensions: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(wanted.get(key) == value for key, value in dimensions.items())


def usage_filter(metric: str, region: str) -> str:
    """Monitoring's filter for the allocation usage of quota `metric` in `region`."""
    return (
        f'metric.type = "{USAGE_METRIC}" AND metric.labels.quota_metric = "{metric}" AND '
        f'resource.type = "consumer_quota" AND resource.labels.service = "{SERVICE}" AND '
        f'resource.labels.location = "{region}"'
    )


def usage_interval(now: datetime) -> tuple[str, str]:
    """The start and end time (RFC 3339) of the window the usage is read in."""
    return _rfc3339(now - USAGE_WINDOW), _rfc3339(now)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def usage_in(series: Iterable[Mapping[str, Any]], quota: CloudQuota) -> float:
    """What the series say is in use now: the newest point of each series of the quota's
    dimensions (a series without a dimension's label counts whole), summed."""
    return float(
        sum(
            _newest(each.get("points", []))
            for each in series
            if _within(_dimension_labels(each, quota), dict(quota.dimensions))
        )
    )


def _dimension_labels(series: Mapping[str, Any], quota: CloudQuota) -> dict[str, str]:
    labels = series.get("metric", {}).get("labels", {})
    return {key: labels[key] for key, _ in quota.dimensions if key in labels}


def _newest(points: Sequence[Mapping[str, Any]]) -> float:
    """The newest point's value (Monitoring lists points newest first)."""
    if not points:
        return 0.0
    value = points[0].get("value", {})
    return float(value.get("int64Value", value.get("doubleValue", 0)))


def quota_of(
    quota: CloudQuota, info: Mapping[str, Any], series: Iterable[Mapping[str, Any]], region: str
) -> Quota:
    return Quota(str(quota), limit_in(info, quota, region), usage_in(series, quota))
