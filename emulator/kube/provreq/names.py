"""The ProvisioningRequest API's names, and those GKE adds for queued provisioning.

The API is the cluster autoscaler's `autoscaling.x-k8s.io/v1` (kubernetes/autoscaler,
cluster-autoscaler/apis/provisioningrequest). GKE's own names come from its autoscaler
(GoogleCloudPlatform/cluster-autoscaler): the taint of queued node pools, the node label that
ties nodes to a request's resize request, and how that resize request is named.
"""

import hashlib
from collections.abc import Mapping
from typing import Any

GROUP = "autoscaling.x-k8s.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ProvisioningRequest"
PLURAL = "provisioningrequests"
CRD_NAME = f"{PLURAL}.{GROUP}"
QUEUED_CLASS = "queued-provisioning.gke.io"
MAX_RUN_DURATION_PARAMETER = "maxRunDurationSeconds"
# The pod annotations naming the request a pod consumes and its class; GKE still honours the
# `cluster-autoscaler.kubernetes.io/` spellings its versions before 1.30.3 read.
CONSUME_ANNOTATIONS = (
    "autoscaling.x-k8s.io/consume-provisioning-request",
    "cluster-autoscaler.kubernetes.io/consume-provisioning-request",
)
CLASS_ANNOTATIONS = (
    "autoscaling.x-k8s.io/provisioning-class-name",
    "cluster-autoscaler.kubernetes.io/provisioning-class-name",
)
SAFE_TO_EVICT_ANNOTATION = "cluster-autoscaler.kubernetes.io/safe-to-evict"
QUEUED_TAINT = {"key": "cloud.google.com/gke-queued", "value": "true", "effect": "NoSchedule"}
QUEUED_TOLERATION = {**QUEUED_TAINT, "operator": "Equal"}
BOOKING_LABEL = "autoscaling.gke.io/provisioning-request"


def booking_name(namespace: str, name: str) -> str:
    """GKE's name of a request's resize request, the value of its nodes' BOOKING_LABEL: `gke-`,
    the namespace and the name cut to 20 characters, and 16 hex digits of their SHA-256."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:16]
    return f"gke-{namespace[:20]}-{name[:20]}-{digest}"


def consumed_request(pod: Mapping[str, Any]) -> str | None:
    """The queued-provisioning request a pod consumes (both annotations), or None."""
    annotations = pod["metadata"].get("annotations") or {}
    name = next((annotations[key] for key in CONSUME_ANNOTATIONS if key in annotations), None)
    named_class = next((annotations[key] for key in CLASS_ANNOTATIONS if key in annotations), None)
    return name if name and named_class == QUEUED_CLASS else None


def consumed_booking(pod: Mapping[str, Any]) -> str | None:
    """The BOOKING_LABEL value of the nodes a consuming pod may run on (None: any node)."""
    request = consumed_request(pod)
    return None if request is None else booking_name(pod["metadata"]["namespace"], request)
