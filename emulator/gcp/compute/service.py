"""The `compute` service: the state Compute Engine keeps for load balancers, and its rules.

Two writers share it: the API (addresses inserted and deleted, rules deleted, each through an
operation) and GKE's service controller (rules created, updated and deleted at once, as the
controller waits for its own operations). Every IP, reserved or ephemeral, external or internal,
comes from one loopback pool, so no two ever collide. An address is IN_USE while a rule of its
region holds its IP; a rule left behind by a deleted cluster keeps it so.
"""

import asyncio
import ipaddress
import random
from typing import Any

from aiohttp import web

from emulator.core.clock import rfc3339
from emulator.core.world import Resource, World
from emulator.gcp.compute.capacity import ComputeCapacity
from emulator.gcp.compute.capacity_routes import capacity_routes
from emulator.gcp.compute.errors import (
    ComputeError,
    already_exists,
    fingerprint_mismatch,
    in_use,
    invalid_field,
    ip_in_use,
    not_found,
    not_ready,
)
from emulator.gcp.compute.listeners import EVERYWHERE, Backend, Listeners, Network
from emulator.gcp.compute.model import (
    EXTERNAL,
    INTERNAL,
    Address,
    ForwardingRule,
    label_fingerprint,
    new_id,
    region_path,
)
from emulator.gcp.compute.operations import Operation, OperationError
from emulator.gcp.compute.routes import compute_routes
from emulator.gcp.compute.validation import AddressRequest
from emulator.gcp.usage import NodeGroup

# Modelled durations of the operations, in seconds (Compute reports them done within seconds).
ADDRESS_SECONDS = 3.0
FORWARDING_RULE_DELETE_SECONDS = 12.0

_POOL = ipaddress.ip_network("127.0.0.0/16")
_FIRST_IP = ipaddress.ip_address("127.0.0.2")  # 127.0.0.1 serves the emulator's own APIs


class ComputeService:
    name = "compute"

    def __init__(self, world: World) -> None:
        self.world = world
        self.addresses: dict[str, Address] = {}  # by `<region>/<name>`
        self.rules: dict[str, ForwardingRule] = {}  # by name: GKE names them after Service uids
        self.operations: dict[str, Operation] = {}
        self.in_use_addresses_exhausted = False
        self.static_addresses_exhausted = False
        self.listeners = Listeners()
        self.capacity = ComputeCapacity(world)  # quotas and reservations
        self._ip_start = random.randrange(_POOL.num_addresses)
        world.faults.register_scenario(
            "lb-address-never-assigned", self._exhaust_in_use, self._restore_quotas
        )
        world.faults.register_scenario(
            "static-address-quota", self._exhaust_static, self._restore_quotas
        )

    def routes(self) -> list[web.RouteDef]:
        return compute_routes(self) + capacity_routes(self)

    # What GKE asks before it creates nodes (emulator.gcp.usage.Admission).

    def quota_shortfall(self, wanted: list[NodeGroup]) -> str:
        return self.capacity.quota_shortfall(wanted)

    def reservation_shortfall(self, wanted: NodeGroup) -> str:
        return self.capacity.reservation_shortfall(wanted)

    @property
    def project(self) -> str:
        return self.world.project_id

    # -- GKE's service controller ----------------------------------------------------------

    def rule(self, name: str) -> ForwardingRule | None:
        self.settle()
        return self.rules.get(name)

    def address_by_ip(self, region: str, ip: str) -> Address | None:
        """The address of `region` reserving `ip`, as GKE looks a loadBalancerIP up."""
        return next((a for a in self.list_addresses(region) if a.address == ip), None)

    async def ensure_rule(
        self,
        *,
        name: str,
        region: str,
        cluster: str,
        service: str,
        ports: list[int],
        scheme: str,
        ip: str | None,
        backend: Backend,
        sources: tuple[Network, ...] = EVERYWHERE,
    ) -> ForwardingRule:
        """Create or update a Service's rule and (re)start its listeners.

        `ip` is the Service's loadBalancerIP (None: any ephemeral IP); `sources` the ranges its
        firewall rule admits. A rule whose scheme or
        requested IP changed is replaced, as GKE deletes and recreates it. Raises ComputeError
        when Compute refuses a new rule, OSError when a port cannot be bound.
        """
        rule = self.rule(name)
        if rule is not None and (rule.scheme != scheme or ip not in (None, rule.address)):
            self.delete_rule(name)
            rule = None
        if rule is None:
            rule = self._new_rule(name, region, scheme, cluster, service, ip)
        rule.cluster, rule.ports = cluster, sorted(ports)
        await self.listeners.listen(name, rule.address, rule.ports, backend, sources)
        return rule

    def delete_rule(self, name: str) -> None:
        """The rule goes: its listeners stop and its IP is free (a reserved one stays reserved)."""
        self.listeners.stop(name)
        self.rules.pop(name, None)

    def detach(self, cluster: str) -> None:
        """The cluster is gone: its rules stay (and are billed), but nothing answers on them."""
        for name, rule in self.rules.items():
            if rule.cluster == cluster:
                self.listeners.stop(name)

    async def stop(self) -> None:
        """The emulator stops: every listener closes (rules are saved with the state)."""
        self.listeners.stop_all()

    def _new_rule(
        self, name: str, region: str, scheme: str, cluster: str, service: str, ip: str | None
    ) -> ForwardingRule:
        if scheme == EXTERNAL and self.in_use_addresses_exhausted:
            used = sum(1 for r in self.rules.values() if (r.region, r.scheme) == (region, scheme))
            raise ComputeError(
                403,
                "QUOTA_EXCEEDED - Quota 'IN_USE_ADDRESSES' exceeded.  "
                f"Limit: {float(used)} in region {region}.",
                "quotaExceeded",
            )
        if ip is not None:
            self._check_rule_ip(region, scheme, ip)
        rule = ForwardingRule(
            name=name,
            region=region,
            address=ip or self._free_ip(),
            ports=[],
            scheme=scheme,
            cluster=cluster,
            service=service,
            id=new_id(),
            created=self._now(),
        )
        self.rules[name] = rule
        return rule

    def _check_rule_ip(self, region: str, scheme: str, ip: str) -> None:
        """A rule may take a reserved address of its region and scheme that no rule holds."""
        reserved = self.address_by_ip(region, ip)
        if reserved is None or reserved.address_type != scheme:
            raise invalid_field("resource.IPAddress", ip, "Invalid IP address specified.")
        if self.users_of(reserved):
            if scheme == INTERNAL:
                raise ip_in_use(ip)
            raise invalid_field(
                "resource.IPAddress",
                ip,
                "Specified IP address is in-use and would result in a conflict.",
            )

    # -- the API ---------------------------------------------------------------------------

    def users_of(self, address: Address) -> list[ForwardingRule]:
        """The rules holding the address's IP."""
        return sorted(
            (
                rule
                for rule in self.rules.values()
                if (rule.region, rule.address) == (address.region, address.address)
            ),
            key=lambda rule: rule.name,
        )

    def find_address(self, region: str, name: str) -> Address:
        """An existing address by name or id; 404 otherwise."""
        for address in self.list_addresses(region):
            if name in (address.name, address.id):
                return address
        raise not_found(f"{region_path(self.project, region)}/addresses/{name}")

    def list_addresses(self, region: str | None) -> list[Address]:
        """The addresses that exist (their insert operation is DONE), in one region or all."""
        self.settle()
        now = self._now()
        found = [a for a in self.addresses.values() if a.exists(now) and region in (None, a.region)]
        return sorted(found, key=lambda address: (address.region, address.name))

    def insert_address(self, region: str, request: AddressRequest, user: str) -> Operation:
        """Reserve an address; it exists once the returned operation is DONE."""
        self.settle()
        path = f"{region_path(self.project, region)}/addresses/{request.name}"
        if f"{region}/{request.name}" in self.addresses:
            raise already_exists(path)
        subnetwork = self._subnetwork(region, request)
        ip = self._claim_ip(region, request)
        now, wall_seconds = self._now(), self.world.clock.scaled(ADDRESS_SECONDS)
        address = Address(
            name=request.name,
            region=region,
            address=ip,
            address_type=request.address_type,
            network_tier=request.network_tier,
            id=new_id(),
            created=now,
            reserved_at=now + wall_seconds,
            description=request.description,
            labels=dict(request.labels),
            subnetwork=subnetwork,
        )
        error = self._static_quota_error(region) if request.address_type == EXTERNAL else None
        if error is None:
            self.addresses[f"{region}/{request.name}"] = address
        return self._begin("insert", region, path, address.id, user, wall_seconds, error)

    def set_address_labels(
        self, region: str, name: str, labels: dict[str, str], fingerprint: str, user: str
    ) -> Operation:
        """Replace the labels when `fingerprint` is that of the current ones (412 otherwise, as
        for a concurrent change); they apply at once, the operation follows."""
        address = self.find_address(region, name)
        path = address.path(self.project)
        if fingerprint != label_fingerprint(address.labels):
            raise fingerprint_mismatch(path)
        address.labels = dict(labels)
        wall_seconds = self.world.clock.scaled(ADDRESS_SECONDS)
        return self._begin("setLabels", region, path, address.id, user, wall_seconds)

    def delete_address(self, region: str, name: str, user: str) -> Operation:
        """Release an address no rule holds; it is gone once the operation is DONE."""
        address = self.find_address(region, name)
        path = address.path(self.project)
        if address.deleted_at is not None:
            raise not_ready(path)
        users = self.users_of(address)
        if users:
            raise in_use("address", path, users[0].path(self.project))
        wall_seconds = self.world.clock.scaled(ADDRESS_SECONDS)
        address.deleted_at = self._now() + wall_seconds
        return self._begin("delete", region, path, address.id, user, wall_seconds)

    def find_rule(self, region: str, name: str) -> ForwardingRule:
        self.settle()
        for rule in self.rules.values():
            if rule.region == region and name in (rule.name, rule.id):
                return rule
        raise not_found(f"{region_path(self.project, region)}/forwardingRules/{name}")

    def list_rules(self, region: str | None) -> list[ForwardingRule]:
        self.settle()
        found = [rule for rule in self.rules.values() if region in (None, rule.region)]
        return sorted(found, key=lambda rule: (rule.region, rule.name))

    def delete_rule_operation(self, region: str, name: str, user: str) -> Operation:
        """Delete a rule through the API: it goes once the operation is DONE (and its Service's
        controller, if it still runs, creates it again on its next sync)."""
        rule = self.find_rule(region, name)
        path = rule.path(self.project)
        if rule.deleted_at is not None:
            raise not_ready(path)
        wall_seconds = self.world.clock.scaled(FORWARDING_RULE_DELETE_SECONDS)
        rule.deleted_at = self._now() + wall_seconds
        return self._begin("delete", region, path, rule.id, user, wall_seconds)

    def find_operation(self, region: str, name: str) -> Operation:
        for operation in self.operations.values():
            if operation.region == region and name in (operation.name, operation.id):
                return operation
        raise not_found(f"{region_path(self.project, region)}/operations/{name}")

    def _begin(
        self,
        kind: str,
        region: str,
        target: str,
        target_id: str,
        user: str,
        wall_seconds: float,
        error: OperationError | None = None,
    ) -> Operation:
        operation = Operation.begin(
            region=region,
            kind=kind,
            target=target,
            target_id=target_id,
            user=user,
            now=self._now(),
            wall_seconds=wall_seconds,
            error=error,
        )
        self.operations[operation.name] = operation
        # Effects apply whenever anyone looks; this makes a deleted rule stop answering on time.
        asyncio.get_running_loop().call_later(wall_seconds, self.settle)
        return operation

    def _subnetwork(self, region: str, request: AddressRequest) -> str:
        """The subnetwork path of an INTERNAL address: the `default` one of its region."""
        if request.address_type != INTERNAL:
            return ""
        project, subnet_region, name = request.subnetwork
        path = f"{region_path(project, subnet_region)}/subnetworks/{name}"
        if project not in (self.project, self.world.project_number) or name != "default":
            raise not_found(path)
        if subnet_region != region:
            raise invalid_field(
                "resource.subnetwork", path, "The subnetwork must be in the address's region."
            )
        return f"{region_path(self.project, region)}/subnetworks/{name}"

    def _claim_ip(self, region: str, request: AddressRequest) -> str:
        """The IP to reserve: a free one, or the one asked for if no address holds it (an IP a
        rule of that region and type holds is promoted: the address is then IN_USE by it)."""
        ip = request.address
        if not ip:
            return self._free_ip()
        if any(address.address == ip for address in self.addresses.values()):
            raise ip_in_use(ip)
        holder = next((rule for rule in self.rules.values() if rule.address == ip), None)
        if holder is not None:
            if (holder.region, holder.scheme) != (region, request.address_type):
                raise ip_in_use(ip)
            return ip
        if not _in_pool(ip):
            why = (
                "Requested internal IP is outside the subnetwork CIDR range."
                if request.address_type == INTERNAL
                else f"The specified external IP address '{ip}' was not found in region '{region}'."
            )
            raise invalid_field("resource.address", ip, why)
        return ip

    def _free_ip(self) -> str:
        """The first free IP from this process's random starting point: two emulators on one
        machine (a rehearsal next to a test run) rarely hand out the same IP and port."""
        used = {a.address for a in self.addresses.values()}
        used |= {r.address for r in self.rules.values()}
        base, size = int(_POOL.network_address), _POOL.num_addresses
        for step in range(size):
            ip = str(ipaddress.ip_address(base + (self._ip_start + step) % size))
            if _in_pool(ip) and ip not in used:
                return ip
        raise RuntimeError("no loopback address left")

    def _static_quota_error(self, region: str) -> OperationError | None:
        if not self.static_addresses_exhausted:
            return None
        reserved = sum(
            1 for a in self.addresses.values() if (a.region, a.address_type) == (region, EXTERNAL)
        )
        return OperationError(
            code="QUOTA_EXCEEDED",
            message=f"Quota 'STATIC_ADDRESSES' exceeded.  Limit: {float(reserved)} in region "
            f"{region}.",
            http_status=403,
            http_message="FORBIDDEN",
        )

    # -- time, scenarios, state ------------------------------------------------------------

    def settle(self) -> None:
        """Apply the deletions whose operations are DONE."""
        now = self._now()
        for key, address in list(self.addresses.items()):
            if address.deleted_at is not None and address.deleted_at <= now:
                del self.addresses[key]
        for name, rule in list(self.rules.items()):
            if rule.deleted_at is not None and rule.deleted_at <= now:
                self.delete_rule(name)

    def _now(self) -> float:
        return self.world.clock.now()

    def _exhaust_in_use(self, params: dict[str, Any]) -> dict[str, Any]:
        self.in_use_addresses_exhausted = True
        return {"in_use_addresses_exhausted": True}

    def _exhaust_static(self, params: dict[str, Any]) -> dict[str, Any]:
        self.static_addresses_exhausted = True
        return {"static_addresses_exhausted": True}

    def _restore_quotas(self) -> None:
        self.in_use_addresses_exhausted = self.static_addresses_exhausted = False

    def resources(self) -> list[Resource]:
        self.settle()
        project = self.project
        addresses = [
            Resource("compute", "Address", a.path(project), dict(a.labels), rfc3339(a.created))
            for a in self.addresses.values()
        ]
        rules = [
            Resource("compute", "ForwardingRule", r.path(project), {}, rfc3339(r.created))
            for r in self.rules.values()
        ]
        return addresses + rules

    def dump(self) -> dict[str, Any]:
        self.settle()
        return {
            "addresses": [address.dump() for address in self.addresses.values()],
            "forwarding_rules": [rule.dump() for rule in self.rules.values()],
            "operations": [operation.dump() for operation in self.operations.values()],
            "capacity": self.capacity.dump(),
        }

    def load(self, state: dict[str, Any]) -> None:
        """Replace everything. Rules come back without listeners: their clusters attach them
        again with `ensure_rule`."""
        self.listeners.stop_all()
        addresses = [Address(**entry) for entry in state["addresses"]]
        self.addresses = {f"{a.region}/{a.name}": a for a in addresses}
        self.rules = {entry["name"]: ForwardingRule(**entry) for entry in state["forwarding_rules"]}
        operations = [Operation.load(entry) for entry in state["operations"]]
        self.operations = {operation.name: operation for operation in operations}
        self.capacity.load(state["capacity"])


def _in_pool(ip: str) -> bool:
    """Whether the emulator may hand `ip` out: 127.0.0.2 up to 127.0.255.254, no .0 or .255."""
    address = ipaddress.ip_address(ip)
    return address in _POOL and address >= _FIRST_IP and 0 < address.packed[3] < 255


def compute_service(world: World) -> ComputeService:
    """The world's `compute` service, registered on first use (a cluster's service controller
    may run in a world that serves no Compute API)."""
    if "compute" not in world.services:
        world.add_service(ComputeService(world))
    service = world.services["compute"]
    if not isinstance(service, ComputeService):
        raise TypeError(f"the world's compute service is a {type(service).__name__}")
    return service
