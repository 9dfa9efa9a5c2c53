"""The data plane of forwarding rules: a real TCP listener per rule port on the rule's IP.

Each rule holds a distinct loopback address (Linux routes all of 127.0.0.0/8 to `lo`); every
connection is forwarded to a ready backend that the owning cluster resolves, and closed when
there is none. A rule whose cluster is gone has no listener: connections are refused.

The firewall rule GKE makes with the load balancer admits only the Service's source ranges.
Here the source is the connection's real peer address, as a firewall sees a packet's: a client
on this machine is 127.0.0.1 unless it binds another loopback address before connecting. A
connection from outside the ranges is reset before a byte reaches a backend (on Google Cloud
its packets are dropped and the client times out).
"""

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

# A ready backend for a connection to a Service port: the real (host, port) to connect to.
Backend = Callable[[int], tuple[str, int] | None]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
EVERYWHERE: tuple[Network, ...] = (
    ipaddress.ip_network("0.0.0.0/0"),
    ipaddress.ip_network("::/0"),
)


@dataclass
class _Listening:
    address: str
    ports: list[int]
    servers: list[asyncio.Server] = field(default_factory=list)


class Listeners:
    def __init__(self) -> None:
        self._listening: dict[str, _Listening] = {}
        self._backends: dict[str, Backend] = {}
        self._sources: dict[str, tuple[Network, ...]] = {}

    async def listen(
        self,
        rule: str,
        address: str,
        ports: list[int],
        backend: Backend,
        sources: tuple[Network, ...] = EVERYWHERE,
    ) -> None:
        """Forward `rule`'s ports through `backend` for clients in `sources`, (re)binding only
        what changed.

        Raises OSError when a port cannot be bound (e.g. below 1024 without privilege).
        """
        self._backends[rule] = backend
        self._sources[rule] = sources
        current = self._listening.get(rule)
        if current is not None and (current.address, current.ports) == (address, ports):
            return
        self._close(rule)
        listening = _Listening(address, list(ports))
        try:
            for port in ports:
                listening.servers.append(
                    await asyncio.start_server(
                        lambda r, w, p=port: self._forward(rule, p, r, w), address, port
                    )
                )
        except OSError:
            for server in listening.servers:
                server.close()
            raise
        self._listening[rule] = listening

    def stop(self, rule: str) -> None:
        """Nothing answers on the rule's address any more."""
        self._close(rule)
        self._backends.pop(rule, None)
        self._sources.pop(rule, None)

    def stop_all(self) -> None:
        for rule in list(self._listening):
            self.stop(rule)
        self._backends.clear()
        self._sources.clear()

    def _close(self, rule: str) -> None:
        listening = self._listening.pop(rule, None)
        for server in listening.servers if listening else []:
            server.close()

    async def _forward(
        self,
        rule: str,
        port: int,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> None:
        if not self._admits(rule, client_writer.get_extra_info("peername")[0]):
            client_writer.transport.abort()
            return
        backend = self._backends.get(rule)
        target = backend(port) if backend is not None else None
        if target is None:
            client_writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                _pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer)
            )
        finally:
            upstream_writer.close()
            client_writer.close()

    def _admits(self, rule: str, source: str) -> bool:
        client = ipaddress.ip_address(source)
        return any(client in network for network in self._sources.get(rule, ()))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until end of stream and pass the half-close on; a reset tears both down."""
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()
