"""What one look at the world means for a wait: done, failed (with the diagnostic a person
needs), or not yet, with its progress.

Pure: the triggers and sensors fetch the objects (GKE clusters and node pools, Compute
operations, pods, events, log lines) and ask here, so every rule is unit-tested on plain dicts.
Objects are the APIs' JSON (camelCase), as the hooks return them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from saxml_gke.saxml_logs import scan

# A pod that stays unschedulable this many looks in a row will not fit: say why and stop.
UNSCHEDULABLE_LOOKS = 6
# A container that has crashed this often is not going to come up by itself.
CRASH_RESTARTS = 3
SETTLED = ("RUNNING", "ERROR", "DEGRADED", "RUNNING_WITH_ERROR")
_FATAL_WAITING_REASONS = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Look:
    """One look: `result` is the task's result once done; `state` carries to the next look."""

    done: bool = False
    failure: str | None = None
    progress: str = ""
    result: Any = None
    state: dict[str, Any] = field(default_factory=dict)


def cluster_look(name: str, cluster: Obj | None) -> Look:
    """The cluster left PROVISIONING/RECONCILING: RUNNING is done, ERROR fails with GKE's
    message; its result is how to reach its Kubernetes API."""
    if cluster is None:
        return Look(failure=f"cluster {name} disappeared while being created")
    status = cluster.get("status", "")
    if status in SETTLED and status != "RUNNING":
        message = cluster.get("statusMessage") or "no message"
        return Look(failure=f"cluster {name} is {status}: {message}")
    if status != "RUNNING":
        return Look(progress=f"cluster {name} {status}")
    return Look(
        done=True,
        progress=f"cluster {name} RUNNING at {cluster['endpoint']}",
        result={
            "name": name,
            "endpoint": cluster["endpoint"],
            "ca_certificate": cluster["masterAuth"]["clusterCaCertificate"],  # base64 PEM
            "version": cluster.get("currentMasterVersion", ""),
        },
    )


def gone_look(remaining: Iterable[str]) -> Look:
    """Nothing is left of what was deleted; `remaining` names what still exists."""
    left = list(remaining)
    return Look(done=not left, progress=f"still there: {', '.join(left)}" if left else "gone")


def compute_operations_look(operations: Iterable[Obj]) -> Look:
    """Every Compute Engine operation is DONE; one that ended with errors fails."""
    running = []
    for operation in operations:
        target = (
            f"{operation.get('operationType', 'operation')} of "
            f"{resource_name(operation.get('targetLink', operation.get('name', '')))}"
        )
        if operation.get("status") != "DONE":
            running.append(f"{target} {operation.get('status', '')}")
        elif error := operation_error(operation):
            return Look(failure=f"{target} failed: {error}")
    return Look(done=not running, progress=", ".join(running) or "done")


def operation_error(operation: Obj) -> str | None:
    """The errors of a DONE Compute Engine operation, joined; None when it succeeded."""
    errors = (operation.get("error") or {}).get("errors") or []
    if not errors:
        return None
    return "; ".join(f"{e.get('code', 'ERROR')}: {e.get('message', '')}" for e in errors)


def resource_name(link: str) -> str:
    """The last segment of a Compute resource URL (selfLink, user or target link)."""
    return link.rstrip("/").rsplit("/", 1)[-1]


def jobset_controller_look(deployment: Obj | None, webhook_error: str | None) -> Look:
    """JobSet's controller Deployment is Available and its webhook admits a JobSet."""
    if deployment is None:
        return Look(progress="controller Deployment not created yet")
    if not condition(deployment, "Available"):
        return Look(progress="controller Deployment not Available yet")
    if webhook_error:
        return Look(progress=f"webhook not answering yet: {webhook_error}")
    return Look(done=True, progress="controller Available, webhook answering")


def pods_look(
    pods: list[Obj], expected: int, unschedulable_looks: int = 0, queued: bool = False
) -> Look:
    """`expected` pods exist and all are Ready. Fails on pods that will not become Ready by
    themselves: image errors, crash loops, or unschedulable for UNSCHEDULABLE_LOOKS looks,
    unless their nodes are `queued` (flex-start: GKE brings them up when it finds capacity).
    The diagnostics to add to a failure are `diagnostics`' job."""
    ready = [pod for pod in pods if condition(pod, "Ready")]
    progress = f"{len(ready)}/{expected} pods Ready ({len(pods)} exist)"
    fatal = [problem for pod in pods if (problem := fatal_problem(pod))]
    if fatal:
        return Look(failure="; ".join(fatal), progress=progress)
    stuck = [pod["metadata"]["name"] for pod in pods if unschedulable(pod)]
    if stuck and queued:
        progress += f", {len(stuck)} waiting for their flex-start nodes"
    streak = unschedulable_looks + 1 if stuck and not queued else 0
    if streak >= UNSCHEDULABLE_LOOKS:
        return Look(
            failure=f"pods cannot be scheduled: {', '.join(stuck)}: {_scheduling_message(pods)}",
            progress=progress,
        )
    return Look(
        done=len(ready) >= expected and len(pods) == len(ready),
        progress=progress,
        result={"pods": sorted(pod["metadata"]["name"] for pod in pods)},
        state={"unschedulable_looks": streak},
    )


def failing_pods(pods: Iterable[Obj]) -> list[str]:
    """The pods a failure's diagnostics are about."""
    return [pod["metadata"]["name"] for pod in pods if fatal_problem(pod) or unschedulable(pod)]


def crashed_pods(pods: Iterable[Obj]) -> list[str]:
    """The failing pods whose previous container's last log lines say why."""
    return [
        pod["metadata"]["name"]
        for pod in pods
        if fatal_problem(pod) and pod.get("status", {}).get("containerStatuses")
    ]


def diagnostics(
    failing: Iterable[str], events: Iterable[Obj], last_lines: Mapping[str, list[str]]
) -> str:
    """What a person would look up next: the failing pods' warning events and the last log
    lines of the crashed ones."""
    names = set(failing)
    warnings = [
        f"{event['involvedObject']['name']}: {event.get('reason')}: {event.get('message')}"
        for event in events
        if event.get("type") == "Warning" and event["involvedObject"].get("name") in names
    ]
    distinct = list(dict.fromkeys(warnings))[-10:]  # a repeated BackOff hides no other warning
    parts = ["\nwarning events:\n" + "\n".join(distinct)] if distinct else []
    parts += [
        f"\nlast log lines of {pod}:\n" + "\n".join(lines)
        for pod, lines in last_lines.items()
        if lines
    ]
    return "".join(parts)


def fatal_problem(pod: Obj) -> str | None:
    name = pod["metadata"]["name"]
    for status in pod.get("status", {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in _FATAL_WAITING_REASONS:
            return f"{name}: {reason}: {waiting.get('message', '')}"
        if reason == "CrashLoopBackOff" and status.get("restartCount", 0) >= CRASH_RESTARTS:
            terminated = (status.get("lastState") or {}).get("terminated") or {}
            return (
                f"{name}: CrashLoopBackOff after {status['restartCount']} restarts "
                f"(last exit code {terminated.get('exitCode')})"
            )
    return None


def unschedulable(pod: Obj) -> bool:
    return any(
        c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
        for c in pod.get("status", {}).get("conditions") or []
    )


def _scheduling_message(pods: Iterable[Obj]) -> str:
    for pod in pods:
        for c in pod.get("status", {}).get("conditions") or []:
            if c.get("reason") == "Unschedulable":
                return str(c.get("message", ""))
    return ""


@dataclass(frozen=True)
class ModelWanted:
    """What the model-load wait looks for in the leaders' logs."""

    model_key: str
    model_path: str
    replicas: int


def running_leaders(leaders: Iterable[Obj], loaded: Iterable[str]) -> list[str]:
    """The leaders whose logs are worth reading: running, not yet seen loading."""
    done = set(loaded)
    return [
        pod["metadata"]["name"]
        for pod in leaders
        if pod.get("status", {}).get("phase") == "Running" and pod["metadata"]["name"] not in done
    ]


def model_look(
    wanted: ModelWanted, new_lines: Mapping[str, list[tuple[str, str]]], state: Mapping[str, Any]
) -> Look:
    """Each leader's log lines (timestamp, text) since its cursor: a loaded line counts the
    replica, any of Saxml's failure lines fails the wait. The state keeps the cursors, so no
    line is read twice."""
    cursors: dict[str, str] = dict(state.get("cursors", {}))
    loaded: list[str] = list(state.get("loaded", []))
    for pod, lines in new_lines.items():
        cursor = _in_time_order(cursors.get(pod, ""))
        fresh = [line for line in lines if _in_time_order(line[0]) > cursor]
        if fresh:
            cursors[pod] = fresh[-1][0]
        outcome = scan((text for _, text in fresh), wanted.model_key, wanted.model_path)
        if outcome.failure:
            return Look(failure=f"{pod}: {outcome.failure}")
        if outcome.loaded:
            loaded.append(pod)
    return Look(
        done=len(loaded) >= wanted.replicas,
        progress=f"{len(loaded)}/{wanted.replicas} replicas loaded "
        f"({', '.join(sorted(loaded)) or '-'})",
        result={"loaded_on": sorted(loaded)},
        state={"cursors": cursors, "loaded": loaded},
    )


def _in_time_order(stamp: str) -> str:
    """An RFC 3339 timestamp that sorts as time does: the kubelet's RFC3339Nano drops the
    fraction's trailing zeros (.12345678Z is 80 ns before .123456789Z but sorts after it)."""
    if not stamp:
        return stamp
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    return f"{seconds}.{fraction:0<9}Z"


def service_address_look(name: str, service: Obj | None) -> Look:
    """The LoadBalancer Service has its address."""
    if service is None:
        return Look(failure=f"Service {name} does not exist")
    ingress = (service.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    address = (ingress[0].get("ip") or ingress[0].get("hostname")) if ingress else None
    return Look(
        done=bool(address),
        progress=f"address {address or 'pending'}",
        result={"address": address, "endpoint": f"http://{address}:8888"},
    )


def condition(obj: Obj, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in obj.get("status", {}).get("conditions") or []
    )
