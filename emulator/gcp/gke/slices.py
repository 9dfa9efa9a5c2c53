"""Node pools' VMs coming up and going, and the requests that wait for room to bring them up.

A pool's nodes come up when the zones have room for them (`lacking_room`: the `tpu-stockout` and
`tpu-capacity` scenarios decide). Two kinds of request wait for that room, looking again every
`flex_start.RETRY_SECONDS` modelled seconds, and bring their slices up all at once: a flex-start
pool's own request, made when the pool is created, and a queued-provisioning `Booking` of whole
pools, made by the autoscaler (`queued.QueuedCapacity`). Either's nodes go when its run ends.
Each waiting request has an asyncio task, but what it waits for lives in the state (a pool's
`nodes_created`, a cluster's bookings), so `resume()` picks every one up after a restart.
"""

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from emulator.core.clock import rfc3339
from emulator.core.world import World
from emulator.gcp.gke import flex_start, queued
from emulator.gcp.gke.capacity import stockout_message
from emulator.gcp.gke.nodes import node_names
from emulator.gcp.gke.queued import Booking
from emulator.gcp.gke.state import ClusterRecord, GkeState, NodePoolRecord, PoolStatus
from emulator.kube.provreq.names import BOOKING_LABEL


class Slices:
    """Brings node pools' VMs up and down, and runs the requests waiting for room."""

    def __init__(
        self, world: World, state: GkeState, sync_nodes: Callable[[ClusterRecord], None]
    ) -> None:
        """`sync_nodes(cluster)` tells the cluster's control plane its nodes changed."""
        self._world = world
        self._state = state
        self._sync_nodes = sync_nodes
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # Room, and the VMs themselves

    def lacking_room(self, cluster: ClusterRecord, pools: list[NodePoolRecord], now: float) -> str:
        """The stockout GKE reports when a zone lacks room for all the pools' nodes together
        ("": there is room); each look uses up one try of a stockout that clears after some."""
        wanted: dict[tuple[str, str], int] = {}
        for pool in pools:
            per_zone = pool.node_count // len(pool.pool.locations)
            for zone in pool.pool.locations:
                key = (zone, pool.pool.config.machine_type)
                wanted[key] = wanted.get(key, 0) + per_zone
        for (zone, machine_type), nodes in wanted.items():
            in_use = self._state.nodes_in_use(zone, machine_type)
            if self._state.capacity.lacks_room(zone, machine_type, nodes, in_use, now):
                return stockout_message(cluster.project, zone, machine_type, nodes)
        return ""

    def nodes_up(self, cluster: ClusterRecord, pool: NodePoolRecord, now: float) -> None:
        pool.node_names = node_names(cluster.name, pool.pool.name, pool.uid, pool.node_count)
        pool.nodes_created = rfc3339(now)
        pool.set_status(PoolStatus.RUNNING)
        self._state.ledger.nodes_up(pool.uid, now)

    def nodes_down(self, pool: NodePoolRecord, now: float) -> None:
        self._state.ledger.nodes_down(pool.uid, now)
        pool.node_names = []

    async def _when_room(
        self,
        cluster: ClusterRecord,
        waiting: Callable[[], list[NodePoolRecord]],
        note: Callable[[str], None] = lambda _: None,
    ) -> float | None:
        """Look for room for all of `waiting()` every RETRY_SECONDS, telling `note` what stands
        in the way; when there is room, bring them all up at once. The instant they came up,
        or None if nothing waits any more."""
        clock = self._world.clock
        while pools := waiting():
            now = clock.now()
            stockout = self.lacking_room(cluster, pools, now)
            note(stockout)
            if not stockout:
                for pool in pools:
                    self.nodes_up(cluster, pool, now)
                self._sync_nodes(cluster)
                return now
            await clock.sleep(flex_start.RETRY_SECONDS)
        return None

    # Flex-start: a pool's own request

    def flex_start(self, cluster: ClusterRecord, pool: NodePoolRecord) -> None:
        """Queue a flex-start pool's request for its whole slice (see `flex_start`)."""
        self._spawn(_key("flex-start", cluster, pool.pool.name), self._flex_start(cluster, pool))

    async def _flex_start(self, cluster: ClusterRecord, pool: NodePoolRecord) -> None:
        clock = self._world.clock

        def current() -> bool:
            return cluster.pools.get(pool.pool.name) is pool

        def waiting() -> list[NodePoolRecord]:
            return [pool] if current() and not pool.nodes_created else []

        await self._when_room(cluster, waiting)
        if not (current() and pool.node_names):
            return
        started = datetime.fromisoformat(pool.nodes_created).timestamp()
        await clock.sleep_until(started + clock.scaled(flex_start.run_seconds(pool.pool)))
        if current():
            self.nodes_down(pool, clock.now())
            self._sync_nodes(cluster)

    # Queued provisioning: bookings of whole pools

    def book(self, cluster: ClusterRecord, booking: Booking) -> None:
        cluster.bookings[booking.name] = booking
        for name in booking.pools:
            cluster.pools[name].pool.config.labels[BOOKING_LABEL] = booking.name
        self._spawn(_key("booking", cluster, booking.name), self._run(cluster, booking))

    def release(self, cluster: ClusterRecord, booking: Booking, pools: list[str]) -> None:
        """The booking gives pools back: their nodes go and they are free to book again."""
        now = self._world.clock.now()
        for name in [name for name in pools if name in booking.pools]:
            booking.pools.remove(name)
            record = cluster.pools.get(name)
            if record is not None:
                self.nodes_down(record, now)
                record.pool.config.labels.pop(BOOKING_LABEL, None)
        self._sync_nodes(cluster)

    def cancel(self, cluster: ClusterRecord, name: str) -> None:
        """The booking ends: it stops waiting, and every pool it holds is given back."""
        booking = cluster.bookings.pop(name, None)
        if booking is not None:
            self._stop(_key("booking", cluster, name))
            self.release(cluster, booking, list(booking.pools))

    def pool_deleted(self, cluster: ClusterRecord, pool: str) -> None:
        """Deleting a booked pool ends its booking."""
        booking = cluster.booking_of(pool)
        if booking is not None:
            self.cancel(cluster, booking.name)

    async def _run(self, cluster: ClusterRecord, booking: Booking) -> None:
        """Wait for room for all the booking's pools, bring them up together, and give them
        back when the run ends; from wherever the booking's state says it is."""
        clock = self._world.clock

        def held() -> list[NodePoolRecord]:
            if cluster.bookings.get(booking.name) is not booking:
                return []
            return [cluster.pools[name] for name in booking.pools if name in cluster.pools]

        def note(stockout: str) -> None:
            booking.waiting = stockout

        if booking.provisioned is None:
            booking.provisioned = await self._when_room(cluster, held, note)
        if booking.provisioned is None:
            return
        await clock.sleep_until(booking.provisioned + clock.scaled(booking.run_seconds))
        if cluster.bookings.get(booking.name) is booking:
            self.release(cluster, booking, list(booking.pools))

    # The tasks

    def resume(self) -> None:
        """Pick up every waiting request and every running slice of the state."""
        for cluster in self._state.clusters.values():
            for pool in cluster.pools.values():
                own_request = flex_start.is_flex_start(pool.pool) and not queued.is_queued(
                    pool.pool
                )
                if own_request and pool.pool.status == PoolStatus.RUNNING:
                    self.flex_start(cluster, pool)
            for booking in cluster.bookings.values():
                self._spawn(_key("booking", cluster, booking.name), self._run(cluster, booking))

    def forget_cluster(self, cluster: ClusterRecord) -> None:
        """The cluster is gone: nothing of it waits any more."""
        prefix = f"{cluster.path}/"
        for key in [key for key in self._tasks if key.split(":", 1)[1].startswith(prefix)]:
            self._stop(key)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def forget(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    def _spawn(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks[key] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._tasks.get(key) is finished:
                del self._tasks[key]

        task.add_done_callback(done)

    def _stop(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()


def _key(kind: str, cluster: ClusterRecord, name: str) -> str:
    return f"{kind}:{cluster.path}/{name}"
