"""What GKE's autoscaler makes of a ProvisioningRequest: how long its nodes run, which pools.

`maxRunDurationSeconds` (a string; seven days when absent, and at most that) is how long the
nodes run. Each pod set's template is matched against the cluster's RUNNING queued pools: a pool
matches when its nodes would satisfy the template's node selector and required node affinity
(their labels: node pool, TPU accelerator and topology, flex-start, ...). A multi-host TPU pool
is whole slices that come up together, one pod per node, so a pod set's count must be a whole
number of its matching pools' nodes, and the request books that many free pools.
"""

from collections.abc import Mapping
from typing import Any

from emulator.gcp.gke.flex_start import MAX_RUN_DURATION
from emulator.kube.controllers.provreq_status import (
    MAX_RUN_DURATION_UNPARSED,
    NO_QUEUED_POOL,
    Outcome,
    nodepool_size_reached,
)
from emulator.kube.nodes import node_labels
from emulator.kube.provreq.capacity import QueuedPool
from emulator.kube.provreq.names import MAX_RUN_DURATION_PARAMETER
from emulator.kube.scheduler.affinity import matches_node_selector_and_affinity

MAX_RUN_SECONDS = MAX_RUN_DURATION.total_seconds()  # Dynamic Workload Scheduler's seven days
INVALID_ARGUMENT = "InvalidArgument"


def choose_pools(
    request: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]], pools: list[QueuedPool]
) -> list[QueuedPool] | Outcome:
    """The pools to book for `request` (its templates found by name), or why there are none."""
    chosen: list[QueuedPool] = []
    pools = sorted(pools, key=lambda pool: pool.name)
    for index, pod_set in enumerate(request["spec"]["podSets"]):
        template = templates[pod_set["podTemplateRef"]["name"]]
        taken = {pool.name for pool in chosen}
        matching = [pool for pool in pools if pool.name not in taken and _fits(template, pool)]
        booked = _book(index, pod_set["count"], matching)
        if isinstance(booked, Outcome):
            return booked
        chosen += booked
    return chosen


def run_seconds(request: Mapping[str, Any]) -> float | Outcome:
    """How long (modelled) the request's nodes may run, or why GKE cannot tell."""
    text = (request["spec"].get("parameters") or {}).get(MAX_RUN_DURATION_PARAMETER)
    if text is None:
        return MAX_RUN_SECONDS
    try:
        seconds = int(text)
    except ValueError:
        return MAX_RUN_DURATION_UNPARSED
    if not 0 < seconds <= MAX_RUN_SECONDS:
        return Outcome(
            INVALID_ARGUMENT,
            f"maxRunDurationSeconds {seconds} is not between 1 and {int(MAX_RUN_SECONDS)} "
            "(7 days).",
        )
    return float(seconds)


def _fits(template: Mapping[str, Any], pool: QueuedPool) -> bool:
    pod = {"spec": (template.get("template") or {}).get("spec") or {}}
    node = {"metadata": {"name": pool.template.name, "labels": node_labels(pool.template)}}
    return matches_node_selector_and_affinity(pod, node)


def _book(index: int, count: int, matching: list[QueuedPool]) -> list[QueuedPool] | Outcome:
    """Free pools whose nodes add up to `count` pods, one per node; too few free pools is
    GKE's "max nodepool size reached": each pool holds as many nodes as it ever will."""
    if not matching:
        return NO_QUEUED_POOL
    sizes = sorted({pool.node_count for pool in matching})
    names = ", ".join(pool.name for pool in matching)
    if len(sizes) > 1:
        return Outcome(
            INVALID_ARGUMENT,
            f"The pods of podSets[{index}] fit node pools of different sizes ({names}); "
            "select one TPU topology.",
        )
    if count % sizes[0]:
        return Outcome(
            INVALID_ARGUMENT,
            f"podSets[{index}].count {count} is not a whole number of the {sizes[0]}-node "
            f"slices of the node pools its pods fit ({names}).",
        )
    free = [pool for pool in matching if not pool.booking]
    wanted = count // sizes[0]
    if len(free) < wanted:
        return nodepool_size_reached(sorted(pool.name for pool in matching))
    return free[:wanted]
