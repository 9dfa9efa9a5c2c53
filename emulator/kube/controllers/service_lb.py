"""GKE's service controller (in its cloud controller manager): LoadBalancer Services get a
Compute Engine forwarding rule.

A LoadBalancer Service first gets the `service.kubernetes.io/load-balancer-cleanup` finalizer;
after the time Google takes to program a load balancer, its forwarding rule exists and the
rule's address is the Service's `status.loadBalancer.ingress[0].ip`. Connections to it reach a
ready endpoint of the Service. Deleting the Service (or changing its type) deletes the rule
before the finalizer goes; deleting the cluster first leaves the rule behind. The internal load
balancer annotation makes the rule INTERNAL instead of EXTERNAL. `spec.loadBalancerIP` names a
reserved address the rule takes (see `requested_ip`); without it the IP is ephemeral. A rule
deleted through the Compute API while its Service exists is created again on the next sync.
`spec.loadBalancerSourceRanges` become the load balancer's firewall rule: only clients in them
get through (without them, everyone: 0.0.0.0/0).
"""

import ipaddress
import random
from typing import TYPE_CHECKING

from emulator.gcp.compute import Backend, ComputeError, compute_service
from emulator.gcp.compute.listeners import EVERYWHERE, Network
from emulator.gcp.compute.model import EXTERNAL, INTERNAL, ForwardingRule
from emulator.kube.controllers.base import Controller, min_requeue
from emulator.kube.controllers.endpoints import ready_endpoints
from emulator.kube.controllers.requested_ip import requested_ip_problem
from emulator.kube.store import Obj

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
INTERNAL_ANNOTATIONS = (
    "networking.gke.io/load-balancer-type",
    "cloud.google.com/load-balancer-type",  # the older spelling GKE still honours
)
_PROVISIONING_SECONDS = 40.0


def load_balancer_name(service: Obj) -> str:
    """cloudprovider.DefaultLoadBalancerName: `a` and the Service uid without dashes, 32 chars."""
    return ("a" + service["metadata"]["uid"].replace("-", ""))[:32]


def scheme(service: Obj) -> str:
    annotations = service["metadata"].get("annotations") or {}
    internal = any(annotations.get(key, "").lower() == "internal" for key in INTERNAL_ANNOTATIONS)
    return INTERNAL if internal else EXTERNAL


def source_ranges(service: Obj) -> tuple[Network, ...]:
    """The networks the Service's firewall rule admits; raises ValueError for a bad range."""
    ranges = service["spec"].get("loadBalancerSourceRanges") or []
    return tuple(ipaddress.ip_network(text.strip()) for text in ranges) or EVERYWHERE


def _refusal(error: ComputeError, rule_scheme: str, load_balancer: str) -> str:
    """Compute refused a new rule; GKE's external path says which rule it failed to create."""
    if rule_scheme == INTERNAL:
        return error.googleapi_text()
    failed = f"failed to create forwarding rule for load balancer ({load_balancer})"
    return f"{failed}: {error.googleapi_text()}"


def region_of(location: str) -> str:
    """A cluster's region: its location, or the region of its zone."""
    return location.rsplit("-", 1)[0] if location.count("-") >= 2 else location


class ServiceLoadBalancerController(Controller):
    source = "service-controller"

    def __init__(self, cluster: "KubeCluster") -> None:
        super().__init__(cluster)
        self.compute = compute_service(cluster.world)
        self.cluster_path = (
            f"projects/{cluster.world.project_id}/locations/{cluster.location}"
            f"/clusters/{cluster.name}"
        )
        # Service uid -> wall time its load balancer is programmed; in memory, as the
        # controller's work in flight is.
        self._due: dict[str, float] = {}

    async def run(self) -> None:
        try:
            await super().run()
        finally:  # the cluster stops: its rules stay, unreachable
            self.compute.detach(self.cluster_path)

    async def reconcile(self) -> float | None:
        services = self.store.list_objects(self.rtype("v1", "Service"))
        return min_requeue(*[await self._sync(service) for service in services])

    async def _sync(self, service: Obj) -> float | None:
        service_type = self.rtype("v1", "Service")
        finalizers = service["metadata"].get("finalizers") or []
        wanted = service["spec"].get("type") == "LoadBalancer" and not service["metadata"].get(
            "deletionTimestamp"
        )
        if not wanted:
            if FINALIZER in finalizers:
                self._tear_down(service)
            return None
        if FINALIZER not in finalizers:
            self.update(
                service_type,
                service,
                lambda current: current["metadata"].setdefault("finalizers", []).append(FINALIZER),
            )
            return None
        name = load_balancer_name(service)
        uid = service["metadata"]["uid"]
        rule = self.compute.rule(name)
        if rule is None:
            now = self.clock.now()
            if uid not in self._due:
                self._due[uid] = now + self.clock.scaled(_PROVISIONING_SECONDS)
                self.event(service, "EnsuringLoadBalancer", "Ensuring load balancer")
            if now < self._due[uid]:
                return (self._due[uid] - now) / self.clock.time_scale
        rule = await self._ensure(service, name, rule)
        if rule is None:
            return None
        self._due.pop(uid, None)
        ingress = [{"ip": rule.address, "ipMode": "VIP"}]
        status = service.get("status") or {}
        if (status.get("loadBalancer") or {}).get("ingress") != ingress:
            self.write_status(
                service_type, service, {**status, "loadBalancer": {"ingress": ingress}}
            )
            self.event(service, "EnsuredLoadBalancer", "Ensured load balancer")
        return None

    async def _ensure(
        self, service: Obj, name: str, rule: ForwardingRule | None
    ) -> ForwardingRule | None:
        """The Service's rule as it should be now; None (and a Warning) when GKE cannot make it."""
        ports = [
            port["port"]
            for port in service["spec"].get("ports") or []
            if port.get("protocol", "TCP") == "TCP"
        ]
        namespace, service_name = service["metadata"]["namespace"], service["metadata"]["name"]
        rule_scheme, region = scheme(service), region_of(self.cluster.location)
        requested = service["spec"].get("loadBalancerIP") or None
        if requested is not None:
            problem = requested_ip_problem(
                self.compute,
                region=region,
                ip=requested,
                scheme=rule_scheme,
                current_ip=rule.address if rule else None,
            )
            if problem is not None:
                self._sync_failed(service, problem)
                return None
        try:
            sources = source_ranges(service)
        except ValueError as error:
            self._sync_failed(service, f"invalid loadBalancerSourceRanges: {error}")
            return None
        try:
            return await self.compute.ensure_rule(
                name=name,
                region=region,
                cluster=self.cluster_path,
                service=f"{namespace}/{service_name}",
                ports=ports,
                scheme=rule_scheme,
                ip=requested,
                backend=self._backend(namespace, service_name),
                sources=sources,
            )
        except ComputeError as error:
            load_balancer = f"{name}({namespace}/{service_name})"
            self._sync_failed(service, _refusal(error, rule_scheme, load_balancer))
        except OSError as error:
            self._sync_failed(service, str(error))
        return None

    def _tear_down(self, service: Obj) -> None:
        service_type = self.rtype("v1", "Service")
        name = load_balancer_name(service)
        self._due.pop(service["metadata"]["uid"], None)
        if self.compute.rule(name) is not None:
            self.event(service, "DeletingLoadBalancer", "Deleting load balancer")
            self.compute.delete_rule(name)
            self.event(service, "DeletedLoadBalancer", "Deleted load balancer")
        status = service.get("status") or {}
        if status.get("loadBalancer"):
            service = self.write_status(service_type, service, {**status, "loadBalancer": {}})

        def drop_finalizer(current: Obj) -> None:
            current["metadata"]["finalizers"] = [
                f for f in current["metadata"]["finalizers"] if f != FINALIZER
            ]

        self.update(service_type, service, drop_finalizer)

    def _sync_failed(self, service: Obj, cause: str) -> None:
        message = f"Error syncing load balancer: failed to ensure load balancer: {cause}"
        self.failed(service, "SyncLoadBalancerFailed", message)

    def _backend(self, namespace: str, name: str) -> Backend:
        """Where a connection to a Service port goes: a ready endpoint's real listener."""
        store, network = self.store, self.cluster.network

        def resolve(port: int) -> tuple[str, int] | None:
            service = store.find(store.types.by_kind("v1", "Service"), namespace, name)
            endpoints = store.find(store.types.by_kind("v1", "Endpoints"), namespace, name)
            if service is None or endpoints is None:
                return None
            service_port = next(
                (p for p in service["spec"].get("ports") or [] if p["port"] == port), None
            )
            if service_port is None:
                return None
            targets = [
                target
                for address, target_port in ready_endpoints(endpoints, service_port)
                if (target := network.resolve(address, target_port)) is not None
            ]
            return random.choice(targets) if targets else None

        return resolve
