"""What GKE stores per cluster and node pool, and how it reads back through the API.

The API view is the proto GKE accepted (defaults filled, status kept current); next to it sit
the facts only the emulator needs: a pool's node names and billing id, a cluster's CA and port.
"""

from dataclasses import dataclass, field
from typing import Any

from google.cloud import container_v1

from emulator.core.errors import not_found
from emulator.gcp.gke import catalog, names
from emulator.gcp.gke.billing import ChipLedger
from emulator.gcp.gke.capacity import Capacity
from emulator.gcp.gke.certificates import ClusterAuthority
from emulator.gcp.gke.nodes import describe_nodes
from emulator.gcp.gke.operations import OperationBook
from emulator.gcp.gke.queued import Booking
from emulator.kube.cluster import NodeSpec

ClusterStatus = container_v1.Cluster.Status
PoolStatus = container_v1.NodePool.Status


@dataclass
class NodePoolRecord:
    pool: container_v1.NodePool
    uid: str  # ties the pool to its billing entry; a recreated pool gets a new one
    created: str
    node_names: list[str] = field(default_factory=list)  # the VMs that exist right now
    nodes_created: str = ""

    @property
    def machine(self) -> catalog.MachineType:
        return catalog.MACHINE_TYPES[self.pool.config.machine_type]

    @property
    def node_count(self) -> int:
        """Nodes the pool has when up: the per-zone count in each of its zones (a flex-start
        pool's whole request)."""
        if self.pool.config.flex_start:
            return self.pool.autoscaling.total_max_node_count
        return self.pool.initial_node_count * len(self.pool.locations)

    def set_status(self, status: PoolStatus, message: str = "") -> None:
        self.pool.status = status
        self.pool.status_message = message

    def dump(self) -> dict[str, Any]:
        return {
            "pool": container_v1.NodePool.to_json(self.pool),
            "uid": self.uid,
            "created": self.created,
            "node_names": self.node_names,
            "nodes_created": self.nodes_created,
        }

    @classmethod
    def load(cls, state: dict[str, Any]) -> "NodePoolRecord":
        return cls(**{**state, "pool": container_v1.NodePool.from_json(state["pool"])})


@dataclass
class ClusterRecord:
    project: str
    cluster: container_v1.Cluster  # node_pools kept empty: the pools live in `pools`
    pools: dict[str, NodePoolRecord] = field(default_factory=dict)
    authority: ClusterAuthority | None = None
    port: int | None = None
    bookings: dict[str, Booking] = field(default_factory=dict)  # of queued pools, by name

    @property
    def zone(self) -> str:
        return self.cluster.location

    @property
    def name(self) -> str:
        return self.cluster.name

    @property
    def path(self) -> str:
        return names.cluster_path(self.project, self.zone, self.name)

    def set_status(self, status: ClusterStatus, message: str = "") -> None:
        self.cluster.status = status
        self.cluster.status_message = message

    def view(self) -> container_v1.Cluster:
        """The cluster as `clusters.get` shows it."""
        cluster = container_v1.Cluster(self.cluster)
        cluster.node_pools = [record.pool for record in self.pools.values()]
        cluster.current_node_count = sum(len(r.node_names) for r in self.pools.values())
        return cluster

    def booking_of(self, pool: str) -> Booking | None:
        return next((b for b in self.bookings.values() if pool in b.pools), None)

    def nodes(self) -> list[NodeSpec]:
        return [
            node
            for record in self.pools.values()
            for node in describe_nodes(record.pool, record.node_names)
        ]

    def dump(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "cluster": container_v1.Cluster.to_json(self.cluster),
            "pools": [record.dump() for record in self.pools.values()],
            "authority": self.authority.dump() if self.authority else None,
            "port": self.port,
            "bookings": [booking.dump() for booking in self.bookings.values()],
        }

    @classmethod
    def load(cls, state: dict[str, Any]) -> "ClusterRecord":
        pools = [NodePoolRecord.load(entry) for entry in state["pools"]]
        return cls(
            project=state["project"],
            cluster=container_v1.Cluster.from_json(state["cluster"]),
            pools={record.pool.name: record for record in pools},
            authority=ClusterAuthority.load(state["authority"]) if state["authority"] else None,
            port=state["port"],
            bookings={entry["name"]: Booking.load(entry) for entry in state.get("bookings", [])},
        )


@dataclass
class GkeState:
    """Everything GKE keeps for the project, as saved to and restored from the state file."""

    clusters: dict[tuple[str, str, str], ClusterRecord] = field(default_factory=dict)
    operations: OperationBook = field(default_factory=OperationBook)
    capacity: Capacity = field(default_factory=Capacity)
    ledger: ChipLedger = field(default_factory=ChipLedger)
    slowdown: float = 1.0  # the `slow-operations` factor

    def cluster(self, project: str, location: str, name: str) -> ClusterRecord:
        record = self.clusters.get((project, location, name))
        if record is None:
            raise not_found(f"Not found: {names.cluster_path(project, location, name)}.")
        return record

    def node_pool(self, cluster: ClusterRecord, name: str) -> NodePoolRecord:
        record = cluster.pools.get(name)
        if record is None:
            path = names.node_pool_path(cluster.project, cluster.zone, cluster.name, name)
            raise not_found(f"Not found: {path}.")
        return record

    def nodes_in_use(self, zone: str, machine_type: str) -> int:
        return sum(
            len(pool.node_names)
            for cluster in self.clusters.values()
            for pool in cluster.pools.values()
            if pool.pool.config.machine_type == machine_type and zone in pool.pool.locations
        )

    def dump(self) -> dict[str, Any]:
        return {
            "clusters": [record.dump() for record in self.clusters.values()],
            "operations": self.operations.dump(),
            "capacity": self.capacity.dump(),
            "chip_ledger": self.ledger.dump(),
            "slowdown": self.slowdown,
        }

    def load(self, state: dict[str, Any]) -> None:
        records = [ClusterRecord.load(entry) for entry in state.get("clusters", [])]
        self.clusters = {(r.project, r.zone, r.name): r for r in records}
        self.operations.load(state.get("operations", []))
        self.capacity.load(state.get("capacity", {}))
        self.ledger.load(state.get("chip_ledger", []))
        self.slowdown = state.get("slowdown", 1.0)
