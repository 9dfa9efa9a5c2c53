"""Cloud Resource Manager v1 (discovery client): what the caller may do in the project, and the
project's IAM policy (edited read-modify-write with the etag, as `saxml_gke.hooks.iam` does)."""

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from saxml_gke.bodies import edit_binding
from saxml_gke.hooks.discovery_api import DiscoveryApiHook
from saxml_gke.hooks.google import describe_policy_error
from saxml_gke.retry import with_retries


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

    def members(self, *, project_id: str, role: str) -> set[str]:
        """The members `role` is granted to on the project."""
        request = self._resource_manager.projects().getIamPolicy(resource=project_id, body={})
        policy = self.execute(f"get the IAM policy of project {project_id}", request)
        return {m for b in policy.get("bindings", []) if b["role"] == role for m in b["members"]}

    def add_binding(self, *, project_id: str, role: str, member: str) -> bool:
        """Grant `role` to `member` on the project; whether the policy changed."""
        return self._edit_policy(project_id, role, member, add=True)

    def remove_binding(self, *, project_id: str, role: str, member: str) -> bool:
        return self._edit_policy(project_id, role, member, add=False)

    def _edit_policy(self, project_id: str, role: str, member: str, *, add: bool) -> bool:
        projects = self._resource_manager.projects()

        def edit() -> bool:
            policy = projects.getIamPolicy(resource=project_id, body={}).execute(num_retries=0)
            if not edit_binding(policy.setdefault("bindings", []), role, member, add=add):
                return False
            projects.setIamPolicy(resource=project_id, body={"policy": policy}).execute(
                num_retries=0
            )
            return True

        verb = "grant" if add else "revoke"
        return with_retries(
            edit, describe_policy_error, what=f"{verb} {role} on project {project_id} to {member}"
        )
