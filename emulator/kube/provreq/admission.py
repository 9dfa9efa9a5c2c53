"""GKE's admission of pods that consume a queued-provisioning request.

GKE documents that it uses a pod's `consume-provisioning-request` and `provisioning-class-name`
annotations to schedule the pod only on the nodes provisioned for it, and to inject
`cluster-autoscaler.kubernetes.io/safe-to-evict: "false"` (unless the pod sets it). Its examples'
pods do not tolerate the `cloud.google.com/gke-queued` taint of those nodes, so GKE adds that
toleration too, as its autoscaler adds it to the pods it simulates for a request. Where the pod
may go is the scheduler's part (`emulator.kube.scheduler.predicates`).
"""

from emulator.kube.provreq.names import (
    QUEUED_TOLERATION,
    SAFE_TO_EVICT_ANNOTATION,
    consumed_request,
)
from emulator.kube.resources import ResourceType
from emulator.kube.store import Obj


async def admit_consuming_pod(
    operation: str, rtype: ResourceType, obj: Obj, old: Obj | None
) -> Obj:
    """An admission hook: a new consuming pod tolerates the queued taint and is not evicted."""
    if operation != "CREATE" or (rtype.group, rtype.kind) != ("", "Pod"):
        return obj
    if consumed_request(obj) is None:
        return obj
    tolerations = obj.setdefault("spec", {}).setdefault("tolerations", [])
    if QUEUED_TOLERATION not in tolerations:
        tolerations.append(dict(QUEUED_TOLERATION))
    obj["metadata"].setdefault("annotations", {}).setdefault(SAFE_TO_EVICT_ANNOTATION, "false")
    return obj
