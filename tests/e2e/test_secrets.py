"""No secret reaches an XCom, a task log, a rendered template or manifest, or a file others may
read: a deploy run through make run's Airflow on the emulator, scanned for the service account's
private key, every access token the emulator issued during the run, the emulator's control token
and the Airflow admin's password."""

import json
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests
import yaml

from saxml_gke.manifests import render_objects
from saxml_gke.spec import DeploymentSpec
from scripts.run_deploy import DAG_ID, AirflowStack, Control, follow
from tests.e2e.conftest import airflow_stack, conf
from tests.emulator.conftest import RunningEmulator

Secrets = dict[str, list[str]]


def test_a_deploy_run_leaks_no_secret(world: RunningEmulator, control: Control, tmp_path: Path):
    with airflow_stack(world, tmp_path, paused=False) as airflow:
        response = airflow.trigger(DAG_ID, conf(world, teardown="always", poll_seconds=0.5))
        response.raise_for_status()
        run_id = response.json()["dag_run_id"]
        assert follow(airflow, run_id, timeout=900) == "success"
        seen = run_artifacts(airflow, run_id)
        secrets = secrets_of(world, control, airflow)
    assert secrets["access token"], "the run authenticated with no token the emulator issued"
    found = seen | {f"file {path.relative_to(tmp_path)}": text for path, text in files(tmp_path)}

    # The password file holds the password, by design; only its owner may read it.
    passwords = airflow.home / "passwords.json"
    assert leaks(found, secrets) == [
        ("Airflow password", f"file {passwords.relative_to(tmp_path)}")
    ]
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600

    # The scan can fail: a key in an XCom (JSON-escaped), a token in a log.
    key = world.ready["airflow_connection"]["extra"]["keyfile_dict"]
    planted = {"xcom plan": json.dumps({"key": key}), "log plan": secrets["access token"][-1]}
    assert leaks(planted, secrets) == [
        ("private key", "xcom plan"),
        ("access token", "log plan"),
    ]


def secrets_of(world: RunningEmulator, control: Control, airflow: AirflowStack) -> Secrets:
    """Each secret by what it is. The private key is looked for by the full lines of its body
    (64 base64 characters), which JSON escaping of its line breaks leaves whole."""
    pem = world.ready["airflow_connection"]["extra"]["keyfile_dict"]["private_key"]
    return {
        "private key": [line for line in pem.splitlines() if len(line) == 64],
        "access token": [t["access_token"] for t in control.get("/tokens").json()["tokens"]],
        "control token": [world.ready["control_token"]],
        "Airflow password": [airflow.password],
    }


def leaks(seen: Mapping[str, str], secrets: Secrets) -> list[tuple[str, str]]:
    """(secret, where) for each secret found somewhere, in the order of `secrets`."""
    return [
        (name, where)
        for name, values in secrets.items()
        for where, text in seen.items()
        if any(value and value in text for value in values)
    ]


def run_artifacts(airflow: AirflowStack, run_id: str) -> dict[str, str]:
    """What the run shows through the REST API (every XCom, every try's log, the task
    instances with their rendered templates), and the manifests it rendered and applied."""
    run = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}"
    instances = airflow.task_instances(DAG_ID, run_id)
    seen = {"task instances": json.dumps(instances)}
    returned: dict[str, Any] = {}
    entries = read(airflow, f"{run}/taskInstances/~/xcomEntries", limit=1000)
    for entry in entries.json()["xcom_entries"]:
        path = f"{run}/taskInstances/{entry['task_id']}/xcomEntries/{entry['key']}"
        response = read(airflow, path, map_index=entry["map_index"])
        seen[f"xcom {entry['task_id']}[{entry['map_index']}] {entry['key']}"] = response.text
        if entry["key"] == "return_value":
            returned[entry["task_id"]] = decoded(response.json()["value"])
    for ti in instances:
        for attempt in range(1, (ti["try_number"] or 0) + 1):
            path = f"{run}/taskInstances/{ti['task_id']}/logs/{attempt}"
            log = read(airflow, path, map_index=ti["map_index"], full_content="true")
            seen[f"log {ti['task_id']}[{ti['map_index']}] try {attempt}"] = log.text
    spec = DeploymentSpec.from_dict(returned["plan"])
    address = returned.get("ensure_http_address") or {}
    seen["rendered manifests"] = yaml.safe_dump_all(render_objects(spec, address.get("ip")))
    return seen


def read(airflow: AirflowStack, path: str, **params: Any) -> requests.Response:
    response = airflow.request("GET", path, params=params)
    response.raise_for_status()
    return response


def decoded(stored: Any) -> Any:
    """An XCom as the API gives it (as stored, serialized), as the task pulling it gets it."""
    from airflow.utils.json import XComDecoder

    return json.loads(json.dumps(stored), cls=XComDecoder)


def files(root: Path) -> Iterable[tuple[Path, str]]:
    """Every file under `root` (logs of the tasks, triggers and processes, the metadata database,
    the configuration), as text."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes().decode(errors="replace")
