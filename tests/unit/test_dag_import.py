"""The DAG files import cleanly, cheaply, and without the Google provider."""

import subprocess
import sys

from tests.conftest import ROOT
from tests.unit.samples import form_requires


def test_dag_bag_has_no_import_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert set(bag.dags) == {
        "saxml_gke_deploy",
        "saxml_gke_teardown",
        "example_team_llm_serve",
        "example_team_llm_tear_down",
    }
    dag = bag.dags["saxml_gke_deploy"]
    assert "plan" in dag.task_dict
    assert dag.params.get_param("project_id").schema["type"] == "string"


def test_importing_the_dag_does_not_import_the_google_provider() -> None:
    """Airflow reads every provider's metadata (`get_provider_info`); the hooks stay unloaded."""
    code = (
        "import sys, runpy; runpy.run_path('dags/saxml_gke_deploy.py');"
        "bad = [m for m in sys.modules if m.startswith(('airflow.providers.google.cloud', "
        "'airflow.providers.google.common', 'google.cloud.', 'kubernetes'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    assert_runs_cleanly(code)


def test_param_defaults_match_the_parameter_table() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from saxml_gke.parameters import PARAMETERS

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["saxml_gke_deploy"]
    assert set(dag.params) == set(PARAMETERS)
    defaults = {
        name: schema["default"] for name, schema in PARAMETERS.items() if "default" in schema
    }
    assert len(defaults) > 20
    assert {name: dag.params.get_param(name).value for name in defaults} == defaults


def test_the_nightly_teardown_can_be_triggered_from_the_form_with_nothing_filled() -> None:
    """No field the form requires is left empty by its default (see `form_requires`), and each
    default passes its own schema."""
    import jsonschema
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["saxml_gke_teardown"]
    for name in dag.params:
        param = dag.params.get_param(name)
        assert not (form_requires(param.schema) and param.value in (None, "")), name
        jsonschema.validate(param.value, param.schema, format_checker=jsonschema.FormatChecker())
        assert param.schema.get("title") and param.description, name


def test_airflow_plugin_loader_does_not_execute_the_package_files() -> None:
    """plugins/.airflowignore keeps Airflow from running saxml_gke's files (even `__main__`)."""
    code = (
        "import sys;"
        "from airflow._shared.plugins_manager.plugins_manager import "
        "_load_plugins_from_plugin_directory as load;"
        "plugins, errors = load('plugins');"
        "loose = [m for m in ('spec', 'tpu', 'cli', 'manifests') if m in sys.modules];"
        "print(plugins, errors, loose); sys.exit(1 if plugins or errors or loose else 0)"
    )
    assert_runs_cleanly(code)


def assert_runs_cleanly(code: str) -> None:
    """Run `code` in a fresh interpreter (nothing imported yet) with plugins/ on the path."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": "plugins", "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
