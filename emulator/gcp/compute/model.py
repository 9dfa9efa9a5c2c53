"""What Compute Engine stores for the load balancers GKE makes: addresses and forwarding rules.

Both are regional. Each record carries its own timeline (wall-clock instants, as the clock
scales modelled durations): an address exists once its insert operation is DONE and is gone once
its delete operation is, so a state file written mid-operation finishes on time after a restart.
JSON follows the `compute.v1` discovery document; links use the `www.googleapis.com` form that
Compute writes in `selfLink`, `region`, `users` and `targetLink`.
"""

import base64
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

LINK_PREFIX = "https://www.googleapis.com/compute/v1/"
EXTERNAL, INTERNAL = "EXTERNAL", "INTERNAL"
PREMIUM = "PREMIUM"
# Every region of the project has the auto-mode `default` network's `default` subnetwork.
DEFAULT_NETWORK = "default"

_PACIFIC = ZoneInfo("America/Los_Angeles")


def link(path: str) -> str:
    return LINK_PREFIX + path


def region_path(project: str, region: str) -> str:
    return f"projects/{project}/regions/{region}"


def subnetwork_path(project: str, region: str) -> str:
    return f"{region_path(project, region)}/subnetworks/{DEFAULT_NETWORK}"


def compute_timestamp(instant: float) -> str:
    """Compute writes instants in Pacific time: `2024-05-09T11:20:50.114-07:00`."""
    return datetime.fromtimestamp(instant, _PACIFIC).isoformat(timespec="milliseconds")


def new_id() -> str:
    """A resource id: Compute's are unsigned 64-bit numbers, written as decimal strings."""
    return str(10**18 + secrets.randbelow(9 * 10**18))


def label_fingerprint(labels: dict[str, str]) -> str:
    """A hash of the labels, as the optimistic lock `setLabels` would compare."""
    digest = hashlib.sha256(json.dumps(sorted(labels.items())).encode()).digest()
    return base64.b64encode(digest[:8]).decode()


@dataclass
class Address:
    name: str
    region: str
    address: str
    address_type: str
    network_tier: str
    id: str
    created: float  # when it was requested: its creationTimestamp
    reserved_at: float  # when its insert operation is DONE
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    subnetwork: str = ""  # the subnetwork path of an INTERNAL address
    deleted_at: float | None = None  # when its delete operation is DONE

    def path(self, project: str) -> str:
        return f"{region_path(project, self.region)}/addresses/{self.name}"

    def exists(self, now: float) -> bool:
        return self.reserved_at <= now and (self.deleted_at is None or now < self.deleted_at)

    def to_json(self, project: str, users: list[str]) -> dict[str, Any]:
        """`users` are the selfLinks of the forwarding rules that hold the address."""
        body: dict[str, Any] = {
            "kind": "compute#address",
            "id": self.id,
            "creationTimestamp": compute_timestamp(self.created),
            "name": self.name,
            "description": self.description,
            "address": self.address,
            "status": "IN_USE" if users else "RESERVED",
            "region": link(region_path(project, self.region)),
            "selfLink": link(self.path(project)),
            "networkTier": self.network_tier,
            "labelFingerprint": label_fingerprint(self.labels),
            "addressType": self.address_type,
        }
        if users:
            body["users"] = users
        if self.labels:
            body["labels"] = dict(self.labels)
        if self.address_type == INTERNAL:
            body["purpose"] = "GCE_ENDPOINT"
            body["subnetwork"] = link(self.subnetwork)
        return body

    def dump(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ForwardingRule:
    """A rule as GKE's service controller creates it for a LoadBalancer Service: named after the
    Service's uid, described with the Service's name, without labels."""

    name: str
    region: str
    address: str
    ports: list[int]
    scheme: str  # EXTERNAL (a target pool) or INTERNAL (a backend service)
    cluster: str  # the owning cluster's resource name
    service: str  # `<namespace>/<name>`
    id: str
    created: float
    deleted_at: float | None = None  # when a delete operation through the API is DONE

    def path(self, project: str) -> str:
        return f"{region_path(project, self.region)}/forwardingRules/{self.name}"

    def to_json(self, project: str) -> dict[str, Any]:
        region = region_path(project, self.region)
        description = json.dumps(
            {"kubernetes.io/service-name": self.service}, separators=(",", ":")
        )
        body: dict[str, Any] = {
            "kind": "compute#forwardingRule",
            "id": self.id,
            "creationTimestamp": compute_timestamp(self.created),
            "name": self.name,
            "description": description,
            "region": link(region),
            "IPAddress": self.address,
            "IPProtocol": "TCP",
            "selfLink": link(self.path(project)),
            "loadBalancingScheme": self.scheme,
            "networkTier": PREMIUM,
            "labelFingerprint": label_fingerprint({}),
        }
        if self.scheme == EXTERNAL:
            if self.ports:
                body["portRange"] = f"{min(self.ports)}-{max(self.ports)}"
            body["target"] = link(f"{region}/targetPools/{self.name}")
        else:
            body["ports"] = [str(port) for port in self.ports]
            body["backendService"] = link(f"{region}/backendServices/{self.name}")
            body["network"] = link(f"projects/{project}/global/networks/{DEFAULT_NETWORK}")
            body["subnetwork"] = link(subnetwork_path(project, self.region))
        return body

    def dump(self) -> dict[str, Any]:
        return asdict(self)
