"""Cloud Resource Manager v1 and v3: the project and its IAM policy.

Both versions share one route per method id (the version is a path segment), so an injected
fault on `cloudresourcemanager.projects.setIamPolicy` hits whichever version a client speaks.
v1 names the project by id (`v1/projects/P:getIamPolicy`), v3 by `projects/P`; both accept the
id or the number. The project policy is the root every other policy inherits from; it starts
with the Compute Engine default service account's automatic `roles/editor`.
`testIamPermissions` answers which of the asked permissions the caller holds on the project, as
the roles bound to it in that policy grant them (the catalog in `emulator.gcp.roles`).
"""

import re
from typing import Any

from aiohttp import web

from emulator.core.clock import rfc3339
from emulator.core.errors import aborted, invalid_argument, permission_denied
from emulator.core.http import json_response, read_json
from emulator.core.world import Resource, World
from emulator.gcp.auth import granted
from emulator.gcp.discovery import validate
from emulator.gcp.policy import Policy, replace_policy

_METHOD = "cloudresourcemanager.projects."
_PROJECT = "/{version:v1|v3}/projects/{project}"
_PERMISSION = re.compile(r"[a-z][a-zA-Z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*){2}")


class ResourceManagerService:
    name = "cloudresourcemanager"

    def __init__(self, world: World) -> None:
        self.world = world
        self.created = world.clock.now()
        self.policy = Policy()
        # What GCP grants the Compute Engine default service account (unless an organization
        # policy stops it): nodes left on it, and their host-network pods, may do most things.
        self.policy.add_member(
            "roles/editor",
            f"serviceAccount:{world.project_number}-compute@developer.gserviceaccount.com",
        )

    def routes(self) -> list[web.RouteDef]:
        get_policy, set_policy, test = "getIamPolicy", "setIamPolicy", "testIamPermissions"
        return [
            web.get(_PROJECT, self.get, name=_METHOD + "get"),
            web.post(f"{_PROJECT}:{get_policy}", self.get_iam_policy, name=_METHOD + get_policy),
            web.post(f"{_PROJECT}:{set_policy}", self.set_iam_policy, name=_METHOD + set_policy),
            web.post(f"{_PROJECT}:{test}", self.test_iam_permissions, name=_METHOD + test),
        ]

    def grant(self, role: str, member: str) -> None:
        """The operator's grant: no member checks, no propagation delay."""
        self.policy.add_member(role, member)

    def policies_for(self, resource: str) -> list[Policy]:
        own = (f"projects/{self.world.project_id}", f"projects/{self.world.project_number}")
        head = "/".join(resource.split("/")[:2])
        return [self.policy] if head in own else []

    async def get(self, request: web.Request) -> web.Response:
        await self._authorize(request, "resourcemanager.projects.get")
        world = self.world
        if request.match_info["version"] == "v1":
            project = {
                "projectNumber": world.project_number,
                "projectId": world.project_id,
                "lifecycleState": "ACTIVE",
                "name": world.project_id,
                "createTime": rfc3339(self.created),
            }
        else:
            project = {
                "name": f"projects/{world.project_number}",
                "projectId": world.project_id,
                "state": "ACTIVE",
                "displayName": world.project_id,
                "createTime": rfc3339(self.created),
                "updateTime": rfc3339(self.created),
                "etag": f'W/"{world.project_number}"',
            }
        return json_response(project)

    async def get_iam_policy(self, request: web.Request) -> web.Response:
        await self._authorize(request, "resourcemanager.projects.getIamPolicy")
        validate(self._document(request), "GetIamPolicyRequest", await read_json(request))
        return json_response(self.policy.to_json())

    async def set_iam_policy(self, request: web.Request) -> web.Response:
        await self._authorize(request, "resourcemanager.projects.setIamPolicy")
        body = await read_json(request)
        validate(self._document(request), "SetIamPolicyRequest", body)
        self.policy = replace_policy(
            self.world,
            self.policy,
            body.get("policy"),
            resource_kind="project",
            stale_etag=aborted(
                "There were concurrent policy changes. Please retry the whole read-modify-write "
                "with exponential backoff. The request's ETag is stale."
            ),
        )
        return json_response(self.policy.to_json())

    async def test_iam_permissions(self, request: web.Request) -> web.Response:
        """The asked permissions the caller holds on the project; any caller may ask."""
        email = self.world.authenticate(request)
        body = await read_json(request)
        validate(self._document(request), "TestIamPermissionsRequest", body)
        resource = f"projects/{request.match_info['project']}"
        if not self.policies_for(resource):
            raise permission_denied(
                f"Permission denied on resource '{resource}' (or it may not exist)."
            )
        asked = body.get("permissions") or []
        for permission in asked:
            if not _PERMISSION.fullmatch(permission):
                raise invalid_argument(f"Permission {permission} is not valid.")
        member = f"serviceAccount:{email}"
        held = [p for p in asked if granted(self.world, [member], p, resource)]
        return json_response({"permissions": held} if held else {})

    async def _authorize(self, request: web.Request, permission: str) -> None:
        """An unknown project answers 403, as Resource Manager does, since its policy is empty."""
        await self.world.authorize(request, permission, f"projects/{request.match_info['project']}")

    @staticmethod
    def _document(request: web.Request) -> str:
        return f"cloudresourcemanager.{request.match_info['version']}"

    def resources(self) -> list[Resource]:
        return []

    def dump(self) -> dict[str, Any]:
        return {"created": self.created, "policy": self.policy.dump()}

    def load(self, state: dict[str, Any]) -> None:
        self.created = state["created"]
        self.policy = Policy.load(state["policy"])
