"""Tables of the cluster's access configuration (RBAC, admission webhooks), and the default
table of every kind without a printer of its own, as the generic server builds it."""

from typing import Any

from emulator.kube.apiserver.tables.columns import (
    AGE,
    NAME,
    Column,
    Obj,
    Printer,
    name_and_age,
    wide,
)
from emulator.kube.apiserver.tables.durations import age

CREATED_AT = Column("Created At", "When the object was created.", "date")


def _created_at(obj: Obj, now: float) -> list[Any]:
    """NAME and the creation time itself (RFC 3339): roles, and kinds without a printer."""
    created = obj["metadata"].get("creationTimestamp") or "0001-01-01T00:00:00Z"  # Go's zero
    return [obj["metadata"]["name"], created]


def _subjects(obj: Obj, kind: str) -> str:
    names = [
        f"{s.get('namespace', '')}:{s['name']}" if kind == "ServiceAccount" else s["name"]
        for s in obj.get("subjects") or []
        if s.get("kind") == kind
    ]
    return ", ".join(names)


def _binding(obj: Obj, now: float) -> list[Any]:
    ref = obj.get("roleRef") or {}
    return [
        obj["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        age(obj, now),
        *(_subjects(obj, kind) for kind in ("User", "Group", "ServiceAccount")),
    ]


DEFAULT = Printer((NAME, CREATED_AT), _created_at)
BINDING = Printer(
    (
        NAME,
        Column("Role", "The role the subjects are bound to."),
        AGE,
        wide("Users", "Users in the binding."),
        wide("Groups", "Groups in the binding."),
        wide("ServiceAccounts", "Service accounts in the binding."),
    ),
    _binding,
)
WEBHOOKS = Printer(
    (NAME, Column("Webhooks", "Number of webhooks of the configuration.", "integer"), AGE),
    name_and_age(lambda obj: len(obj.get("webhooks") or [])),
)
