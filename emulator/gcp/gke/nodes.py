"""The VMs of a node pool as GKE creates them: names, and the labels and taints GKE puts on them.

The Kubernetes side of the emulator turns these facts (`NodeSpec`) into Node objects; GKE
decides them, so they are computed here.
"""

import hashlib

from google.cloud import container_v1

from emulator.gcp.gke import catalog
from emulator.gcp.gke.validation import Mode
from emulator.kube.cluster import NodeSpec

TPU_TAINT = {"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"}
_SUFFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def node_names(cluster: str, node_pool: str, uid: str, count: int) -> list[str]:
    """`gke-<cluster>-<pool>-<8 hex>-<4 chars>`, cut to stay a valid 63-character hostname."""
    group = hashlib.sha256(uid.encode()).hexdigest()[:8]
    prefix = f"gke-{cluster[:20].rstrip('-')}-{node_pool[:20].rstrip('-')}-{group}"
    names = []
    for index in range(count):
        digest = hashlib.sha256(f"{uid}/{index}".encode()).digest()
        suffix = "".join(_SUFFIX_ALPHABET[b % len(_SUFFIX_ALPHABET)] for b in digest[:4])
        names.append(f"{prefix}-{suffix}")
    return names


def _labels(
    name: str,
    pool: container_v1.NodePool,
    zone: str,
    machine: catalog.MachineType,
    topology: str,
) -> dict[str, str]:
    config = pool.config
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": machine.name,
        "topology.kubernetes.io/region": catalog.region_of(zone),
        "topology.kubernetes.io/zone": zone,
        "cloud.google.com/gke-nodepool": pool.name,
        "cloud.google.com/gke-os-distribution": "cos",
        "cloud.google.com/machine-family": machine.name.split("-")[0],
    }
    if config.spot:
        labels["cloud.google.com/gke-spot"] = "true"
    if config.flex_start:
        labels["cloud.google.com/gke-flex-start"] = "true"
    if config.workload_metadata_config.mode == Mode.GKE_METADATA:
        labels["iam.gke.io/gke-metadata-server-enabled"] = "true"
    if machine.tpu is not None:
        labels["cloud.google.com/gke-tpu-accelerator"] = machine.tpu.accelerator
        labels["cloud.google.com/gke-tpu-topology"] = topology
        labels["cloud.google.com/gke-accelerator-count"] = str(machine.chips)
    return {**labels, **config.labels}


def describe_nodes(pool: container_v1.NodePool, names: list[str]) -> list[NodeSpec]:
    """The facts of each node of `pool` (its zones in turn, as GKE spreads a pool)."""
    machine = catalog.MACHINE_TYPES[pool.config.machine_type]
    topology = ""
    if machine.tpu is not None:
        topology = pool.placement_policy.tpu_topology or machine.single_host_topology
    zones = list(pool.locations)
    effects = container_v1.NodeTaint.Effect
    taints = tuple(
        {"key": t.key, "value": t.value, "effect": _kubernetes_effect(effects(t.effect).name)}
        for t in pool.config.taints
    )
    if machine.tpu is not None:
        taints += (TPU_TAINT,)
    nodes = []
    for index, name in enumerate(names):
        zone = zones[index % len(zones)]
        nodes.append(
            NodeSpec(
                name=name,
                pool=pool.name,
                machine_type=machine.name,
                zone=zone,
                cpu_millis=machine.cpus * 1000,
                memory_bytes=machine.memory_gib * 2**30,
                tpu_chips=machine.chips,
                tpu_accelerator=machine.tpu.accelerator if machine.tpu else "",
                tpu_topology=topology,
                spot=pool.config.spot,
                max_pods=pool.max_pods_constraint.max_pods_per_node,
                labels=_labels(name, pool, zone, machine, topology),
                taints=taints,
            )
        )
    return nodes


def _kubernetes_effect(proto_name: str) -> str:
    """`NO_SCHEDULE` -> `NoSchedule`."""
    return "".join(word.capitalize() for word in proto_name.split("_"))
