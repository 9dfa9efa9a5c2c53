"""A pod's phase and conditions from its containers' statuses, by the kubelet's own rules."""

from collections.abc import Mapping, Sequence
from typing import Any

Status = Mapping[str, Any]
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")


def pod_phase(
    restart_policy: str,
    init_statuses: Sequence[Status],
    statuses: Sequence[Status],
    terminal: bool,
) -> str:
    """kubelet's `getPhase`; `terminal` once the pod is being torn down (deleted)."""
    for init in init_statuses:
        terminated = (init.get("state") or {}).get("terminated")
        if terminated is None or terminated.get("exitCode"):
            failed_for_good = terminated is not None and restart_policy == "Never"
            return "Failed" if failed_for_good else "Pending"
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif (status.get("lastState") or {}).get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting or not (running or stopped):
        return "Pending"
    if running:
        return "Running"
    if terminal or restart_policy == "Never":
        return "Succeeded" if stopped == succeeded else "Failed"
    if restart_policy == "OnFailure" and stopped == succeeded:
        return "Succeeded"
    return "Running"


def pod_conditions(
    sandbox_ready: bool,
    init_statuses: Sequence[Status],
    statuses: Sequence[Status],
    phase: str,
) -> list[dict[str, str]]:
    """The conditions the kubelet owns, without timestamps."""
    incomplete = [
        status["name"]
        for status in init_statuses
        if ((status.get("state") or {}).get("terminated") or {}).get("exitCode", 1) != 0
    ]
    unready = [status["name"] for status in statuses if not status.get("ready")]
    conditions = [_condition("PodReadyToStartContainers", sandbox_ready)]
    if incomplete and phase != "Succeeded":
        conditions.append(
            _condition(
                "Initialized",
                False,
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(incomplete)}]",
            )
        )
    else:
        conditions.append(_condition("Initialized", True))
    for kind in ("ContainersReady", "Ready"):
        if phase == "Succeeded":
            conditions.append(_condition(kind, False, "PodCompleted"))
        elif unready:
            message = f"containers with unready status: [{' '.join(unready)}]"
            conditions.append(_condition(kind, False, "ContainersNotReady", message))
        else:
            conditions.append(_condition(kind, True))
    return conditions


def merge_conditions(
    current: Sequence[Mapping[str, Any]], kubelet: Sequence[Mapping[str, str]], now: str
) -> list[dict[str, Any]]:
    """The pod's conditions with the kubelet's replaced; a transition time moves only when
    the condition's status changes."""
    previous = {condition["type"]: condition for condition in current}
    merged = [dict(c) for c in current if c["type"] not in KUBELET_CONDITIONS]
    for condition in kubelet:
        before = previous.get(condition["type"])
        unchanged = before is not None and before.get("status") == condition["status"]
        transition = before.get("lastTransitionTime") if unchanged and before else now
        merged.append({**condition, "lastProbeTime": None, "lastTransitionTime": transition})
    order = {kind: index for index, kind in enumerate(KUBELET_CONDITIONS)}
    return sorted(merged, key=lambda c: order.get(c["type"], -1))


def _condition(kind: str, status: bool, reason: str = "", message: str = "") -> dict[str, str]:
    condition = {"type": kind, "status": "True" if status else "False"}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition
