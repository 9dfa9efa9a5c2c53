"""GKE's flex-start with queued provisioning, driven as a user drives it: google-cloud-container
creates flex-start pools with `queuedProvisioning`, the kubernetes client creates a PodTemplate,
a ProvisioningRequest and the pods that consume it, and kubectl shows the request.

The pools are v5e 2x4 slices (2 nodes of 4 chips). Durations are modelled: GKE's booking window
(600 s) is 1.2 s of wall time at the tests' time scale.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import container_v1
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.emulator.cluster_client import kube_client, wait
from tests.emulator.conftest import ROOT, TIME_SCALE, Control, Ready, RunningEmulator
from tests.emulator.test_gke_support import (
    ZONE,
    Gke,
    apply_scenario,
    billing,
    connect,
    tpu_pool,
    tutorial_cluster,
)

CLUSTER = "saxml"
NAMESPACE = "default"
GROUP, VERSION, PLURAL = "autoscaling.x-k8s.io", "v1", "provisioningrequests"
QUEUED_CLASS = "queued-provisioning.gke.io"
ACCELERATOR = "tpu-v5-lite-podslice"
BOOKING_SECONDS = 600  # GKE's booking window
PoolStatus = container_v1.NodePool.Status


def queued_pool(name: str, **changes: Any) -> dict[str, Any]:
    """A v5e 2x4 slice with flex-start and queued provisioning, as GKE's guide creates one."""
    pool = tpu_pool(name, topology="2x4", nodes=2)
    pool["initial_node_count"] = 0
    pool["config"]["flex_start"] = True
    pool["config"]["reservation_affinity"] = {"consume_reservation_type": "NO_RESERVATION"}
    pool["autoscaling"] = {"enabled": True, "total_max_node_count": 2, "location_policy": "ANY"}
    pool["management"] = {"auto_repair": False, "auto_upgrade": True}
    pool["queued_provisioning"] = {"enabled": True}
    pool.update(changes)
    return pool


def tpu_pod_spec(topology: str = "2x4") -> dict[str, Any]:
    """A pod of a model server: a whole 4-chip node of the slice."""
    chips = {"google.com/tpu": "4"}
    return {
        "nodeSelector": {
            "cloud.google.com/gke-tpu-accelerator": ACCELERATOR,
            "cloud.google.com/gke-tpu-topology": topology,
        },
        "containers": [
            {
                "name": "server",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": chips, "limits": chips},
            }
        ],
    }


def pod_template(name: str, topology: str = "2x4") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": name, "labels": {"cloud.google.com/apply-warden-policies": "true"}},
        "template": {"spec": tpu_pod_spec(topology)},
    }


def provisioning_request(
    name: str,
    template: str,
    count: int,
    max_run_seconds: int | str | None = None,
    provisioning_class: str = QUEUED_CLASS,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "provisioningClassName": provisioning_class,
        "podSets": [{"count": count, "podTemplateRef": {"name": template}}],
    }
    if max_run_seconds is not None:
        spec["parameters"] = {"maxRunDurationSeconds": str(max_run_seconds)}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ProvisioningRequest",
        "metadata": {"name": name},
        "spec": spec,
    }


def consuming_pod(name: str, request: str) -> dict[str, Any]:
    annotations = {
        "autoscaling.x-k8s.io/consume-provisioning-request": request,
        "autoscaling.x-k8s.io/provisioning-class-name": QUEUED_CLASS,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": tpu_pod_spec(),
    }


class Lab:
    """A running cluster with queued pools, and Kubernetes clients of it."""

    def __init__(self, gke: Gke, api: client.ApiClient) -> None:
        self.gke = gke
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def create_pools(self, *names: str) -> None:
        operations = [self.gke.create_pool(CLUSTER, queued_pool(name)) for name in names]
        for operation in operations:
            assert not self.gke.wait(operation).error.code

    def pool(self, name: str) -> container_v1.NodePool:
        return self.gke.client.get_node_pool(name=self.gke.pool_path(CLUSTER, name))

    def request(self, body: dict[str, Any], namespace: str = NAMESPACE) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    def status(self, name: str, namespace: str = NAMESPACE) -> dict[str, Any]:
        found = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        status: dict[str, Any] = found.get("status") or {}
        return status

    def condition(self, name: str, condition_type: str) -> dict[str, Any] | None:
        conditions = self.status(name).get("conditions") or []
        return next((c for c in conditions if c["type"] == condition_type), None)

    def wait_for(self, name: str, condition_type: str, timeout: float = 10) -> dict[str, Any]:
        """The condition once it is True."""

        def true() -> dict[str, Any] | None:
            found = self.condition(name, condition_type)
            return found if found and found["status"] == "True" else None

        found: dict[str, Any] = wait(true, timeout, f"{name} {condition_type}")
        return found

    def nodes(self, pool: str) -> list[client.V1Node]:
        selector = f"cloud.google.com/gke-nodepool={pool}"
        return list(self.core.list_node(label_selector=selector).items)

    def delete_request(self, name: str, namespace: str = NAMESPACE) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


@pytest.fixture
def lab(fresh_world: Ready, tmp_path: Path) -> Iterator[Lab]:
    gke = connect(fresh_world)
    cluster = gke.running_cluster(tutorial_cluster(gke.project, CLUSTER))
    with kube_client(cluster, gke.credentials, tmp_path) as api:
        yield Lab(gke, api)


def kubectl(ready: Ready, workdir: Path, *args: str) -> str:
    """The real kubectl with the kubeconfig `python -m emulator kubeconfig` writes."""
    if shutil.which("kubectl") is None:
        pytest.fail("this test drives the real kubectl: kubectl is needed on PATH", pytrace=False)
    ready_file, kubeconfig = workdir / "ready.json", workdir / "kubeconfig"
    ready_file.write_text(json.dumps(ready))
    command = [sys.executable, "-m", "emulator", "kubeconfig", CLUSTER]
    written = subprocess.run(
        [*command, "--ready-file", str(ready_file), "-o", str(kubeconfig)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert written.returncode == 0, written.stderr
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(workdir / "cache")}
    done = subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def preemptible_chips(lab: Lab, api: Any) -> float:
    compute = api("compute", "v1")
    region = compute.regions().get(project=lab.gke.project, region="us-west4").execute()
    return {q["metric"]: q["usage"] for q in region["quotas"]}["PREEMPTIBLE_TPU_LITE_PODSLICE_V5"]


def node_created(control: Control) -> dict[str, set[str]]:
    """When the nodes of each pool came up, as GKE's resources list them (milliseconds)."""
    created: dict[str, set[str]] = {}
    for resource in control.get("/resources").json()["resources"]:
        if resource["kind"] == "Node":
            pool = resource["name"].split("/nodePools/")[1].split("/")[0]
            created.setdefault(pool, set()).add(resource["created"])
    return created


def test_a_request_waits_out_a_stockout_then_its_slices_come_up_at_once_for_its_pods(
    lab: Lab, control: Control, api: Any, fresh_world: Ready, tmp_path: Path
) -> None:
    lab.create_pools("q1", "q2")
    time.sleep(3 * 60 * TIME_SCALE)  # several flex-start retries: a queued pool waits for requests
    for name in ("q1", "q2"):
        pool = lab.pool(name)
        assert pool.status == PoolStatus.RUNNING and pool.queued_provisioning.enabled
        taint = container_v1.NodeTaint(
            key="cloud.google.com/gke-queued", value="true", effect="NO_SCHEDULE"
        )
        assert taint in pool.config.taints
        assert lab.nodes(name) == []

    apply_scenario(control, "tpu-stockout", zone=ZONE, seconds=BOOKING_SECONDS)
    lab.core.create_namespaced_pod_template(NAMESPACE, pod_template("server"))
    lab.request(provisioning_request("servers", "server", count=4))
    accepted = lab.wait_for("servers", "Accepted")
    assert accepted["reason"] == "SuccessfullyQueued"
    assert lab.condition("servers", "Provisioned")["status"] == "False"

    def stockout() -> dict[str, Any] | None:
        found = lab.condition("servers", "Provisioned")
        return found if found and found["reason"] == "ResourcePoolExhausted" else None

    waiting = wait(stockout, what="the stockout to show")
    assert waiting["status"] == "False"
    assert "GCE_STOCKOUT" in waiting["message"] and "4 nodes requested" in waiting["message"]
    details = lab.status("servers")["provisioningClassDetails"]
    assert details["NodePoolName"] == "q1, q2" and details["SelectedZone"] == ZONE

    for index in range(4):
        lab.core.create_namespaced_pod(NAMESPACE, consuming_pod(f"server-{index}", "servers"))
    stranger = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stranger"},
        "spec": tpu_pod_spec(),
    }
    stranger["spec"]["containers"][0]["resources"] = {}
    stranger["spec"]["tolerations"] = [
        {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    lab.core.create_namespaced_pod(NAMESPACE, stranger)

    provisioned = lab.wait_for("servers", "Provisioned")
    assert provisioned["reason"] == "Provisioned"
    created = node_created(control)
    assert len(created["q1"] | created["q2"]) == 1  # every node of both slices at one instant
    booked = {node.metadata.name for pool in ("q1", "q2") for node in lab.nodes(pool)}
    assert len(booked) == 4

    def running() -> list[client.V1Pod]:
        pods = [lab.core.read_namespaced_pod(f"server-{i}", NAMESPACE) for i in range(4)]
        return pods if all(pod.status.phase == "Running" for pod in pods) else []

    pods = wait(running, what="the consuming pods to run")
    assert {pod.spec.node_name for pod in pods} == booked
    assert pods[0].metadata.annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    other = lab.core.read_namespaced_pod("stranger", NAMESPACE)
    assert other.status.phase == "Pending"
    scheduled = next(c for c in other.status.conditions if c.type == "PodScheduled")
    assert "untolerated taint {cloud.google.com/gke-queued: true}" in scheduled.message

    assert preemptible_chips(lab, api) == 16.0
    header, row = kubectl(fresh_world, tmp_path, "get", "provisioningrequests").splitlines()
    assert header.split() == ["NAME", "ACCEPTED", "PROVISIONED", "FAILED", "AGE"]
    assert row.split()[:3] == ["servers", "True", "True"] and len(row.split()) == 4
    templates = kubectl(fresh_world, tmp_path, "get", "podtemplates").splitlines()
    assert [line.split() for line in templates] == [
        ["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS"],
        ["server", "server", "registry.k8s.io/pause:3.10", "<none>"],
    ]


def test_requests_that_can_never_be_provisioned_fail(lab: Lab) -> None:
    lab.create_pools("q1")
    lab.core.create_namespaced_pod_template(NAMESPACE, pod_template("server"))
    lab.core.create_namespaced_pod_template(NAMESPACE, pod_template("big", topology="4x4"))
    lab.request(provisioning_request("elsewhere", "big", count=4))
    lab.request(provisioning_request("partial", "server", count=3))
    lab.request(provisioning_request("unknown", "server", count=2, provisioning_class="x.io"))
    lab.request(provisioning_request("long", "server", count=2, max_run_seconds=8 * 86400))
    lab.request(provisioning_request("orphan", "nowhere", count=2))
    expected = {
        "elsewhere": ("NoQueuedNodepoolAvailable", "No nodepool with QueuedProvisioning enabled"),
        "partial": ("InvalidArgument", "count 3 is not a whole number of the 2-node slices"),
        "unknown": ("UnsupportedProvisioningClass", 'Provisioning class "x.io"'),
        "long": ("InvalidArgument", "maxRunDurationSeconds 691200"),
        "orphan": ("MissingPodTemplates", "templates were missing: nowhere"),
    }
    for name, (reason, message) in expected.items():
        failed = lab.wait_for(name, "Failed")
        assert failed["reason"] == reason and message in failed["message"], failed
        assert lab.condition(name, "Accepted")["status"] == "False"
    assert lab.pool("q1").config.labels.get("autoscaling.gke.io/provisioning-request") is None
    assert lab.nodes("q1") == []


def test_a_request_made_while_its_pool_is_created_is_accepted_once_the_pool_runs(
    lab: Lab, control: Control
) -> None:
    apply_scenario(control, "slow-operations", factor=0.1)  # the pool runs within GKE's retries
    creating = lab.gke.create_pool(CLUSTER, queued_pool("q1"))
    lab.core.create_namespaced_pod_template(NAMESPACE, pod_template("server"))
    lab.request(provisioning_request("early", "server", count=2))
    assert not lab.gke.wait(creating).error.code
    assert lab.wait_for("early", "Provisioned")["reason"] == "Provisioned"
    assert lab.condition("early", "Failed") is None


def test_gke_refuses_a_queued_pool_without_flex_start(lab: Lab) -> None:
    pool = queued_pool("q1")
    pool["config"]["flex_start"] = False
    with pytest.raises(exceptions.BadRequest, match=r"queued_provisioning\.enabled"):
        lab.gke.create_pool(CLUSTER, pool)
    with pytest.raises(exceptions.BadRequest, match=r"node_pool\.initial_node_count"):
        lab.gke.create_pool(CLUSTER, queued_pool("q1", initial_node_count=2))


def test_a_booking_nobody_uses_expires_and_its_nodes_go(lab: Lab, control: Control) -> None:
    lab.create_pools("q1")
    lab.core.create_namespaced_pod_template(NAMESPACE, pod_template("server"))
    lab.request(provisioning_request("idle", "server", count=2))
    lab.wait_for("idle", "Provisioned")
    assert len(lab.nodes("q1")) == 2
    assert (
        lab.pool("q1")
        .config.labels["autoscaling.gke.io/provisioning-request"]
        .startswith("gke-default-idle-")
    )

    expired = lab.wait_for("idle", "BookingExpired")
    assert expired["reason"] == "BookingExpired"
    wait(lambda: lab.nodes("q1") == [], what="the unused nodes to go")
    assert lab.condition("idle", "CapacityRevoked") is None
    charged = billing(control)["q1"]
    assert charged["chip_seconds"] == pytest.approx(8 * BOOKING_SECONDS, rel=0.25)

    lab.request(provisioning_request("again", "server", count=2))  # the pool is free again
    lab.wait_for("again", "Provisioned")


def test_capacity_is_revoked_when_the_maximum_run_duration_ends(lab: Lab) -> None:
    lab.create_pools("q1")
    lab.core.create_namespaced_pod_template(NAMESPACE, pod_template("server"))
    lab.request(provisioning_request("short", "server", count=2, max_run_seconds=900))
    for index in range(2):
        lab.core.create_namespaced_pod(NAMESPACE, consuming_pod(f"server-{index}", "short"))
    lab.wait_for("short", "Provisioned")
    lab.wait_for("short", "BookingExpired")
    assert len(lab.nodes("q1")) == 2  # its pods keep the nodes after the booking window

    revoked = lab.wait_for("short", "CapacityRevoked")
    assert revoked["reason"] == "CapacityRevoked"
    assert lab.nodes("q1") == []
    pod = lab.core.read_namespaced_pod("server-0", NAMESPACE)
    assert pod.status.phase == "Failed"


def test_deleting_the_request_or_its_namespace_releases_the_nodes(lab: Lab) -> None:
    lab.create_pools("q1", "q2")
    lab.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team")))
    for namespace in (NAMESPACE, "team"):
        lab.core.create_namespaced_pod_template(namespace, pod_template("server"))
    lab.request(provisioning_request("mine", "server", count=2))
    lab.request(provisioning_request("theirs", "server", count=2), namespace="team")
    for namespace, request in ((NAMESPACE, "mine"), ("team", "theirs")):
        wait(
            lambda n=namespace, r=request: any(
                c["type"] == "Provisioned" and c["status"] == "True"
                for c in lab.status(r, n).get("conditions") or []
            ),
            what=f"{request} to be provisioned",
        )
    assert len(lab.nodes("q1")) == len(lab.nodes("q2")) == 2

    lab.delete_request("mine")
    wait(lambda: lab.nodes("q1") == [], what="the request's nodes to go")
    assert len(lab.nodes("q2")) == 2
    assert "autoscaling.gke.io/provisioning-request" not in lab.pool("q1").config.labels

    lab.core.delete_namespace("team")
    wait(lambda: lab.nodes("q2") == [], what="the namespace's request's nodes to go")


def test_deleting_a_booked_pool_ends_the_booking(lab: Lab) -> None:
    lab.create_pools("q1", "q2")
    lab.core.create_namespaced_pod_template(NAMESPACE, pod_template("server"))
    lab.request(provisioning_request("both", "server", count=4))
    lab.wait_for("both", "Provisioned")
    lab.gke.wait(lab.gke.client.delete_node_pool(name=lab.gke.pool_path(CLUSTER, "q2")))
    revoked = lab.wait_for("both", "CapacityRevoked")
    assert revoked["reason"] == "CapacityRevoked"
    assert lab.nodes("q1") == []


def test_a_waiting_request_resumes_after_a_restart(tmp_path: Path) -> None:
    state_file = str(tmp_path / "state.json")
    first = RunningEmulator(tmp_path / "first", "--state-file", state_file)
    try:
        gke = connect(first.ready)
        cluster = gke.running_cluster(tutorial_cluster(gke.project, CLUSTER))
        with kube_client(cluster, gke.credentials, tmp_path) as api:
            lab = Lab(gke, api)
            lab.create_pools("q1")
            apply_scenario(Control(first.ready), "tpu-stockout", zone=ZONE, seconds=1500)
            lab.core.create_namespaced_pod_template(NAMESPACE, pod_template("server"))
            lab.request(provisioning_request("later", "server", count=2))
            lab.wait_for("later", "Accepted")
            assert lab.condition("later", "Provisioned")["status"] == "False"
    finally:
        assert first.stop() == 0

    second = RunningEmulator(tmp_path / "second", "--state-file", state_file)
    try:
        gke = connect(second.ready)
        cluster = gke.client.get_cluster(name=gke.cluster_path(CLUSTER))
        with kube_client(cluster, gke.credentials, tmp_path) as api:
            lab = Lab(gke, api)
            lab.wait_for("later", "Provisioned")
            assert len(lab.nodes("q1")) == 2
            lab.wait_for("later", "BookingExpired")
            wait(lambda: lab.nodes("q1") == [], what="the unused nodes to go")
    finally:
        assert second.stop() == 0


def test_provisioning_requests_need_their_required_fields(lab: Lab) -> None:
    body = provisioning_request("empty", "server", count=2)
    body["spec"]["podSets"] = []
    with pytest.raises(ApiException) as refused:
        lab.request(body)
    assert refused.value.status == 422
