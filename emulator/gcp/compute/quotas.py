"""Compute Engine's regional quotas: what GKE's node pools spend, as `regions.get` and the Cloud
Quotas API report them and GKE meets them.

Each quota is known by its Cloud Quotas id (`TPU-V5P-per-project-region`) and, where
`regions.get` reports it, by a value of `Quota.metric` in the `compute.v1` discovery document
(`TPU_LITE_PODSLICE_V5`): one limit and one usage serve both names. TPU chips count per
generation and provisioning model: v5e (`ct5lp-*`), v4 (`ct4p-*`) and v5p (`ct5p-*`) each in an
on-demand and a preemptible quota; v6e (`ct6e-*`) on demand in `TPUS-PER-TPU-FAMILY-per-project-
region` (dimensions region and `tpu_family`, family `CT6E`) and otherwise in
`PREEMPTIBLE-TPU-V6E-per-project-region`. Other VMs' vCPUs count in CPUS / PREEMPTIBLE_CPUS.
Spot and preemptible VMs spend the preemptible quota; flex-start VMs too while it has room, then
the on-demand one (Compute Engine, "Provisioning models": "When you create a Flex-start VM,
preemptible quota is consumed. If your project lacks preemptible quota, then standard quota is
consumed"); nodes that consume a specific reservation spend none. The discovery document's enum
has no v5p or v6e metric, so `regions.get` does not report those: Google keeps them in the Cloud
Quotas API only.

Sources: the quota ids were read live from `gcloud quotas info` by a public third-party project
(Google's documentation does not list them); `compute.googleapis.com/cpus` and
`.../tpus_per_tpu_family` are Google's metric names, the other metric names are the emulator's
choice in Google's style.

Usage follows from the nodes GKE has (flex-start pools, in the order GKE lists them, take the
preemptible quota while it has room); limits are the defaults below unless the `quota` scenario
sets them.
"""

from dataclasses import dataclass
from typing import Any

from emulator.gcp.gke import catalog
from emulator.gcp.usage import FLEX_START, SPOT, NodeGroup

SERVICE = "compute.googleapis.com"


@dataclass(frozen=True)
class Quota:
    """One regional quota of Compute Engine."""

    quota_id: str  # the Cloud Quotas id
    metric: str  # the Cloud Quotas metric, also Monitoring's `quota_metric` label
    display_name: str
    default: float  # the limit of a project that asked for TPU quota
    region_metric: str = ""  # `regions.get`'s name ("": the discovery document has none)
    tpu_family: str = ""  # the `tpu_family` dimension's value ("": no such dimension)

    @property
    def name(self) -> str:
        """How GKE's refusal and the control API name it: `regions.get`'s metric, else the id."""
        return self.region_metric or self.quota_id


# `regions.get` reports the first six, in this order.
QUOTAS = (
    Quota("CPUS-per-project-region", f"{SERVICE}/cpus", "CPUs", 1500.0, "CPUS"),
    Quota(
        "PREEMPTIBLE-CPUS-per-project-region",
        f"{SERVICE}/preemptible_cpus",
        "Preemptible CPUs",
        1500.0,
        "PREEMPTIBLE_CPUS",
    ),
    Quota(
        "TPU-LITE-PODSLICE-V5-per-project-region",
        f"{SERVICE}/tpu_lite_podslice_v5",
        "TPU v5 Lite PodSlice chips",
        512.0,
        "TPU_LITE_PODSLICE_V5",
    ),
    Quota(
        "PREEMPTIBLE-TPU-LITE-PODSLICE-V5-per-project-region",
        f"{SERVICE}/preemptible_tpu_lite_podslice_v5",
        "Preemptible TPU v5 Lite PodSlice chips",
        1536.0,
        "PREEMPTIBLE_TPU_LITE_PODSLICE_V5",
    ),
    Quota(
        "TPU-PODSLICE-V4-per-project-region",
        f"{SERVICE}/tpu_podslice_v4",
        "TPU v4 PodSlice chips",
        512.0,
        "TPU_PODSLICE_V4",
    ),
    Quota(
        "PREEMPTIBLE-TPU-PODSLICE-V4-per-project-region",
        f"{SERVICE}/preemptible_tpu_podslice_v4",
        "Preemptible TPU v4 PodSlice chips",
        512.0,
        "PREEMPTIBLE_TPU_PODSLICE_V4",
    ),
    Quota("TPU-V5P-per-project-region", f"{SERVICE}/tpu_v5p", "TPU v5p chips", 512.0),
    Quota(
        "PREEMPTIBLE-TPU-V5P-per-project-region",
        f"{SERVICE}/preemptible_tpu_v5p",
        "Preemptible TPU v5p chips",
        512.0,
    ),
    Quota(
        "TPUS-PER-TPU-FAMILY-per-project-region",
        f"{SERVICE}/tpus_per_tpu_family",
        "TPUs per TPU family",
        512.0,
        tpu_family="CT6E",
    ),
    Quota(
        "PREEMPTIBLE-TPU-V6E-per-project-region",
        f"{SERVICE}/preemptible_tpu_v6e",
        "Preemptible TPU v6e chips",
        1536.0,
    ),
)
BY_ID = {quota.quota_id: quota for quota in QUOTAS}
REGION_METRICS = tuple(quota for quota in QUOTAS if quota.region_metric)
# The names the `quota` scenario takes: `regions.get`'s, then the Cloud Quotas ids.
_BY_NAME = {quota.region_metric: quota for quota in REGION_METRICS} | BY_ID
# (on-demand, spot/preemptible) quota ids per TPU generation; None: other VMs (vCPUs).
_SPENT = {
    None: ("CPUS-per-project-region", "PREEMPTIBLE-CPUS-per-project-region"),
    "v5e": (
        "TPU-LITE-PODSLICE-V5-per-project-region",
        "PREEMPTIBLE-TPU-LITE-PODSLICE-V5-per-project-region",
    ),
    "v4": ("TPU-PODSLICE-V4-per-project-region", "PREEMPTIBLE-TPU-PODSLICE-V4-per-project-region"),
    "v5p": ("TPU-V5P-per-project-region", "PREEMPTIBLE-TPU-V5P-per-project-region"),
    "v6e": ("TPUS-PER-TPU-FAMILY-per-project-region", "PREEMPTIBLE-TPU-V6E-per-project-region"),
}


def spent_by(group: NodeGroup) -> tuple[tuple[str, ...], float]:
    """The quota ids a group of unreserved nodes may spend, in order, and how much (vCPUs or TPU
    chips): flex-start VMs the preemptible quota, then the on-demand one."""
    machine = catalog.MACHINE_TYPES[group.machine_type]
    on_demand, preemptible = _SPENT[None if machine.tpu is None else machine.tpu.name]
    amount = machine.cpus if machine.tpu is None else machine.chips
    spends = {SPOT: (preemptible,), FLEX_START: (preemptible, on_demand)}
    return spends.get(group.provisioning, (on_demand,)), float(amount * group.nodes)


@dataclass(frozen=True)
class Shortfall:
    quota: Quota
    region: str
    requested: float
    limit: float
    used: float

    def gke_message(self, project: str) -> str:
        """GKE's pre-check wording when a node pool would exceed a regional quota."""
        available = max(0.0, self.limit - self.used)
        return (
            f'Insufficient regional quota to satisfy request: resource "{self.quota.name}": '
            f"request requires '{self.requested}' and is short '{self.requested - available}'. "
            f"project has a quota of '{self.limit}' with '{available}' available. View and manage "
            f"quotas at https://console.cloud.google.com/iam-admin/quotas?usage=USED&project="
            f"{project}."
        )


class QuotaLimits:
    """Limits per quota id: a region's own, else the project's (None region), else the default."""

    def __init__(self) -> None:
        self._set: dict[tuple[str | None, str], float] = {}

    def limit(self, region: str, quota_id: str) -> float:
        default = self._set.get((None, quota_id), BY_ID[quota_id].default)
        return self._set.get((region, quota_id), default)

    def settings(self, quota_id: str) -> tuple[float, dict[str, float]]:
        """The limit of the regions without their own, and each other region's."""
        own = {
            region: limit
            for (region, each), limit in self._set.items()
            if each == quota_id and region is not None
        }
        return self._set.get((None, quota_id), BY_ID[quota_id].default), own

    def usage(self, groups: list[NodeGroup], region: str) -> dict[str, float]:
        """What the groups of `region` use, per quota id: each group in turn takes the first
        quota it may spend that has room, else the last (reserved nodes use none)."""
        usage: dict[str, float] = {}
        for group in groups:
            if group.reservation or catalog.region_of(group.zone) != region:
                continue
            quota_ids, amount = spent_by(group)
            fits = (q for q in quota_ids if usage.get(q, 0.0) + amount <= self.limit(region, q))
            quota_id = next(fits, quota_ids[-1])
            usage[quota_id] = usage.get(quota_id, 0.0) + amount
        return usage

    def shortfall(
        self, existing: list[NodeGroup], wanted: list[NodeGroup], region: str
    ) -> Shortfall | None:
        """The first quota the wanted groups would take beyond its limit (None: they fit)."""
        used = self.usage(existing, region)
        after = self.usage([*existing, *wanted], region)
        for quota_id, total in after.items():
            requested = total - used.get(quota_id, 0.0)
            limit = self.limit(region, quota_id)
            if requested > 0 and total > limit:
                return Shortfall(BY_ID[quota_id], region, requested, limit, used.get(quota_id, 0.0))
        return None

    def scenario(self, params: dict[str, Any], regions: tuple[str, ...]) -> dict[str, Any]:
        """The `quota` scenario: `metric` (either name of a quota), `limit`, optional `region`
        (default: every region) and `tpu_family` (the quota's own family)."""
        name, limit, region = params.get("metric"), params.get("limit"), params.get("region")
        quota = _BY_NAME.get(name) if isinstance(name, str) else None
        if quota is None:
            raise ValueError(f"unknown metric {name!r}; known: {', '.join(_BY_NAME)}")
        family = params.get("tpu_family", quota.tpu_family or None)
        if family != (quota.tpu_family or None):
            raise ValueError(
                f"tpu_family must be {quota.tpu_family!r}, the only one modelled, not {family!r}"
                if quota.tpu_family
                else f"{quota.quota_id} has no tpu_family dimension"
            )
        whole = isinstance(limit, int | float) and not isinstance(limit, bool)
        if not whole or limit < 0 or not float(limit).is_integer():
            raise ValueError(f"limit must be a whole number >= 0, got {limit!r}")
        if region is not None and region not in regions:
            raise ValueError(f"unknown region {region!r}; known: {', '.join(regions)}")
        if region is None:  # the project's limit replaces every region's own
            self._set = {key: value for key, value in self._set.items() if key[1] != quota.quota_id}
        self._set[(region, quota.quota_id)] = float(limit)
        return {"limits": self.dump()}

    def clear(self) -> None:
        self._set.clear()

    def dump(self) -> list[dict[str, Any]]:
        """Each limit set, its quota by the name GKE gives it (region None: every region)."""
        return [
            {"region": region, "metric": BY_ID[quota_id].name, "limit": limit}
            for (region, quota_id), limit in sorted(
                self._set.items(), key=lambda item: (item[0][0] or "", item[0][1])
            )
        ]

    def load(self, state: list[dict[str, Any]]) -> None:
        self._set = {
            (entry["region"], _BY_NAME[entry["metric"]].quota_id): entry["limit"] for entry in state
        }
