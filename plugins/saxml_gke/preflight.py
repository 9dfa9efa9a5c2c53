"""Preflight: what a deployment needs from the project, judged before anything is created.

Pure: the `preflight` task reads the facts through the APIs (`saxml_gke.operators.preflight`)
and hands them here. Every problem is reported at once, each with what was asked, what is there
and what to do, so a deployment that cannot work fails in its first minute, before a cluster
bills, and is fixed in one round trip.

TPU chip quota. GKE's TPU nodes are Compute Engine VMs and count against Compute Engine's
regional quotas, which `regions.get` reports as `quotas[]` (`metric`, `limit`, `usage`). The
metric names are the values of `Quota.metric` in Compute Engine's v1 discovery document (the
enum `regions.get` answers from). GKE's "Deploy TPU workloads in GKE Standard" names them as the
quotas its TPU node pools need ("Ensure that you have TPU quota",
cloud.google.com/kubernetes-engine/docs/how-to/tpus), and Cloud TPU's "Quotas"
(cloud.google.com/tpu/docs/quota) splits them by provisioning model:

- on-demand: `TPU_PODSLICE_V4` (v4), `TPU_LITE_PODSLICE_V5` (v5e podslice);
- spot (preemptible): `PREEMPTIBLE_TPU_PODSLICE_V4`, `PREEMPTIBLE_TPU_LITE_PODSLICE_V5`;
- flex-start, queued or not: the preemptible metric, then the on-demand one when the
  preemptible quota is lacking (Compute Engine, "Provisioning models": "When you create a
  Flex-start VM, preemptible quota is consumed. If your project lacks preemptible quota, then
  standard quota is consumed"; Cloud TPU, "Request Cloud TPUs using Flex-start", asks for
  preemptible quota). Queued provisioning only changes how the same VMs are asked for;
- reserved: none. Nodes of a specific reservation run on capacity whose quota was taken when it
  was reserved (Compute Engine, "Reservations of Compute Engine zonal resources"), so the
  reservation itself is checked: it exists in the zone, for the machine type, with room.

v5p and v6e chips have no `Quota.metric`: their quotas are kept by the Cloud Quotas API, and
read as `saxml_gke.cloud_quotas` says (limit from `quotaInfos.get`, usage from Cloud
Monitoring). Google's docs name these quotas only by their display names ("TPU v5p chips",
"TPU v6e Slice chips"); their ids are as `gcloud quotas info list --service=
compute.googleapis.com` lists them on a real project (recorded by public projects that run v5p
and v6e on Compute Engine): v5p `TPU-V5P-per-project-region` and
`PREEMPTIBLE-TPU-V5P-per-project-region`; v6e `PREEMPTIBLE-TPU-V6E-per-project-region`, and no
on-demand id of its own: on-demand v6e chips count in `TPUS-PER-TPU-FAMILY-per-project-region`
with the dimension `tpu_family=CT6E`. An id Cloud Quotas does not know is reported as not
checked, never as a problem.

GKE version. Flex-start TPUs (queued or not) need GKE 1.33.0-gke.1712000 or later: "About
flex-start", Requirements: "To run TPUs, use GKE version 1.33.0-gke.1712000 or later"
(https://cloud.google.com/kubernetes-engine/docs/concepts/dws). The version checked is the
existing cluster's, or the one a new cluster gets: GKE resolves `latest`, `1.X` and `1.X.Y` to
the newest version of the channel they name (`Cluster.initialClusterVersion`).
"""

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from saxml_gke.cloud_quotas import CloudQuota, Quota
from saxml_gke.parameters import PARAMETERS, Capacity
from saxml_gke.spec import DeploymentSpec, NodePoolSpec

# The APIs the steps call, and Resource Manager, which the preflight asks for permissions.
REQUIRED_SERVICES = (
    "container.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "storage.googleapis.com",
    "cloudresourcemanager.googleapis.com",
)
CPU_METRIC = "CPUS"  # the vCPUs of the CPU pool's on-demand VMs


# A quota: a metric of `regions.get`, or one the Cloud Quotas API keeps.
QuotaName = str | CloudQuota


@dataclass(frozen=True)
class ChipQuotas:
    on_demand: QuotaName
    preemptible: QuotaName


# Compute Engine's regional quotas of TPU slice chips, per generation (see the docstring).
CHIP_QUOTAS: Mapping[str, ChipQuotas] = {
    "v4": ChipQuotas("TPU_PODSLICE_V4", "PREEMPTIBLE_TPU_PODSLICE_V4"),
    "v5e": ChipQuotas("TPU_LITE_PODSLICE_V5", "PREEMPTIBLE_TPU_LITE_PODSLICE_V5"),
    "v5p": ChipQuotas(
        CloudQuota("TPU-V5P-per-project-region"),
        CloudQuota("PREEMPTIBLE-TPU-V5P-per-project-region"),
    ),
    "v6e": ChipQuotas(
        CloudQuota("TPUS-PER-TPU-FAMILY-per-project-region", (("tpu_family", "CT6E"),)),
        CloudQuota("PREEMPTIBLE-TPU-V6E-per-project-region"),
    ),
}
FLEX_START_TPU_VERSION = "1.33.0-gke.1712000"  # see the docstring
_GKE_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)-gke\.(\d+)")


def chip_metrics(generation: str, capacity: str) -> tuple[QuotaName, ...]:
    """The quotas the slices' chips count against, in the order they are spent; none for a
    reservation."""
    quotas = CHIP_QUOTAS.get(generation)
    if quotas is None:
        return ()
    flex_start = (quotas.preemptible, quotas.on_demand)
    return {
        Capacity.ON_DEMAND: (quotas.on_demand,),
        Capacity.SPOT: (quotas.preemptible,),
        Capacity.FLEX_START: flex_start,
        Capacity.FLEX_START_QUEUED: flex_start,
        Capacity.RESERVATION: (),
    }[Capacity(capacity)]


def cloud_quotas_needed(spec: DeploymentSpec) -> tuple[CloudQuota, ...]:
    """The Cloud Quotas quotas to read for the slices' chips: those of every capacity, so that a
    shortfall can name another capacity that fits (none for a reservation)."""
    if spec.tpu.capacity == Capacity.RESERVATION:
        return ()
    every = (name for capacity in Capacity for name in chip_metrics(spec.tpu.generation, capacity))
    return tuple(dict.fromkeys(name for name in every if isinstance(name, CloudQuota)))


# Predefined roles to grant for a missing permission; the first whose pattern matches.
ROLES = (
    ("roles/container.admin", ("container.*",)),
    ("roles/compute.viewer", ("compute.regions.*", "compute.machineTypes.*",
                              "compute.reservations.*")),
    ("roles/compute.loadBalancerAdmin", ("compute.addresses.*", "compute.forwardingRules.*",
                                         "compute.regionOperations.*", "compute.subnetworks.*")),
    ("roles/iam.serviceAccountUser", ("iam.serviceAccounts.actAs",)),
    ("roles/iam.serviceAccountAdmin", ("iam.serviceAccounts.*",)),
    ("roles/storage.admin", ("storage.*",)),
    ("roles/serviceusage.serviceUsageConsumer", ("serviceusage.services.*",)),
    ("roles/cloudquotas.viewer", ("cloudquotas.*",)),
    ("roles/monitoring.viewer", ("monitoring.*",)),
    ("roles/resourcemanager.projectIamAdmin", ("resourcemanager.projects.*",)),
)  # fmt: skip


@dataclass(frozen=True)
class Read:
    """One read of the facts: what it reads, and the API and permission it needs (the
    permission test needs none)."""

    what: str
    service: str
    permission: str | None = None


SERVICES = Read("the enabled APIs", "serviceusage.googleapis.com", "serviceusage.services.list")
PERMISSIONS = Read("the caller's permissions", "cloudresourcemanager.googleapis.com")
CLUSTER = Read("the existing cluster", "container.googleapis.com", "container.clusters.get")
VERSIONS = Read("GKE's versions", "container.googleapis.com", "container.clusters.list")
MACHINE_TYPES = Read(
    "the zones' machine types", "compute.googleapis.com", "compute.machineTypes.list"
)
QUOTAS = Read("the region's quotas", "compute.googleapis.com", "compute.regions.get")
RESERVATIONS = Read(
    "the zone's reservations", "compute.googleapis.com", "compute.reservations.list"
)
CLOUD_QUOTAS = Read(
    "the TPU chip quotas' limits", "cloudquotas.googleapis.com", "cloudquotas.quotas.get"
)
QUOTA_USAGE = Read(
    "the TPU chip quotas' usage", "monitoring.googleapis.com", "monitoring.timeSeries.list"
)
READS = (
    SERVICES,
    PERMISSIONS,
    CLUSTER,
    VERSIONS,
    MACHINE_TYPES,
    QUOTAS,
    CLOUD_QUOTAS,
    QUOTA_USAGE,
    RESERVATIONS,
)
READ_PERMISSIONS = frozenset(read.permission for read in READS if read.permission)


def blocked(read: Read, enabled: frozenset[str] | None, granted: frozenset[str] | None) -> str:
    """Why `read` cannot be made ("": it can): its API is disabled or its permission missing,
    problems reported on their own."""
    if enabled is not None and read.service not in enabled:
        return f"{read.service} is disabled"
    if granted is not None and read.permission and read.permission not in granted:
        return f"the caller lacks {read.permission}"
    return ""


@dataclass(frozen=True)
class Facts:
    """What the APIs said. A fact is None when it was not read: its API is disabled or its
    permission missing (each a problem of its own), or the read failed (in `failed`)."""

    needed: Mapping[str, frozenset[str]]  # step (task id) -> the permissions its class uses
    enabled: frozenset[str] | None = None  # the project's enabled APIs
    granted: frozenset[str] | None = None  # which of the needed permissions the caller holds
    # The pools of the cluster of the deployment's name; None: no such cluster (or not read),
    # so every pool is still to be created.
    cluster_pools: frozenset[str] | None = None
    cluster_version: str = ""  # that cluster's control plane's (currentMasterVersion)
    versions: Mapping[str, Any] | None = None  # GKE's server config in the zone (REST JSON)
    offered: Mapping[str, Mapping[str, Any]] | None = None  # machine type -> zone -> its JSON
    region: Mapping[str, Any] | None = None  # Compute's region, with its quotas
    cloud_quotas: Mapping[CloudQuota, Quota] | None = None  # the chip quotas Compute keeps there
    reservations: Mapping[str, Any] | None = None  # the zone's reservations by name
    failed: Sequence[tuple[str, str]] = ()  # (what, error) of each read that failed


@dataclass(frozen=True)
class Problem:
    """What was asked, what is there, and what to do."""

    asked: str
    found: str
    fix: str

    def __str__(self) -> str:
        return f"{self.asked}: {self.found}. {self.fix}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what passed
    unchecked: list[str] = field(default_factory=list)  # what could not be judged, and why


def machine_types_needed(spec: DeploymentSpec, cluster_pools: frozenset[str] | None) -> list[str]:
    """The TPU pools' machine type, and the CPU pool's when the cluster is still to be made."""
    wanted = [spec.tpu.machine_type]
    return wanted if cluster_pools is not None else [*wanted, spec.cluster.cpu_machine_type]


def preflight(spec: DeploymentSpec, facts: Facts) -> Report:
    """Every problem the facts show, and what was checked."""
    report = Report()
    report.problems += [
        Problem(f"reading {what}", error, "the check could not run: fix the cause and rerun")
        for what, error in facts.failed
    ]
    if facts.enabled is not None:
        _services(spec, facts.enabled, report)
    if facts.granted is not None:
        _permissions(spec, facts.needed, facts.granted, report)
    if facts.versions is not None and facts.cluster_pools is None:
        _version(spec, facts.versions, report)
    if spec.tpu.provisioning.flex_start:
        _flex_start_version(spec, facts, report)
    if facts.offered is not None:
        _machine_types(spec, facts.offered, facts.cluster_pools, report)
    _chip_quota(spec, facts, report)
    _cpu_quota(spec, facts, report)
    if facts.reservations is not None and spec.tpu.capacity == Capacity.RESERVATION:
        _reservation(spec, facts, facts.reservations, report)
    return report


def _services(spec: DeploymentSpec, enabled: frozenset[str], report: Report) -> None:
    for service in REQUIRED_SERVICES:
        if service in enabled:
            report.checked.append(f"API {service} is enabled")
            continue
        report.problems.append(
            Problem(
                f"API {service} in project {spec.project_id}",
                "it is disabled",
                f"enable it: gcloud services enable {service} --project {spec.project_id}",
            )
        )


def _permissions(
    spec: DeploymentSpec,
    needed: Mapping[str, frozenset[str]],
    granted: frozenset[str],
    report: Report,
) -> None:
    missing: dict[str, list[str]] = {}
    for step, permissions in needed.items():
        for permission in sorted(permissions - granted):
            missing.setdefault(permission, []).append(step)
    every = frozenset().union(*needed.values())
    report.checked.append(
        f"the caller holds {len(every) - len(missing)} of the {len(every)} permissions "
        f"the {len(needed)} steps use"
    )
    by_role: dict[str, list[str]] = {}
    for permission, steps in sorted(missing.items()):
        by_role.setdefault(_role_for(permission), []).append(f"{permission} ({_some(steps)})")
    report.problems += [
        Problem(
            f"the permissions the steps use in project {spec.project_id}",
            "the caller lacks " + ", ".join(permissions),
            f"grant {role} on the project to the connection's identity",
        )
        for role, permissions in by_role.items()
    ]


def _role_for(permission: str) -> str:
    for role, patterns in ROLES:
        if any(fnmatch.fnmatchcase(permission, pattern) for pattern in patterns):
            return role
    return "a role with these permissions"


def _some(steps: list[str], shown: int = 3) -> str:
    rest = len(steps) - shown
    return ", ".join(steps[:shown]) + (f" and {rest} more" if rest > 0 else "")


def _version(spec: DeploymentSpec, config: Mapping[str, Any], report: Report) -> None:
    cluster = spec.cluster
    channels = {c["channel"]: c.get("validVersions", []) for c in config.get("channels", [])}
    if cluster.release_channel not in channels:
        report.problems.append(
            Problem(
                f"GKE release channel {cluster.release_channel} in {cluster.zone}",
                f"GKE offers {', '.join(channels) or 'no channel'} there",
                "set release_channel to one of them",
            )
        )
        return
    offered = channels[cluster.release_channel]
    if _resolves(cluster.version, offered):
        report.checked.append(f"GKE {cluster.version} is offered on {cluster.release_channel}")
        return
    others = [
        name
        for name in PARAMETERS["release_channel"]["enum"]
        if _resolves(cluster.version, channels.get(name, []))
    ]
    report.problems.append(
        Problem(
            f"GKE version {cluster.version} on the {cluster.release_channel} channel",
            f"{cluster.release_channel} offers {', '.join(offered) or 'none'}",
            "set cluster_version to latest or one of those"
            + (f", or release_channel to {' or '.join(others)}, which offers it" if others else ""),
        )
    )


def _flex_start_version(spec: DeploymentSpec, facts: Facts, report: Report) -> None:
    """Flex-start TPUs need FLEX_START_TPU_VERSION: on the existing cluster, or on the version
    a new one gets (unknown when not read, or not offered: a problem of its own)."""
    cluster = spec.cluster
    if facts.cluster_pools is not None:
        version = facts.cluster_version
        asked = f"cluster {cluster.name} on GKE {version}"
        fix = f"upgrade the cluster to {FLEX_START_TPU_VERSION} or later"
    else:
        channels = {
            c["channel"]: c.get("validVersions", [])
            for c in (facts.versions or {}).get("channels", [])
        }
        newest = {name: _newest("latest", offered) for name, offered in channels.items()}
        version = _newest(cluster.version, channels.get(cluster.release_channel, []))
        asked = f"GKE {cluster.version} on the {cluster.release_channel} channel ({version})"
        newer = [f"{name} ({found})" for name, found in newest.items() if _new_enough(found)]
        if _new_enough(newest.get(cluster.release_channel, "")):
            fix = f"set cluster_version to latest ({newest[cluster.release_channel]})"
        elif newer:
            fix = f"set release_channel to {' or '.join(newer)}" + (
                "" if cluster.version == "latest" else " and cluster_version to latest"
            )
        else:
            fix = f"no release channel offers it in {cluster.zone} yet"
    if not _GKE_VERSION.fullmatch(version):
        return
    if _new_enough(version):
        report.checked.append(f"GKE {version} runs flex-start TPUs ({FLEX_START_TPU_VERSION} on)")
        return
    report.problems.append(
        Problem(
            f"capacity={spec.tpu.capacity} with {asked}",
            f"flex-start TPUs need GKE {FLEX_START_TPU_VERSION} or later",
            f"{fix}; or use capacity={_choices(c for c in Capacity if not c.flex_start)}",
        )
    )


def _newest(requested: str, versions: Sequence[str]) -> str:
    """The version GKE gives for `requested` on a channel that offers `versions` ("": none)."""
    named = [v for v in versions if _GKE_VERSION.fullmatch(v) and _resolves(requested, [v])]
    return max(named, key=_version_key, default="")


def _new_enough(version: str) -> bool:
    return bool(version) and _version_key(version) >= _version_key(FLEX_START_TPU_VERSION)


def _version_key(version: str) -> tuple[int, ...]:
    match = _GKE_VERSION.fullmatch(version)
    return tuple(int(part) for part in match.groups()) if match else ()


def _choices(capacities: Iterable[Capacity]) -> str:
    """`on-demand, spot or reservation`: capacities to suggest, in the parameter's order."""
    *others, last = capacities
    return f"{', '.join(others)} or {last}" if others else last


def _resolves(requested: str, versions: Sequence[str]) -> bool:
    """Whether GKE takes `requested` (latest, 1.X, 1.X.Y or a full version) on a channel that
    offers `versions`: it names the newest version it prefixes."""
    return requested == "latest" or any(
        version == requested or version.startswith((f"{requested}.", f"{requested}-"))
        for version in versions
    )


def _machine_types(
    spec: DeploymentSpec,
    offered: Mapping[str, Mapping[str, Any]],
    cluster_pools: frozenset[str] | None,
    report: Report,
) -> None:
    zone = spec.cluster.zone
    choices = {
        spec.tpu.machine_type: "tpu_generation",
        spec.cluster.cpu_machine_type: "cpu_machine_type",
    }
    for machine_type in machine_types_needed(spec, cluster_pools):
        zones = sorted(offered.get(machine_type, {}))
        if zone in zones:
            report.checked.append(f"{zone} offers {machine_type}")
            continue
        elsewhere = (
            f"set zone to one that offers it ({', '.join(zones)})"
            if zones
            else "no zone offers it to this project"
        )
        report.problems.append(
            Problem(
                f"machine type {machine_type} in {zone}",
                "the zone does not offer it",
                f"{elsewhere}, or choose another {choices[machine_type]}",
            )
        )


def _new_pools(spec: DeploymentSpec, facts: Facts) -> list[NodePoolSpec]:
    """The TPU pools still to be created (a rerun adopts those that exist)."""
    existing = facts.cluster_pools or frozenset()
    return [pool for pool in spec.tpu.node_pools if pool.name not in existing]


def _quota(facts: Facts, name: QuotaName) -> Quota | None:
    """The quota as the facts hold it (None: not there, or not read)."""
    if isinstance(name, CloudQuota):
        return (facts.cloud_quotas or {}).get(name)
    for quota in (facts.region or {}).get("quotas", []):
        if quota["metric"] == name:
            return Quota(name, float(quota["limit"]), float(quota.get("usage", 0)))
    return None


def _read(facts: Facts, names: Iterable[QuotaName]) -> bool:
    """Whether the facts that hold these quotas were read (a read skipped is logged as such)."""
    return all(
        (facts.cloud_quotas if isinstance(name, CloudQuota) else facts.region) is not None
        for name in names
    )


def _chip_quota(spec: DeploymentSpec, facts: Facts, report: Report) -> None:
    tpu, where = spec.tpu, spec.cluster.region
    slices = len(_new_pools(spec, facts))
    metrics = chip_metrics(tpu.generation, tpu.capacity)
    if not slices or not metrics or not _read(facts, metrics):
        return  # nothing new, the reservation's room is checked instead, or not read
    chips = slices * tpu.chips_per_slice
    quotas = [quota for metric in metrics if (quota := _quota(facts, metric))]
    if not quotas:
        report.unchecked.append(
            f"the {tpu.generation} chip quota: {where} has no {' or '.join(map(str, metrics))}"
        )
        return
    if covering := [quota for quota in quotas if quota.free >= chips]:
        report.checked.append(f"{chips} {tpu.generation} chips fit in {where}: {covering[0]}")
        return
    spent = quotas[0]
    fits = int(max(spent.free, 0) // tpu.chips_per_slice)
    options = [
        f"capacity={_choices(same)} ({room})"
        for same in _by_quota(tpu.generation)
        if tpu.capacity not in same and (room := _room(facts, tpu.generation, same[0], chips))
    ]
    if fits:
        options.append(f"tpu_slices={fits}")
    options.append(
        f"a quota increase for {spent.name} in {where}: "
        f"https://console.cloud.google.com/iam-admin/quotas?project={spec.project_id}"
    )
    report.problems.append(
        Problem(
            f"{chips} {tpu.generation} chips in {where} for {slices} {tpu.capacity} slice(s) "
            f"of {tpu.chips_per_slice}",
            f"{spent}: room for {fits} of {slices} slice(s)",
            "try " + "; or ".join(options),
        )
    )


def _by_quota(generation: str) -> list[list[Capacity]]:
    """The capacities grouped by the quotas they spend (flex-start, queued or not, spends the
    same), in the parameter's order."""
    groups: dict[tuple[QuotaName, ...], list[Capacity]] = {}
    for capacity in Capacity:
        groups.setdefault(chip_metrics(generation, capacity), []).append(capacity)
    return list(groups.values())


def _room(facts: Facts, generation: str, capacity: str, chips: int) -> str:
    """The first quota of `capacity` that holds `chips`, as text ("": none does)."""
    quotas = [_quota(facts, metric) for metric in chip_metrics(generation, capacity)]
    return next((str(quota) for quota in quotas if quota and quota.free >= chips), "")


def _cpu_quota(spec: DeploymentSpec, facts: Facts, report: Report) -> None:
    cluster = spec.cluster
    machine = ((facts.offered or {}).get(cluster.cpu_machine_type) or {}).get(cluster.zone)
    quota = _quota(facts, CPU_METRIC)
    if facts.cluster_pools is not None or machine is None or quota is None:
        return  # the cluster exists, or its machine type or the quota is unknown
    vcpus = cluster.cpu_nodes * int(machine["guestCpus"])
    if quota.free >= vcpus:
        report.checked.append(f"{vcpus} vCPUs of the CPU pool fit in {cluster.region}: {quota}")
        return
    report.problems.append(
        Problem(
            f"{vcpus} vCPUs in {cluster.region} for the CPU pool ({cluster.cpu_nodes} x "
            f"{cluster.cpu_machine_type})",
            str(quota),
            "try fewer cpu_nodes, a smaller cpu_machine_type, or a quota increase for "
            f"{CPU_METRIC}: https://console.cloud.google.com/iam-admin/quotas?project="
            f"{spec.project_id}",
        )
    )


def _reservation(
    spec: DeploymentSpec, facts: Facts, reservations: Mapping[str, Any], report: Report
) -> None:
    tpu, zone = spec.tpu, spec.cluster.zone
    name = tpu.node_pools[0].reservation
    asked = f"reservation {name} in {zone}"
    found = reservations.get(name)
    if found is None:
        others = ", ".join(_describe(r) for r in reservations.values()) or "none"
        report.problems.append(
            Problem(
                asked,
                f"it does not exist (the zone's reservations: {others})",
                "set reservation to one of the zone's, or use capacity="
                + _choices(c for c in Capacity if c is not Capacity.RESERVATION),
            )
        )
        return
    machine_type, free, _ = _holds(found)
    if machine_type != tpu.machine_type:
        report.problems.append(
            Problem(
                f"{asked} for {tpu.machine_type}",
                f"it holds {machine_type} VMs",
                f"use a reservation of {tpu.machine_type}, or the tpu_generation and "
                f"tpu_topology that {machine_type} serves",
            )
        )
        return
    slices = len(_new_pools(spec, facts))
    nodes = slices * tpu.nodes_per_slice
    if free >= nodes:
        report.checked.append(f"{asked} has room for {nodes} nodes: {_describe(found)}")
        return
    fits = max(free, 0) // tpu.nodes_per_slice
    report.problems.append(
        Problem(
            f"{nodes} {machine_type} nodes of {asked} for {slices} slice(s) of "
            f"{tpu.nodes_per_slice}",
            f"{_describe(found)}: room for {fits} of {slices} slice(s)",
            "try a larger reservation"
            + (f"; or tpu_slices={fits}" if fits else "")
            + "; or capacity="
            + _choices(c for c in Capacity if c is not Capacity.RESERVATION),
        )
    )


def _holds(reservation: Mapping[str, Any]) -> tuple[str, int, int]:
    """The machine type, free VMs and VMs of a specific reservation."""
    specific = reservation.get("specificReservation") or {}
    machine_type = (specific.get("instanceProperties") or {}).get("machineType", "")
    count = int(specific.get("count", 0))
    return machine_type.rsplit("/", 1)[-1], count - int(specific.get("inUseCount", 0)), count


def _describe(reservation: Mapping[str, Any]) -> str:
    machine_type, free, count = _holds(reservation)
    return f"{reservation['name']}: {free} of {count} {machine_type} VMs free"
