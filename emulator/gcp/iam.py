"""IAM v1: service accounts, their keys' public halves and their IAM policies.

Shapes and method ids follow the `iam.v1` discovery document. A new service account takes a
while to become known across IAM (modelled: `member_delay`, the `iam-propagation-delay`
scenario): until then a policy naming it is rejected with 400 "... does not exist", as on GCP.
"""

import re
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from emulator.core.clock import rfc3339
from emulator.core.errors import aborted, already_exists, invalid_argument, not_found
from emulator.core.http import json_response, read_json
from emulator.core.world import Resource, World
from emulator.gcp.discovery import validate
from emulator.gcp.paging import page
from emulator.gcp.policy import Policy, replace_policy

DEFAULT_MEMBER_DELAY = 60.0
_ACCOUNT_ID = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
_ACCOUNT_RESOURCE = re.compile(r"^projects/[^/]+/serviceAccounts/(?P<email>[^/]+)$")
_METHOD = "iam.projects.serviceAccounts."


@dataclass
class ServiceAccount:
    account_id: str
    email: str
    unique_id: str
    created: float
    usable_at: float
    display_name: str = ""
    description: str = ""
    keys: dict[str, str] = field(default_factory=dict)  # key id -> public key PEM
    policy: Policy = field(default_factory=Policy)

    def to_json(self, project_id: str) -> dict[str, Any]:
        body = {
            "name": f"projects/{project_id}/serviceAccounts/{self.email}",
            "projectId": project_id,
            "uniqueId": self.unique_id,
            "email": self.email,
            "displayName": self.display_name,
            "description": self.description,
            "etag": "MDEwMjE5MjA=",
            "oauth2ClientId": self.unique_id,
        }
        return {key: value for key, value in body.items() if value}

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, state: dict[str, Any]) -> "ServiceAccount":
        return cls(**{**state, "policy": Policy.load(state["policy"])})


class IamService:
    name = "iam"

    def __init__(self, world: World) -> None:
        self.world = world
        self.accounts: dict[str, ServiceAccount] = {}
        self.member_delay = DEFAULT_MEMBER_DELAY
        world.faults.register_scenario(
            "iam-propagation-delay", self._set_member_delay, self._reset_member_delay
        )

    def routes(self) -> list[web.RouteDef]:
        accounts = "/v1/projects/{project}/serviceAccounts"
        account = accounts + "/{account}"
        return [
            web.post(accounts, self.create, name=_METHOD + "create"),
            web.get(accounts, self.list_accounts, name=_METHOD + "list"),
            web.get(account, self.get, name=_METHOD + "get"),
            web.delete(account, self.delete, name=_METHOD + "delete"),
            web.patch(account, self.patch, name=_METHOD + "patch"),
            web.post(account + ":getIamPolicy", self.get_iam_policy, name=_METHOD + "getIamPolicy"),
            web.post(account + ":setIamPolicy", self.set_iam_policy, name=_METHOD + "setIamPolicy"),
        ]

    # -- what other parts of the emulator ask IAM ------------------------------------------

    def add_account(
        self, account_id: str, *, display_name: str = "", description: str = "", delay: float = 0
    ) -> ServiceAccount:
        """A new account, known as a policy member once `delay` modelled seconds passed."""
        if not _ACCOUNT_ID.match(account_id):
            raise invalid_argument(
                f"Invalid account ID {account_id!r}: it must be 6 to 30 characters, start with a "
                "lowercase letter, and contain only lowercase letters, digits and hyphens."
            )
        now = self.world.clock.now()
        account = ServiceAccount(
            account_id=account_id,
            email=f"{account_id}@{self.world.project_id}.iam.gserviceaccount.com",
            unique_id=str(10**20 + secrets.randbelow(9 * 10**20)),
            created=now,
            usable_at=now + self.world.clock.scaled(delay),
            display_name=display_name,
            description=description,
        )
        self.accounts[account.email] = account
        return account

    def public_key(self, key_id: str) -> tuple[str, str] | None:
        """(email, public key PEM) of a key of an existing account."""
        for account in self.accounts.values():
            if key_id in account.keys:
                return account.email, account.keys[key_id]
        return None

    def check_member(self, email: str) -> None:
        account = self.accounts.get(email)
        if account is None or self.world.clock.now() < account.usable_at:
            raise invalid_argument(f"Service account {email} does not exist.")

    def policies_for(self, resource: str) -> list[Policy]:
        match = _ACCOUNT_RESOURCE.match(resource)
        account = self.accounts.get(match["email"]) if match else None
        return [account.policy] if account else []

    # -- the API ---------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        project = request.match_info["project"]
        await self.world.authorize(request, "iam.serviceAccounts.create", f"projects/{project}")
        body = await read_json(request)
        validate("iam.v1", "CreateServiceAccountRequest", body)
        account_id = str(body.get("accountId") or "")
        email = f"{account_id}@{self.world.project_id}.iam.gserviceaccount.com"
        if email in self.accounts:
            raise already_exists(
                f"Service account {account_id} already exists within project "
                f"projects/{self.world.project_id}."
            )
        details = body.get("serviceAccount") or {}
        account = self.add_account(
            account_id,
            display_name=details.get("displayName") or "",
            description=details.get("description") or "",
            delay=self.member_delay,
        )
        return json_response(account.to_json(self.world.project_id))

    async def list_accounts(self, request: web.Request) -> web.Response:
        project = request.match_info["project"]
        await self.world.authorize(request, "iam.serviceAccounts.list", f"projects/{project}")
        accounts = sorted(self.accounts.values(), key=lambda account: account.email)
        items, next_token = page(
            accounts, request.query.get("pageSize"), request.query.get("pageToken"), 100
        )
        body: dict[str, Any] = {}
        if items:
            body["accounts"] = [account.to_json(self.world.project_id) for account in items]
        if next_token:
            body["nextPageToken"] = next_token
        return json_response(body)

    async def get(self, request: web.Request) -> web.Response:
        account = await self._authorized_account(request, "iam.serviceAccounts.get")
        return json_response(account.to_json(self.world.project_id))

    async def delete(self, request: web.Request) -> web.Response:
        account = await self._authorized_account(request, "iam.serviceAccounts.delete")
        del self.accounts[account.email]
        return json_response({})

    async def patch(self, request: web.Request) -> web.Response:
        """The fields `updateMask` names (`displayName`, `description`) take the body's values."""
        account = await self._authorized_account(request, "iam.serviceAccounts.update")
        body = await read_json(request)
        validate("iam.v1", "PatchServiceAccountRequest", body)
        fields = {"displayName": "display_name", "description": "description"}
        mask = [name.strip() for name in str(body.get("updateMask") or "").split(",") if name]
        unknown = sorted(set(mask) - set(fields))
        if not mask or unknown:
            raise invalid_argument(
                f"updateMask must name displayName and/or description, got {mask or 'nothing'}"
            )
        details = body.get("serviceAccount") or {}
        for name in mask:
            setattr(account, fields[name], str(details.get(name) or ""))
        return json_response(account.to_json(self.world.project_id))

    async def get_iam_policy(self, request: web.Request) -> web.Response:
        account = await self._authorized_account(request, "iam.serviceAccounts.getIamPolicy")
        return json_response(account.policy.to_json())

    async def set_iam_policy(self, request: web.Request) -> web.Response:
        account = await self._authorized_account(request, "iam.serviceAccounts.setIamPolicy")
        body = await read_json(request)
        validate("iam.v1", "SetIamPolicyRequest", body)
        account.policy = replace_policy(
            self.world,
            account.policy,
            body.get("policy"),
            resource_kind="serviceAccount",
            stale_etag=aborted(
                "There were concurrent policy changes. Please retry the whole read-modify-write "
                "with exponential backoff."
            ),
        )
        return json_response(account.policy.to_json())

    async def _authorized_account(self, request: web.Request, permission: str) -> ServiceAccount:
        """The account the path names, after the caller proved `permission` on it (403 first)."""
        project = request.match_info["project"]
        name = request.match_info["account"]
        own_project = project in ("-", self.world.project_id, self.world.project_number)
        account = self._find(name) if own_project else None
        if account is not None:
            resource = f"projects/{self.world.project_id}/serviceAccounts/{account.email}"
        else:
            project_id = self.world.project_id if project == "-" else project
            resource = f"projects/{project_id}/serviceAccounts/{name}"
        await self.world.authorize(request, permission, resource)
        if account is None:
            raise not_found(f"Unknown service account: {name}")
        return account

    def _find(self, name: str) -> ServiceAccount | None:
        if "@" in name:
            return self.accounts.get(name)
        return next((a for a in self.accounts.values() if a.unique_id == name), None)

    # -- scenario, state -------------------------------------------------------------------

    def _set_member_delay(self, params: dict[str, Any]) -> dict[str, Any]:
        seconds = float(params.get("seconds", DEFAULT_MEMBER_DELAY))
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self.member_delay = seconds
        return {"seconds": seconds}

    def _reset_member_delay(self) -> None:
        self.member_delay = DEFAULT_MEMBER_DELAY

    def resources(self) -> list[Resource]:
        return [
            Resource("iam", "ServiceAccount", account.email, {}, rfc3339(account.created))
            for account in self.accounts.values()
        ]

    def dump(self) -> dict[str, Any]:
        return {
            "member_delay": self.member_delay,
            "accounts": [account.dump() for account in self.accounts.values()],
        }

    def load(self, state: dict[str, Any]) -> None:
        self.member_delay = state["member_delay"]
        accounts = (ServiceAccount.load(account) for account in state["accounts"])
        self.accounts = {account.email: account for account in accounts}
