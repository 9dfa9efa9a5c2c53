"""docker-compose.yaml's stack, without containers (there is no Docker engine here): a real
PostgreSQL, the FAB auth manager, and Airflow's components with the environment and command
lines of the file itself (see compose_stack.TeamStack), running the deploy DAG end to end."""

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from scripts.run_deploy import DAG_ID, Processes, follow
from tests.compose import environment, load_compose, team_env
from tests.e2e.compose_stack import TeamStack, postgres
from tests.e2e.conftest import conf, resources


@pytest.fixture
def team(world, control, tmp_path: Path) -> Iterator[TeamStack]:
    """The stack with a `.env` as .env.example says to fill it in, the emulator's connection in
    it; every process and the Postgres server are stopped at the end, also after a failure."""
    connection = json.dumps(world.ready["airflow_connection"])
    variables = team_env(AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT=connection)
    compose = load_compose(variables)
    processes = Processes(tmp_path)
    with postgres(environment(compose["services"]["postgres"]), tmp_path) as database:
        stack = TeamStack(
            compose, database, processes, tmp_path / "home",
            variables["AIRFLOW_ADMIN_USERNAME"], variables["AIRFLOW_ADMIN_PASSWORD"],
        )  # fmt: skip
        try:
            stack.up()
            stack.airflow.wait_for_dag(DAG_ID)
            yield stack
        finally:
            processes.stop()


@pytest.mark.timeout(1800)
def test_the_team_stack_deploys_with_fab_users_and_keeps_its_metadata_in_postgres(
    world, control, team
):
    airflow = team.airflow
    wrong = {"username": airflow.username, "password": f"not-{airflow.password}"}
    assert requests.post(f"{airflow.url}/auth/token", json=wrong, timeout=30).status_code == 401

    response = airflow.trigger(DAG_ID, conf(world, teardown="always", poll_seconds=0.5))
    response.raise_for_status()
    run_id = response.json()["dag_run_id"]
    assert follow(airflow, run_id, timeout=900) == "success"
    assert airflow.xcom(DAG_ID, run_id, "smoke_test")["answer"].strip()
    assert resources(control) == []

    probe = {"connection_id": "team_stack_probe", "conn_type": "http", "password": "probe"}
    airflow.request("POST", "/api/v2/connections", json=probe).raise_for_status()
    fernet = Fernet(airflow.services[0].environment["AIRFLOW__CORE__FERNET_KEY"])

    with contextlib.closing(team.database.connect()) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (DAG_ID, run_id)
        )
        assert cursor.fetchall() == [("success",)]
        cursor.execute("SELECT username FROM ab_user")
        assert cursor.fetchall() == [(airflow.username,)]
        # Stored encrypted with the Fernet key of .env.
        cursor.execute("SELECT password FROM connection WHERE conn_id = 'team_stack_probe'")
        [(stored,)] = cursor.fetchall()
        assert fernet.decrypt(stored.encode()) == b"probe"
