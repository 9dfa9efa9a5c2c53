"""Buckets and objects as Cloud Storage keeps them, and their JSON API representations."""

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import google_crc32c

from emulator.core.clock import rfc3339
from emulator.core.errors import GoogleApiError, invalid_argument
from emulator.gcp.labels import MAX_LABELS, valid_label_key, valid_label_value
from emulator.gcp.policy import Policy

MULTI_REGIONS = {"US", "EU", "ASIA"}
DUAL_REGIONS = {"NAM4", "EUR4", "ASIA1", "EUR5", "EUR7", "EUR8"}
STORAGE_CLASSES = {
    "STANDARD",
    "NEARLINE",
    "COLDLINE",
    "ARCHIVE",
    "MULTI_REGIONAL",
    "REGIONAL",
    "DURABLE_REDUCED_AVAILABILITY",
}
# Bucket fields a client sets and the emulator keeps as given (it models none of them).
STORED_SETTINGS = (
    "autoclass",
    "billing",
    "cors",
    "defaultEventBasedHold",
    "encryption",
    "hierarchicalNamespace",
    "lifecycle",
    "logging",
    "retentionPolicy",
    "rpo",
    "softDeletePolicy",
    "versioning",
    "website",
)
OBJECT_HEADERS = ("cacheControl", "contentDisposition", "contentEncoding", "contentLanguage")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


def check_bucket_name(name: Any) -> str:
    if not isinstance(name, str) or not _BUCKET_NAME.match(name) or name.startswith("goog"):
        raise invalid_argument(f"Invalid bucket name: '{name}'")
    return name


def check_labels(labels: dict[str, str]) -> None:
    if len(labels) > MAX_LABELS:
        raise invalid_argument(f"A bucket may have at most {MAX_LABELS} labels.")
    for key, value in labels.items():
        if not valid_label_key(key) or not valid_label_value(value):
            raise invalid_argument(
                f"Invalid label {key}={value}: keys start with a lowercase letter; keys and "
                "values are at most 63 lowercase letters, digits, '_' or '-'."
            )


def check_placement(location: str, storage_class: str) -> None:
    """GCS rejects a multi-regional class in a region and a regional class in a multi-region."""
    if storage_class not in STORAGE_CLASSES:
        raise invalid_argument(f"Invalid storage class: {storage_class}")
    kind = location_type(location)
    if (storage_class == "MULTI_REGIONAL" and kind == "region") or (
        storage_class == "REGIONAL" and kind != "region"
    ):
        raise invalid_argument(
            "The combination of locationConstraint and storageClass you provided is not "
            "supported for your project"
        )


def precondition_failed(
    message: str = "At least one of the pre-conditions you specified did not hold.",
) -> GoogleApiError:
    return GoogleApiError(412, message, "FAILED_PRECONDITION", reason="conditionNotMet")


def check_preconditions(current: int, query: Mapping[str, str], field_name: str) -> None:
    """The `if<Field>Match` / `if<Field>NotMatch` parameters (Generation or Metageneration)."""
    try:
        match = query.get(f"if{field_name}Match")
        not_match = query.get(f"if{field_name}NotMatch")
        failed = (match is not None and int(match) != current) or (
            not_match is not None and int(not_match) == current
        )
    except ValueError:
        raise invalid_argument(f"Invalid if{field_name}Match parameter.") from None
    if failed:
        raise precondition_failed()


def location_type(location: str) -> str:
    if location in MULTI_REGIONS:
        return "multi-region"
    return "dual-region" if location in DUAL_REGIONS else "region"


def crc32c(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def default_bucket_policy(project_id: str) -> Policy:
    """A new bucket's policy: the project's owners, editors and viewers via convenience values."""
    owners = [f"projectEditor:{project_id}", f"projectOwner:{project_id}"]
    readers = [f"projectViewer:{project_id}"]
    return Policy(
        bindings=[
            {"role": "roles/storage.legacyBucketOwner", "members": owners},
            {"role": "roles/storage.legacyBucketReader", "members": readers},
            {"role": "roles/storage.legacyObjectOwner", "members": owners},
            {"role": "roles/storage.legacyObjectReader", "members": readers},
        ],
        etag="CAE=",
    )


@dataclass
class StoredObject:
    name: str
    data: bytes
    content_type: str
    generation: int
    created: float
    metadata: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # cacheControl, contentEncoding, ...

    def to_json(self, bucket: str, base_url: str) -> dict[str, Any]:
        path = f"b/{bucket}/o/{quote(self.name, safe='')}"
        body: dict[str, Any] = {
            "kind": "storage#object",
            "id": f"{bucket}/{self.name}/{self.generation}",
            "selfLink": f"{base_url}/storage/v1/{path}",
            "mediaLink": f"{base_url}/download/storage/v1/{path}?generation={self.generation}"
            "&alt=media",
            "name": self.name,
            "bucket": bucket,
            "generation": str(self.generation),
            "metageneration": "1",
            "contentType": self.content_type,
            "storageClass": "STANDARD",
            "size": str(len(self.data)),
            "md5Hash": md5(self.data),
            "crc32c": crc32c(self.data),
            "etag": base64.b64encode(str(self.generation).encode()).decode(),
            "timeCreated": rfc3339(self.created),
            "updated": rfc3339(self.created),
            "timeStorageClassUpdated": rfc3339(self.created),
            "timeFinalized": rfc3339(self.created),
            **self.headers,
        }
        if self.metadata:
            body["metadata"] = self.metadata
        return body

    def dump(self) -> dict[str, Any]:
        return {**self.__dict__, "data": base64.b64encode(self.data).decode()}

    @classmethod
    def load(cls, state: dict[str, Any]) -> "StoredObject":
        return cls(**{**state, "data": base64.b64decode(state["data"])})


@dataclass
class Bucket:
    name: str
    project: str
    created: float
    location: str
    storage_class: str
    uniform_access: bool
    labels: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    objects: dict[str, StoredObject] = field(default_factory=dict)
    metageneration: int = 1
    updated: float = 0.0

    def to_json(self, project_number: str, base_url: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "storage#bucket",
            "selfLink": f"{base_url}/storage/v1/b/{self.name}",
            "id": self.name,
            "name": self.name,
            "projectNumber": project_number,
            "metageneration": str(self.metageneration),
            "location": self.location,
            "locationType": location_type(self.location),
            "storageClass": self.storage_class,
            "etag": base64.b64encode(str(self.metageneration).encode()).decode(),
            "timeCreated": rfc3339(self.created),
            "updated": rfc3339(self.updated or self.created),
            "iamConfiguration": {
                "bucketPolicyOnly": {"enabled": self.uniform_access},
                "uniformBucketLevelAccess": {"enabled": self.uniform_access},
                "publicAccessPrevention": "inherited",
            },
            **self.settings,
        }
        if self.labels:
            body["labels"] = self.labels
        return body

    def dump(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "policy": self.policy.dump(),
            "objects": [stored.dump() for stored in self.objects.values()],
        }

    @classmethod
    def load(cls, state: dict[str, Any]) -> "Bucket":
        objects = (StoredObject.load(stored) for stored in state["objects"])
        return cls(
            **{
                **state,
                "policy": Policy.load(state["policy"]),
                "objects": {stored.name: stored for stored in objects},
            }
        )
