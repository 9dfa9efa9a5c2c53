"""Failures mid-run: the right diagnostic in the failing task, teardown runs, nothing is left."""

from saxml_gke.spec import build_spec
from scripts.run_deploy import Control
from tests.e2e.conftest import (
    EXTERNAL,
    conf,
    inject,
    resources,
    run_dag,
    task_states,
    teardown_states,
)


def output(capfd) -> str:
    """What the run logged (dag.test() writes the task logs to the console)."""
    captured = capfd.readouterr()
    return captured.out + captured.err


def assert_failed_and_cleaned(dag_run, control: Control, failed_task: str) -> dict[str, str]:
    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states[failed_task] == "failed", states
    assert set(teardown_states(dag_run).values()) == {"success"}, states
    assert states["verify_teardown"] == "success", states
    assert resources(control) == []
    return states


def test_tpu_stockout_fails_the_pools_with_capacity_advice(world, control, airflow_db, capfd):
    inject(control, "tpu-stockout", zone="us-west4-a", machine_type="ct5lp-hightpu-4t")
    dag_run = run_dag("saxml_gke_deploy", run_conf=conf(world))
    assert_failed_and_cleaned(dag_run, control, "ensure_tpu_node_pools")
    logged = output(capfd)
    assert "No capacity for ct5lp-hightpu-4t in us-west4-a" in logged
    assert "capacity=spot" in logged


def test_model_load_failure_is_reported_from_the_model_server_log(
    world, control, airflow_db, capfd
):
    inject(control, "model-load-failure", model="/sax/test/spmd")
    dag_run = run_dag("saxml_gke_deploy", run_conf=conf(world))
    assert_failed_and_cleaned(dag_run, control, "wait_for_model_loaded")
    assert "Internal error during loading. model_key: /sax/test/spmd" in output(capfd)


def test_pods_that_cannot_be_scheduled_fail_with_the_scheduler_message(
    world, control, airflow_db, capfd
):
    """The TPU pools are missing (their task marked done without running)."""
    dag_run = run_dag(
        "saxml_gke_deploy",
        run_conf=conf(world),
        mark_success_pattern="ensure_tpu_node_pools",
    )
    assert_failed_and_cleaned(dag_run, control, "wait_for_pods")
    logged = output(capfd)
    assert "pods cannot be scheduled" in logged
    assert "FailedScheduling" in logged  # the pods' warning events
    assert "node(s) didn't match Pod's node affinity/selector" in logged  # no TPU nodes


def test_admin_server_without_bucket_access_crash_loops_with_the_storage_error(
    world, control, airflow_db, capfd
):
    """Workload Identity was never set up (its task marked done without running): the admin
    server cannot reach the bucket, and the pod wait fails with its crash loop and log."""
    dag_run = run_dag(
        "saxml_gke_deploy",
        run_conf=conf(world),
        mark_success_pattern="ensure_workload_identity",
    )
    assert_failed_and_cleaned(dag_run, control, "wait_for_pods")
    logged = output(capfd)
    assert "CrashLoopBackOff" in logged
    assert "BackOff: Back-off restarting failed container" in logged
    assert "last log lines of sax-admin-server" in logged
    bucket = build_spec(conf(world), now=dag_run.run_after).storage.bucket
    assert f"Failed to check path /gcs/{bucket}/sax-root" in logged


def test_no_static_address_quota_fails_the_address_and_cleans_up_the_cluster(
    world, control, airflow_db, capfd
):
    """The region has no static address left: the reservation's operation ends with
    QUOTA_EXCEEDED while the cluster is being created; teardown removes the cluster."""
    inject(control, "static-address-quota")
    dag_run = run_dag("saxml_gke_deploy", run_conf=conf(world, **EXTERNAL))
    states = assert_failed_and_cleaned(dag_run, control, "ensure_http_address")
    assert states["deploy_saxml"] == "upstream_failed", states
    assert "insert of saxml-sax-http failed: QUOTA_EXCEEDED" in output(capfd)
