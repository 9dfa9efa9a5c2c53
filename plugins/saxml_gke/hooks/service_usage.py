"""Service Usage v1 (discovery client): which Google APIs the project has enabled."""

from functools import cached_property
from typing import Any

from saxml_gke.hooks.discovery_api import DiscoveryApiHook


class ServiceUsageHook(DiscoveryApiHook):
    @cached_property
    def _service_usage(self) -> Any:
        return self.build_client("serviceusage", "v1")

    def enabled_services(self, *, project_id: str) -> frozenset[str]:
        """The names of the project's enabled APIs (`container.googleapis.com`, ...)."""
        services = self.list_all(
            "list enabled APIs",
            self._service_usage.services(),
            "services",
            parent=f"projects/{project_id}",
            filter="state:ENABLED",
        )
        return frozenset(service["config"]["name"] for service in services)
