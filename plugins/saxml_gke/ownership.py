"""Which deployment a cloud resource belongs to: the one place that writes and reads the marks.

A deployment is (project, location, cluster name): two deployments never share all three. Names
and the readable labels (`managed-by`, `saxml-gke-deployment`) can be shared by two deployments or
copied by hand, so ownership is never decided by them: a resource is a deployment's when it
carries the deployment's `saxml-gke-id`, a hash of the three (label values are at most 63
characters of a restricted set; a hash fits any project, zone and cluster name). Google service
accounts have no labels: their description holds the same marks as text, which
`account_marks` reads back as labels, so one set of rules judges every kind of resource.

Pure: no I/O, no Airflow. Callers pass the labels or descriptions they read.
"""

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

MANAGED_BY = "saxml-gke"
LABEL_MANAGED_BY = "managed-by"
LABEL_DEPLOYMENT = "saxml-gke-deployment"
LABEL_ID = "saxml-gke-id"
LABEL_LOCATION = "saxml-gke-location"
LABEL_EXPIRES_AT = "expires-at"
RESERVED_LABELS = (
    LABEL_MANAGED_BY,
    LABEL_DEPLOYMENT,
    LABEL_ID,
    LABEL_LOCATION,
    LABEL_EXPIRES_AT,
)
EXPIRES_AT_FORMAT = "%Y%m%dt%H%M%Sz"  # a GCP label value: lowercase, digits; sorts as time does
_ID_LENGTH = 20  # 80 bits: no two deployments of this world collide
_ACCOUNT_DESCRIPTION = re.compile(
    rf"^{LABEL_MANAGED_BY}={MANAGED_BY} deployment=\S+ owner=(?P<project>[^/\s]+)/"
    rf"(?P<location>[^/\s]+)/(?P<cluster>[^/\s]+)(?: {LABEL_EXPIRES_AT}=(?P<expires>\S+))?$"
)


@dataclass(frozen=True)
class Owner:
    """The identity of one deployment."""

    project_id: str
    location: str
    cluster: str

    def __str__(self) -> str:
        return f"{self.project_id}/{self.location}/{self.cluster}"

    @property
    def digest(self) -> str:
        """The hex SHA-256 of the identity: the `saxml-gke-id` label and name suffixes."""
        return hashlib.sha256(str(self).encode()).hexdigest()

    @property
    def id(self) -> str:
        return self.digest[:_ID_LENGTH]

    def labels(self) -> dict[str, str]:
        """The marks written on every labelled resource the deployment creates."""
        return {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_DEPLOYMENT: self.cluster,
            LABEL_ID: self.id,
            LABEL_LOCATION: self.location,
        }

    def owns(self, labels: Mapping[str, str] | None) -> bool:
        return (labels or {}).get(LABEL_ID) == self.id

    def account_description(self, expires: str | None) -> str:
        """A Google service account's description: what its labels would say, in text."""
        text = f"{LABEL_MANAGED_BY}={MANAGED_BY} deployment={self.cluster} owner={self}"
        return f"{text} {LABEL_EXPIRES_AT}={expires}" if expires else text

    def owns_account(self, account: Mapping[str, str] | None) -> bool:
        return self.owns(account_marks((account or {}).get("description", "")))

    def selector(self) -> str:
        """The Kubernetes label selector of the deployment's objects."""
        return f"{LABEL_ID}={self.id}"


def account_marks(description: str) -> dict[str, str]:
    """The labels a service account's description stands for; empty for any other account."""
    match = _ACCOUNT_DESCRIPTION.match(description or "")
    if match is None:
        return {}
    owner = Owner(match["project"], match["location"], match["cluster"])
    expires = {LABEL_EXPIRES_AT: match["expires"]} if match["expires"] else {}
    return {**owner.labels(), **expires}


def claimed_owner(project_id: str, labels: Mapping[str, str] | None) -> Owner | None:
    """The deployment a resource's labels claim, if they name one consistently (its id is the
    hash of the project, location and cluster they name); None otherwise."""
    labels = labels or {}
    location, cluster = labels.get(LABEL_LOCATION), labels.get(LABEL_DEPLOYMENT)
    if not location or not cluster:
        return None
    owner = Owner(project_id, location, cluster)
    return owner if owner.owns(labels) else None


def looks_managed(labels: Mapping[str, str] | None) -> bool:
    """Whether a resource carries any saxml-gke mark (ours, an earlier version's, or a copy)."""
    labels = labels or {}
    return labels.get(LABEL_MANAGED_BY) == MANAGED_BY or LABEL_ID in labels


def describe_marks(labels: Mapping[str, str] | None) -> str:
    """The ownership marks a resource carries, for a refusal message."""
    marks = {key: value for key, value in (labels or {}).items() if key in RESERVED_LABELS}
    if not marks:
        return "no saxml-gke labels: made by hand or by another tool"
    return "labels " + ", ".join(f"{key}={value}" for key, value in sorted(marks.items()))


def with_expiry(labels: Mapping[str, str] | None, expires: str | None) -> dict[str, str]:
    """`labels` with `expires-at` moved to `expires` (None: removed, never expires)."""
    moved = {key: value for key, value in (labels or {}).items() if key != LABEL_EXPIRES_AT}
    return {**moved, LABEL_EXPIRES_AT: expires} if expires else moved


def expiry_stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime(EXPIRES_AT_FORMAT)


def expires_at(labels: Mapping[str, str] | None) -> datetime | None:
    """When the resource expires; None when it has no `expires-at` (ttl_hours=0: never).

    Raises ValueError for a value that is not a time this module wrote."""
    stamp = (labels or {}).get(LABEL_EXPIRES_AT)
    if not stamp:
        return None
    try:
        return datetime.strptime(stamp, EXPIRES_AT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(
            f"{LABEL_EXPIRES_AT}={stamp!r} is not a time like 20261125t200000z"
        ) from None


def expired(labels: Mapping[str, str] | None, now: datetime) -> bool:
    """Whether `expires-at` has passed (ValueError when it is malformed)."""
    when = expires_at(labels)
    return when is not None and when <= now
