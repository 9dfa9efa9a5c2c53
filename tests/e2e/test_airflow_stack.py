"""make run's path: the real api-server, scheduler, dag-processor and triggerer on the emulator."""

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import conf, resources

sys.path.insert(0, str(ROOT / "scripts"))
from run_deploy import DAG_ID, Airflow, Processes, follow


@pytest.fixture
def airflow(world, control, tmp_path: Path):
    processes = Processes(tmp_path)
    stack = Airflow(processes, json.dumps(world.ready["airflow_connection"]), tmp_path / "home")
    try:
        stack.start()
        stack.wait_for_dag(DAG_ID)
        yield stack
    finally:
        processes.stop()


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
