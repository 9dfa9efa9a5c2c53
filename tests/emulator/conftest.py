"""One emulator per test session, started as users start it, and the clients tests drive it with.

The emulator runs in a subprocess (`python -m emulator serve`) with a small time scale and a
two-second token lifetime: google-auth then fetches a new token before nearly every request, so
the token endpoint is exercised throughout, and a test can wait for a token to expire.
Tests that need a clean world use the `fresh_world` fixture (`POST /reset`).
"""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import google_auth_httplib2
import pytest
from google.api_core.client_options import ClientOptions
from google.cloud import container_v1, storage
from google.oauth2 import service_account
from googleapiclient import discovery
from googleapiclient.errors import HttpError
from googleapiclient.http import build_http

from scripts.run_deploy import Control

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.002
TOKEN_LIFETIME = 2.0
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
READY_TIMEOUT = 30.0
# The discovery documents' `servicePath`s that are not empty.
SERVICE_PATHS = {"compute": "/compute/v1/"}

Ready = dict[str, Any]


class RunningEmulator:
    """An emulator subprocess; `ready` is its ready file."""

    def __init__(self, workdir: Path, *args: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.ready_file = workdir / "ready.json"
        self.log = (workdir / "emulator.log").open("w")
        command = [
            *(sys.executable, "-m", "emulator", "serve", "--ready-file", str(self.ready_file)),
            *("--time-scale", str(TIME_SCALE), "--token-lifetime", str(TOKEN_LIFETIME)),
            *args,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.ready = self._wait_until_ready()

    def _wait_until_ready(self) -> Ready:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start; see {self.log.name}")
            time.sleep(0.05)
        return json.loads(self.ready_file.read_text())

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the emulator and wait; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=20)
        finally:
            self.log.close()


def credentials_for(key: dict[str, Any]) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_info(key, scopes=SCOPES)


def operator_key(ready: Ready) -> dict[str, Any]:
    return json.loads(Path(ready["service_account_key_file"]).read_text())


def discovery_client(
    ready: Ready, api: str, version: str, credentials: service_account.Credentials
) -> discovery.Resource:
    """A discovery client built as Airflow's GoogleDiscoveryApiHook builds one. An endpoint
    override replaces the whole base URL, so an API with a service path (Compute's
    `compute/v1/`) needs it appended."""
    return discovery.build(
        api,
        version,
        http=google_auth_httplib2.AuthorizedHttp(credentials, http=build_http()),
        cache_discovery=False,
        static_discovery=True,
        client_options={"api_endpoint": ready["endpoints"][api] + SERVICE_PATHS.get(api, "")},
    )


def api_error(call: Any) -> dict[str, Any]:
    """The Google error (`code`, `status`, `message`) that executing a discovery call fails with."""
    with pytest.raises(HttpError) as raised:
        call.execute()
    return json.loads(raised.value.content)["error"]


def storage_client(ready: Ready, credentials: service_account.Credentials) -> storage.Client:
    return storage.Client(
        project=ready["project_id"],
        credentials=credentials,
        client_options={"api_endpoint": ready["endpoints"]["storage"]},
    )


def create_cluster_with_workload_identity(
    ready: Ready, credentials: service_account.Credentials, name: str = "wi-cluster"
) -> str:
    """Create a zonal cluster with Workload Identity, wait for it; the workload pool's name."""
    client = container_v1.ClusterManagerClient(
        credentials=credentials,
        transport="rest",
        client_options=ClientOptions(api_endpoint=ready["endpoints"]["container"]),
    )
    location = f"projects/{ready['project_id']}/locations/us-west4-a"
    pool = f"{ready['project_id']}.svc.id.goog"
    operation = client.create_cluster(
        parent=location,
        cluster=container_v1.Cluster(
            name=name,
            initial_node_count=1,
            workload_identity_config=container_v1.WorkloadIdentityConfig(workload_pool=pool),
        ),
    )
    deadline = time.monotonic() + READY_TIMEOUT
    while operation.status != container_v1.Operation.Status.DONE:
        assert time.monotonic() < deadline, "the cluster was not created in time"
        time.sleep(0.05)
        operation = client.get_operation(name=f"{location}/operations/{operation.name}")
    return pool


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ready]:
    """The ready file of the session's emulator."""
    running = RunningEmulator(tmp_path_factory.mktemp("emulator"))
    yield running.ready
    assert running.stop() == 0


@pytest.fixture(scope="session")
def control(emulator: Ready) -> Control:
    return Control(emulator)


@pytest.fixture
def fresh_world(emulator: Ready, control: Control) -> Ready:
    """The emulator with all state forgotten and no faults (the operator key still works)."""
    control.post("/reset").raise_for_status()
    return emulator


@pytest.fixture
def credentials(emulator: Ready) -> service_account.Credentials:
    """Credentials of the operator key, which holds the roles a deployment needs."""
    return credentials_for(operator_key(emulator))


@pytest.fixture
def api(emulator: Ready, credentials: service_account.Credentials) -> Callable[..., Any]:
    """`api("iam", "v1")`: a discovery client with the operator's (or given) credentials."""

    def build(api_name: str, version: str, with_credentials: Any = None) -> discovery.Resource:
        return discovery_client(emulator, api_name, version, with_credentials or credentials)

    return build


@pytest.fixture
def gcs(emulator: Ready, credentials: service_account.Credentials) -> storage.Client:
    return storage_client(emulator, credentials)


@pytest.fixture
def issue_key(control: Control) -> Callable[..., service_account.Credentials]:
    """Credentials of a new service account holding only `roles` (POST /keys)."""

    def issue(account_id: str, roles: list[str]) -> service_account.Credentials:
        response = control.post("/keys", json={"account_id": account_id, "roles": roles})
        response.raise_for_status()
        return credentials_for(response.json())

    return issue
