"""IAM policies: bindings with etags, and the checks every setIamPolicy shares.

Projects, service accounts and buckets hold the same kind of policy. Writing one is a
read-modify-write guarded by the etag, and every member must exist: a service account that was
created moments ago is not yet known to IAM, and a Workload Identity member names a pool that
only exists once a cluster with Workload Identity exists in the project.
"""

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from emulator.core.errors import GoogleApiError, invalid_argument
from emulator.core.world import World
from emulator.gcp.roles import check_role_supported, role_grants

_WORKLOAD_IDENTITY_MEMBER = re.compile(r"^(?P<pool>[^\[\]]+)\[[^/\[\]]+/[^/\[\]]+\]$")
_PRINCIPAL_POOL = re.compile(
    r"^principal(Set)?://iam\.googleapis\.com/projects/(?P<number>\d+)/locations/global/"
    r"workloadIdentityPools/(?P<pool>[^/]+)/.+$"
)
_ANYONE = ("allUsers", "allAuthenticatedUsers")
_BUCKET_CONVENIENCE = ("projectOwner", "projectEditor", "projectViewer")


def new_etag() -> str:
    return base64.b64encode(secrets.token_bytes(8)).decode()


@dataclass
class Policy:
    bindings: list[dict[str, Any]] = field(default_factory=list)
    etag: str = field(default_factory=new_etag)

    @property
    def version(self) -> int:
        """Version 3 once any binding is conditional, as IAM reports it."""
        return 3 if any("condition" in binding for binding in self.bindings) else 1

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"version": self.version, "etag": self.etag}
        if self.bindings:
            body["bindings"] = self.bindings
        return body

    def grants(self, member: str, permission: str) -> bool:
        """Conditions are not evaluated: a conditional binding grants like a plain one."""
        return any(
            not {member, *_ANYONE}.isdisjoint(binding["members"])
            and role_grants(binding["role"], permission)
            for binding in self.bindings
        )

    def add_member(self, role: str, member: str) -> None:
        """Grant without the checks a client's setIamPolicy goes through (the operator's path)."""
        self.bindings = _normalized([*self.bindings, {"role": role, "members": [member]}])
        self.etag = new_etag()

    def dump(self) -> dict[str, Any]:
        return {"bindings": self.bindings, "etag": self.etag}

    @classmethod
    def load(cls, state: dict[str, Any]) -> "Policy":
        return cls(bindings=state["bindings"], etag=state["etag"])


@runtime_checkable
class MemberDirectory(Protocol):
    """Answers whether a service account of this project can be named in a policy yet."""

    def check_member(self, email: str) -> None: ...


@runtime_checkable
class WorkloadPools(Protocol):
    def workload_pools(self) -> set[str]: ...


def replace_policy(
    world: World,
    current: Policy,
    requested: Any,
    *,
    resource_kind: str,
    stale_etag: GoogleApiError,
) -> Policy:
    """The policy a setIamPolicy call would store, or the 4xx the real API answers instead."""
    if not isinstance(requested, dict):
        raise invalid_argument("Invalid JSON payload received. 'policy' must be an object.")
    etag = requested.get("etag")
    if etag and etag != current.etag:
        raise stale_etag
    bindings = _normalized(requested.get("bindings") or [])
    version = int(requested.get("version") or 1)
    for binding in bindings:
        check_role_supported(binding["role"], resource_kind)
        if "condition" in binding and version < 3:
            raise invalid_argument(
                "Conditional role bindings require policy version 3; set version to 3."
            )
        for member in binding["members"]:
            _check_member(world, member, resource_kind)
    return Policy(bindings=bindings)


def _normalized(bindings: Any) -> list[dict[str, Any]]:
    """Bindings merged per role and condition, members deduplicated and sorted, empty ones gone."""
    if not isinstance(bindings, list):
        raise invalid_argument("Invalid JSON payload received. 'bindings' must be a list.")
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for binding in bindings:
        role, members = _binding_parts(binding)
        condition = binding.get("condition")
        key = (role, json.dumps(condition, sort_keys=True))
        entry = merged.setdefault(key, {"role": role, "members": []})
        if condition is not None:
            entry["condition"] = condition
        entry["members"] = sorted(set(entry["members"]) | set(members))
    return sorted(
        (entry for entry in merged.values() if entry["members"]),
        key=lambda entry: (entry["role"], json.dumps(entry.get("condition"), sort_keys=True)),
    )


def _binding_parts(binding: Any) -> tuple[str, list[str]]:
    if not isinstance(binding, dict) or not isinstance(binding.get("role"), str):
        raise invalid_argument("Invalid policy binding: a binding needs a role.")
    members = binding.get("members") or []
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise invalid_argument(f"Invalid members for role {binding['role']}.")
    return binding["role"], members


def _check_member(world: World, member: str, resource_kind: str) -> None:
    if member in _ANYONE:
        return
    principal = _PRINCIPAL_POOL.match(member)
    if principal:
        if principal["number"] != world.project_number:
            raise _pool_missing(principal["pool"])
        _require_pool(world, principal["pool"])
        return
    kind, _, value = member.partition(":")
    if kind == "serviceAccount" and value:
        _check_service_account_member(world, value)
        return
    valid = bool(value) and (
        (kind in ("user", "group") and "@" in value)
        or kind in ("domain", "deleted")
        or (kind in _BUCKET_CONVENIENCE and resource_kind == "bucket")
    )
    if not valid:
        raise invalid_argument(f"Invalid member: {member}")


def _check_service_account_member(world: World, value: str) -> None:
    workload = _WORKLOAD_IDENTITY_MEMBER.match(value)
    if workload:
        _require_pool(world, workload["pool"])
    elif value.endswith(f"@{world.project_id}.iam.gserviceaccount.com"):
        directory = world.services.get("iam")
        if not isinstance(directory, MemberDirectory):
            raise RuntimeError("the IAM service is not registered")
        directory.check_member(value)
    elif "@" not in value:
        raise invalid_argument(f"Invalid member: serviceAccount:{value}")


def _require_pool(world: World, pool: str) -> None:
    container = world.services.get("container")
    pools = container.workload_pools() if isinstance(container, WorkloadPools) else set()
    if pool not in pools:
        raise _pool_missing(pool)


def _pool_missing(pool: str) -> GoogleApiError:
    return invalid_argument(
        f"Identity Pool does not exist ({pool}). Please check that you specified a valid "
        "resource name as returned in the `name` attribute in the configuration API."
    )
