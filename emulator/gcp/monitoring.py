"""Cloud Monitoring v3 `projects.timeSeries.list`: the usage of Compute Engine's quotas.

Cloud Quotas reports limits only; Google's "Implement common use cases" reads usage here, from
the metric `serviceruntime.googleapis.com/quota/allocation/usage` on the monitored resource
`consumer_quota` (labels `project_id`, `service`, `location`), with the metric label
`quota_metric` naming the quota's metric. Each (quota, region) that GKE's nodes use now is one
GAUGE INT64 series with one point at the request's `interval.endTime` (the emulator keeps no
history). A per-family quota's series also carries the metric label `tpu_family`: how Google
labels a dimensioned quota's series is not documented, so that is the emulator's choice.
Callers need `monitoring.timeSeries.list` on the project.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from emulator.core.clock import rfc3339
from emulator.core.errors import invalid_argument
from emulator.core.http import json_response
from emulator.core.world import World
from emulator.gcp.compute import places
from emulator.gcp.compute.capacity import ComputeCapacity
from emulator.gcp.compute.quotas import QUOTAS, SERVICE, Quota
from emulator.gcp.monitoring_filter import parse_filter

USAGE_METRIC = "serviceruntime.googleapis.com/quota/allocation/usage"


class MonitoringService:
    def __init__(self, world: World, capacity: ComputeCapacity) -> None:
        self.world = world
        self.capacity = capacity

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(
                "/v3/projects/{project}/timeSeries",
                self.list_time_series,
                name="monitoring.projects.timeSeries.list",
            )
        ]

    async def list_time_series(self, request: web.Request) -> web.Response:
        project = request.match_info["project"]
        await self.world.authorize(request, "monitoring.timeSeries.list", f"projects/{project}")
        query = request.query
        if "interval.endTime" not in query:
            raise invalid_argument("Request was missing field interval.endTime.")
        end = _timestamp(query, "endTime")
        if "interval.startTime" in query and _timestamp(query, "startTime") > end:
            raise invalid_argument("The start time must be before or equal to the end time.")
        matches = parse_filter(query.get("filter", ""))
        series = [each for each in self.usage_series(rfc3339(end)) if matches(each)]
        return json_response({"timeSeries": series} if series else {})

    def usage_series(self, at: str) -> list[dict[str, Any]]:
        """One series per (quota, region) in use now, its one point stamped `at`."""
        found = []
        groups = self.capacity.node_groups()  # read once for every region
        for region in places.REGIONS:
            usage = self.capacity.limits.usage(groups, region)
            for quota in QUOTAS:
                used = usage.get(quota.quota_id, 0.0)
                if used > 0:
                    found.append(self._series(quota, region, used, at))
        return found

    def _series(self, quota: Quota, region: str, used: float, at: str) -> dict[str, Any]:
        labels = {"quota_metric": quota.metric}
        if quota.tpu_family:
            labels["tpu_family"] = quota.tpu_family
        resource = {"project_id": self.world.project_id, "service": SERVICE, "location": region}
        return {
            "metric": {"type": USAGE_METRIC, "labels": labels},
            "resource": {"type": "consumer_quota", "labels": resource},
            "metricKind": "GAUGE",
            "valueType": "INT64",
            "points": [
                {
                    "interval": {"startTime": at, "endTime": at},
                    "value": {"int64Value": str(int(used))},
                }
            ],
        }


def _timestamp(query: Mapping[str, str], field: str) -> float:
    """The RFC 3339 instant of `interval.FIELD`, as the API's `Timestamp` fields take it."""
    try:
        instant = datetime.fromisoformat(query[f"interval.{field}"])
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise invalid_argument(
            f"Invalid value at 'interval.{field}' (type.googleapis.com/google.protobuf.Timestamp), "
            "Illegal timestamp format; timestamps must end with 'Z' or have a valid timezone "
            "offset."
        )
    return instant.timestamp()
