"""Carrying operations to their effects: nodes come up (or stock out), endpoints serve, pools go.

Each unfinished operation has one asyncio task that sleeps until the operation's RUNNING and DONE
instants and then applies what the operation does. The instants live in the operation, so after
a restart `start()` picks every unfinished operation up where its timeline says it is. Nodes
come and go through `slices.Slices`, which also runs the requests that wait for room.
"""

import asyncio
import logging
from typing import Any

from emulator.core.world import World
from emulator.gcp.gke import flex_start, queued, usage, versions
from emulator.gcp.gke.certificates import ClusterAuthority
from emulator.gcp.gke.endpoint import ClusterEndpoint, ControlPlane, ControlPlaneFactory
from emulator.gcp.gke.operations import (
    PENDING_SECONDS,
    Operation,
    OperationStatus,
    OperationType,
)
from emulator.gcp.gke.slices import Slices
from emulator.gcp.gke.state import (
    ClusterRecord,
    ClusterStatus,
    GkeState,
    NodePoolRecord,
    PoolStatus,
)

_log = logging.getLogger(__name__)

# google.rpc.Code values an operation's `error` carries.
RESOURCE_EXHAUSTED = 8
ABORTED = 10
INTERNAL = 13


class Provisioner:
    """Runs the operations of the GKE state and the endpoints of its clusters."""

    def __init__(
        self, world: World, state: GkeState, control_plane_factory: ControlPlaneFactory
    ) -> None:
        self._world = world
        self._state = state
        self._control_plane_factory = control_plane_factory
        self._drivers: dict[str, asyncio.Task[None]] = {}
        self._endpoints: dict[str, ClusterEndpoint] = {}  # by cluster path
        self._closing: set[asyncio.Task[None]] = set()  # endpoints of a world being replaced
        # Control-plane state waiting for its endpoint to start (after a load or during a restart).
        self._saved_control_planes: dict[str, dict[str, Any]] = {}
        self.slices = Slices(world, state, self._sync_nodes)

    def begin(
        self, kind: OperationType, cluster: ClusterRecord, node_pool: str, modelled_seconds: float
    ) -> Operation:
        """Start an operation on `cluster` that takes `modelled_seconds` (times the slowdown)."""
        clock = self._world.clock
        operation = self._state.operations.start(
            kind,
            cluster.project,
            cluster.zone,
            cluster.name,
            node_pool,
            now=clock.now(),
            wall_seconds=clock.scaled(modelled_seconds * self._state.slowdown),
            pending_wall_seconds=clock.scaled(PENDING_SECONDS),
        )
        self._drive(operation)
        return operation

    def abort_operations_on(self, cluster: ClusterRecord, reason: str) -> None:
        """End every unfinished operation on `cluster` as GKE does when the cluster goes away."""
        now = self._world.clock.now()
        for operation in self._state.operations.unfinished_on(
            cluster.project, cluster.zone, cluster.name
        ):
            driver = self._drivers.pop(operation.name, None)
            if driver is not None:
                driver.cancel()
            operation.finish(now, ABORTED, f"Operation was aborted: {reason}")

    def dump_control_planes(self) -> dict[str, dict[str, Any]]:
        running = {path: e.control_plane.dump() for path, e in self._endpoints.items()}
        return {**self._saved_control_planes, **running}

    def control_planes(self) -> list[ControlPlane]:
        return [endpoint.control_plane for endpoint in self._endpoints.values()]

    def load_control_planes(self, states: dict[str, dict[str, Any]]) -> None:
        self._saved_control_planes = dict(states)

    async def start(self) -> None:
        """Serve the endpoints of clusters that have one and resume unfinished operations."""
        for record in self._state.clusters.values():
            if record.authority is not None and record.port is not None:
                await self._serve(record, record.authority, record.port)
        for operation in self._state.operations.unfinished():
            self._drive(operation)
        self.slices.resume()

    async def stop(self) -> None:
        """Stop everything that runs; what it would have done stays in the state to resume."""
        drivers = list(self._drivers.values())
        for driver in drivers:
            driver.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)
        await self.slices.stop()
        for path, endpoint in self._endpoints.items():
            self._saved_control_planes[path] = endpoint.control_plane.dump()
            await endpoint.stop()
        self._endpoints.clear()
        await asyncio.gather(*self._closing)

    def forget(self) -> None:
        """Drop running work without saving it: the world is being replaced (a reset)."""
        for driver in self._drivers.values():
            driver.cancel()
        self._drivers.clear()
        self.slices.forget()
        for endpoint in self._endpoints.values():
            closing = asyncio.get_running_loop().create_task(endpoint.stop())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        self._endpoints.clear()

    def _drive(self, operation: Operation) -> None:
        driver = asyncio.get_running_loop().create_task(self._run(operation))
        self._drivers[operation.name] = driver
        driver.add_done_callback(lambda _: self._drivers.pop(operation.name, None))

    async def _run(self, operation: Operation) -> None:
        clock = self._world.clock
        await clock.sleep_until(operation.running_at)
        operation.status = OperationStatus.RUNNING
        await clock.sleep_until(operation.done_at)
        try:
            await self._complete(operation)
        except Exception as error:  # an emulator fault must still end the operation visibly
            _log.exception("operation %s failed inside the emulator", operation.name)
            operation.finish(self._world.clock.now(), INTERNAL, f"Internal error: {error}")

    async def _complete(self, operation: Operation) -> None:
        effects = {
            OperationType.CREATE_CLUSTER: self._create_cluster,
            OperationType.DELETE_CLUSTER: self._delete_cluster,
            OperationType.CREATE_NODE_POOL: self._create_node_pool,
            OperationType.DELETE_NODE_POOL: self._delete_node_pool,
            OperationType.UPGRADE_MASTER: self._upgrade_master,
            OperationType.SET_LABELS: self._labels_set,
            OperationType.UPDATE_CLUSTER: self._labels_set,
        }
        cluster = self._state.cluster(operation.project, operation.zone, operation.cluster)
        now = self._world.clock.now()
        failure = await effects[operation.type](cluster, operation.node_pool, now)
        operation.finish(now, RESOURCE_EXHAUSTED if failure else 0, failure)

    async def _create_cluster(self, cluster: ClusterRecord, _: str, now: float) -> str:
        failures = [self._start_pool(cluster, pool, now) for pool in cluster.pools.values()]
        failure = next((message for message in failures if message), "")
        if failure:
            cluster.set_status(ClusterStatus.ERROR, failure)
            return failure
        await self._serve(cluster, ClusterAuthority.generate(cluster.cluster.id), port=0)
        cluster.set_status(ClusterStatus.RUNNING)
        return ""

    async def _delete_cluster(self, cluster: ClusterRecord, _: str, now: float) -> str:
        self.slices.forget_cluster(cluster)
        for pool in cluster.pools.values():
            self._state.ledger.nodes_down(pool.uid, now)
        endpoint = self._endpoints.pop(cluster.path, None)
        if endpoint is not None:
            await endpoint.stop()
        del self._state.clusters[(cluster.project, cluster.zone, cluster.name)]
        return ""

    async def _create_node_pool(self, cluster: ClusterRecord, node_pool: str, now: float) -> str:
        failure = self._start_pool(cluster, cluster.pools[node_pool], now)
        self._sync_nodes(cluster)
        return failure

    def _start_pool(self, cluster: ClusterRecord, pool: NodePoolRecord, now: float) -> str:
        """Bring a new pool's nodes up, or leave a flex-start pool RUNNING without nodes: its
        own request waits for room, or a queued pool waits for ProvisioningRequests. Why it
        failed, or ""."""
        if flex_start.is_flex_start(pool.pool):
            pool.set_status(PoolStatus.RUNNING)
            if not queued.is_queued(pool.pool):
                self.slices.flex_start(cluster, pool)
            return ""
        return self._bring_up(cluster, pool, now)

    async def _delete_node_pool(self, cluster: ClusterRecord, node_pool: str, now: float) -> str:
        self.slices.pool_deleted(cluster, node_pool)
        self._state.ledger.nodes_down(cluster.pools.pop(node_pool).uid, now)
        self._sync_nodes(cluster)
        return ""

    async def _labels_set(self, cluster: ClusterRecord, _: str, now: float) -> str:
        """Label updates took effect when they were asked for: nothing is left to do."""
        return ""

    async def _upgrade_master(self, cluster: ClusterRecord, _: str, now: float) -> str:
        """The control plane restarts on the new version, keeping its state, port and CA."""
        version = versions.resolve_version("latest", cluster.cluster.release_channel.channel)
        cluster.cluster.current_master_version = version
        endpoint = self._endpoints.pop(cluster.path, None)
        if endpoint is not None:
            self._saved_control_planes[cluster.path] = endpoint.control_plane.dump()
            await endpoint.stop()
            await self._serve(cluster, endpoint.authority, cluster.port or 0)
        cluster.set_status(ClusterStatus.RUNNING)
        return ""

    def _bring_up(self, cluster: ClusterRecord, pool: NodePoolRecord, now: float) -> str:
        """Create the pool's nodes; or put it in ERROR and return why, when capacity lacks."""
        reservation_failure = usage.reservation_failure(self._world, pool.pool)
        if reservation_failure:
            pool.set_status(PoolStatus.ERROR, reservation_failure)
            return reservation_failure
        message = self.slices.lacking_room(cluster, [pool], now)
        if message:
            pool.set_status(PoolStatus.ERROR, message)
            return message
        self.slices.nodes_up(cluster, pool, now)
        return ""

    async def _serve(self, cluster: ClusterRecord, authority: ClusterAuthority, port: int) -> None:
        """Bring the cluster's control plane up behind its endpoint, with its nodes."""
        control_plane = self._control_plane_factory(
            cluster.name, cluster.zone, cluster.cluster.current_master_version
        )
        saved = self._saved_control_planes.pop(cluster.path, None)
        if saved is not None:
            control_plane.load(saved)
        endpoint = ClusterEndpoint(self._world, cluster.path, authority, control_plane)
        self._endpoints[cluster.path] = endpoint
        cluster.port = await endpoint.start(port)
        cluster.authority = authority
        cluster.cluster.endpoint = f"127.0.0.1:{cluster.port}"
        cluster.cluster.master_auth.cluster_ca_certificate = authority.ca_certificate_base64
        self._sync_nodes(cluster)

    def _sync_nodes(self, cluster: ClusterRecord) -> None:
        endpoint = self._endpoints.get(cluster.path)
        if endpoint is not None:
            endpoint.control_plane.sync_nodes(cluster.nodes())
