"""`make run`: the deploy DAG end to end through a real Airflow, against the emulator by default.

Starts the emulator (unless SAXML_GKE_TARGET=gcp), then Airflow's api-server, scheduler,
dag-processor and triggerer on SQLite, each in its own process group; triggers
`saxml_gke_deploy` through the REST API, prints progress and the report, and stops everything
it started. Exit code 0 only when the run succeeded and, on the emulator, nothing is left that
the run's `teardown` policy removes.

SAXML_GKE_CONF=conf.json overrides the emulator run's parameters (for example
`{"teardown": "never"}`), and SAXML_GKE_KEEP_RUNNING=1 keeps the emulator and Airflow running
after the run, to look around with the UI, kubectl and gcloud, until Ctrl-C.

Against Google Cloud: SAXML_GKE_TARGET=gcp SAXML_GKE_CONF=conf.json make run, with the
`google_cloud_default` connection in AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT (a key, or empty extras
for Application Default Credentials).
"""

import collections
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
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


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read, made so before the text is in it (a file
    left by an earlier run keeps its mode through O_CREAT, hence the fchmod)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


class Processes:
    """Child processes, each in its own session so a stop takes its whole group."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.children.append((name, process))
        return process

    def run(self, name: str, command: list[str], env: dict[str, str], timeout: float) -> None:
        """A one-off command (an init) to its end; a child until then, so that stop() ends it
        if it hangs."""
        process = self.start(name, command, env)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{name} ran over {timeout:.0f} s; see {self.log_dir}") from None
        if code != 0:
            raise RuntimeError(f"{name} exited ({code}); see {self.log_dir}")
        self.children.remove((name, process))

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
    yield start_emulator(processes, env, RUN_DIR / "emulator" / "ready.json")


def start_emulator(
    processes: Processes, env: dict[str, str], ready_file: Path, *options: str
) -> dict[str, Any]:
    """`python -m emulator serve` with `options` (such as --time-scale); its ready file."""
    ready_file.parent.mkdir(parents=True, exist_ok=True)
    ready_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "emulator", "serve", "--ready-file", str(ready_file)]
    processes.start("emulator", [*command, *options], env)
    deadline = time.monotonic() + 60
    while not ready_file.exists():
        processes.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator did not become ready in 60 s")
        time.sleep(0.2)
    return json.loads(ready_file.read_text())


class Control(requests.Session):
    """The emulator's control API with the ready file's token: `control.get("/billing")`."""

    def __init__(self, ready: Mapping[str, Any]) -> None:
        super().__init__()
        self.base_url = ready["endpoints"]["control"]
        self.headers["Authorization"] = f"Bearer {ready['control_token']}"

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 30)
        return super().request(method, f"{self.base_url}{url!s}", *args, **kwargs)


@dataclass(frozen=True)
class Service:
    """One Airflow process as a container would run it: its command line and environment."""

    name: str
    command: list[str]
    environment: Mapping[str, str]


class AirflowStack:
    """Airflow 3 as processes on this machine, driven through its REST API as `username`.

    The services bring their configuration (make run's, or docker-compose.yaml's); the stack
    overrides only what this machine decides: the home, the project's folders and loopback ports.
    `init` runs to its end before the long-running `services` start.
    """

    def __init__(
        self, processes: Processes, home: Path, *, init: Service, services: Sequence[Service],
        username: str, password: str,
    ) -> None:  # fmt: skip
        self.processes = processes
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.init = init
        self.services = services
        self.username = username
        self.password = password
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        bin_dir = str(Path(sys.executable).parent)
        self.local = {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
        self._token: str | None = None

    def env(self, service: Service) -> dict[str, str]:
        return {**service.environment, **self.local}

    def start(self) -> None:
        self.processes.run(self.init.name, self.init.command, self.env(self.init), timeout=600)
        for service in self.services:
            self.processes.start(service.name, service.command, self.env(service))
        self._wait(lambda: requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).ok, 300,
                   "the Airflow API server")  # fmt: skip

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self._token is None:
            response = requests.post(
                f"{self.url}/auth/token",
                json={"username": self.username, "password": self.password},
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


class Airflow(AirflowStack):
    """make run's Airflow in `home`: SQLite, LocalExecutor, SimpleAuthManager (admin, with a
    generated password)."""

    def __init__(self, processes: Processes, connection: str, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(16)
        passwords = home / "passwords.json"
        write_private(passwords, json.dumps({"admin": password}))
        config = {
            **os.environ,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # A real stack even when started from the tests (whose unit test mode would unpause
            # every DAG): only the deploy DAG is unpaused, the nightly teardown stays paused.
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": connection,
        }
        components = ("api-server", "scheduler", "dag-processor", "triggerer")
        super().__init__(
            processes, home,
            init=Service("airflow-db-migrate", ["airflow", "db", "migrate"], config),
            services=[Service(f"airflow-{c}", ["airflow", c], config) for c in components],
            username="admin", password=password,
        )  # fmt: skip


def follow(airflow: AirflowStack, run_id: str, timeout: float) -> str:
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


def task_error(airflow: AirflowStack, run_id: str, ti: dict[str, Any]) -> str:
    """The exception a failed task ended with, from its structured log (the last error line when
    the task died without one, e.g. killed)."""
    path = (
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}"
        f"/logs/{max(ti.get('try_number') or 1, 1)}"
    )
    response = airflow.request("GET", path, params={"full_content": "true"})
    if not response.ok:
        return f"(its log could not be read: HTTP {response.status_code})"
    events = [e for e in response.json()["content"] if isinstance(e, dict)]
    for event in reversed(events):
        raised = event.get("error_detail") or event.get("exception")
        if isinstance(raised, list) and raised:
            return f"{raised[0].get('exc_type')}: {raised[0].get('exc_value')}"
    errors = [e["event"] for e in events if e.get("level") in ("error", "critical")]
    return errors[-1] if errors else "(no error in its log)"


def failures(airflow: AirflowStack, run_id: str) -> list[tuple[str, str]]:
    """Each failed task of the run with its error; tasks that only did not run are left out."""
    return [
        (ti["task_id"], task_error(airflow, run_id, ti))
        for ti in airflow.task_instances(DAG_ID, run_id)
        if ti["state"] == "failed"
    ]


def print_summary(airflow: AirflowStack, run_id: str, billing: dict[str, Any] | None) -> None:
    report = airflow.xcom(DAG_ID, run_id, "report")
    print("\nReport")
    if report:
        print(f"  model      {report.get('model')} ({report.get('model_path')})")
        print(f"  endpoint   {report.get('endpoint')} [{report.get('http_exposure')}]")
        print(f"  answer     {report.get('answer')!r}")
        print(f"  latency    {report.get('latency_seconds')} s")
    for task_id, error in failures(airflow, run_id):
        print(f"  FAILED     {task_id}: {error}")
    print("Task timings")
    for ti in sorted(airflow.task_instances(DAG_ID, run_id), key=lambda t: t["start_date"] or ""):
        print(f"  {ti['task_id']:26} {ti['state'] or '-':16} {ti.get('duration') or 0:8.1f} s")
    if billing is not None:
        print(f"TPU chip-seconds billed (modelled): {billing['total_chip_seconds']:.0f}")


def user_conf() -> dict[str, Any]:
    """The run's parameters from SAXML_GKE_CONF (required against Google Cloud; on the emulator,
    they override make run's defaults)."""
    path = os.environ.get("SAXML_GKE_CONF")
    return json.loads(Path(path).read_text()) if path else {}


def torn_down(policy: str, state: str) -> bool:
    """Whether the run's `teardown` policy removes everything after a run that ended in `state`."""
    return policy == "always" or (policy == "on_failure" and state != "success")


def hold(airflow: Airflow, target: str) -> None:
    """Keep everything running to look around (SAXML_GKE_KEEP_RUNNING), until Ctrl-C."""
    passwords = (airflow.home / "passwords.json").relative_to(ROOT)
    print(f"\nAirflow: {airflow.url} (user {airflow.username}, password in {passwords})")
    if target == "emulator":
        print(
            "kubectl: .venv/bin/python -m emulator kubeconfig <cluster_name> "
            f"--ready-file {RUN_DIR.relative_to(ROOT)}/emulator/ready.json -o .run/kubeconfig"
        )
    print("Press Ctrl-C to stop everything.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            airflow.processes.check_alive()
            time.sleep(5)


def main() -> int:
    # SIGTERM (a CI runner, `kill`) stops what was started, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
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
                    "jobset_manifest_sha256": ready["jobset_manifest_sha256"],
                    "teardown": "always",
                    "poll_seconds": 1,
                    **user_conf(),
                }
            else:
                connection = os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"]
                conf = user_conf()
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
                control = Control(ready)
                billing = control.get("/billing").json()
                left = [
                    r
                    for r in control.get("/resources").json()["resources"]
                    if r["name"] != ready["service_account_email"]
                ]
            print_summary(airflow, run_id, billing)
            print(f"\nRun {state}.", end=" ")
            leaked = bool(left) and torn_down(conf.get("teardown", "on_failure"), state)
            if leaked:
                print(f"Left behind: {[r['kind'] + ' ' + r['name'] for r in left]}")
            elif left:
                kinds = collections.Counter(r["kind"] for r in left)
                counted = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
                print(f"Still there (teardown={conf.get('teardown', 'on_failure')}): {counted}")
            else:
                print("Nothing left behind." if target == "emulator" else "")
            if os.environ.get("SAXML_GKE_KEEP_RUNNING"):
                hold(airflow, target)
            return 0 if state == "success" and not leaked else 1
    finally:
        processes.stop()


if __name__ == "__main__":
    sys.exit(main())
