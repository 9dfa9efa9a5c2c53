"""`python -m emulator serve`: the ready file, the Airflow connection, signals, the state file."""

import json
import signal
import stat
import subprocess
import sys
from pathlib import Path

from airflow.providers.google.common.hooks.discovery_api import GoogleDiscoveryApiHook
from google.api_core.client_options import ClientOptions

from scripts.run_deploy import Control
from tests.emulator.conftest import (
    ROOT,
    RunningEmulator,
    credentials_for,
    discovery_client,
    operator_key,
    storage_client,
)

API_ENDPOINTS = {
    "container",
    "iam",
    "cloudresourcemanager",
    "storage",
    "compute",
    "serviceusage",
    "cloudquotas",
    "monitoring",
}


class EmulatorAwareDiscoveryHook(GoogleDiscoveryApiHook):
    """How the product's hooks honour the connection's `endpoint_overrides`."""

    def get_client_options(self, api_endpoint_override: str | None = None) -> ClientOptions:
        overrides = self.extras.get("endpoint_overrides", {})
        return super().get_client_options(overrides.get(self.api_service_name))


def test_the_ready_file_has_endpoints_key_and_connection(emulator):
    endpoints = emulator["endpoints"]
    key_file = Path(emulator["service_account_key_file"])
    connection = emulator["airflow_connection"]

    assert set(endpoints) == API_ENDPOINTS | {"oauth2", "control", "releases"}
    assert all(url.startswith("http://127.0.0.1:") for url in endpoints.values())
    assert len(set(endpoints.values())) == len(endpoints)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(emulator["control_token"]) >= 32
    assert emulator["project_number"].isdigit()
    assert connection["conn_type"] == "google_cloud_platform"
    assert connection["extra"]["project"] == emulator["project_id"]
    assert connection["extra"]["keyfile_dict"] == json.loads(key_file.read_text())
    assert connection["extra"]["endpoint_overrides"] == {n: endpoints[n] for n in API_ENDPOINTS}


def test_the_connection_drives_the_google_providers_discovery_hook(emulator, monkeypatch):
    connection = json.dumps(emulator["airflow_connection"])
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", connection)
    hook = EmulatorAwareDiscoveryHook(api_service_name="iam", api_version="v1")

    listed = hook.query(
        "iam.projects.serviceAccounts.list", {"name": f"projects/{emulator['project_id']}"}
    )

    assert emulator["service_account_email"] in [a["email"] for a in listed["accounts"]]


def test_state_survives_a_restart_and_old_keys_keep_working(tmp_path):
    state = tmp_path / "state.json"
    first = RunningEmulator(tmp_path / "first", "--state-file", str(state))
    ready = first.ready
    key = operator_key(ready)
    credentials = credentials_for(key)
    project = ready["project_id"]
    accounts = discovery_client(ready, "iam", "v1", credentials).projects().serviceAccounts()
    account = accounts.create(name=f"projects/{project}", body={"accountId": "kept-account"})
    account = account.execute()
    bucket = storage_client(ready, credentials).create_bucket("kept-bucket", location="us-west4")
    bucket.blob("sax-root/cell").upload_from_string(b"kept")
    issued = (
        Control(ready)
        .post("/keys", json={"account_id": "kept-reader", "roles": ["roles/storage.objectViewer"]})
        .json()
    )

    assert first.stop() == 0
    assert state.exists()
    assert not first.ready_file.exists()

    second = RunningEmulator(tmp_path / "second", "--state-file", str(state))
    try:
        assert second.ready["endpoints"] == ready["endpoints"]
        assert operator_key(second.ready) == key
        assert Control(ready).get("/billing").status_code == 200  # the token kept too
        fresh = credentials_for(key)
        accounts = discovery_client(ready, "iam", "v1", fresh).projects().serviceAccounts()
        assert accounts.get(name=account["name"]).execute() == account
        reader = storage_client(ready, credentials_for(issued))
        assert reader.bucket("kept-bucket").blob("sax-root/cell").download_as_bytes() == b"kept"
    finally:
        assert second.stop(signal.SIGINT) == 0


def test_the_ready_key_and_state_files_are_readable_by_their_owner_only(tmp_path):
    state = tmp_path / "state.json"
    running = RunningEmulator(tmp_path / "emulator", "--state-file", str(state))
    secrets = [running.ready_file, Path(running.ready["service_account_key_file"])]
    try:
        assert [stat.S_IMODE(path.stat().st_mode) for path in secrets] == [0o600, 0o600]
    finally:
        assert running.stop() == 0
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


def test_a_state_file_of_another_project_is_refused(tmp_path):
    state = tmp_path / "state.json"
    RunningEmulator(tmp_path / "first", "--state-file", str(state)).stop()

    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--state-file",
            str(state),
            "--project-id",
            "x",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert refused.returncode != 0
    assert "the state file is for project 'saxml-rehearsal'" in refused.stderr


def test_without_a_ready_file_the_ready_json_goes_to_stdout():
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert Path(ready["service_account_key_file"]).exists()
        assert Control(ready).get("/billing").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert not Path(ready["service_account_key_file"]).exists()
