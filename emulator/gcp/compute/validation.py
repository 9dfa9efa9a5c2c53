"""What Compute checks in an `addresses.insert` body before it looks at any state.

The body must be an `Address` of the `compute.v1` discovery document; then come Compute's own
rules on names, labels, the address type and tier, and the subnetwork an INTERNAL address
needs, which may be named by URL or by partial path (`regions/R/subnetworks/default`).
"""

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from emulator.gcp.compute.errors import invalid_field, required_field
from emulator.gcp.compute.model import EXTERNAL, INTERNAL, PREMIUM
from emulator.gcp.discovery import validate
from emulator.gcp.labels import MAX_LABELS, valid_label_key, valid_label_value

_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_SUBNETWORK = re.compile(
    r"(?:https://(?:www|compute)\.googleapis\.com/compute/v1/)?"
    r"(?:projects/(?P<project>[^/]+)/)?regions/(?P<region>[^/]+)/subnetworks/(?P<name>[^/]+)"
)
_TIERS = (PREMIUM, "STANDARD")
_EXTERNAL_ONLY = "The field cannot be specified with external address."
_CHARACTERS = (
    "can only contain lowercase letters, numeric characters, underscores and dashes. The {0} "
    "can be at most 63 characters long. International characters are allowed."
)


@dataclass(frozen=True)
class AddressRequest:
    name: str
    address_type: str
    network_tier: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    subnetwork: tuple[str, str, str] = ("", "", "")  # project, region, name (INTERNAL only)
    address: str = ""  # the IP asked for; empty: any


def address_request(body: dict[str, Any], project: str) -> AddressRequest:
    """The insert body checked; `project` is the request's, which a partial path implies."""
    validate("compute.v1", "Address", body)
    name = body.get("name") or ""
    if not name:
        raise required_field("resource.name")
    if not _NAME.fullmatch(name):
        raise invalid_field(
            "resource.name", name, f"Must be a match of regex '(?:{_NAME.pattern})'"
        )
    address_type = body.get("addressType") or EXTERNAL
    if address_type not in (EXTERNAL, INTERNAL):
        raise invalid_field("resource.addressType", address_type, "Must be EXTERNAL or INTERNAL.")
    tier = body.get("networkTier") or PREMIUM
    if tier not in _TIERS or (address_type == INTERNAL and tier != PREMIUM):
        raise invalid_field(
            "resource.networkTier",
            tier,
            "Internal addresses are PREMIUM; external ones PREMIUM or STANDARD.",
        )
    purpose = body.get("purpose")
    if purpose and address_type == EXTERNAL:
        raise invalid_field("resource.purpose", purpose, _EXTERNAL_ONLY)
    if purpose not in (None, "", "GCE_ENDPOINT"):
        raise invalid_field("resource.purpose", purpose, "Only GCE_ENDPOINT is modelled.")
    labels = body.get("labels") or {}
    _check_labels(labels)
    return AddressRequest(
        name=name,
        address_type=address_type,
        network_tier=tier,
        description=body.get("description") or "",
        labels=labels,
        subnetwork=_subnetwork(body.get("subnetwork") or "", address_type, project),
        address=_ip(body.get("address") or ""),
    )


def labels_request(body: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The labels and fingerprint of a `setLabels` body (RegionSetLabelsRequest)."""
    labels = body.get("labels") or {}
    _check_labels(labels)
    fingerprint = body.get("labelFingerprint")
    if not fingerprint:
        raise required_field("labelFingerprint")
    return labels, str(fingerprint)


def _check_labels(labels: dict[str, str]) -> None:
    if len(labels) > MAX_LABELS:
        raise invalid_field("resource.labels", "", f"At most {MAX_LABELS} labels are allowed.")
    for key, value in labels.items():
        if not valid_label_key(key):
            raise invalid_field(
                "resource.labels",
                "",
                f"Label key '{key}' violates format constraints. The key must start with a "
                f"lowercase character, {_CHARACTERS.format('key')}",
            )
        if not valid_label_value(value):
            raise invalid_field(
                "resource.labels",
                "",
                f"Label value '{value}' violates format constraints. The value "
                + _CHARACTERS.format("value"),
            )


def _subnetwork(value: str, address_type: str, project: str) -> tuple[str, str, str]:
    if address_type == EXTERNAL:
        if value:
            raise invalid_field("resource.subnetwork", value, _EXTERNAL_ONLY)
        return ("", "", "")
    if not value:
        raise required_field("resource.subnetwork")
    match = _SUBNETWORK.fullmatch(value)
    if match is None:
        raise invalid_field("resource.subnetwork", value, "The URL is malformed.")
    return (match["project"] or project, match["region"], match["name"])


def _ip(value: str) -> str:
    if not value:
        return ""
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise invalid_field("resource.address", value, "Must be an IPv4 address.") from None
