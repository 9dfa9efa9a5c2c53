"""capacity_wait_minutes on the emulator: a stockout is waited out by asking again, or fails
with how long it waited, and leaves nothing behind either way."""

from tests.e2e.conftest import conf, inject, resources, run_dag, task_states, xcom
from tests.e2e.test_deploy_failures import assert_failed_and_cleaned, output

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


def test_a_flex_start_deployment_waits_for_its_slices_then_serves(
    world, control, airflow_db, capfd
):
    """The zone has no TPUs for 20 s: on-demand pools would fail; flex-start pools are
    created empty, and their pods wait until GKE brings each whole slice up."""
    inject(
        control, "tpu-stockout", **STOCKOUT, seconds=10_000
    )  # modelled: 20 s at the tests' time scale
    run_conf = conf(world, teardown="always", capacity="flex-start", capacity_wait_minutes=1)
    dag_run = run_dag("saxml_gke_deploy", run_conf=run_conf)
    assert dag_run.state == "success", task_states(dag_run)
    assert xcom(dag_run, "ensure_tpu_node_pools")["capacity_tries"] == 2  # no stockout to retry
    assert "waiting for their flex-start nodes" in output(capfd)
    assert xcom(dag_run, "smoke_test")["answer"]
    assert resources(control) == []
