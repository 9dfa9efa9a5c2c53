"""What the project may still run: regional quotas and zonal reservations, against GKE's nodes.

The state is small (quota limits a scenario set, the reservations a scenario made); usage is
read from GKE's nodes whenever someone asks, so it can never drift from what runs.
"""

from typing import Any

from emulator.core.world import World
from emulator.gcp.compute import places
from emulator.gcp.compute.quotas import REGION_METRICS, QuotaLimits
from emulator.gcp.compute.reservations import Reservation, new_reservation, shortfall
from emulator.gcp.gke import catalog
from emulator.gcp.usage import NodeGroup, NodeSource


class ComputeCapacity:
    def __init__(self, world: World) -> None:
        self.world = world
        self.limits = QuotaLimits()
        self.reservations: dict[str, Reservation] = {}  # by `<zone>/<name>`
        world.faults.register_scenario(
            "quota", lambda params: self.limits.scenario(params, places.REGIONS), self.limits.clear
        )
        world.faults.register_scenario("reservation", self._reserve, self._unreserve)

    def node_groups(self) -> list[NodeGroup]:
        source = self.world.services.get("container")
        return source.node_groups() if isinstance(source, NodeSource) else []

    # -- what the API reports --------------------------------------------------------------

    def quota_usage(self, region: str) -> dict[str, float]:
        """What the region's nodes use now, per quota id (Cloud Monitoring reports it too)."""
        return self.limits.usage(self.node_groups(), region)

    def region_quotas(self, region: str) -> list[dict[str, Any]]:
        """`Region.quotas`: the limit and usage of each quota `regions.get` has a metric for."""
        usage = self.quota_usage(region)
        return [
            {
                "metric": quota.region_metric,
                "limit": self.limits.limit(region, quota.quota_id),
                "usage": usage.get(quota.quota_id, 0.0),
            }
            for quota in REGION_METRICS
        ]

    def reservations_json(self) -> list[tuple[str, dict[str, Any]]]:
        """Every reservation's JSON with its zone, by zone and name."""
        groups = self.node_groups()
        project = self.world.project_id
        return [
            (r.zone, r.to_json(project, r.in_use(groups)))
            for _, r in sorted(self.reservations.items())
        ]

    def reservation_json(self, zone: str, name: str) -> dict[str, Any] | None:
        reservation = self.reservations.get(f"{zone}/{name}")
        if reservation is None:
            return None
        return reservation.to_json(self.world.project_id, reservation.in_use(self.node_groups()))

    # -- what GKE asks before it creates nodes (emulator.gcp.usage.Admission) --------------

    def quota_shortfall(self, wanted: list[NodeGroup]) -> str:
        existing = self.node_groups()
        for region in sorted({catalog.region_of(group.zone) for group in wanted}):
            short = self.limits.shortfall(existing, wanted, region)
            if short is not None:
                return short.gke_message(self.world.project_id)
        return ""

    def reservation_shortfall(self, wanted: NodeGroup) -> str:
        return shortfall(self.world.project_id, self.reservations, self.node_groups(), wanted)

    # -- scenarios and state ---------------------------------------------------------------

    def _reserve(self, params: dict[str, Any]) -> dict[str, Any]:
        """The `reservation` scenario: a READY specific reservation (see `reservations`)."""
        reservation = new_reservation(params, self.world.clock.now())
        self.reservations[f"{reservation.zone}/{reservation.name}"] = reservation
        return {"reservations": sorted(self.reservations)}

    def _unreserve(self) -> None:
        self.reservations = {}

    def dump(self) -> dict[str, Any]:
        return {
            "quota_limits": self.limits.dump(),
            "reservations": [r.dump() for r in self.reservations.values()],
        }

    def load(self, state: dict[str, Any]) -> None:
        self.limits.load(state["quota_limits"])
        reservations = [Reservation(**entry) for entry in state["reservations"]]
        self.reservations = {f"{r.zone}/{r.name}": r for r in reservations}
