"""The GKE service: cluster and node-pool requests admitted (or refused) as GKE admits them.

Requests are validated, checked against running operations, recorded with GKE's defaults, and
handed to the provisioner, which makes them happen over modelled time. This is also the surface
the rest of the emulator uses: resources, billing and Workload Identity pools; the Kubernetes
half plugs in as the control plane behind each cluster endpoint (`control_plane_factory`).
"""

import uuid
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from google.cloud import container_v1

from emulator.core.clock import rfc3339
from emulator.core.errors import GoogleApiError, already_exists, failed_precondition
from emulator.core.world import Resource, World
from emulator.gcp.gke import (
    defaults,
    flex_start,
    names,
    operations,
    queued,
    usage,
    validation,
    versions,
)
from emulator.gcp.gke.billing import ChipUsage
from emulator.gcp.gke.endpoint import ControlPlane, ControlPlaneFactory, VersionOnlyControlPlane
from emulator.gcp.gke.lifecycle import Provisioner
from emulator.gcp.gke.operations import OperationType
from emulator.gcp.gke.routes import gke_routes
from emulator.gcp.gke.state import (
    ClusterRecord,
    ClusterStatus,
    GkeState,
    NodePoolRecord,
    PoolStatus,
)
from emulator.gcp.usage import NodeGroup


class GkeService:
    name = "container"

    def __init__(
        self,
        world: World,
        control_plane_factory: ControlPlaneFactory = VersionOnlyControlPlane,
    ) -> None:
        """`control_plane_factory` makes what serves behind each cluster endpoint."""
        self.world = world
        self.state = GkeState()
        self._unreachable: set[str] = set()  # zones the `location-unreachable` scenario hides
        self._provisioner = Provisioner(world, self.state, control_plane_factory)
        faults = world.faults
        capacity = self.state.capacity
        faults.register_scenario(
            "tpu-stockout", lambda params: capacity.stockout(params, world.clock), capacity.clear
        )
        faults.register_scenario("tpu-capacity", capacity.set_room, capacity.clear)
        faults.register_scenario("slow-operations", self._slow_operations, self._normal_speed)
        faults.register_scenario("master-upgrade", self._master_upgrade)
        faults.register_scenario(
            "location-unreachable", self._location_unreachable, self._unreachable.clear
        )

    # The service contract (emulator.core).

    def routes(self) -> list[web.RouteDef]:
        return gke_routes(self)

    def resources(self) -> Iterator[Resource]:
        for record in self.state.clusters.values():
            cluster = record.cluster
            labels = dict(cluster.resource_labels)
            yield Resource("container", "Cluster", record.path, labels, cluster.create_time)
            if record.port is not None and cluster.endpoint:
                yield Resource(
                    "container",
                    "ClusterEndpoint",
                    f"https://{cluster.endpoint}",
                    labels,
                    cluster.create_time,
                )
            for pool in record.pools.values():
                pool_path = names.node_pool_path(
                    record.project, record.zone, record.name, pool.pool.name
                )
                pool_labels = dict(pool.pool.config.resource_labels)
                yield Resource("container", "NodePool", pool_path, pool_labels, pool.created)
                for node in pool.node_names:
                    yield Resource(
                        "container",
                        "Node",
                        f"{pool_path}/nodes/{node}",
                        pool_labels,
                        pool.nodes_created,
                    )

    def dump(self) -> dict[str, Any]:
        return {**self.state.dump(), "control_planes": self._provisioner.dump_control_planes()}

    def load(self, state: dict[str, Any]) -> None:
        """Replace the world's GKE state; `start()` serves and resumes it (a running service
        drops what it ran, which is what a reset to a pristine world needs)."""
        self._provisioner.forget()
        self.state.load(state)
        self._provisioner.load_control_planes(state.get("control_planes", {}))

    async def start(self) -> None:
        await self._provisioner.start()

    async def stop(self) -> None:
        await self._provisioner.stop()

    def workload_pools(self) -> set[str]:
        return {
            pool
            for record in self.state.clusters.values()
            if (pool := record.cluster.workload_identity_config.workload_pool)
        }

    def cluster_workload_pool(self, location: str, name: str) -> str:
        """The Workload Identity pool of a cluster of the project ("" without one or no cluster)."""
        record = self.state.clusters.get((self.world.project_id, location, name))
        return record.cluster.workload_identity_config.workload_pool if record else ""

    def node_service_account(self, location: str, name: str, pool: str) -> str:
        """The email of the Google service account a node pool's VMs run as ("" for no such
        pool): its `config.serviceAccount`, where `default` is the Compute Engine default one."""
        record = self.state.clusters.get((self.world.project_id, location, name))
        found = record.pools.get(pool) if record else None
        if found is None:
            return ""
        account = found.pool.config.service_account
        if account == "default":
            return f"{self.world.project_number}-compute@developer.gserviceaccount.com"
        return account

    def control_planes(self) -> list[ControlPlane]:
        """What serves behind each running cluster endpoint."""
        return self._provisioner.control_planes()

    def queued_capacity(self, location: str, cluster: str) -> queued.QueuedCapacity | None:
        """What GKE's cluster autoscaler may do with a cluster's queued pools (None: no such
        cluster)."""
        record = self.state.clusters.get((self.world.project_id, location, cluster))
        return None if record is None else queued.QueuedCapacity(record, self._provisioner.slices)

    def node_groups(self) -> list[NodeGroup]:
        """The VMs of every node pool, as Compute counts them against quotas and reservations."""
        return usage.node_groups(self.state)

    def billing(self) -> list[dict[str, Any]]:
        return self.state.ledger.report(self.world.clock.now(), self.world.clock.time_scale)

    # The API methods (the routes parse requests and authorize before calling these).

    def create_cluster(
        self, project: str, location: str, cluster: container_v1.Cluster
    ) -> container_v1.Operation:
        validation.check_zone(location)
        defaults.adopt_legacy_default_pool(cluster)
        zones, shapes = validation.check_cluster(cluster, project, location)
        if (project, location, cluster.name) in self.state.clusters:
            path = names.cluster_path(project, location, cluster.name)
            raise already_exists(f"Already exists: {path}.")
        now = self.world.clock.now()
        pools = [container_v1.NodePool(pool) for pool in cluster.node_pools]
        cluster.node_pools = []
        defaults.fill_cluster(cluster, project, location, zones, now)
        for index, (pool, shape) in enumerate(zip(pools, shapes, strict=True)):
            queued.check(pool, f"cluster.node_pools[{index}]")
            flex_start.check(pool, shape.machine, f"cluster.node_pools[{index}]")
            defaults.fill_node_pool(pool, shape, cluster, project)
        usage.check_quota(self.world, pools)
        record = ClusterRecord(project, cluster)
        for pool in pools:
            self._add_node_pool(record, pool, now)
        self.state.clusters[(project, location, cluster.name)] = record
        create_seconds = operations.CLUSTER_CREATE_SECONDS
        if any(shape.machine.tpu for shape in shapes):
            create_seconds += operations.TPU_POOL_CREATE_SECONDS
        return self._begin(OperationType.CREATE_CLUSTER, record, "", create_seconds)

    def get_cluster(self, project: str, location: str, name: str) -> container_v1.Cluster:
        return self.state.cluster(project, location, name).view()

    def list_clusters(self, project: str, location: str) -> container_v1.ListClustersResponse:
        """Clusters in `location`, or in every location for `-`. GKE answers a list across
        locations without the clusters of a location it cannot reach, naming that location in
        `missingZones`; a list of that location alone fails (503)."""
        if location != "-":
            validation.check_zone(location)
            if location in self._unreachable:
                raise GoogleApiError(503, f"Location {location} is temporarily unavailable.")
        clusters = [
            record.view()
            for (record_project, zone, _), record in self.state.clusters.items()
            if record_project == project
            and location in ("-", zone)
            and zone not in self._unreachable
        ]
        missing = sorted(self._unreachable) if location == "-" else []
        return container_v1.ListClustersResponse(clusters=clusters, missing_zones=missing)

    def delete_cluster(self, project: str, location: str, name: str) -> container_v1.Operation:
        record = self.state.cluster(project, location, name)
        for operation in self.state.operations.unfinished_on(project, location, name):
            if operation.type == OperationType.DELETE_CLUSTER:
                raise failed_precondition(
                    f"Cluster is running incompatible operation {operation.name}."
                )
        self._provisioner.abort_operations_on(record, f"cluster {name} is being deleted.")
        record.set_status(ClusterStatus.STOPPING)
        for pool in record.pools.values():
            pool.set_status(PoolStatus.STOPPING)
        return self._begin(
            OperationType.DELETE_CLUSTER, record, "", operations.CLUSTER_DELETE_SECONDS
        )

    def set_resource_labels(
        self, project: str, location: str, name: str, labels: dict[str, str]
    ) -> container_v1.Operation:
        """The cluster's labels are replaced at once; the SET_LABELS operation follows."""
        record = self.state.cluster(project, location, name)
        validation.check_labels(labels, "resource_labels")
        record.cluster.resource_labels = labels
        return self._begin(OperationType.SET_LABELS, record, "", operations.SET_LABELS_SECONDS)

    def update_node_pool_labels(
        self, project: str, location: str, cluster: str, name: str, labels: dict[str, str]
    ) -> container_v1.Operation:
        """An update of a node pool's `resourceLabels` (the only update modelled): replaced at
        once, as the nodes' labels are; the UPDATE_CLUSTER operation follows."""
        record = self.state.cluster(project, location, cluster)
        pool = self.state.node_pool(record, name)
        validation.check_labels(labels, "resource_labels.labels")
        self.state.operations.admit_node_pool_operation(project, location, cluster, name)
        pool.pool.config.resource_labels = labels
        return self._begin(
            OperationType.UPDATE_CLUSTER, record, name, operations.SET_LABELS_SECONDS
        )

    def create_node_pool(
        self, project: str, location: str, cluster_name: str, pool: container_v1.NodePool
    ) -> container_v1.Operation:
        record = self.state.cluster(project, location, cluster_name)
        cluster = record.cluster
        shape = validation.check_node_pool(
            pool,
            list(cluster.locations),
            bool(cluster.workload_identity_config.workload_pool),
            "node_pool",
        )
        queued.check(pool, "node_pool")
        flex_start.check(pool, shape.machine, "node_pool")
        self.state.operations.admit_node_pool_operation(project, location, cluster_name, pool.name)
        if pool.name in record.pools:
            path = names.node_pool_path(project, location, cluster_name, pool.name)
            raise already_exists(f"Already exists: {path}.")
        if cluster.status != ClusterStatus.RUNNING:
            raise failed_precondition(
                f"Cluster {cluster_name} is in status {cluster.status.name}; node pools can be "
                "added to a RUNNING cluster only."
            )
        defaults.fill_node_pool(pool, shape, cluster, project)
        usage.check_quota(self.world, [pool])
        self._add_node_pool(record, pool, self.world.clock.now())
        seconds = (
            operations.TPU_POOL_CREATE_SECONDS
            if shape.machine.tpu
            else operations.CPU_POOL_CREATE_SECONDS
        )
        return self._begin(OperationType.CREATE_NODE_POOL, record, pool.name, seconds)

    def get_node_pool(
        self, project: str, location: str, cluster: str, name: str
    ) -> container_v1.NodePool:
        return self.state.node_pool(self.state.cluster(project, location, cluster), name).pool

    def list_node_pools(
        self, project: str, location: str, cluster: str
    ) -> container_v1.ListNodePoolsResponse:
        record = self.state.cluster(project, location, cluster)
        return container_v1.ListNodePoolsResponse(
            node_pools=[pool.pool for pool in record.pools.values()]
        )

    def delete_node_pool(
        self, project: str, location: str, cluster: str, name: str
    ) -> container_v1.Operation:
        record = self.state.cluster(project, location, cluster)
        pool = self.state.node_pool(record, name)
        self.state.operations.admit_node_pool_operation(project, location, cluster, name)
        pool.set_status(PoolStatus.STOPPING)
        return self._begin(
            OperationType.DELETE_NODE_POOL, record, name, operations.POOL_DELETE_SECONDS
        )

    def get_operation(self, project: str, location: str, name: str) -> container_v1.Operation:
        operation = self.state.operations.get(project, location, name)
        return operation.to_proto(self.world.project_number)

    def list_operations(self, project: str, location: str) -> container_v1.ListOperationsResponse:
        if location != "-":
            validation.check_zone(location)
        return container_v1.ListOperationsResponse(
            operations=[
                operation.to_proto(self.world.project_number)
                for operation in self.state.operations.in_location(project, location)
            ]
        )

    def server_config(self, location: str) -> container_v1.ServerConfig:
        validation.check_zone(location)
        return versions.server_config()

    # Helpers and scenarios.

    def _add_node_pool(
        self, record: ClusterRecord, pool: container_v1.NodePool, now: float
    ) -> None:
        pool_record = NodePoolRecord(pool, uid=uuid.uuid4().hex, created=rfc3339(now))
        record.pools[pool.name] = pool_record
        if pool_record.machine.tpu is not None:
            self.state.ledger.open(
                ChipUsage(
                    uid=pool_record.uid,
                    project=record.project,
                    zone=record.zone,
                    cluster=record.name,
                    node_pool=pool.name,
                    machine_type=pool_record.machine.name,
                    chips=pool_record.node_count * pool_record.machine.chips,
                )
            )

    def _begin(
        self, kind: OperationType, record: ClusterRecord, node_pool: str, modelled_seconds: float
    ) -> container_v1.Operation:
        operation = self._provisioner.begin(kind, record, node_pool, modelled_seconds)
        return operation.to_proto(self.world.project_number)

    def _slow_operations(self, params: dict[str, Any]) -> dict[str, Any]:
        """Scenario `slow-operations`: operations started from now on take `factor` times longer."""
        factor = params.get("factor")
        if not isinstance(factor, int | float) or factor <= 0:
            raise ValueError(f"factor must be a positive number, got {factor!r}")
        self.state.slowdown = float(factor)
        return {"factor": self.state.slowdown}

    def _normal_speed(self) -> None:
        self.state.slowdown = 1.0

    def _location_unreachable(self, params: dict[str, Any]) -> dict[str, Any]:
        """Scenario `location-unreachable`: GKE cannot reach the control planes of a zone; lists
        across locations report it missing (its clusters exist and keep running)."""
        zone = params.get("zone")
        validation.check_zone(zone if isinstance(zone, str) else "")
        self._unreachable.add(zone)
        return {"unreachable": sorted(self._unreachable)}

    def _master_upgrade(self, params: dict[str, Any]) -> dict[str, Any]:
        """Scenario `master-upgrade`: GKE starts an automatic control-plane upgrade of a cluster.

        Node-pool operations are refused with FAILED_PRECONDITION until it ends, which is what
        a pipeline meets when an auto-upgrade begins right after it created a cluster.
        """
        matches = [
            record
            for (_, zone, name), record in self.state.clusters.items()
            if name == params.get("cluster") and params.get("zone") in (None, zone)
        ]
        if len(matches) != 1:
            raise ValueError(f"params must name one existing cluster (and zone), got {params}")
        record = matches[0]
        if record.cluster.status != ClusterStatus.RUNNING:
            raise ValueError(f"cluster {record.name} is {record.cluster.status.name}, not RUNNING")
        record.set_status(ClusterStatus.RECONCILING)
        operation = self._begin(
            OperationType.UPGRADE_MASTER, record, "", operations.MASTER_UPGRADE_SECONDS
        )
        return {"operation": operation.name, "cluster": record.path}
