"""`make run`: the deploy DAG end to end through a real Airflow, against the emulator by default.

Starts the emulator (unless SAXML_GKE_TARGET=gcp), then Airflow's api-server, scheduler,
dag-processor and triggerer on SQLite, each in its own process group; triggers
`saxml_gke_deploy` through the REST API, prints progress and the report, and stops everything
it started. Exit code 0 only when the run succeeded and, on the emulator, nothing is left.

Against Google Cloud: SAXML_GKE_TARGET=gcp SAXML_GKE_CONF=conf.json make run, with the
`google_cloud_default` connection in AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT (a key, or empty extras
for Application Default Credentials).
"""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".run"
DAG_ID = "saxml_gke_deploy"
TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Child processes, each in its own session so a stop takes its whole group."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.children.append((name, process))

    def check_alive(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}); see {self.log_dir}")

    def stop(self) -> None:
        for _, process in reversed(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextlib.contextmanager
def emulator(processes: Processes, env: dict[str, str]) -> Iterator[dict[str, Any]]:
    ready_file = RUN_DIR / "emulator" / "ready.json"
    ready_file.parent.mkdir(parents=True, exist_ok=True)
    ready_file.unlink(missing_ok=True)
    processes.start(
        "emulator",
        [sys.executable, "-m", "emulator", "serve", "--ready-file", str(ready_file)],
        env,
    )
    deadline = time.monotonic() + 60
    while not ready_file.exists():
        processes.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator did not become ready in 60 s")
        time.sleep(0.2)
    yield json.loads(ready_file.read_text())


class Airflow:
    """An Airflow 3 installation in .run/airflow: SQLite, LocalExecutor, SimpleAuthManager."""

    def __init__(self, processes: Processes, connection: str, home: Path) -> None:
        self.processes = processes
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(16)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({"admin": self.password}))
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # A real stack even when started from the tests (whose unit test mode would unpause
            # every DAG): only the deploy DAG is unpaused, the nightly teardown stays paused.
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": connection,
        }
        self._token: str | None = None

    def start(self) -> None:
        subprocess.run(
            ["airflow", "db", "migrate"], cwd=ROOT, env=self.env, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
            self.processes.start(f"airflow-{component}", ["airflow", component], self.env)
        self._wait(lambda: requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).ok, 120,
                   "the Airflow API server")  # fmt: skip

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self._token is None:
            response = requests.post(
                f"{self.url}/auth/token",
                json={"username": "admin", "password": self.password},
                timeout=30,
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        headers = {"Authorization": f"Bearer {self._token}"}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def wait_for_dag(self, dag_id: str) -> None:
        self._wait(lambda: self.request("GET", f"/api/v2/dags/{dag_id}").ok, 180,
                   f"the DAG {dag_id} to be parsed")  # fmt: skip
        self.request(
            "PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}
        ).raise_for_status()

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> requests.Response:
        return self.request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        response = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        response.raise_for_status()
        return response.json()["task_instances"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        response = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        response.raise_for_status()
        return response.json()["state"]

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries"
        response = self.request("GET", f"{path}/return_value", params={"deserialize": "true"})
        return response.json().get("value") if response.ok else None

    def _wait(self, ready: Any, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.processes.check_alive()
            with contextlib.suppress(requests.RequestException):
                if ready():
                    return
            time.sleep(1)
        raise RuntimeError(f"timed out waiting for {what}; logs in {self.processes.log_dir}")


def follow(airflow: Airflow, run_id: str, timeout: float) -> str:
    """Print each task's state changes until the run ends; the run's final state."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        airflow.processes.check_alive()
        for ti in airflow.task_instances(DAG_ID, run_id):
            state = ti["state"] or "none"
            if seen.get(ti["task_id"]) != state:
                seen[ti["task_id"]] = state
                print(f"  {time.strftime('%H:%M:%S')}  {ti['task_id']:26} {state}", flush=True)
        state = airflow.run_state(DAG_ID, run_id)
        if state in TERMINAL:
            return state
        time.sleep(2)
    raise RuntimeError(f"the run did not finish in {timeout:.0f} s")


def print_summary(airflow: Airflow, run_id: str, billing: dict[str, Any] | None) -> None:
    report = airflow.xcom(DAG_ID, run_id, "report") or {}
    print("\nReport")
    print(f"  model      {report.get('model')} ({report.get('model_path')})")
    print(f"  endpoint   {report.get('endpoint')} [{report.get('http_exposure')}]")
    print(f"  answer     {report.get('answer')!r}")
    print(f"  latency    {report.get('latency_seconds')} s")
    print("Task timings")
    for ti in sorted(airflow.task_instances(DAG_ID, run_id), key=lambda t: t["start_date"] or ""):
        print(f"  {ti['task_id']:26} {ti['state'] or '-':16} {ti.get('duration') or 0:8.1f} s")
    if billing is not None:
        print(f"TPU chip-seconds billed (modelled): {billing['total_chip_seconds']:.0f}")


def main() -> int:
    target = os.environ.get("SAXML_GKE_TARGET", "emulator")
    RUN_DIR.mkdir(exist_ok=True)
    log_dir = RUN_DIR / "logs"
    log_dir.mkdir(exist_ok=True)
    processes = Processes(log_dir)
    try:
        with contextlib.ExitStack() as stack:
            if target == "emulator":
                ready = stack.enter_context(emulator(processes, dict(os.environ)))
                connection = json.dumps(ready["airflow_connection"])
                conf = {
                    "project_id": ready["project_id"],
                    "zone": "us-west4-a",
                    "jobset_manifest_url": ready["jobset_manifest_url"],
                    "teardown": "always",
                    "poll_seconds": 1,
                }
            else:
                connection = os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"]
                conf = json.loads(Path(os.environ["SAXML_GKE_CONF"]).read_text())
            airflow = Airflow(processes, connection, RUN_DIR / "airflow")
            print(f"Starting Airflow at {airflow.url} (logs in {log_dir})", flush=True)
            airflow.start()
            airflow.wait_for_dag(DAG_ID)
            response = airflow.trigger(DAG_ID, conf)
            response.raise_for_status()
            run_id = response.json()["dag_run_id"]
            print(f"Triggered {DAG_ID} run {run_id} with {json.dumps(conf)}", flush=True)
            state = follow(airflow, run_id, timeout=3600)
            billing, left = None, []
            if target == "emulator":
                control = ready["endpoints"]["control"]
                billing = requests.get(f"{control}/billing", timeout=30).json()
                left = [
                    r
                    for r in requests.get(f"{control}/resources", timeout=30).json()["resources"]
                    if r["name"] != ready["service_account_email"]
                ]
            print_summary(airflow, run_id, billing)
            print(f"\nRun {state}.", end=" ")
            if left:
                print(f"Left behind: {[r['kind'] + ' ' + r['name'] for r in left]}")
            else:
                print("Nothing left behind." if target == "emulator" else "")
            return 0 if state == "success" and not left else 1
    finally:
        processes.stop()


if __name__ == "__main__":
    sys.exit(main())
