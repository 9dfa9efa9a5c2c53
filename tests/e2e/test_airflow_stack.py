"""make run's path: the real api-server, scheduler, dag-processor and triggerer on the emulator."""

from collections.abc import Iterator

import pytest

from scripts.run_deploy import DAG_ID, Airflow, failures, follow, print_summary
from tests.e2e.conftest import airflow_stack, conf, inject, resources


@pytest.fixture(scope="module")
def airflow(world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    """One stack for the module's runs (each test resets the emulator through `control`)."""
    with airflow_stack(world, tmp_path_factory.mktemp("stack"), paused=False) as stack:
        yield stack


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
    assert {"task_id=ensure_cluster", "task_id=teardown"} <= deferred
    assert airflow.xcom(DAG_ID, run_id, "smoke_test")["answer"].strip()
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
