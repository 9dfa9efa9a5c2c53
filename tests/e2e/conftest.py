"""The DAGs run end to end against one emulator, with Airflow's own metadata database.

`dag.test()` runs every task and runs triggers inline; the connection comes from the emulator's
ready file, exactly as `make run` sets it up.
"""

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.run_deploy import DAG_ID, Airflow, Control, Processes
from tests.emulator.conftest import RunningEmulator

# Slower than the emulator unit tests: Airflow's task start-up is part of every step here.
TIME_SCALE = "0.002"
ZONE = "us-west4-a"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    emulator = RunningEmulator(tmp_path_factory.mktemp("e2e-emulator"), "--time-scale", TIME_SCALE)
    connection = json.dumps(emulator.ready["airflow_connection"])
    previous = os.environ.get("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT")
    os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = connection
    yield emulator
    if previous is None:
        os.environ.pop("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", None)
    else:
        os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = previous
    emulator.stop()


@pytest.fixture
def control(world: RunningEmulator) -> Iterator[Control]:
    """The control API of a world reset before the test, its faults cleared after."""
    control = Control(world.ready)
    control.post("/reset").raise_for_status()
    yield control
    control.delete("/faults").raise_for_status()


@contextlib.contextmanager
def airflow_stack(
    world: RunningEmulator, root: Path, *, paused: bool, dags_folder: Path | None = None
) -> Iterator[Airflow]:
    """make run's Airflow (api-server, scheduler, dag-processor, triggerer) on the e2e emulator,
    the deploy DAG parsed; `paused` keeps it paused, so that a triggered run stays queued.
    `dags_folder` replaces the project's dags/ (for DAGs only a test needs)."""
    processes = Processes(root)
    stack = Airflow(processes, json.dumps(world.ready["airflow_connection"]), root / "home")
    if dags_folder is not None:
        stack.local["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    try:
        stack.start()
        stack.wait_for_dag(DAG_ID)
        if paused:
            stack.request(
                "PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": True}
            ).raise_for_status()
        yield stack
    finally:
        processes.stop()


# sax-http's load balancer, opened on purpose (the default, none, has none).
INTERNAL = {"http_exposure": "internal", "http_source_ranges": ["10.0.0.0/8"]}
EXTERNAL = {
    "http_exposure": "external",
    "http_source_ranges": ["203.0.113.0/24"],
    "allow_public_http": True,
}


def conf(world: RunningEmulator, **overrides: Any) -> dict[str, Any]:
    """The tutorial's parameters for the emulator's project, with fast polling."""
    return {
        "project_id": world.ready["project_id"],
        "zone": ZONE,
        "jobset_manifest_url": world.ready["jobset_manifest_url"],
        "jobset_manifest_sha256": world.ready["jobset_manifest_sha256"],
        "poll_seconds": 0.1,
        # Wall-clock bounds, generous for a test worker sharing the cores with another: no
        # test waits them out, each failure it expects is detected before.
        "pods_timeout_minutes": 3,
        "model_load_timeout_minutes": 3,
        "operation_timeout_minutes": 3,
        **overrides,
    }


def inject(control: Control, scenario: str, **params: object) -> None:
    """Turn on one of the emulator's fault scenarios (the `control` fixture clears them)."""
    control.post("/faults", json={"scenario": scenario, "params": params}).raise_for_status()


def resources(control: Control) -> list[dict[str, Any]]:
    """What exists, less the emulator's own operator account."""
    found = control.get("/resources").json()["resources"]
    return [r for r in found if not r["name"].startswith("deployer@")]


def run_dag(dag_id: str, **kwargs: Any) -> Any:
    """`dag.test()`, as `airflow dags test` runs a DAG: triggers run inline, and the task resumes
    with the event's payload (see saxml_gke.triggers.base)."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(Path(__file__).resolve().parents[2] / "dags")).dags[dag_id].test(**kwargs)


def run_built_dag(dag: Any, **kwargs: Any) -> Any:
    """`dag.test()` of a DAG a test builds with the factories: it is stored as the dag-processor
    would store it first (dag.test() finds DAGs through the files of their bundle)."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(dag_folder=os.devnull)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    return dag.test(**kwargs)


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id)
            .filter_by(key="return_value")
            .one()
        )
        return XComModel.deserialize_value(row)


def teardown_states(dag_run: Any) -> dict[str, str]:
    """The states of the deploy DAG's teardown tasks, by step."""
    return {
        task_id.split(".", 1)[1]: state
        for task_id, state in task_states(dag_run).items()
        if task_id.startswith("teardown.")
    }


def deleted(dag_run: Any) -> list[str]:
    """Everything the deploy DAG's teardown tasks deleted, in order."""
    from saxml_gke.operators.teardown import TEARDOWN_STEPS

    return [
        item for step, _ in TEARDOWN_STEPS for item in xcom(dag_run, f"teardown.{step}")["deleted"]
    ]


def gke_operations(world: RunningEmulator) -> list:
    """Every GKE operation of the emulated project, through the real client."""
    from google.cloud import container_v1

    from tests.emulator.conftest import credentials_for, operator_key

    client = container_v1.ClusterManagerClient(
        credentials=credentials_for(operator_key(world.ready)),
        transport="rest",
        client_options={"api_endpoint": world.ready["endpoints"]["container"]},
    )
    parent = f"projects/{world.ready['project_id']}/locations/-"
    return list(client.list_operations(parent=parent).operations)
