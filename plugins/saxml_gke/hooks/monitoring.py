"""Cloud Monitoring v3 (discovery client): time series, read for quota usage."""

from functools import cached_property
from typing import Any

from saxml_gke.hooks.discovery_api import DiscoveryApiHook


class MonitoringHook(DiscoveryApiHook):
    @cached_property
    def _monitoring(self) -> Any:
        return self.build_client("monitoring", "v3")

    def time_series(
        self, *, project_id: str, query: str, start: str, end: str
    ) -> list[dict[str, Any]]:
        """Every series the filter `query` selects between `start` and `end` (RFC 3339),
        points newest first."""
        return self.list_all(
            "read time series",
            self._monitoring.projects().timeSeries(),
            "timeSeries",
            name=f"projects/{project_id}",
            filter=query,
            interval_startTime=start,
            interval_endTime=end,
        )
