"""A team's scheduled deployment, declared with the factories as dags/example_scheduled_deploy.py
does: the morning run serves, the next morning's run changes nothing, the evening's teardown
removes it."""

from datetime import UTC, datetime, timedelta

import pytest

from saxml_gke.spec import build_spec
from saxml_gke.workflows import deploy_dag, teardown_dag
from tests.e2e.conftest import (
    ZONE,
    conf,
    gke_operations,
    resources,
    run_built_dag,
    task_states,
    xcom,
)

MONDAY_8 = datetime(2026, 12, 7, 8, tzinfo=UTC)


def test_a_scheduled_deployment_converges_and_its_evening_teardown_removes_it(
    world, control, airflow_db
):
    team = {"project_id": world.ready["project_id"], "zone": ZONE, "cluster_name": "team-llm"}
    serve = deploy_dag(
        "test_team_llm_serve",
        schedule="0 8 * * 1-5",
        defaults={**conf(world), **team, "teardown": "on_failure", "ttl_hours": 13},
    )

    monday = run_built_dag(serve, logical_date=MONDAY_8)
    assert monday.state == "success", task_states(monday)
    assert xcom(monday, "ensure_cluster")["created"] is True
    operations = sorted(operation.name for operation in gke_operations(world))

    tuesday = run_built_dag(serve, logical_date=MONDAY_8 + timedelta(days=1))
    assert tuesday.state == "success", task_states(tuesday)
    assert xcom(tuesday, "ensure_cluster")["created"] is False
    pools = xcom(tuesday, "ensure_tpu_node_pools")
    assert pools["capacity_tries"] == 0 and pools["adopted"] == pools["pools"]  # none created
    assert xcom(tuesday, "publish_model")["action"] == "unchanged"
    assert sorted(operation.name for operation in gke_operations(world)) == operations

    evening = teardown_dag("test_team_llm_tear_down", schedule="0 20 * * 1-5", defaults=team)
    torn_down = run_built_dag(evening, logical_date=MONDAY_8 + timedelta(days=1, hours=12))
    assert torn_down.state == "success", task_states(torn_down)
    assert "cluster team-llm" in xcom(torn_down, "report")["deployments"]["team-llm"]
    assert resources(control) == []


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_the_sensors_wait_in_a_worker_in_poke_and_reschedule_mode(world, control, airflow_db, mode):
    """Where no triggerer runs: each sensor looks with `poke` until it is done, holding its
    worker slot (poke) or giving it back between looks (reschedule)."""
    dag = deploy_dag(f"test_sensors_{mode}", sensor_mode=mode)
    run_conf = conf(world, teardown="always", poll_seconds=0.5)
    dag_run = run_built_dag(dag, run_conf=run_conf)

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    for task_id in ("wait_for_pods", "wait_for_http_address", "wait_for_model_loaded"):
        assert dag.get_task(task_id).mode == mode
        assert not dag.get_task(task_id).deferrable
    tpu = build_spec(run_conf, now=MONDAY_8).tpu
    pods = xcom(dag_run, "wait_for_pods")["pods"]
    assert len(pods) == 2 + tpu.slices * tpu.nodes_per_slice  # admin server, sax-http, slices
    assert len(xcom(dag_run, "wait_for_model_loaded")["loaded_on"]) == 2
    assert resources(control) == []
