"""What the deployment waits for, as probes: one poll each, run by the triggerer.

A probe looks once (a constant number of API calls, however many pods there are) and says
done, failed (with the diagnostic a person needs), or not yet, with state carried to the next
poll (such as where the log was read up to, so no log is read twice). Probes are named in
`PROBES` so a trigger carries only a name and JSON arguments.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from saxml_gke.saxml_logs import scan

# A pod that stays unschedulable this many polls in a row will not fit: say why and stop.
UNSCHEDULABLE_POLLS = 6
# A container that has crashed this often is not going to come up by itself.
CRASH_RESTARTS = 3
_SETTLED = ("RUNNING", "ERROR", "DEGRADED", "RUNNING_WITH_ERROR")
_FATAL_WAITING_REASONS = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}


@dataclass
class Poll:
    done: bool = False
    failure: str | None = None
    progress: str = ""
    result: Any = None
    state: dict[str, Any] = field(default_factory=dict)


Probe = Callable[[Mapping[str, Any], dict[str, Any]], Poll]


def cluster_settled(arguments: Mapping[str, Any], state: dict[str, Any]) -> Poll:
    """The cluster left PROVISIONING/RECONCILING: RUNNING, or ERROR with GKE's message."""
    cluster = _gke(arguments).get_cluster(
        project_id=arguments["project_id"], zone=arguments["zone"], name=arguments["cluster"]
    )
    if cluster is None:
        return Poll(failure=f"cluster {arguments['cluster']} disappeared while being created")
    status = cluster.get("status", "")
    return Poll(
        done=status in _SETTLED,
        progress=f"cluster {arguments['cluster']} {status}",
        result={"status": status, "message": cluster.get("statusMessage", "")},
    )


def node_pools_settled(arguments: Mapping[str, Any], state: dict[str, Any]) -> Poll:
    """Every named node pool left PROVISIONING: RUNNING, or ERROR with GKE's message."""
    hook = _gke(arguments)
    pools = {}
    for name in arguments["pools"]:
        pool = hook.get_node_pool(
            project_id=arguments["project_id"],
            zone=arguments["zone"],
            cluster=arguments["cluster"],
            name=name,
        )
        pools[name] = {
            "status": pool.get("status", "") if pool else "MISSING",
            "message": pool.get("statusMessage", "") if pool else "",
        }
    progress = ", ".join(f"{name} {pool['status']}" for name, pool in pools.items())
    settled = all(pool["status"] in (*_SETTLED, "MISSING") for pool in pools.values())
    return Poll(done=settled, progress=progress, result=pools)


def gke_gone(arguments: Mapping[str, Any], state: dict[str, Any]) -> Poll:
    """The cluster (or, with `pools`, those node pools) no longer exists."""
    hook = _gke(arguments)
    where = {"project_id": arguments["project_id"], "zone": arguments["zone"]}
    if "pools" in arguments:
        left = [
            name
            for name in arguments["pools"]
            if hook.get_node_pool(**where, cluster=arguments["cluster"], name=name)
        ]
        return Poll(done=not left, progress=f"deleting node pools: {', '.join(left) or '-'}")
    cluster = hook.get_cluster(**where, name=arguments["cluster"])
    status = cluster.get("status", "") if cluster else "deleted"
    return Poll(done=cluster is None, progress=f"cluster {arguments['cluster']} {status}")


def compute_operations_done(arguments: Mapping[str, Any], state: dict[str, Any]) -> Poll:
    """Every named Compute Engine region operation is DONE; one that ended with errors fails."""
    from saxml_gke.hooks.compute import ComputeHook, operation_error, resource_name

    hook = ComputeHook(gcp_conn_id=arguments["gcp_conn_id"])
    running = []
    for name in arguments["operations"]:
        operation = hook.get_region_operation(
            project_id=arguments["project_id"], region=arguments["region"], name=name
        )
        target = f"{operation.get('operationType', 'operation')} of " + resource_name(
            operation.get("targetLink", name)
        )
        if operation.get("status") != "DONE":
            running.append(f"{target} {operation.get('status', '')}")
        elif error := operation_error(operation):
            return Poll(failure=f"{target} failed: {error}")
    return Poll(done=not running, progress=", ".join(running) or "done")


def jobset_ready(arguments: Mapping[str, Any], state: dict[str, Any]) -> Poll:
    """JobSet's controller is Available and its webhook admits a (dry-run) JobSet."""
    kube = _kube(arguments)
    deployment = kube.get(
        "apps/v1", "Deployment", "jobset-controller-manager", namespace="jobset-system"
    )
    if deployment is None:
        return Poll(progress="controller Deployment not created yet")
    if not _condition(deployment, "Available"):
        return _pods_poll(kube, "jobset-system", "control-plane=controller-manager", 1, state)
    error = kube.dry_run_create(
        {
            "apiVersion": "jobset.x-k8s.io/v1alpha2",
            "kind": "JobSet",
            "metadata": {"name": "saxml-gke-webhook-check", "namespace": "default"},
            "spec": {"replicatedJobs": []},
        }
    )
    if error:
        return Poll(progress=f"webhook not answering yet: {error}")
    return Poll(done=True, progress="controller Available, webhook answering")


def pods_ready(arguments: Mapping[str, Any], state: dict[str, Any]) -> Poll:
    """`expected` pods match the selector and all are Ready; fails fast on pods that will not
    become Ready by themselves (image errors, crash loops, unschedulable)."""
    return _pods_poll(
        _kube(arguments),
        arguments["namespace"],
        arguments["label_selector"],
        arguments["expected"],
        state,
    )


def model_loaded(arguments: Mapping[str, Any], state: dict[str, Any]) -> Poll:
    """`replicas` leader model servers logged the loaded line; any failure line fails.

    Reads each leader's log from where the previous poll stopped (`sinceTime`), so a long
    load costs one small read per leader per poll.
    """
    kube = _kube(arguments)
    leaders = kube.list_objects(
        "v1", "Pod", arguments["namespace"], label_selector=arguments["leader_selector"]
    )
    cursors: dict[str, str] = dict(state.get("cursors", {}))
    loaded: list[str] = list(state.get("loaded", []))
    for pod in leaders:
        name = pod["metadata"]["name"]
        if pod.get("status", {}).get("phase") != "Running" or name in loaded:
            continue
        lines = kube.read_log(arguments["namespace"], name, since_time=cursors.get(name))
        if cursors.get(name):
            lines = [line for line in lines if line[0] > cursors[name]]
        if lines:
            cursors[name] = lines[-1][0]
        outcome = scan((text for _, text in lines), arguments["model_key"], arguments["model_path"])
        if outcome.failure:
            return Poll(failure=f"{name}: {outcome.failure}")
        if outcome.loaded:
            loaded.append(name)
    wanted = arguments["replicas"]
    return Poll(
        done=len(loaded) >= wanted,
        progress=f"{len(loaded)}/{wanted} replicas loaded ({', '.join(sorted(loaded)) or '-'})",
        result={"loaded_on": sorted(loaded)},
        state={"cursors": cursors, "loaded": loaded},
    )


def service_address(arguments: Mapping[str, Any], state: dict[str, Any]) -> Poll:
    """The LoadBalancer Service has its address."""
    service = _kube(arguments).get(
        "v1", "Service", arguments["name"], namespace=arguments["namespace"]
    )
    if service is None:
        return Poll(failure=f"Service {arguments['name']} does not exist")
    ingress = (service.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    address = ingress[0].get("ip") or ingress[0].get("hostname") if ingress else None
    return Poll(
        done=bool(address),
        progress=f"address {address or 'pending'}",
        result={"address": address},
    )


def object_gone(arguments: Mapping[str, Any], state: dict[str, Any]) -> Poll:
    """The object no longer exists (a Service goes once its load balancer is deleted)."""
    obj = _kube(arguments).get(
        arguments["api_version"], arguments["kind"], arguments["name"], arguments.get("namespace")
    )
    return Poll(done=obj is None, progress=f"{arguments['kind']} {arguments['name']} deleting")


PROBES: dict[str, Probe] = {
    "cluster_settled": cluster_settled,
    "node_pools_settled": node_pools_settled,
    "gke_gone": gke_gone,
    "compute_operations_done": compute_operations_done,
    "jobset_ready": jobset_ready,
    "pods_ready": pods_ready,
    "model_loaded": model_loaded,
    "service_address": service_address,
    "object_gone": object_gone,
}


def _gke(arguments: Mapping[str, Any]) -> Any:
    from saxml_gke.hooks.gke import GkeHook

    return GkeHook(gcp_conn_id=arguments["gcp_conn_id"])


def _kube(arguments: Mapping[str, Any]) -> Any:
    from saxml_gke.hooks.kube import KubeHook

    cluster = arguments["cluster"]
    return KubeHook(
        endpoint=cluster["endpoint"],
        ca_certificate=cluster["ca_certificate"],
        gcp_conn_id=arguments["gcp_conn_id"],
    )


def _pods_poll(kube: Any, namespace: str, selector: str, expected: int, state: dict) -> Poll:
    pods = kube.list_objects("v1", "Pod", namespace, label_selector=selector)
    ready = [pod for pod in pods if _condition(pod, "Ready")]
    progress = f"{len(ready)}/{expected} pods Ready ({len(pods)} exist)"
    fatal = [problem for pod in pods if (problem := _fatal_problem(pod))]
    if fatal:
        return Poll(failure="; ".join(fatal) + _diagnostics(kube, namespace, pods))
    unschedulable = [pod["metadata"]["name"] for pod in pods if _unschedulable(pod)]
    streak = state.get("unschedulable_polls", 0) + 1 if unschedulable else 0
    if streak >= UNSCHEDULABLE_POLLS:
        message = _scheduling_message(pods)
        return Poll(
            failure=f"pods cannot be scheduled: {', '.join(unschedulable)}: {message}"
            + _diagnostics(kube, namespace, pods)
        )
    done = len(ready) >= expected and len(pods) == len(ready)
    return Poll(
        done=done,
        progress=progress,
        result={"pods": sorted(pod["metadata"]["name"] for pod in pods)},
        state={"unschedulable_polls": streak},
    )


def _fatal_problem(pod: Mapping[str, Any]) -> str | None:
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


def _unschedulable(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable"
        for c in pod.get("status", {}).get("conditions") or []
    )


def _scheduling_message(pods: list[Mapping[str, Any]]) -> str:
    for pod in pods:
        for condition in pod.get("status", {}).get("conditions") or []:
            if condition.get("reason") == "Unschedulable":
                return str(condition.get("message", ""))
    return ""


def _diagnostics(kube: Any, namespace: str, pods: list[Mapping[str, Any]]) -> str:
    """What a person would look up next: the failing pods' warning events and the last log
    lines of the crashed ones (one events list for all pods, one log read per crashed pod)."""
    failing = {
        pod["metadata"]["name"] for pod in pods if _fatal_problem(pod) or _unschedulable(pod)
    }
    warnings = [
        f"{event['involvedObject']['name']}: {event.get('reason')}: {event.get('message')}"
        for event in kube.list_objects("v1", "Event", namespace)
        if event.get("type") == "Warning" and event["involvedObject"].get("name") in failing
    ]
    parts = ["\nwarning events:\n" + "\n".join(dict.fromkeys(warnings[-10:]))] if warnings else []
    for pod in pods:
        if _fatal_problem(pod) and pod.get("status", {}).get("containerStatuses"):
            name = pod["metadata"]["name"]
            lines = kube.read_log(namespace, name, tail_lines=10, previous=True)
            if lines:
                parts.append(f"\nlast log lines of {name}:\n" + "\n".join(t for _, t in lines))
    return "".join(parts)


def _condition(obj: Mapping[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in obj.get("status", {}).get("conditions") or []
    )
