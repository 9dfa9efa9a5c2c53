"""Flex-start TPU node pools: a request for a whole slice that waits until capacity appears.

A flex-start pool (`config.flexStart`, Dynamic Workload Scheduler) is created with no nodes; its
request for `autoscaling.totalMaxNodeCount` nodes waits in a queue while the zone lacks room
(the `tpu-stockout` and `tpu-capacity` scenarios decide that), then every node appears at once.
The nodes run for at most `config.maxRunDuration` (seven days by default) and are then removed.
GKE makes the request when Pods are pending; the emulator makes it when the pool is created.
Flex-start VMs count against preemptible quota while it has room, then against on-demand quota
(`emulator.gcp.compute.quotas`).

GKE's requirements are checked: autoscaling enabled, no initial nodes, location policy ANY,
no reservation, not spot, a maximum node count that is whole slices, a run of at most 7 days.
"""

import math
from datetime import timedelta

from google.cloud import container_v1

from emulator.core.errors import invalid_argument
from emulator.gcp.gke import catalog

MAX_RUN_DURATION = timedelta(days=7)
# How often a waiting request looks for capacity again (modelled seconds).
RETRY_SECONDS = 60.0

LocationPolicy = container_v1.NodePoolAutoscaling.LocationPolicy
Affinity = container_v1.ReservationAffinity.Type


def is_flex_start(pool: container_v1.NodePool) -> bool:
    return bool(pool.config.flex_start)


def run_seconds(pool: container_v1.NodePool) -> float:
    """How long (modelled) the nodes may run once they exist."""
    duration = pool.config.max_run_duration or MAX_RUN_DURATION
    return duration.total_seconds()


def check(pool: container_v1.NodePool, machine: catalog.MachineType, field: str) -> None:
    """400 for a flex-start pool GKE would not accept (nothing to check for other pools)."""
    if not is_flex_start(pool):
        return
    autoscaling, config = pool.autoscaling, pool.config
    if machine.tpu is None:
        _bad(f"{field}.config.machine_type", machine.name, "The emulator models TPU flex-start.")
    if not autoscaling.enabled:
        _bad(f"{field}.autoscaling.enabled", "false", "Flex-start requires autoscaling.")
    if pool.initial_node_count:
        _bad(
            f"{field}.initial_node_count",
            pool.initial_node_count,
            "A flex-start node pool starts with 0 nodes.",
        )
    if autoscaling.location_policy != LocationPolicy.ANY:
        policy = LocationPolicy(autoscaling.location_policy).name
        _bad(f"{field}.autoscaling.location_policy", policy, "Flex-start requires ANY.")
    if config.reservation_affinity.consume_reservation_type not in (
        Affinity.UNSPECIFIED,
        Affinity.NO_RESERVATION,
    ):
        _bad(
            f"{field}.config.reservation_affinity",
            Affinity(config.reservation_affinity.consume_reservation_type).name,
            "Flex-start does not consume reservations.",
        )
    if config.spot or config.preemptible:
        _bad(f"{field}.config.flex_start", "true", "Flex-start cannot be combined with Spot VMs.")
    slice_nodes = _slice_nodes(pool, machine)
    nodes = autoscaling.total_max_node_count
    if nodes <= 0 or nodes % slice_nodes:
        _bad(
            f"{field}.autoscaling.total_max_node_count",
            nodes,
            f"Must be a positive multiple of the slice's {slice_nodes} nodes.",
        )
    if config.max_run_duration > MAX_RUN_DURATION:
        _bad(
            f"{field}.config.max_run_duration",
            f"{int(config.max_run_duration.total_seconds())}s",
            "Must be at most 7 days.",
        )


def _slice_nodes(pool: container_v1.NodePool, machine: catalog.MachineType) -> int:
    """Nodes of one slice: the topology's chips over the machine's (1 without a topology)."""
    shape = catalog.parse_topology(pool.placement_policy.tpu_topology or "")
    if shape is None:
        return 1
    return max(1, math.prod(shape) // machine.chips)


def _bad(field: str, value: object, why: str) -> None:
    raise invalid_argument(f"Invalid value for field '{field}': '{value}'. {why}")
