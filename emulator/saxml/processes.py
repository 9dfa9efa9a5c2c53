"""Saxml's processes in one cluster, found by address, and the JAX world of each TPU slice.

Saxml's servers call each other over gRPC: the admin calls model servers' GetStatus, Load and
Unload, model servers call the admin's Join, clients call both. Here those calls are in-process
method calls on the server objects, made only while the address really listens in the cluster
network (the container serves the port), so a dead or unscheduled server is refused exactly
when a connection would be.

A multi-host slice is one JAX world: JAX's TPU runtime starts only when every host of the slice
runs (the pods of one child Job, one per completion index), and a host that goes away breaks
the world for all the others.
"""

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from emulator.saxml.glog import Glog
from emulator.saxml.status import unreachable

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster
    from emulator.kube.kubelet.behaviour import ContainerContext

Server = TypeVar("Server")


async def unless_stopped(ctx: "ContainerContext", event: asyncio.Event) -> bool:
    """Wait for `event`; False if the container is asked to stop first."""
    stop = asyncio.ensure_future(ctx.wait_until_stopped())
    happened = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({stop, happened}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        happened.cancel()
    return event.is_set() and not ctx.stopping


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A gRPC port's listener: it accepts connections (so TCP probes pass); the calls
    themselves are in-process."""
    writer.close()


class SaxProcesses:
    """The cluster's running Saxml servers by `IP:port`, and its slices' JAX worlds."""

    def __init__(self, cluster: "KubeCluster") -> None:
        self.cluster = cluster
        self._servers: dict[str, object] = {}
        self._worlds: dict[str, JaxWorld] = {}

    def serve(self, address: str, server: object) -> None:
        self._servers[address] = server

    def withdraw(self, address: str, server: object) -> None:
        if self._servers.get(address) is server:
            del self._servers[address]

    def dial(self, address: str, kind: type[Server]) -> Server:
        """The server listening at `address`; the gRPC error of a refused connection if none."""
        host, _, port = address.rpartition(":")
        server = self._servers.get(address)
        listening = port.isdigit() and self.cluster.network.resolve(host, int(port)) is not None
        if not listening or not isinstance(server, kind):
            raise unreachable(address)
        return server

    def join_world(self, slice_id: str, size: int, host: "JaxHost") -> "JaxWorld":
        """Add a host to its slice's world; a broken world is replaced by a new one."""
        world = self._worlds.get(slice_id)
        if world is None or world.broken.is_set() or host.index in world.hosts:
            world = self._worlds[slice_id] = JaxWorld(size)
        world.add(host)
        return world


@dataclass
class JaxHost:
    """One process of a slice: its completion index, its chips and its log."""

    index: int
    chips: int
    log: Glog


@dataclass
class JaxWorld:
    """The processes of one slice. Formed once all `size` hosts run; broken when one leaves."""

    size: int
    hosts: dict[int, JaxHost] = field(default_factory=dict)
    formed: asyncio.Event = field(default_factory=asyncio.Event)
    broken: asyncio.Event = field(default_factory=asyncio.Event)
    lost: list[int] = field(default_factory=list)  # hosts that left the formed world

    def add(self, host: JaxHost) -> None:
        self.hosts[host.index] = host
        if len(self.hosts) == self.size:
            self.formed.set()

    def leave(self, host: JaxHost) -> None:
        if self.hosts.get(host.index) is host:
            del self.hosts[host.index]
            if self.formed.is_set():
                self.lost.append(host.index)
                self.broken.set()

    @property
    def device_count(self) -> int:
        """jax.device_count(): every host's TPU chips (a host without TPUs has one CPU device)."""
        return sum(host.chips or 1 for host in self.hosts.values())

    def secondaries(self) -> list[JaxHost]:
        return [host for index, host in sorted(self.hosts.items()) if index != 0]
