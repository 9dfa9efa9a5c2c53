"""Cloud Resource Manager v1 (discovery client): what the caller may do in the project."""

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from saxml_gke.hooks.discovery_api import DiscoveryApiHook


class ResourceManagerHook(DiscoveryApiHook):
    @cached_property
    def _resource_manager(self) -> Any:
        return self.build_client("cloudresourcemanager", "v1")

    def granted_permissions(self, *, project_id: str, permissions: Iterable[str]) -> frozenset[str]:
        """Which of `permissions` the caller holds on the project (`testIamPermissions`, which
        any caller may ask)."""
        request = self._resource_manager.projects().testIamPermissions(
            resource=project_id, body={"permissions": sorted(permissions)}
        )
        response = self.execute("test the caller's permissions", request)
        return frozenset(response.get("permissions", []))
