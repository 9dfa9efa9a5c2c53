"""Queued provisioning: flex-start pools that get nodes only through a ProvisioningRequest.

A pool with `queuedProvisioning.enabled` must also be flex-start (`config.flexStart`, whose
rules `flex_start.check` enforces: autoscaling, no initial nodes, location policy ANY, no
reservation). GKE adds the `cloud.google.com/gke-queued=true:NoSchedule` taint to it; it is
RUNNING with no nodes and GKE never scales it up by itself. GKE's cluster autoscaler (the
Kubernetes side, `emulator.kube.controllers.provreq`) books whole pools for a request through
`QueuedCapacity`: a `Booking`, which Compute Engine's queued resize request is on GKE. The
booking waits until every one of its pools has room, then all their nodes come up at once
(`slices.Slices`); they run until the request's maximum run duration ends, or until the
autoscaler gives them back. A booked pool's nodes carry the label
`autoscaling.gke.io/provisioning-request` with the booking's name.
"""

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from google.cloud import container_v1

from emulator.core.errors import invalid_argument
from emulator.gcp.gke.nodes import describe_nodes, node_names
from emulator.kube.cluster import NodeSpec
from emulator.kube.provreq.names import QUEUED_TAINT

if TYPE_CHECKING:
    from emulator.gcp.gke.slices import Slices
    from emulator.gcp.gke.state import ClusterRecord

PoolStatus = container_v1.NodePool.Status
Effect = container_v1.NodeTaint.Effect


def is_queued(pool: container_v1.NodePool) -> bool:
    return bool(pool.queued_provisioning.enabled)


def check(pool: container_v1.NodePool, field: str) -> None:
    """400 for a queued pool without flex-start, which GKE documents both flags for."""
    if is_queued(pool) and not pool.config.flex_start:
        raise invalid_argument(
            f"Invalid value for field '{field}.queued_provisioning.enabled': 'true'. Queued "
            "provisioning requires flex-start (config.flex_start)."
        )


def add_taint(pool: container_v1.NodePool) -> None:
    """GKE taints a queued pool, so that only pods of its requests land on its nodes."""
    taint = container_v1.NodeTaint(
        key=QUEUED_TAINT["key"], value=QUEUED_TAINT["value"], effect=Effect.NO_SCHEDULE
    )
    if taint not in pool.config.taints:
        pool.config.taints.append(taint)


@dataclass
class Booking:
    """One request's claim on whole node pools of a cluster, from booking to its run's end."""

    name: str  # GKE's resize request name, the value of the nodes' booking label
    request_uid: str  # the ProvisioningRequest's uid: a request made again is another booking
    pools: list[str]  # the pools it holds (those given back early leave)
    run_seconds: float  # modelled: how long the nodes run once they are up
    waiting: str = ""  # why its nodes are not up yet ("" when nothing stands in the way)
    provisioned: float | None = None  # the wall instant every node was up

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, state: dict[str, Any]) -> "Booking":
        return cls(**state)


@dataclass(frozen=True)
class QueuedPool:
    """A RUNNING queued pool as the autoscaler sees it: what its nodes will be like."""

    name: str
    node_count: int
    template: NodeSpec  # its first node, as it would register
    booking: str  # the booking that holds it ("": free)


class QueuedCapacity:
    """What GKE's cluster autoscaler may do with one cluster's queued pools."""

    def __init__(self, cluster: "ClusterRecord", slices: "Slices") -> None:
        self._cluster = cluster
        self._slices = slices

    def pools(self) -> list[QueuedPool]:
        cluster, found = self._cluster, []
        for record in cluster.pools.values():
            pool = record.pool
            if is_queued(pool) and pool.status == PoolStatus.RUNNING:
                name = node_names(cluster.name, pool.name, record.uid, 1)
                booking = cluster.booking_of(pool.name)
                found.append(
                    QueuedPool(
                        pool.name,
                        record.node_count,
                        describe_nodes(pool, name)[0],
                        booking.name if booking else "",
                    )
                )
        return found

    def bookings(self) -> list[Booking]:
        return list(self._cluster.bookings.values())

    def book(self, name: str, request_uid: str, pools: list[str], run_seconds: float) -> None:
        """Claim free queued pools; their nodes come up once all of them have room."""
        self._slices.book(self._cluster, Booking(name, request_uid, list(pools), run_seconds))

    def release(self, name: str, pools: list[str]) -> None:
        """Give pools of a booking back: their nodes go, and other requests may book them."""
        booking = self._cluster.bookings.get(name)
        if booking is not None:
            self._slices.release(self._cluster, booking, pools)

    def cancel(self, name: str) -> None:
        """End a booking: every node it brought up goes."""
        self._slices.cancel(self._cluster, name)
