"""Node objects for the VMs GKE says the cluster has, and what happens to pods when one goes.

GKE registers each VM as a Node with its pool's labels and taints, an internal IP from the
node range, a /24 pod range, and capacity minus GKE's system reservations as allocatable.
A Node that disappears takes its kubelet with it: nothing will ever update its pods again, so
they are failed here as the pod garbage collector does (phase Failed, a `DisruptionTarget`
condition), which is what makes ReplicaSets, Jobs and JobSets replace them.

A VM can also fail while its Node stays (`fail`, the `fail-node` scenario): its kubelet and
everything it ran stop at once, and the node lifecycle controller notices the missing
heartbeats (`emulator.kube.controllers.nodelifecycle`). GKE's auto-repair recreates such a VM
(`repair`): the Node goes, with its pods, and registers again.
"""

import uuid
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from emulator.kube.quantity import format_bytes, format_cpu
from emulator.kube.selectors import field_matcher
from emulator.kube.store import Obj, kube_timestamp

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster, NodeSpec

TPU_RESOURCE = "google.com/tpu"
TPU_TAINT = {"key": TPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
POD_RANGE_PREFIX = 24  # GKE gives every node a /24 of the pod range for up to 110 pods
KUBELET_PORT = 10250
BOOT_DISK_CAPACITY = "98831908Ki"  # a 100 GB pd-balanced boot disk, as the kubelet sees it
BOOT_DISK_ALLOCATABLE = "47060071478"
EVICTION_THRESHOLD = Fraction(100 * 2**20)
_GIB = 2**30
# GKE's reservations for system daemons: (share of the machine up to this size, rate).
_CPU_RESERVATION = ((1, Fraction(6, 100)), (2, Fraction(1, 100)), (4, Fraction(5, 1000)))
_CPU_RESERVATION_ABOVE = Fraction(25, 10000)
_MEMORY_RESERVATION = (
    (4 * _GIB, Fraction(25, 100)),
    (8 * _GIB, Fraction(20, 100)),
    (16 * _GIB, Fraction(10, 100)),
    (128 * _GIB, Fraction(6, 100)),
)
_MEMORY_RESERVATION_ABOVE = Fraction(2, 100)
_SMALL_MACHINE_MEMORY_RESERVATION = Fraction(255 * 2**20)


class NodeManager:
    """Keeps the cluster's Node objects equal to the VMs of its node pools."""

    def __init__(self, cluster: "KubeCluster") -> None:
        self.cluster = cluster
        self._nodes = cluster.store.types.by_kind("v1", "Node")
        self._pods = cluster.store.types.by_kind("v1", "Pod")
        self._specs: dict[str, NodeSpec] = {}
        # Failed VMs: node name -> (when it failed, when auto-repair recreates it or None), in
        # wall seconds; in memory (a restart of the emulator brings every VM back).
        self.down: dict[str, tuple[float, float | None]] = {}

    def fail(self, name: str, repair_after: float | None) -> None:
        """The VM stops answering (a host failure); `repair_after` modelled seconds later, GKE's
        auto-repair recreates it (None: only `repair` brings it back)."""
        if name not in self._specs:
            raise KeyError(f"node {name} does not exist")
        clock = self.cluster.world.clock
        now = clock.now()
        repair_at = None if repair_after is None else now + clock.scaled(repair_after)
        self.down[name] = (now, repair_at)
        self.cluster.kubelet.sync()  # its pods stop with it, reporting nothing
        self.cluster.store.wake()  # the node lifecycle controller starts counting

    def repair(self, name: str) -> None:
        """Recreate a failed VM: its Node goes (its pods fail, as the pod GC fails them), then
        registers again, healthy and empty."""
        if self.down.pop(name, None) is None:
            return
        store = self.cluster.store
        node = store.find(self._nodes, "", name)
        if node is not None:
            self._remove(node)
        store.create(self._nodes, self._node_object(self._specs[name]))

    def sync(self, nodes: Sequence["NodeSpec"]) -> None:
        """Register new VMs, forget removed ones (failing their pods); others stay as they are."""
        self._specs = {spec.name: spec for spec in nodes}
        self.down = {name: due for name, due in self.down.items() if name in self._specs}
        store = self.cluster.store
        existing = {node["metadata"]["name"]: node for node in store.list_objects(self._nodes)}
        for node in existing.values():
            self._reserve_addresses(node)
        wanted = {spec.name for spec in nodes}
        for spec in nodes:
            if spec.name not in existing:
                store.create(self._nodes, self._node_object(spec))
        for name, node in existing.items():
            if name not in wanted:
                self._remove(node)

    def _node_object(self, spec: "NodeSpec") -> Obj:
        network = self.cluster.network
        internal_ip = network.allocate(network.node_cidr)
        pod_range = network.allocate_subnet(network.pod_cidr, POD_RANGE_PREFIX)
        now = kube_timestamp(self.cluster.world.clock.now())
        taints = [dict(taint) for taint in spec.taints]
        if spec.tpu_chips and TPU_TAINT not in taints:
            taints.append(dict(TPU_TAINT))
        capacity, allocatable = _resources(spec)
        machine_id = uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.cluster.name}.{spec.name}")
        node: Obj = {
            "metadata": {
                "name": spec.name,
                "labels": node_labels(spec),
                "annotations": {
                    "container.googleapis.com/instance_id": str(machine_id.int % 10**19),
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": {
                "podCIDR": pod_range,
                "podCIDRs": [pod_range],
                "providerID": f"gce://{self.cluster.world.project_id}/{spec.zone}/{spec.name}",
            },
            "status": {
                "capacity": capacity,
                "allocatable": allocatable,
                "conditions": _conditions(now),
                "addresses": [
                    {"type": "InternalIP", "address": internal_ip},
                    {"type": "Hostname", "address": spec.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": str(uuid.uuid5(machine_id, "boot")),
                    "containerRuntimeVersion": "containerd://1.7.24",
                    "kernelVersion": "6.1.112+",
                    "kubeProxyVersion": f"v{self.cluster.version}",
                    "kubeletVersion": f"v{self.cluster.version}",
                    "machineID": machine_id.hex,
                    "operatingSystem": "linux",
                    "osImage": "Container-Optimized OS from Google",
                    "systemUUID": str(machine_id),
                },
            },
        }
        if taints:
            node["spec"]["taints"] = taints
        return node

    def _reserve_addresses(self, node: Obj) -> None:
        """After a restart the network has forgotten what restored Nodes hold."""
        network = self.cluster.network
        network.reserve(network.node_cidr, node_internal_ip(node))
        if pod_range := node["spec"].get("podCIDR"):
            network.reserve(network.pod_cidr, pod_range)

    def _remove(self, node: Obj) -> None:
        store, network = self.cluster.store, self.cluster.network
        name = node["metadata"]["name"]
        store.delete(self._nodes, "", name)
        network.release(network.node_cidr, node_internal_ip(node))
        if pod_range := node["spec"].get("podCIDR"):
            network.release(network.pod_cidr, pod_range)
        for pod in store.list_objects(self._pods, None, field_matcher(f"spec.nodeName={name}")):
            if pod.get("status", {}).get("phase") not in ("Succeeded", "Failed"):
                store.replace(self._pods, _lost(pod, name, store.clock.now()), "status")


def node_labels(spec: "NodeSpec") -> dict[str, str]:
    """The labels GKE puts on every node, then the pool's own (GKE's facts win on conflict)."""
    region = spec.zone.rsplit("-", 1)[0]
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": spec.machine_type,
        "beta.kubernetes.io/os": "linux",
        "cloud.google.com/gke-boot-disk": "pd-balanced",
        "cloud.google.com/gke-container-runtime": "containerd",
        "cloud.google.com/gke-nodepool": spec.pool,
        "cloud.google.com/gke-os-distribution": "cos",
        "cloud.google.com/machine-family": spec.machine_type.split("-")[0],
        "failure-domain.beta.kubernetes.io/region": region,
        "failure-domain.beta.kubernetes.io/zone": spec.zone,
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": spec.machine_type,
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": spec.zone,
    }
    if spec.spot:
        labels["cloud.google.com/gke-spot"] = "true"
    if spec.tpu_chips:
        labels["cloud.google.com/gke-tpu-accelerator"] = spec.tpu_accelerator
        labels["cloud.google.com/gke-tpu-topology"] = spec.tpu_topology
        labels["cloud.google.com/gke-accelerator-count"] = str(spec.tpu_chips)
    return {**spec.labels, **labels}


def node_internal_ip(node: Obj) -> str:
    for address in node.get("status", {}).get("addresses", []):
        if address.get("type") == "InternalIP":
            return str(address["address"])
    raise ValueError(f"node {node['metadata']['name']} has no InternalIP")


def _resources(spec: "NodeSpec") -> tuple[dict[str, str], dict[str, str]]:
    cpu = Fraction(spec.cpu_millis, 1000)
    memory = Fraction(spec.memory_bytes)
    capacity = {
        "cpu": format_cpu(cpu),
        "ephemeral-storage": BOOT_DISK_CAPACITY,
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": format_bytes(memory),
        "pods": str(spec.max_pods),
    }
    allocatable = {
        **capacity,
        "cpu": format_cpu(cpu - _cpu_reservation(cpu)),
        "ephemeral-storage": BOOT_DISK_ALLOCATABLE,
        "memory": format_bytes(memory - _memory_reservation(memory) - EVICTION_THRESHOLD),
    }
    if spec.tpu_chips:
        capacity[TPU_RESOURCE] = allocatable[TPU_RESOURCE] = str(spec.tpu_chips)
    return capacity, allocatable


def _cpu_reservation(cores: Fraction) -> Fraction:
    return _tiered(cores, _CPU_RESERVATION, _CPU_RESERVATION_ABOVE)


def _memory_reservation(memory: Fraction) -> Fraction:
    if memory < _GIB:
        return _SMALL_MACHINE_MEMORY_RESERVATION
    return _tiered(memory, _MEMORY_RESERVATION, _MEMORY_RESERVATION_ABOVE)


def _tiered(amount: Fraction, tiers: tuple[tuple[Any, Fraction], ...], above: Fraction) -> Fraction:
    """Rate per tier of `amount`, as GKE documents its allocatable reservations."""
    reserved, floor = Fraction(0), Fraction(0)
    for ceiling, rate in tiers:
        reserved += rate * max(Fraction(0), min(amount, Fraction(ceiling)) - floor)
        floor = Fraction(ceiling)
    return reserved + above * max(Fraction(0), amount - floor)


def _conditions(now: str) -> list[dict[str, str]]:
    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }

    return [
        condition("NetworkUnavailable", "False", "RouteCreated", "RouteController created a route"),
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        condition(
            "DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"
        ),
        condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]


def _lost(pod: Obj, node: str, now: float) -> Obj:
    """A pod whose node is gone: Failed, not ready, and marked as the pod GC marks it."""
    status = pod.setdefault("status", {})
    status["phase"] = "Failed"
    status["reason"] = "NodeLost"
    name = pod["metadata"]["name"]
    status["message"] = f"Node {node} which was running pod {name} is unresponsive"
    timestamp = kube_timestamp(now)
    conditions = [
        condition
        for condition in status.get("conditions", [])
        if condition["type"] not in ("Ready", "ContainersReady", "DisruptionTarget")
    ]
    conditions += [
        {"type": "Ready", "status": "False", "lastTransitionTime": timestamp},
        {"type": "ContainersReady", "status": "False", "lastTransitionTime": timestamp},
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists",
            "lastTransitionTime": timestamp,
        },
    ]
    status["conditions"] = conditions
    for container in status.get("containerStatuses", []):
        container["ready"] = False
    pod["metadata"].pop("resourceVersion", None)
    return pod
