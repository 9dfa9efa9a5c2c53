"""make run's path: the real api-server, scheduler, dag-processor and triggerer on the emulator."""

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.run_deploy import DAG_ID, ROOT, Airflow, failures, follow, print_summary
from tests.e2e.conftest import airflow_stack, conf, inject, resources

RACE_DAG = "saxml_gke_resume_race"


@pytest.fixture(scope="module")
def airflow(world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    """One stack for the module's runs (each test resets the emulator through `control`), with
    the project's DAGs and the resume race test's."""
    root = tmp_path_factory.mktemp("stack")
    dags = root / "dags"
    dags.mkdir()
    for dag_file in [*(ROOT / "dags").glob("*.py"), *(Path(__file__).parent / "dags").glob("*.py")]:
        shutil.copy(dag_file, dags)
    with airflow_stack(world, root, paused=False, dags_folder=dags) as stack:
        yield stack


def test_a_wait_that_ends_at_once_is_not_killed_by_the_resume_race(airflow):
    """Airflow 3.3's scheduler fails a task that resumes on a worker before it has processed the
    executor's report of the deferring process's exit. The product's waits end their task in
    the triggerer, so they never resume: none of them fails, while tasks that resume the usual
    way, in the same run and with the same slow exits, are failed by the race."""
    airflow.wait_for_dag(RACE_DAG)
    response = airflow.trigger(RACE_DAG, {})
    response.raise_for_status()
    run_id = response.json()["dag_run_id"]
    deadline = time.monotonic() + 600
    while airflow.run_state(RACE_DAG, run_id) not in ("success", "failed"):
        assert time.monotonic() < deadline, "the race DAG did not finish in 600 s"
        time.sleep(2)
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(RACE_DAG, run_id)}
    ours = {task: state for task, state in states.items() if task.startswith("ends_in_triggerer")}
    usual = {task: state for task, state in states.items() if task.startswith("resumes_on_worker")}
    assert set(ours.values()) == {"success"}, ours
    assert "failed" in usual.values(), f"the race was not provoked: {usual}"


def test_rest_api_validates_params_and_the_triggerer_runs_the_waits(world, control, airflow):
    bad = airflow.trigger(DAG_ID, conf(world, tpu_slices=0, teardown="always"))
    assert bad.status_code == 400
    assert "tpu_slices" in bad.text
    assert resources(control) == []

    response = airflow.trigger(DAG_ID, conf(world, teardown="always", poll_seconds=0.5))
    response.raise_for_status()
    run_id = response.json()["dag_run_id"]
    assert follow(airflow, run_id, timeout=900) == "success"
    # Waits not over when their task looked were polled by the triggerer (the cluster takes
    # minutes of modelled time; a wait already over when the worker looks is not deferred).
    trigger_logs = list((airflow.home / "logs").rglob("*.log.trigger.*"))
    deferred = {log.parts[-2] for log in trigger_logs}
    assert {"task_id=ensure_cluster", "task_id=teardown.delete_cluster"} <= deferred
    assert airflow.xcom(DAG_ID, run_id, "smoke_test")["answer"].strip()
    links = airflow.request(
        "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/ensure_cluster/links"
    ).json()["extra_links"]
    project = world.ready["project_id"]
    assert links["GKE cluster"] == (
        "https://console.cloud.google.com/kubernetes/clusters/details/us-west4-a/saxml/details"
        f"?project={project}"
    )
    assert "jobset-name" in links["Model server logs"]
    assert resources(control) == []


def test_a_failed_run_reports_the_failed_task_and_its_error(world, control, airflow, capsys):
    inject(control, "tpu-stockout", zone="us-west4-a", machine_type="ct5lp-hightpu-4t")
    response = airflow.trigger(DAG_ID, conf(world, teardown="always", poll_seconds=0.5))
    response.raise_for_status()
    run_id = response.json()["dag_run_id"]
    assert follow(airflow, run_id, timeout=900) == "failed"

    assert dict(failures(airflow, run_id)).keys() == {"ensure_tpu_node_pools"}
    print_summary(airflow, run_id, billing=None)
    printed = capsys.readouterr().out
    assert "FAILED     ensure_tpu_node_pools: " in printed
    assert "No capacity for ct5lp-hightpu-4t in us-west4-a" in printed
    report = printed.split("\nReport\n")[1].split("Task timings")[0]
    # No "model None (None)" for a model that was never served.
    assert not [line for line in report.splitlines() if line.split()[:1] == ["model"]]
    assert resources(control) == []
