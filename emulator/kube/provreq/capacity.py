"""What GKE's cluster autoscaler needs of GKE: a cluster's queued pools, and bookings of them.

GKE (`emulator.gcp.gke.queued.QueuedCapacity`) provides these; a cluster without GKE behind it
(the Kubernetes tests' bare clusters) has no queued capacity.
"""

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster, NodeSpec


class QueuedPool(Protocol):
    """A RUNNING queued pool: its size, what its nodes will be like, the booking holding it."""

    name: str
    node_count: int
    template: "NodeSpec"
    booking: str  # "": free


class Booking(Protocol):
    """Whole pools GKE holds for a request (its resize request), by `name`."""

    name: str
    request_uid: str
    pools: list[str]
    run_seconds: float  # modelled
    waiting: str  # why its nodes are not up yet
    provisioned: float | None  # wall instant its nodes were all up


class QueuedCapacity(Protocol):
    def pools(self) -> list[QueuedPool]: ...

    def bookings(self) -> list[Booking]: ...

    def book(self, name: str, request_uid: str, pools: list[str], run_seconds: float) -> None: ...

    def release(self, name: str, pools: list[str]) -> None: ...

    def cancel(self, name: str) -> None: ...


@runtime_checkable
class Autoscaling(Protocol):
    """GKE, as far as its cluster autoscaler needs it."""

    def queued_capacity(self, location: str, cluster: str) -> QueuedCapacity | None: ...


def queued_capacity(cluster: "KubeCluster") -> QueuedCapacity | None:
    gke = cluster.world.services.get("container")
    if not isinstance(gke, Autoscaling):
        return None
    return gke.queued_capacity(cluster.location, cluster.name)
