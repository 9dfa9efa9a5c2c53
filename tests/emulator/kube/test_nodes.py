"""Nodes of node pools: GKE's labels, taints, capacity and allocatable; removal fails pods."""

import asyncio
import ipaddress
from dataclasses import replace
from fractions import Fraction

from node_harness import (
    TPU_SELECTOR,
    TPU_TOLERATION,
    NodeLab,
    condition,
    cpu_nodes,
    tpu_container,
    tpu_nodes,
)


def test_tpu_pool_nodes_carry_gke_labels_taint_and_tpu_capacity() -> None:
    lab = NodeLab()
    lab.sync_nodes(cpu_nodes("default-pool", 2) + tpu_nodes("tpu1", 8, spot=True))

    nodes = {node["metadata"]["name"]: node for node in lab.node_objects()}
    tpu = [node for node in nodes.values() if "tpu1" in node["metadata"]["name"]]
    assert len(nodes) == 10 and len(tpu) == 8
    for node in tpu:
        name = node["metadata"]["name"]
        labels = node["metadata"]["labels"]
        assert labels["cloud.google.com/gke-nodepool"] == "tpu1"
        assert labels["cloud.google.com/gke-tpu-accelerator"] == "tpu-v5-lite-podslice"
        assert labels["cloud.google.com/gke-tpu-topology"] == "4x8"
        assert labels["cloud.google.com/gke-accelerator-count"] == "4"
        assert labels["cloud.google.com/gke-spot"] == "true"
        assert labels["topology.kubernetes.io/zone"] == "us-west4-a"
        assert labels["topology.kubernetes.io/region"] == "us-west4"
        assert labels["kubernetes.io/hostname"] == name
        assert labels["node.kubernetes.io/instance-type"] == "ct5lp-hightpu-4t"
        assert node["spec"]["taints"] == [
            {"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"}
        ]
        assert node["spec"]["providerID"] == f"gce://lab-project/us-west4-a/{name}"
        status = node["status"]
        assert status["capacity"]["google.com/tpu"] == "4"
        assert status["allocatable"]["google.com/tpu"] == "4"
        assert status["capacity"]["pods"] == status["allocatable"]["pods"] == "15"
        assert status["capacity"]["cpu"] == "112"
        # GKE reserves 6% of the first core, 1% of the second, 0.5% of the next two, 0.25% above.
        assert status["allocatable"]["cpu"] == "111650m"  # 112 - (0.06 + 0.01 + 0.01 + 0.27)
        assert status["capacity"]["memory"] == f"{192 * 2**20}Ki"
        ready = [c for c in status["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True" and ready[0]["reason"] == "KubeletReady"
        assert status["nodeInfo"]["kubeletVersion"] == "v1.31.5-gke.1023000"

    cpu = nodes["gke-lab-default-pool-1a2b3c4d-0000"]
    assert "taints" not in cpu["spec"]
    assert "google.com/tpu" not in cpu["status"]["capacity"]
    assert "cloud.google.com/gke-tpu-accelerator" not in cpu["metadata"]["labels"]
    assert "cloud.google.com/gke-spot" not in cpu["metadata"]["labels"]
    assert cpu["status"]["capacity"]["pods"] == "110"
    assert cpu["status"]["allocatable"]["cpu"] == "3920m"
    # 16 GiB: 25% of 4 GiB, 20% of 4 GiB and 10% of 8 GiB reserved, and 100 MiB for eviction.
    reserved = Fraction(1 * 2**30) + Fraction(4, 5) * 2**30 * 2 + 100 * 2**20
    assert cpu["status"]["allocatable"]["memory"] == f"{int(16 * 2**30 - reserved) // 1024}Ki"


def test_a_pool_s_own_labels_and_taints_are_kept() -> None:
    lab = NodeLab()
    dedicated = {"key": "dedicated", "value": "saxml", "effect": "NoSchedule"}
    spec = replace(tpu_nodes("tpu1", 1)[0], labels={"team": "ml"}, taints=(dedicated,))
    lab.sync_nodes([spec])

    (node,) = lab.node_objects()
    assert node["metadata"]["labels"]["team"] == "ml"
    assert node["spec"]["taints"] == [
        dedicated,
        {"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"},
    ]


def test_nodes_get_distinct_addresses_and_pod_ranges() -> None:
    lab = NodeLab()
    lab.sync_nodes(cpu_nodes("default-pool", 3) + tpu_nodes("tpu1", 2))

    nodes = lab.node_objects()
    internal = [
        a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"
    ]
    ranges = [node["spec"]["podCIDR"] for node in nodes]
    assert len(set(internal)) == len(set(ranges)) == 5
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.128.0.0/20") for ip in internal)
    for pod_range in ranges:
        network = ipaddress.ip_network(pod_range)
        assert network.prefixlen == 24 and network.subnet_of(ipaddress.ip_network("10.8.0.0/14"))


def test_sync_is_idempotent_and_removes_only_missing_nodes() -> None:
    lab = NodeLab()
    pools = cpu_nodes("default-pool", 2) + tpu_nodes("tpu1", 2) + tpu_nodes("tpu2", 2)
    lab.sync_nodes(pools)
    before = {n["metadata"]["name"]: n["metadata"]["resourceVersion"] for n in lab.node_objects()}

    lab.sync_nodes(pools)
    again = {n["metadata"]["name"]: n["metadata"]["resourceVersion"] for n in lab.node_objects()}
    assert again == before

    lab.sync_nodes(cpu_nodes("default-pool", 2) + tpu_nodes("tpu2", 2))
    names = {node["metadata"]["name"] for node in lab.node_objects()}
    assert names == {spec.name for spec in cpu_nodes("default-pool", 2) + tpu_nodes("tpu2", 2)}

    # The removed nodes' addresses go back to the ranges: a new pool reuses them.
    removed_ranges = {
        f"10.8.{index}.0/24" for index in range(2, 4)
    }  # tpu1 held the 3rd and 4th /24
    lab.sync_nodes(cpu_nodes("default-pool", 2) + tpu_nodes("tpu2", 2) + tpu_nodes("tpu3", 2))
    tpu3 = [n for n in lab.node_objects() if "tpu3" in n["metadata"]["name"]]
    assert {node["spec"]["podCIDR"] for node in tpu3} == removed_ranges


def test_removing_a_node_pool_fails_the_pods_bound_to_it() -> None:
    async def scenario() -> None:
        async with NodeLab() as lab:
            lab.sync_nodes(cpu_nodes("default-pool", 1) + tpu_nodes("tpu1", 2))
            for index in range(2):
                lab.create_pod(
                    f"worker-{index}",
                    [tpu_container()],
                    nodeSelector=TPU_SELECTOR,
                    tolerations=[TPU_TOLERATION],
                )
            lab.create_pod("web")
            await lab.wait_for(
                lambda: all(
                    lab.pod(name)["status"].get("phase") == "Running"
                    for name in ("worker-0", "worker-1", "web")
                )
            )

            lab.sync_nodes(cpu_nodes("default-pool", 1))

            for index in range(2):
                pod = lab.pod(f"worker-{index}")
                assert pod["status"]["phase"] == "Failed"
                assert pod["status"]["reason"] == "NodeLost"
                assert pod["spec"]["nodeName"] in pod["status"]["message"]
                disruption = condition(pod, "DisruptionTarget")
                assert disruption is not None and disruption["status"] == "True"
                assert disruption["reason"] == "DeletionByPodGC"
                assert disruption["message"] == "PodGC: node no longer exists"
                assert condition(pod, "Ready")["status"] == "False"
            assert lab.pod("web")["status"]["phase"] == "Running"

            # The kubelet that ran them is gone: nothing turns them back into Running.
            await asyncio.sleep(0.05)
            assert {lab.pod(f"worker-{i}")["status"]["phase"] for i in range(2)} == {"Failed"}

    asyncio.run(scenario())
