"""Compute Engine's regional quotas, as `regions.get` reports them and GKE's node pools meet them.

Metric names are the values of `Quota.metric` in the `compute.v1` discovery document (the
enum `regions.get` answers from). TPU chips are counted per generation and provisioning model:
v5e (`ct5lp-*`) in `TPU_LITE_PODSLICE_V5` / `PREEMPTIBLE_TPU_LITE_PODSLICE_V5`, v4 (`ct4p-*`)
in `TPU_PODSLICE_V4` / `PREEMPTIBLE_TPU_PODSLICE_V4`; other VMs' vCPUs in `CPUS` /
`PREEMPTIBLE_CPUS`. The enum has no v5p or v6e metric and no committed TPU metric: Google keeps
those in the Cloud Quotas API, not in a region's `quotas`, so they are not modelled here.
Nodes that consume a reservation use the reservation's capacity, not on-demand quota.

Usage follows from the nodes GKE has (or is creating); limits are the defaults below unless
the `quota` scenario sets them.
"""

from dataclasses import dataclass
from typing import Any

from emulator.gcp.gke import catalog
from emulator.gcp.usage import SPOT, NodeGroup

# TPU chip metrics per generation name: (on-demand, spot/preemptible).
_TPU_METRICS = {
    "v5e": ("TPU_LITE_PODSLICE_V5", "PREEMPTIBLE_TPU_LITE_PODSLICE_V5"),
    "v4": ("TPU_PODSLICE_V4", "PREEMPTIBLE_TPU_PODSLICE_V4"),
}
# Limits of a project that asked for TPU quota: room for the tutorial's slices and a few more.
DEFAULT_LIMITS = {
    "CPUS": 1500.0,
    "PREEMPTIBLE_CPUS": 1500.0,
    "TPU_LITE_PODSLICE_V5": 512.0,
    "PREEMPTIBLE_TPU_LITE_PODSLICE_V5": 1536.0,
    "TPU_PODSLICE_V4": 512.0,
    "PREEMPTIBLE_TPU_PODSLICE_V4": 512.0,
}
METRICS = tuple(DEFAULT_LIMITS)


def metric_of(group: NodeGroup) -> tuple[str, float] | None:
    """The metric a group of nodes counts against and by how much (None: no regional quota)."""
    machine = catalog.MACHINE_TYPES[group.machine_type]
    spot = group.provisioning == SPOT
    if machine.tpu is None:
        return ("PREEMPTIBLE_CPUS" if spot else "CPUS"), float(machine.cpus * group.nodes)
    metrics = _TPU_METRICS.get(machine.tpu.name)
    if metrics is None:
        return None
    return metrics[1 if spot else 0], float(machine.chips * group.nodes)


def usage_by_metric(groups: list[NodeGroup], region: str) -> dict[str, float]:
    """What the groups of `region` use, per metric (reserved nodes use no quota)."""
    usage: dict[str, float] = {}
    for group in groups:
        counted = metric_of(group) if group.reservation == "" else None
        if counted is not None and catalog.region_of(group.zone) == region:
            metric, amount = counted
            usage[metric] = usage.get(metric, 0.0) + amount
    return usage


@dataclass(frozen=True)
class Shortfall:
    metric: str
    region: str
    requested: float
    limit: float
    used: float

    def gke_message(self, project: str) -> str:
        """GKE's pre-check wording when a node pool would exceed a regional quota."""
        available = max(0.0, self.limit - self.used)
        return (
            f'Insufficient regional quota to satisfy request: resource "{self.metric}": request '
            f"requires '{self.requested}' and is short '{self.requested - available}'. project "
            f"has a quota of '{self.limit}' with '{available}' available. View and manage quotas "
            f"at https://console.cloud.google.com/iam-admin/quotas?usage=USED&project={project}."
        )


class QuotaLimits:
    """Limits per (region, metric); the defaults unless a scenario set one."""

    def __init__(self) -> None:
        self._set: dict[tuple[str, str], float] = {}

    def limit(self, region: str, metric: str) -> float:
        return self._set.get((region, metric), DEFAULT_LIMITS[metric])

    def shortfall(
        self, existing: list[NodeGroup], wanted: list[NodeGroup], region: str
    ) -> Shortfall | None:
        used = usage_by_metric(existing, region)
        requested = usage_by_metric(wanted, region)
        for metric, amount in requested.items():
            limit = self.limit(region, metric)
            if used.get(metric, 0.0) + amount > limit:
                return Shortfall(metric, region, amount, limit, used.get(metric, 0.0))
        return None

    def scenario(self, params: dict[str, Any], regions: tuple[str, ...]) -> dict[str, Any]:
        """The `quota` scenario: `metric`, `limit`, optional `region` (default: every one)."""
        metric, limit, region = params.get("metric"), params.get("limit"), params.get("region")
        if metric not in DEFAULT_LIMITS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        if not isinstance(limit, int | float) or limit < 0:
            raise ValueError(f"limit must be a number >= 0, got {limit!r}")
        if region is not None and region not in regions:
            raise ValueError(f"unknown region {region!r}; known: {', '.join(regions)}")
        for each in [region] if region else regions:
            self._set[(each, metric)] = float(limit)
        return {"limits": self.dump()}

    def clear(self) -> None:
        self._set.clear()

    def dump(self) -> list[dict[str, Any]]:
        return [
            {"region": region, "metric": metric, "limit": limit}
            for (region, metric), limit in sorted(self._set.items())
        ]

    def load(self, state: list[dict[str, Any]]) -> None:
        self._set = {(entry["region"], entry["metric"]): entry["limit"] for entry in state}
