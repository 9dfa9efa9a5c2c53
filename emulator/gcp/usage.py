"""What GKE's nodes take from Compute Engine, and what Compute may refuse them.

GKE creates its nodes as Compute Engine VMs, so the regional quotas and the reservations
Compute reports follow from GKE's node pools, and a node pool that would exceed them fails as
Compute fails it. The two services meet only through these shapes (neither imports the other):
GKE is a `NodeSource`, Compute an `Admission`, both found in `world.services`.
"""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

ON_DEMAND, SPOT, FLEX_START, RESERVED = "on-demand", "spot", "flex-start", "reserved"


@dataclass(frozen=True)
class NodeGroup:
    """Nodes of one pool in one zone, as Compute counts them."""

    zone: str
    machine_type: str
    nodes: int
    provisioning: str  # ON_DEMAND, SPOT (spot or preemptible VMs), FLEX_START or RESERVED
    reservation: str = ""  # RESERVED: the reservation a SPECIFIC affinity names ("" for ANY)


@runtime_checkable
class NodeSource(Protocol):
    def node_groups(self) -> list[NodeGroup]:
        """The nodes that exist now (a pool's nodes count once they are created)."""
        ...


@runtime_checkable
class Admission(Protocol):
    def quota_shortfall(self, wanted: list[NodeGroup]) -> str:
        """Why Compute's regional quotas cannot take `wanted` on top of what exists ("": they
        can): GKE refuses such a node pool before it creates anything."""
        ...

    def reservation_shortfall(self, wanted: NodeGroup) -> str:
        """Why the reservation `wanted` consumes cannot hold it ("": it can)."""
        ...
