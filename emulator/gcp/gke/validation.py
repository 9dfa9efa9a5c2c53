"""The checks GKE makes before it accepts a cluster or node pool (each failure is a 400).

Node-pool checks also work out the pool's shape (machine type, zones, node count, TPU topology),
because GKE derives the node count of a TPU slice from the same rules it validates.
"""

import math
import re
from dataclasses import dataclass

from google.cloud import container_v1

from emulator.core.errors import invalid_argument
from emulator.gcp.gke import catalog
from emulator.gcp.labels import MAX_LABELS, valid_label_key, valid_label_value

_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?")
_K8S_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
_MAX_PODS = range(8, 257)

Mode = container_v1.WorkloadMetadataConfig.Mode
PlacementType = container_v1.NodePool.PlacementPolicy.Type
Effect = container_v1.NodeTaint.Effect
Channel = container_v1.ReleaseChannel.Channel


@dataclass(frozen=True)
class PoolShape:
    """What a valid node pool consists of: its machine type and the zones of its nodes."""

    machine: catalog.MachineType
    zones: tuple[str, ...]


def _bad(field: str, value: object, why: str) -> Exception:
    return invalid_argument(f"Invalid value for field '{field}': '{value}'. {why}")


def check_name(name: str, field: str) -> None:
    if not _NAME.fullmatch(name):
        raise _bad(
            field,
            name,
            f"Must be a match of regex '(?:{_NAME.pattern})' (only alphanumerics and '-' allowed, "
            "must start with a letter and end with an alphanumeric, and must be no longer than "
            "40 characters).",
        )


def check_zone(location: str) -> None:
    if location not in catalog.ZONE_TPU_TYPES:
        raise invalid_argument(
            f'Location "{location}" does not exist or is not a zone this emulator models; '
            f"known zones: {', '.join(sorted(catalog.ZONE_TPU_TYPES))}."
        )


def _check_enum(value: int, enum: type, field: str) -> None:
    if value not in {member.value for member in enum}:
        type_url = f"type.googleapis.com/google.container.v1.{enum.__qualname__}"
        raise invalid_argument(f"Invalid value at '{field}' ({type_url}), {int(value)}")


def check_labels(labels: dict[str, str], field: str) -> None:
    if len(labels) > MAX_LABELS:
        raise invalid_argument(f"Field '{field}' has more than {MAX_LABELS} labels.")
    for key, value in labels.items():
        if not valid_label_key(key) or not valid_label_value(value):
            raise _bad(
                f"{field}[{key}]",
                value,
                "Label keys must start with a lowercase letter; keys and values may contain only "
                "lowercase letters, digits, '_' and '-', at most 63 characters.",
            )


def _is_kubernetes_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_K8S_NAME.fullmatch(name)) and (
        not prefix or bool(_DNS_SUBDOMAIN.fullmatch(prefix))
    )


def _check_node_labels_and_taints(config: container_v1.NodeConfig, field: str) -> None:
    for key, value in config.labels.items():
        if not _is_kubernetes_label_key(key) or (value and not _K8S_NAME.fullmatch(value)):
            raise _bad(f"{field}.labels[{key}]", value, "Not a valid Kubernetes label.")
    for index, taint in enumerate(config.taints):
        where = f"{field}.taints[{index}]"
        if not _is_kubernetes_label_key(taint.key):
            raise _bad(f"{where}.key", taint.key, "Not a valid Kubernetes taint key.")
        if taint.value and not _K8S_NAME.fullmatch(taint.value):
            raise _bad(f"{where}.value", taint.value, "Not a valid Kubernetes taint value.")
        _check_enum(taint.effect, Effect, f"{where}.effect")
        if taint.effect == Effect.EFFECT_UNSPECIFIED:
            raise _bad(f"{where}.effect", "EFFECT_UNSPECIFIED", "A taint needs an effect.")


def _slice_nodes(
    machine: catalog.MachineType, policy: container_v1.NodePool.PlacementPolicy, field: str
) -> int | None:
    """The node count a TPU pool's placement policy requires.

    Without a topology every node is its own single-host slice and any count will do (None).
    """
    assert machine.tpu is not None
    if not policy.tpu_topology:
        return None
    where = f"{field}.placement_policy.tpu_topology"
    shape = catalog.parse_topology(policy.tpu_topology)
    generation = machine.tpu
    if shape is None or len(shape) != generation.dimensions:
        kind = "AxB" if generation.dimensions == 2 else "AxBxC"
        raise _bad(where, policy.tpu_topology, f"TPU {generation.name} topologies are {kind}.")
    if shape not in catalog.slice_shapes(generation):
        raise _bad(where, policy.tpu_topology, f"Not a valid TPU {generation.name} slice topology.")
    chips = math.prod(shape)
    if chips == machine.chips:
        raise _bad(
            where,
            policy.tpu_topology,
            f"Machine type {machine.name} forms a single-host slice with this topology; "
            "single-host TPU node pools must not set a placement policy or TPU topology.",
        )
    if machine.chips != 4 or chips < machine.chips:
        raise _bad(
            where,
            policy.tpu_topology,
            f"Machine type {machine.name} cannot form a multi-host slice of topology "
            f"{policy.tpu_topology}; multi-host {generation.name} slices use 4-chip machine types.",
        )
    return chips // machine.chips


def _check_placement(
    pool: container_v1.NodePool, machine: catalog.MachineType, zones: list[str], field: str
) -> None:
    """A TPU pool sits in one zone; a multi-host slice has exactly the nodes its topology needs."""
    policy = pool.placement_policy
    _check_enum(policy.type_, PlacementType, f"{field}.placement_policy.type")
    if machine.tpu is None:
        if policy.tpu_topology:
            raise _bad(
                f"{field}.placement_policy.tpu_topology",
                policy.tpu_topology,
                f"TPU topology is only supported for TPU machine types, not {machine.name}.",
            )
        return
    if len(zones) != 1:
        raise _bad(f"{field}.locations", ",".join(zones), "A TPU node pool uses one zone.")
    slice_nodes = _slice_nodes(machine, policy, field)
    # A flex-start or queued pool starts empty; `flex_start` checks its maximum instead.
    starts_empty = pool.config.flex_start or pool.queued_provisioning.enabled
    if slice_nodes is not None and pool.initial_node_count != slice_nodes and not starts_empty:
        raise _bad(
            f"{field}.initial_node_count",
            pool.initial_node_count,
            f"Node count {pool.initial_node_count} is not a valid size of TPU pod slice with "
            f"topology {policy.tpu_topology}: machine type {machine.name} needs exactly "
            f"{slice_nodes} nodes.",
        )


def _pool_zones(pool: container_v1.NodePool, cluster_zones: list[str], field: str) -> list[str]:
    zones = list(pool.locations) or cluster_zones[:1]
    for zone in zones:
        if zone not in cluster_zones:
            raise _bad(
                f"{field}.locations",
                zone,
                f"Node pool locations must be among the cluster's locations "
                f"({', '.join(cluster_zones)}).",
            )
    return zones


def check_node_pool(
    pool: container_v1.NodePool,
    cluster_zones: list[str],
    workload_identity: bool,
    field: str,
) -> PoolShape:
    """Validate a node pool for a cluster in `cluster_zones` and return its shape."""
    check_name(pool.name, f"{field}.name")
    config = pool.config
    zones = _pool_zones(pool, cluster_zones, field)
    machine_name = config.machine_type or catalog.DEFAULT_MACHINE_TYPE
    for zone in zones:
        if catalog.machine_type_in_zone(machine_name, zone) is None:
            raise _bad(
                f"{field}.config.machine_type",
                machine_name,
                f'Machine type "{machine_name}" is not available in zone "{zone}".',
            )
    machine = catalog.MACHINE_TYPES[machine_name]
    if pool.initial_node_count < 0:
        raise _bad(f"{field}.initial_node_count", pool.initial_node_count, "Must be >= 0.")

    _check_placement(pool, machine, zones, field)
    mode = config.workload_metadata_config.mode
    _check_enum(mode, Mode, f"{field}.config.workload_metadata_config.mode")
    if mode == Mode.GKE_METADATA and not workload_identity:
        raise _bad(
            f"{field}.config.workload_metadata_config.mode",
            "GKE_METADATA",
            "Workload Identity must be enabled on the cluster to use the GKE metadata server.",
        )
    max_pods = pool.max_pods_constraint.max_pods_per_node
    if max_pods and max_pods not in _MAX_PODS:
        raise _bad(f"{field}.max_pods_constraint.max_pods_per_node", max_pods, "Must be 8-256.")
    _check_node_labels_and_taints(config, f"{field}.config")
    check_labels(dict(config.resource_labels), f"{field}.config.resource_labels")
    return PoolShape(machine, tuple(zones))


def _cluster_zones(cluster: container_v1.Cluster, zone: str) -> list[str]:
    zones = list(cluster.locations) or [zone]
    for extra in zones:
        check_zone(extra)
        if catalog.region_of(extra) != catalog.region_of(zone):
            raise _bad("cluster.locations", extra, f"Must be in region {catalog.region_of(zone)}.")
    if zone not in zones:
        raise _bad("cluster.locations", ",".join(zones), f"Must include the cluster zone {zone}.")
    return zones


def check_cluster(
    cluster: container_v1.Cluster, project_id: str, zone: str
) -> tuple[list[str], list[PoolShape]]:
    """Validate a cluster to create in `zone`; return its zones and its initial pools' shapes.

    `cluster.node_pools` must already hold the pools to create: a legacy `initialNodeCount` /
    `nodeConfig` request is turned into a `default-pool` before it gets here.
    """
    check_name(cluster.name, "cluster.name")
    zones = _cluster_zones(cluster, zone)
    if cluster.autopilot.enabled:
        raise invalid_argument(
            "Autopilot clusters are not modelled by this emulator; create a Standard cluster."
        )
    workload_pool = cluster.workload_identity_config.workload_pool
    if workload_pool and workload_pool != f"{project_id}.svc.id.goog":
        raise _bad(
            "cluster.workload_identity_config.workload_pool",
            workload_pool,
            f'The workload pool must be "{project_id}.svc.id.goog".',
        )
    _check_enum(cluster.release_channel.channel, Channel, "cluster.release_channel.channel")
    check_labels(dict(cluster.resource_labels), "cluster.resource_labels")
    if not cluster.node_pools:
        raise invalid_argument("Cluster.initial_node_count must be greater than zero.")
    names = [pool.name for pool in cluster.node_pools]
    if len(set(names)) != len(names):
        raise invalid_argument(f"Node pool names must be unique, got {', '.join(names)}.")
    shapes = [
        check_node_pool(pool, zones, bool(workload_pool), f"cluster.node_pools[{index}]")
        for index, pool in enumerate(cluster.node_pools)
    ]
    return zones, shapes
