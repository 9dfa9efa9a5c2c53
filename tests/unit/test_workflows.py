"""The DAG factories: the deploy DAG reads as the tutorial, and a team's scheduled deployment
is declared in a few lines with defaults checked when it is parsed."""

import itertools

import pytest

from saxml_gke.operators.base import DeploymentOperator
from saxml_gke.operators.teardown import TEARDOWN_STEPS
from saxml_gke.sensors.saxml import SaxmlSensor
from saxml_gke.spec import InvalidParameters
from saxml_gke.workflows import deploy_dag, teardown_dag

TUTORIAL = [
    "plan",
    "preflight",
    "check_ownership",
    "ensure_cluster",
    "ensure_bucket",
    "ensure_http_address",
    "ensure_node_service_account",
    "record_deployment",
    "ensure_tpu_node_pools",
    "ensure_workload_identity",
    "install_jobset",
    "deploy_saxml",
    "wait_for_pods",
    "wait_for_http_address",
    "publish_model",
    "wait_for_model_loaded",
    "smoke_test",
    "report",
    "decide_teardown",
    "verify_teardown",
]


def test_every_step_is_its_own_operator_class_and_data_edges_are_xcomargs() -> None:
    dag = deploy_dag()
    assert [t for t in dag.task_ids if not t.startswith("teardown.")] == TUTORIAL
    steps = [dag.get_task(t) for t in dag.task_ids if t != "plan"]
    assert all(isinstance(task, DeploymentOperator | SaxmlSensor) for task in steps)
    work = [task for task in steps if not task.task_id.startswith("teardown.")]
    assert len({type(task) for task in work}) == len(work)  # no generic step runner
    # The cluster's endpoint flows along its edges: every Kubernetes step is downstream of it.
    for task_id in ("record_deployment", "install_jobset", "deploy_saxml", "wait_for_pods",
                    "publish_model", "wait_for_model_loaded", "smoke_test"):  # fmt: skip
        assert "ensure_cluster" in dag.get_task(task_id).upstream_task_ids, task_id
    assert "ensure_http_address" in dag.get_task("deploy_saxml").upstream_task_ids
    # The nodes run as their account, which reads the bucket: it exists before them.
    assert "ensure_bucket" in dag.get_task("ensure_node_service_account").upstream_task_ids
    assert "ensure_node_service_account" in dag.get_task("ensure_cluster").upstream_task_ids


def test_teardown_is_an_ordered_group_of_teardown_tasks_gated_by_the_policy() -> None:
    dag = deploy_dag()
    group = [f"teardown.{step}" for step, _ in TEARDOWN_STEPS]
    assert [t for t in dag.task_ids if t.startswith("teardown.")] == group
    for upstream, downstream in itertools.pairwise(group):
        assert upstream in dag.get_task(downstream).upstream_task_ids
    assert all(dag.get_task(t).is_teardown for t in [*group, "decide_teardown"])
    assert "decide_teardown" in dag.get_task(group[0]).upstream_task_ids
    assert group[-1] in dag.get_task("verify_teardown").upstream_task_ids
    assert not dag.get_task("verify_teardown").is_teardown  # it decides the run's state


def test_the_nightly_dag_maps_the_same_teardown_tasks_over_the_deployments_found() -> None:
    dag = teardown_dag()
    mapped = [t for t in dag.task_ids if t.startswith("tear_down.")]
    assert mapped == [f"tear_down.{step}" for step, _ in TEARDOWN_STEPS]
    assert "find_deployments" in dag.get_task(mapped[0]).upstream_task_ids


def test_a_scheduled_deployment_takes_its_defaults_and_schedule() -> None:
    dag = deploy_dag(
        "team_serve",
        schedule="0 8 * * 1-5",
        defaults={"project_id": "team-project", "zone": "us-west4-a", "ttl_hours": 13},
    )
    assert dag.params["project_id"] == "team-project"
    assert dag.params["ttl_hours"] == 13
    assert dag.timetable.expression == "0 8 * * 1-5"


@pytest.mark.parametrize(
    ("defaults", "named"),
    [
        ({"project_id": "team-project", "zone": "mars-1a"}, "zone"),
        ({"project_id": "team-project", "zone": "us-west4-a", "tpu_slices": 0}, "tpu_slices"),
        ({"project_id": "team-project", "zone": "us-west4-a", "slices": 2}, "slices"),
    ],
)
def test_a_wrong_default_fails_the_dag_file_naming_the_parameter(
    defaults: dict, named: str
) -> None:
    with pytest.raises((InvalidParameters, ValueError), match=named):
        deploy_dag("team_serve", defaults=defaults)


def test_a_teardown_dag_refuses_an_unknown_default_naming_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"'cluster'.*allowed: \['cluster_name'"):
        teardown_dag("team_tear_down", defaults={"cluster": "x"})


def test_the_shipped_example_serves_on_weekday_mornings_tears_down_at_night_and_is_paused() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    dags = DagBag(str(ROOT / "dags" / "example_scheduled_deploy.py")).dags
    serve, tear_down = dags["example_team_llm_serve"], dags["example_team_llm_tear_down"]
    assert (serve.timetable.expression, tear_down.timetable.expression) == (
        "0 8 * * 1-5",
        "0 20 * * 1-5",
    )
    assert serve.is_paused_upon_creation and tear_down.is_paused_upon_creation
    assert tear_down.params["cluster_name"] == serve.params["cluster_name"] == "team-llm"
