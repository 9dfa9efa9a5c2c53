"""Pod predicates the controllers share (k8s.io/kubernetes/pkg/api/v1/pod and controller utils)."""

import copy
from collections.abc import Mapping
from typing import Any

from emulator.kube.controllers.base import find_condition, parse_timestamp

TERMINAL_PHASES = ("Succeeded", "Failed")


def phase(pod: Mapping[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase", "Pending")


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_active(pod: Mapping[str, Any]) -> bool:
    """Neither finished nor being deleted: it counts towards a controller's replicas."""
    return phase(pod) not in TERMINAL_PHASES and not is_terminating(pod)


def is_ready(pod: Mapping[str, Any]) -> bool:
    condition = find_condition(pod, "Ready")
    return condition is not None and condition.get("status") == "True"


def ready_since(pod: Mapping[str, Any]) -> float | None:
    """When the pod last became Ready (wall seconds), or None while it is not."""
    condition = find_condition(pod, "Ready")
    if condition is None or condition.get("status") != "True":
        return None
    return parse_timestamp(condition["lastTransitionTime"])


def restart_count(pod: Mapping[str, Any]) -> int:
    status = pod.get("status") or {}
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    return sum(container.get("restartCount", 0) for container in statuses)


def template_pod(template: Mapping[str, Any]) -> dict[str, Any]:
    """A pod from a PodTemplateSpec: its labels, annotations, finalizers and spec."""
    metadata = template.get("metadata") or {}
    kept = ("labels", "annotations", "finalizers")
    return copy.deepcopy(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {key: value for key, value in metadata.items() if key in kept},
            "spec": template.get("spec") or {},
        }
    )
