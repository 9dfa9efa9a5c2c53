"""The scheduler: TPU pods wait for their pools, JobSet's exclusive placement, resources, ports."""

import asyncio
from collections.abc import Callable
from typing import Any

from node_harness import (
    TPU_SELECTOR,
    TPU_TOLERATION,
    NodeLab,
    condition,
    container,
    cpu_nodes,
    tpu_container,
    tpu_nodes,
)

from emulator.kube.scheduler.messages import UNRESOLVABLE, UNSCHEDULABLE, Rejection, fit_error
from emulator.kube.store import Obj

JOB_KEY = "jobset.sigs.k8s.io/job-key"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
NODEPOOL = "cloud.google.com/gke-nodepool"


def run(scenario: Callable[[NodeLab], Any]) -> None:
    async def main() -> None:
        async with NodeLab() as lab:
            await scenario(lab)

    asyncio.run(main())


def scheduled(lab: NodeLab, name: str) -> str:
    return lab.pod(name)["spec"].get("nodeName", "")


def unschedulable_message(lab: NodeLab, name: str) -> str:
    found = condition(lab.pod(name), "PodScheduled")
    if found and found["status"] == "False" and found.get("reason") == "Unschedulable":
        return str(found["message"])
    return ""


def tpu_pod(lab: NodeLab, name: str, **spec: Any) -> Obj:
    return lab.create_pod(
        name, [tpu_container()], nodeSelector=TPU_SELECTOR, tolerations=[TPU_TOLERATION], **spec
    )


def test_tpu_pods_wait_for_their_pools_then_schedule_once_nodes_exist() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(cpu_nodes("default-pool", 3))
        for index in range(8):
            tpu_pod(lab, f"worker-{index}")

        message = await lab.wait_for(lambda: unschedulable_message(lab, "worker-0"))
        assert message == (
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
            "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.."
        )
        pod = lab.pod("worker-0")
        assert pod["status"]["phase"] == "Pending" and not scheduled(lab, "worker-0")
        failed = [e for e in lab.events("worker-0") if e["reason"] == "FailedScheduling"]
        assert failed[0]["type"] == "Warning" and failed[0]["message"] == message
        assert failed[0]["source"] == {"component": "default-scheduler"}

        lab.sync_nodes(cpu_nodes("default-pool", 3) + tpu_nodes("tpu1", 8))

        await lab.wait_for(lambda: all(scheduled(lab, f"worker-{i}") for i in range(8)))
        nodes = {scheduled(lab, f"worker-{i}") for i in range(8)}
        assert nodes == {spec.name for spec in tpu_nodes("tpu1", 8)}  # 4 chips: one per node
        pod = lab.pod("worker-0")
        assert condition(pod, "PodScheduled")["status"] == "True"
        assigned = [e for e in lab.events("worker-0") if e["reason"] == "Scheduled"]
        assert assigned[0]["message"] == (
            f"Successfully assigned default/worker-0 to {pod['spec']['nodeName']}"
        )
        await lab.wait_for(lambda: lab.pod("worker-7")["status"]["phase"] == "Running")

    run(scenario)


def test_a_full_slice_reports_insufficient_tpu_and_no_preemption_victims() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(cpu_nodes("default-pool", 3) + tpu_nodes("tpu1", 4))
        for index in range(5):
            tpu_pod(lab, f"worker-{index}")

        message = await lab.wait_for(
            lambda: next(
                (
                    unschedulable_message(lab, f"worker-{i}")
                    for i in range(5)
                    if not scheduled(lab, f"worker-{i}")
                ),
                "",
            )
        )
        assert message == (
            "0/7 nodes are available: 3 node(s) didn't match Pod's node affinity/selector, "
            "4 Insufficient google.com/tpu. preemption: 0/7 nodes are available: "
            "3 Preemption is not helpful for scheduling, "
            "4 No preemption victims found for incoming pod.."
        )
        assert sum(bool(scheduled(lab, f"worker-{i}")) for i in range(5)) == 4

    run(scenario)


def test_a_tpu_pod_without_the_toleration_is_kept_off_tpu_nodes() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(tpu_nodes("tpu1", 2))
        lab.create_pod("untolerated", [tpu_container()], nodeSelector=TPU_SELECTOR)

        message = await lab.wait_for(lambda: unschedulable_message(lab, "untolerated"))
        assert message.startswith(
            "0/2 nodes are available: 2 node(s) had untolerated taint {google.com/tpu: present}. "
        )

    run(scenario)


def test_no_nodes_at_all() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.create_pod("lonely")
        message = await lab.wait_for(lambda: unschedulable_message(lab, "lonely"))
        assert message == "no nodes available to schedule pods"

    run(scenario)


def exclusive_pod(lab: NodeLab, name: str, job_key: str) -> Obj:
    """A JobSet leader pod with exclusive placement on the node pool, as JobSet's webhook
    writes it: affinity to its own job key, anti-affinity to every other job key."""
    affinity = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {
                        "matchExpressions": [
                            {"key": JOB_KEY, "operator": "In", "values": [job_key]}
                        ]
                    },
                    "topologyKey": NODEPOOL,
                    "namespaceSelector": {},
                }
            ]
        },
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {
                        "matchExpressions": [
                            {"key": JOB_KEY, "operator": "Exists"},
                            {"key": JOB_KEY, "operator": "NotIn", "values": [job_key]},
                        ]
                    },
                    "topologyKey": NODEPOOL,
                    "namespaceSelector": {},
                }
            ]
        },
    }
    return tpu_pod(lab, name, labels={JOB_KEY: job_key}, affinity=affinity)


def test_exclusive_placement_puts_each_job_on_its_own_node_pool() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(cpu_nodes("default-pool", 1) + tpu_nodes("tpu1", 3) + tpu_nodes("tpu2", 3))
        for job in ("job-a", "job-b"):
            for index in range(2):
                exclusive_pod(lab, f"{job}-{index}", job)

        names = [f"{job}-{index}" for job in ("job-a", "job-b") for index in range(2)]
        await lab.wait_for(lambda: all(scheduled(lab, name) for name in names))
        pools = {}
        for job in ("job-a", "job-b"):
            pools[job] = {
                lab.store.get(lab.type("Node"), "", scheduled(lab, f"{job}-{i}"))["metadata"][
                    "labels"
                ][NODEPOOL]
                for i in range(2)
            }
        assert pools["job-a"] in ({"tpu1"}, {"tpu2"})
        assert pools["job-b"] in ({"tpu1"}, {"tpu2"})
        assert pools["job-a"] != pools["job-b"]

        # A third job finds a free node in each pool, but each pool holds another job's pods.
        exclusive_pod(lab, "job-c-0", "job-c")
        message = await lab.wait_for(lambda: unschedulable_message(lab, "job-c-0"))
        assert message == (
            "0/7 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "2 node(s) didn't satisfy existing pods anti-affinity rules, "
            "4 Insufficient google.com/tpu. "
            "preemption: 0/7 nodes are available: 1 Preemption is not helpful for scheduling, "
            "6 No preemption victims found for incoming pod.."
        )

    run(scenario)


def test_follower_of_a_group_goes_where_its_group_is() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(tpu_nodes("tpu1", 2) + tpu_nodes("tpu2", 2))
        exclusive_pod(lab, "job-a-0", "job-a")
        node = await lab.wait_for(lambda: scheduled(lab, "job-a-0"))
        pool = lab.store.get(lab.type("Node"), "", node)["metadata"]["labels"][NODEPOOL]

        exclusive_pod(lab, "job-a-1", "job-a")
        follower = await lab.wait_for(lambda: scheduled(lab, "job-a-1"))
        assert lab.store.get(lab.type("Node"), "", follower)["metadata"]["labels"][NODEPOOL] == pool

    run(scenario)


def test_required_node_affinity_picks_the_pool() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(tpu_nodes("tpu1", 2) + tpu_nodes("tpu2", 2))

        def pinned(name: str, *expressions: Obj, fields: list[Obj] | None = None) -> None:
            term: Obj = {"matchExpressions": list(expressions)}
            if fields:
                term["matchFields"] = fields
            affinity = {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": [term]}}}
            tpu_pod(lab, name, affinity=affinity)

        pinned("in-tpu2", {"key": NODEPOOL, "operator": "In", "values": ["tpu2"]})
        pinned("not-tpu2", {"key": NODEPOOL, "operator": "NotIn", "values": ["tpu2"]})
        target = tpu_nodes("tpu1", 2)[1].name
        pinned("by-name", fields=[{"key": "metadata.name", "operator": "In", "values": [target]}])
        chips = {"key": "cloud.google.com/gke-accelerator-count", "operator": "Gt", "values": ["4"]}
        pinned("too-few-chips", chips)

        def pool(name: str) -> str:
            node = lab.store.get(lab.type("Node"), "", scheduled(lab, name))
            return str(node["metadata"]["labels"][NODEPOOL])

        await lab.wait_for(
            lambda: all(scheduled(lab, n) for n in ("in-tpu2", "not-tpu2", "by-name"))
        )
        assert (pool("in-tpu2"), pool("not-tpu2")) == ("tpu2", "tpu1")
        assert scheduled(lab, "by-name") == target
        message = await lab.wait_for(lambda: unschedulable_message(lab, "too-few-chips"))
        assert "node(s) didn't match Pod's node affinity/selector" in message

    run(scenario)


def test_a_pod_s_own_affinity_and_anti_affinity_rules() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(tpu_nodes("tpu1", 2))
        tpu_pod(lab, "plain", labels={JOB_KEY: "job-a"})
        await lab.wait_for(lambda: scheduled(lab, "plain"))

        away = {"key": JOB_KEY, "operator": "Exists"}
        anti = {"labelSelector": {"matchExpressions": [away]}, "topologyKey": NODEPOOL}
        tpu_pod(
            lab, "loner", affinity={"podAntiAffinity": {REQUIRED: [anti]}}, labels={JOB_KEY: "b"}
        )
        message = await lab.wait_for(lambda: unschedulable_message(lab, "loner"))
        assert message.startswith(
            "0/2 nodes are available: 1 Insufficient google.com/tpu, "
            "1 node(s) didn't match pod anti-affinity rules. "
        )

        elsewhere = {"matchLabels": {"app": "nowhere"}}
        near = {"labelSelector": elsewhere, "topologyKey": NODEPOOL}
        tpu_pod(lab, "follower", affinity={"podAffinity": {REQUIRED: [near]}})
        message = await lab.wait_for(lambda: unschedulable_message(lab, "follower"))
        assert message.startswith(
            "0/2 nodes are available: 1 Insufficient google.com/tpu, "
            "1 node(s) didn't match pod affinity rules. "
        )

    run(scenario)


def test_cpu_and_pod_count_are_resources_too() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(cpu_nodes("default-pool", 2))
        big = container(resources={"requests": {"cpu": "3", "memory": "1Gi"}})
        for index in range(3):
            lab.create_pod(f"big-{index}", [big])

        message = await lab.wait_for(lambda: unschedulable_message(lab, "big-2"))
        assert message == (
            "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
            "2 No preemption victims found for incoming pod.."
        )
        # Freeing a node's CPU lets the waiting pod in.
        first = scheduled(lab, "big-0")
        lab.store.delete(lab.type("Pod"), "default", "big-0", grace_period_seconds=0)
        assert await lab.wait_for(lambda: scheduled(lab, "big-2")) == first

    run(scenario)


def test_host_network_pods_cannot_share_a_port_on_a_node() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(cpu_nodes("default-pool", 1))
        ports = [{"containerPort": 10001, "protocol": "TCP"}]
        lab.create_pod("first", [container(ports=ports)], hostNetwork=True)
        await lab.wait_for(lambda: scheduled(lab, "first"))
        lab.create_pod("second", [container(ports=ports)], hostNetwork=True)

        message = await lab.wait_for(lambda: unschedulable_message(lab, "second"))
        assert message.startswith(
            "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
        )
        other = [{"containerPort": 10002, "protocol": "TCP"}]
        lab.create_pod("third", [container(ports=other)], hostNetwork=True)
        await lab.wait_for(lambda: scheduled(lab, "third"))

    run(scenario)


def test_an_unschedulable_pod_is_retried_on_change_not_on_every_write() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(cpu_nodes("default-pool", 1))
        tpu_pod(lab, "waiting")
        await lab.wait_for(lambda: unschedulable_message(lab, "waiting"))
        for index in range(5):  # unrelated writes: pods that come and run elsewhere
            lab.create_pod(f"noise-{index}")
        await lab.wait_for(
            lambda: all(lab.pod(f"noise-{i}")["status"].get("phase") == "Running" for i in range(5))
        )
        failed = [e for e in lab.events("waiting") if e["reason"] == "FailedScheduling"]
        assert len(failed) == 1 and failed[0]["count"] <= 6  # at most one retry per new pod

        lab.sync_nodes(cpu_nodes("default-pool", 1) + tpu_nodes("tpu1", 1))
        await lab.wait_for(lambda: scheduled(lab, "waiting"))

    run(scenario)


def test_fit_error_counts_and_sorts_reasons_as_kube_scheduler() -> None:
    rejections = [
        Rejection(UNSCHEDULABLE, ("Insufficient cpu", "Insufficient memory")),
        Rejection(UNSCHEDULABLE, ("Insufficient cpu",)),
        Rejection(UNRESOLVABLE, ("node(s) had untolerated taint {google.com/tpu: present}",)),
    ]
    assert fit_error(rejections) == (
        "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint "
        "{google.com/tpu: present}, 2 Insufficient cpu. preemption: 0/3 nodes are available: "
        "1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod.."
    )
