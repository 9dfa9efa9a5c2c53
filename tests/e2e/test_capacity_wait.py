"""capacity_wait_minutes on the emulator: a stockout is waited out by asking again, or fails
with how long it waited, and leaves nothing behind either way."""

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from google.cloud import container_v1
from kubernetes import client

from tests.e2e.conftest import conf, inject, resources, run_dag, task_states, xcom
from tests.e2e.test_deploy_failures import assert_failed_and_cleaned, output
from tests.emulator.cluster_client import kube_client
from tests.emulator.conftest import credentials_for, operator_key

STOCKOUT = {"zone": "us-west4-a", "machine_type": "ct5lp-hightpu-4t"}


def test_a_stockout_that_clears_after_two_tries_is_waited_out(world, control, airflow_db, capfd):
    """The first two creations (one per slice) find no TPUs; both pools are asked for again."""
    inject(control, "tpu-stockout", **STOCKOUT, times=2)
    run_conf = conf(world, teardown="always", capacity_wait_minutes=1)
    dag_run = run_dag("saxml_gke_deploy", run_conf=run_conf)
    assert dag_run.state == "success", task_states(dag_run)
    pools = xcom(dag_run, "ensure_tpu_node_pools")
    assert pools["capacity_tries"] == 4  # 2 slices, each created twice
    assert 0 < pools["capacity_wait_seconds"] < 60
    assert xcom(dag_run, "report")["steps"]["ensure_tpu_node_pools"]["capacity_tries"] == 4
    logged = output(capfd)
    assert "had no capacity (try 1): asking again" in logged
    assert "min for capacity, 4 tries" in logged
    assert resources(control) == []


def test_a_stockout_that_outlasts_the_capacity_wait_fails_saying_so(
    world, control, airflow_db, capfd
):
    inject(control, "tpu-stockout", **STOCKOUT)
    run_conf = conf(world, capacity_wait_minutes=0.05)  # 3 s
    dag_run = run_dag("saxml_gke_deploy", run_conf=run_conf)
    assert_failed_and_cleaned(dag_run, control, "ensure_tpu_node_pools")
    logged = output(capfd)
    assert "had no capacity (try 1): asking again" in logged
    assert "min for capacity" in logged
    assert "No capacity for ct5lp-hightpu-4t in us-west4-a (on-demand)" in logged
    assert "capacity=flex-start" in logged


# How long the model servers wait for their nodes before the zone has TPUs again: long enough
# for the pods' wait to look several times, at any speed of the steps before it.
PODS_WAIT_SECONDS = 3.0


@contextlib.contextmanager
def capacity_once_the_model_servers_wait(world, control, tmp_path: Path) -> Iterator[None]:
    """The zone stays out of TPUs until the model servers' pods have waited for their nodes
    for PODS_WAIT_SECONDS, as a person watching the cluster sees them; then the stockout ends."""
    inject(control, "tpu-stockout", **STOCKOUT, seconds=10**9)
    credentials = credentials_for(operator_key(world.ready))
    gke = container_v1.ClusterManagerClient(
        credentials=credentials,
        transport="rest",
        client_options={"api_endpoint": world.ready["endpoints"]["container"]},
    )
    parent = f"projects/{world.ready['project_id']}/locations/{STOCKOUT['zone']}"
    done = threading.Event()

    def pending_model_servers() -> bool:
        clusters = [c for c in gke.list_clusters(parent=parent).clusters if c.endpoint]
        if not clusters:
            return False
        with kube_client(clusters[0], credentials, tmp_path) as api:
            pods = client.CoreV1Api(api).list_pod_for_all_namespaces(
                label_selector="app=sax-model-server"
            )
        return any(pod.status.phase == "Pending" for pod in pods.items)

    def watch() -> None:
        since = None
        while not done.wait(0.2):
            since = (since or time.monotonic()) if pending_model_servers() else None
            if since and time.monotonic() - since >= PODS_WAIT_SECONDS:
                control.delete("/faults").raise_for_status()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=30)


def flex_start_conf(world, capacity: str) -> dict:
    """Flex-start TPUs need GKE 1.33.0-gke.1712000: the emulator's RAPID channel has it,
    REGULAR not yet."""
    return conf(
        world,
        teardown="always",
        capacity=capacity,
        capacity_wait_minutes=1,
        release_channel="RAPID",
    )


def test_a_flex_start_deployment_waits_for_its_slices_then_serves(
    world, control, airflow_db, capfd, tmp_path
):
    """On-demand pools would fail in a stockout; flex-start pools are created empty, and their
    pods wait until GKE brings each whole slice up."""
    with capacity_once_the_model_servers_wait(world, control, tmp_path):
        dag_run = run_dag("saxml_gke_deploy", run_conf=flex_start_conf(world, "flex-start"))
    assert dag_run.state == "success", task_states(dag_run)
    assert xcom(dag_run, "ensure_tpu_node_pools")["capacity_tries"] == 2  # no stockout to retry
    assert "waiting for their flex-start nodes" in output(capfd)
    assert xcom(dag_run, "smoke_test")["answer"]
    assert resources(control) == []


def test_a_flex_start_queued_deployment_waits_for_its_request_then_serves(
    world, control, airflow_db, capfd, tmp_path
):
    """With queued provisioning the pools are created empty and one ProvisioningRequest asks
    for every slice: while the zone has no TPUs the log shows what GKE says about it, then
    both slices come up, the model servers take them, and teardown leaves nothing."""
    with capacity_once_the_model_servers_wait(world, control, tmp_path):
        dag_run = run_dag("saxml_gke_deploy", run_conf=flex_start_conf(world, "flex-start-queued"))
    assert dag_run.state == "success", task_states(dag_run)
    logged = output(capfd)
    assert "ProvisioningRequest sax-model-server-request: Provisioned=False" in logged
    assert "ResourcePoolExhausted" in logged
    assert xcom(dag_run, "smoke_test")["answer"]
    assert resources(control) == []
