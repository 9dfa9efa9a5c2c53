"""docker-compose.yaml, parsed and validated by a Compose parser (compose-spec) once interpolated
with a .env filled in as .env.example says: credentials and keys come only from .env, every
Airflow component has one configuration, and only the API server is published, on loopback."""

import re
import subprocess

import pytest
from sqlalchemy.engine import make_url

from tests.compose import (
    AIRFLOW_COMPONENTS,
    AIRFLOW_INIT,
    ENV_EXAMPLE,
    ROOT,
    InterpolationError,
    environment,
    interpolate,
    load_compose,
    raw_compose,
    read_env_file,
    team_env,
)

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# Environment entries whose values are credentials or keys (the SQL connection is checked apart).
SECRET_ENTRY = re.compile(r"PASSWORD|SECRET|KEY|^AIRFLOW_CONN_")
REQUIRED_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}")
SHARED = (
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
)
VARIABLES = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$$HOSTNAME and $${HOSTNAME}", "$HOSTNAME and ${HOSTNAME}"),
        ("${SET}/$SET", "value/value"),
        ("[${UNSET}][$UNSET]", "[][]"),
        ("${UNSET:-default} ${EMPTY:-default} ${SET:-default}", "default default value"),
        ("${UNSET-default} [${EMPTY-default}]", "default []"),
        ("${SET:+yes}${EMPTY:+no}${EMPTY+yes}${UNSET+no}", "yesyes"),
        ("${UNSET:-${SET}-${UNSET:-x}}", "value-x"),
        ("${SET:?error} [${EMPTY?error}]", "value []"),
    ],
)
def test_interpolation_is_composes(text: str, expected: str) -> None:
    assert interpolate(text, VARIABLES) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("${UNSET:?set it in .env}", "required variable UNSET is missing a value: set it in .env"),
        ("${EMPTY:?set it}", "required variable EMPTY is missing a value: set it"),
        ("${UNSET?not ${SET}}", "required variable UNSET is missing a value: not value"),
        ("${SET", "unterminated"),
        ("${SET!}", "invalid interpolation format"),
        ("costs $5", "invalid interpolation format"),
    ],
)
def test_interpolation_refuses_what_compose_refuses(text: str, error: str) -> None:
    with pytest.raises(InterpolationError, match=re.escape(error)):
        interpolate(text, VARIABLES)


def test_the_file_is_valid_compose_with_the_services_of_the_official_local_executor_file() -> None:
    services = load_compose(team_env())["services"]
    assert set(services) == {"postgres", AIRFLOW_INIT, *AIRFLOW_COMPONENTS}


def test_compose_refuses_the_example_until_its_secrets_are_filled_in() -> None:
    with pytest.raises(InterpolationError, match="is missing a value"):
        load_compose(read_env_file(ENV_EXAMPLE))


def test_every_variable_but_two_non_secret_settings_is_required() -> None:
    """Whatever credential .env lacks, compose refuses to start rather than use an empty one."""
    variables = team_env()
    optional = set()
    for name in variables:
        try:
            load_compose({other: v for other, v in variables.items() if other != name})
        except InterpolationError as error:
            assert f"variable {name} " in str(error)
        else:
            optional.add(name)
    assert optional == {"AIRFLOW_UID", "AIRFLOW_API_BIND"}


def test_credentials_and_keys_in_the_file_are_only_references_to_required_variables() -> None:
    for service in raw_compose()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if SECRET_ENTRY.search(name):
                assert REQUIRED_REFERENCE.fullmatch(value), name

    variables = team_env()
    scheduler = environment(load_compose(variables)["services"]["airflow-scheduler"])
    url = make_url(scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (url.username, url.password, url.database) == (
        variables["POSTGRES_USER"],
        variables["POSTGRES_PASSWORD"],
        variables["POSTGRES_DB"],
    )


def test_every_airflow_component_has_one_configuration_with_fab_and_the_local_executor() -> None:
    variables = team_env()
    services = load_compose(variables)["services"]
    api_server, *others = (environment(services[name]) for name in AIRFLOW_COMPONENTS)
    assert all(other == api_server for other in others)
    assert api_server["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert api_server["AIRFLOW__CORE__AUTH_MANAGER"] == FAB
    assert {name: api_server[name] for name in SHARED} == {name: variables[name] for name in SHARED}
    assert api_server["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://airflow-apiserver:8080/execution/"
    )
    # The init has the same configuration, and alone the admin user's credentials.
    admin = {name: variables[name] for name in ("AIRFLOW_ADMIN_USERNAME", "AIRFLOW_ADMIN_PASSWORD")}
    assert environment(services[AIRFLOW_INIT]) == {**api_server, **admin}


@pytest.mark.parametrize(
    ("bind", "published"),
    [("as in the example", "127.0.0.1"), (None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")],
)
def test_only_the_api_server_is_published_on_loopback_unless_told(
    bind: str | None, published: str
) -> None:
    variables = team_env()
    if bind is None:
        del variables["AIRFLOW_API_BIND"]
    elif bind != "as in the example":
        variables["AIRFLOW_API_BIND"] = bind
    services = load_compose(variables)["services"]
    ports = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert ports == {"airflow-apiserver": [f"{published}:8080:8080"]}


def test_components_start_after_a_healthy_postgres_and_a_successful_init() -> None:
    services = load_compose(team_env())["services"]
    healthy_postgres = {"postgres": {"condition": "service_healthy"}}
    assert services[AIRFLOW_INIT]["depends_on"] == healthy_postgres
    assert services[AIRFLOW_INIT]["restart"] == "no"
    for name in AIRFLOW_COMPONENTS:
        assert services[name]["depends_on"] == {
            **healthy_postgres,
            AIRFLOW_INIT: {"condition": "service_completed_successfully"},
        }
    assert all(services[name]["healthcheck"]["test"] for name in ("postgres", *AIRFLOW_COMPONENTS))


def test_the_example_documents_every_variable_the_file_uses_and_holds_no_secret() -> None:
    used: set[str] = set()

    class Recording(dict[str, str]):
        def get(self, key: str, default: str | None = None) -> str | None:
            used.add(key)
            return super().get(key, default)

    example = read_env_file(ENV_EXAMPLE)
    load_compose(Recording(team_env()))
    assert used == set(example)

    comment = ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        if not line:
            comment = ""
        elif line.startswith("#"):
            comment += line
        else:
            name, _, value = line.partition("=")
            assert comment, f"{name} has no comment"
            if re.search(r"PASSWORD|SECRET|KEY", name):
                assert value == "", f"{name} must be left for the user to generate"
                assert "python -c" in comment, f"{name}'s comment says how to generate it"


def test_env_is_git_ignored() -> None:
    assert subprocess.run(["git", "check-ignore", "--quiet", ".env"], cwd=ROOT).returncode == 0
