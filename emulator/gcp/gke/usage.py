"""GKE's node pools as Compute Engine counts them: VMs per zone, provisioning model, reservation.

A pool's nodes are spot when its config says `spot` or `preemptible`, flex-start when it says
`flex_start` (Compute decides which quota they spend), and reserved when its reservation
affinity is SPECIFIC
(`compute.googleapis.com/reservation-name` = the name); an ANY affinity is counted as on-demand
(the emulator does not pick reservations by themselves).
"""

from google.cloud import container_v1

from emulator.core.errors import permission_denied
from emulator.core.world import World
from emulator.gcp.gke.state import GkeState
from emulator.gcp.usage import FLEX_START, ON_DEMAND, RESERVED, SPOT, Admission, NodeGroup

Affinity = container_v1.ReservationAffinity.Type
RESERVATION_NAME_KEY = "compute.googleapis.com/reservation-name"


def pool_groups(pool: container_v1.NodePool, nodes_per_zone: int) -> list[NodeGroup]:
    """The VMs a pool with `nodes_per_zone` nodes in each of its zones takes."""
    config = pool.config
    affinity = config.reservation_affinity
    reservation = ""
    if affinity.consume_reservation_type == Affinity.SPECIFIC_RESERVATION:
        provisioning = RESERVED
        reservation = next(iter(affinity.values), "")
    elif config.flex_start:
        provisioning = FLEX_START
    else:
        provisioning = SPOT if config.spot or config.preemptible else ON_DEMAND
    return [
        NodeGroup(zone, config.machine_type, nodes_per_zone, provisioning, reservation)
        for zone in pool.locations
        if nodes_per_zone
    ]


def node_groups(state: GkeState) -> list[NodeGroup]:
    """The nodes that exist in every cluster."""
    return [
        group
        for cluster in state.clusters.values()
        for record in cluster.pools.values()
        if record.node_names
        for group in pool_groups(record.pool, len(record.node_names) // len(record.pool.locations))
    ]


def check_quota(world: World, pools: list[container_v1.NodePool]) -> None:
    """403 when Compute's regional quotas cannot take the pools' nodes, as GKE checks before it
    creates a node pool (or a cluster with its pools)."""
    compute = world.services.get("compute")
    if not isinstance(compute, Admission):
        return
    wanted = [group for pool in pools for group in pool_groups(pool, pool.initial_node_count)]
    why = compute.quota_shortfall(wanted)
    if why:
        raise permission_denied(why)


def reservation_failure(world: World, pool: container_v1.NodePool) -> str:
    """Why the reservation a pool consumes cannot hold its nodes now ("": it can, or none)."""
    compute = world.services.get("compute")
    if not isinstance(compute, Admission):
        return ""
    for group in pool_groups(pool, pool.initial_node_count):
        if group.provisioning == RESERVED:
            why = compute.reservation_shortfall(group)
            if why:
                return why
    return ""
