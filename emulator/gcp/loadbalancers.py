"""Compute Engine load balancers: the forwarding rules GKE creates for LoadBalancer Services.

A forwarding rule belongs to the project, not to the cluster. GKE's service controller creates
it, and deletes it when the Service is deleted; if the cluster is deleted while the Service still
exists, the rule and its address stay (a leak, as on GCP). Each rule holds a distinct loopback
address (127.0.0.2, 127.0.0.3, ...; Linux routes all of 127.0.0.0/8 to `lo`) with a real TCP
listener on each Service port, forwarding every connection to a ready backend pod that the
owning cluster resolves. Once that cluster is gone, nothing listens: connections are refused.
The `lb-address-never-assigned` scenario uses up the region's address quota: new rules are
refused (existing ones keep working), so a new LoadBalancer Service never gets an address.
"""

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from emulator.core.clock import rfc3339
from emulator.core.world import Resource, World

# A ready backend for a connection to a Service port: the real (host, port) to connect to.
Backend = Callable[[int], tuple[str, int] | None]

_ADDRESSES = ipaddress.ip_network("127.0.0.0/16")
_FIRST_ADDRESS = ipaddress.ip_address("127.0.0.2")  # 127.0.0.1 is the emulator's own APIs


@dataclass
class ForwardingRule:
    name: str
    region: str
    address: str
    ports: list[int]
    scheme: str  # EXTERNAL or INTERNAL (the GKE internal load balancer annotation)
    cluster: str  # the owning cluster's resource name
    service: str  # `<namespace>/<name>`, as GKE writes in the rule's description
    labels: dict[str, str] = field(default_factory=dict)
    created: float = 0.0


class AddressQuotaExceeded(Exception):
    """Compute Engine refused a new forwarding rule: the region has no address quota left."""


class LoadBalancers:
    """The `compute` service: forwarding rules, their addresses and their listeners."""

    name = "compute"

    def __init__(self, world: World) -> None:
        self.world = world
        self.rules: dict[str, ForwardingRule] = {}
        self.addresses_exhausted = False
        self._backends: dict[str, Backend] = {}
        self._listeners: dict[str, list[asyncio.Server]] = {}
        world.faults.register_scenario(
            "lb-address-never-assigned", self._exhaust_addresses, self._restore_addresses
        )

    def rule_path(self, rule: ForwardingRule) -> str:
        return f"projects/{self.world.project_id}/regions/{rule.region}/forwardingRules/{rule.name}"

    async def ensure(
        self,
        *,
        name: str,
        region: str,
        cluster: str,
        service: str,
        ports: list[int],
        scheme: str,
        labels: dict[str, str],
        backend: Backend,
    ) -> ForwardingRule:
        """Create or update a rule and (re)start its listeners, forwarding through `backend`.

        Raises OSError when a port cannot be bound (e.g. a port below 1024 without privilege),
        AddressQuotaExceeded when a new rule gets no address.
        """
        rule = self.rules.get(name)
        if rule is None and self.addresses_exhausted:
            in_use = sum(1 for r in self.rules.values() if r.region == region)
            raise AddressQuotaExceeded(
                "googleapi: Error 403: QUOTA_EXCEEDED - Quota 'IN_USE_ADDRESSES' exceeded.  "
                f"Limit: {float(in_use)} in region {region}., quotaExceeded"
            )
        if rule is None:
            rule = ForwardingRule(
                name=name,
                region=region,
                address=self._free_address(),
                ports=[],
                scheme=scheme,
                cluster=cluster,
                service=service,
                created=self.world.clock.now(),
            )
            self.rules[name] = rule
        rule.scheme, rule.labels, rule.cluster = scheme, dict(labels), cluster
        self._backends[name] = backend
        if sorted(ports) != sorted(rule.ports) or name not in self._listeners:
            self._stop_listening(name)
            rule.ports = sorted(ports)
            servers = []
            try:
                for port in rule.ports:
                    servers.append(
                        await asyncio.start_server(
                            lambda r, w, p=port: self._forward(name, p, r, w), rule.address, port
                        )
                    )
            except OSError:
                for server in servers:
                    server.close()
                raise
            self._listeners[name] = servers
        return rule

    def release(self, name: str) -> None:
        """Delete a rule: its listeners stop and its address is free again."""
        self._stop_listening(name)
        self._backends.pop(name, None)
        self.rules.pop(name, None)

    def detach(self, cluster: str) -> None:
        """The cluster is gone: its rules stay (and are billed), but nothing answers on them."""
        for name, rule in self.rules.items():
            if rule.cluster == cluster:
                self._stop_listening(name)
                self._backends.pop(name, None)

    async def stop(self) -> None:
        """The emulator stops: every listener closes (the rules are saved with the state)."""
        self._close_all()

    def _exhaust_addresses(self, params: dict[str, Any]) -> dict[str, Any]:
        self.addresses_exhausted = True
        return {"addresses_exhausted": True}

    def _restore_addresses(self) -> None:
        self.addresses_exhausted = False

    def resources(self) -> list[Resource]:
        return [
            Resource(
                "compute",
                "ForwardingRule",
                self.rule_path(rule),
                rule.labels,
                rfc3339(rule.created),
            )
            for rule in self.rules.values()
        ]

    def dump(self) -> dict[str, Any]:
        return {"forwarding_rules": [asdict(rule) for rule in self.rules.values()]}

    def load(self, state: dict[str, Any]) -> None:
        """Replace every rule. Rules come back without listeners: their clusters attach them
        again with `ensure`."""
        self._close_all()
        self.rules = {rule["name"]: ForwardingRule(**rule) for rule in state["forwarding_rules"]}

    def _free_address(self) -> str:
        used = {rule.address for rule in self.rules.values()}
        for address in _ADDRESSES.hosts():
            last_octet = address.packed[3]
            if address >= _FIRST_ADDRESS and 0 < last_octet < 255 and str(address) not in used:
                return str(address)
        raise RuntimeError("no loopback address left for a forwarding rule")

    def _close_all(self) -> None:
        for name in list(self._listeners):
            self._stop_listening(name)
        self._backends.clear()

    def _stop_listening(self, name: str) -> None:
        for server in self._listeners.pop(name, []):
            server.close()

    async def _forward(
        self,
        name: str,
        port: int,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
    ) -> None:
        backend = self._backends.get(name)
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


def compute_service(world: World) -> LoadBalancers:
    """The world's `compute` service, registered on first use."""
    if "compute" not in world.services:
        world.add_service(LoadBalancers(world))
    service = world.services["compute"]
    if not isinstance(service, LoadBalancers):
        raise TypeError(f"the world's compute service is a {type(service).__name__}")
    return service
