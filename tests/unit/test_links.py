"""Console links: each page's URL, the one XCom entry they read, and Airflow showing them."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from airflow.sdk.execution_time.xcom import XCom
from airflow.sdk.types import TaskInstanceKey

from saxml_gke.links import (
    CONSOLE_LINKS,
    CONSOLE_XCOM_KEY,
    ConsoleLink,
    ModelServerLogsLink,
    console_names,
)
from saxml_gke.spec import build_spec

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
CONF = {"project_id": "my-project", "zone": "us-west4-a"}
SPEC = build_spec(CONF, now=NOW)
CLUSTER_PAGE = "https://console.cloud.google.com/kubernetes/clusters/details/us-west4-a/saxml"
LOGS_QUERY = (
    'resource.type="k8s_container"\n'
    'resource.labels.cluster_name="saxml"\n'
    'resource.labels.namespace_name="default"\n'
    'labels."k8s-pod/jobset_sigs_k8s_io/jobset-name"="sax-model-server-set"'
)
URLS = {
    "GKE cluster": f"{CLUSTER_PAGE}/details?project=my-project",
    "TPU node pools": f"{CLUSTER_PAGE}/nodes?project=my-project",
    "Bucket": (
        "https://console.cloud.google.com/storage/browser/my-project-saxml-b0a48d5c"
        "?project=my-project"
    ),
    "Workloads": (
        "https://console.cloud.google.com/kubernetes/workload/overview?project=my-project"
        "&pageState=(%22savedViews%22:(%22c%22:%5B%22gke%2Fus-west4-a%2Fsaxml%22%5D,"
        "%22n%22:%5B%22default%22%5D))"
    ),
    "Model server logs": (
        "https://console.cloud.google.com/logs/query;query="
        "resource.type%3D%22k8s_container%22%0A"
        "resource.labels.cluster_name%3D%22saxml%22%0A"
        "resource.labels.namespace_name%3D%22default%22%0A"
        "labels.%22k8s-pod%2Fjobset_sigs_k8s_io%2Fjobset-name%22%3D%22sax-model-server-set%22"
        "?project=my-project"
    ),
}
KEY = TaskInstanceKey(dag_id="saxml_gke_deploy", task_id="create_cluster", run_id="r")


@pytest.fixture
def xcom(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[TaskInstanceKey, str], Any]:
    """XCom as a dict: what `XCom.get_value` reads, by task instance and key."""
    stored: dict[tuple[TaskInstanceKey, str], Any] = {}

    def get_value(*, ti_key: TaskInstanceKey, key: str) -> Any:
        return stored.get((ti_key, key))

    monkeypatch.setattr(XCom, "get_value", get_value)
    return stored


def shown(ti_key: TaskInstanceKey) -> dict[str, str]:
    return {link.name: link.get_link(None, ti_key=ti_key) for link in CONSOLE_LINKS}


def test_each_link_opens_the_deployments_page(xcom: dict[Any, Any]) -> None:
    xcom[KEY, CONSOLE_XCOM_KEY] = console_names(SPEC)
    assert shown(KEY) == URLS


def test_the_logs_query_is_encoded_whole_into_the_url() -> None:
    page, _, rest = ModelServerLogsLink().url(console_names(SPEC)).partition(";query=")
    query, _, project = rest.partition("?")
    assert page == "https://console.cloud.google.com/logs/query"
    assert project == "project=my-project"
    assert unquote(query) == LOGS_QUERY
    assert set(query) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%")


def test_the_logs_query_names_the_deployments_own_cluster_namespace_and_jobset() -> None:
    spec = build_spec(
        {"project_id": "other-project", "zone": "us-east5-b", "namespace": "serving"}, now=NOW
    )
    url = ModelServerLogsLink().url(console_names(spec))
    query = unquote(url.partition(";query=")[2].partition("?")[0])
    assert f'resource.labels.cluster_name="{spec.cluster.name}"' in query.splitlines()
    assert 'resource.labels.namespace_name="serving"' in query.splitlines()
    assert f'="{spec.saxml.model_jobset}"' in query.splitlines()[-1]


def test_a_link_is_empty_until_its_task_has_stored_the_names(xcom: dict[Any, Any]) -> None:
    xcom[KEY._replace(task_id="other_task"), CONSOLE_XCOM_KEY] = console_names(SPEC)
    assert shown(KEY) == dict.fromkeys(URLS, "")


def test_every_link_has_its_own_name_and_xcom_key() -> None:
    """Airflow stores each link's URL under its `xcom_key` and shows it by `name`."""
    assert len({link.name for link in CONSOLE_LINKS}) == len(CONSOLE_LINKS)
    assert len({link.xcom_key for link in CONSOLE_LINKS} | {CONSOLE_XCOM_KEY}) == 6


# A DAG file, since `dag.test()` runs what the configured dags folder holds.
PROBE_DAG = f"""
import datetime

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import DAG, BaseOperator

from saxml_gke.links import CONSOLE_LINKS, persist_console_links
from saxml_gke.spec import build_spec

NOW = {NOW!r}
SPEC = build_spec({CONF!r}, now=NOW)


class Step(BaseOperator):
    operator_extra_links = CONSOLE_LINKS

    def __init__(self, *, persist, wait=False, **kwargs):
        super().__init__(**kwargs)
        self.persist = persist
        self.wait = wait

    def execute(self, context):
        if self.persist:
            persist_console_links(context, SPEC)
        if self.wait:
            self.defer(
                trigger=TimeDeltaTrigger(datetime.timedelta(0)), method_name="resume"
            )
        return "ran"

    def resume(self, context, event=None):
        return "resumed"


with DAG("saxml_gke_links", schedule=None, start_date=NOW):
    Step(task_id="done", persist=True)
    Step(task_id="resumed", persist=True, wait=True)
    Step(task_id="unstored", persist=False)
"""


def test_airflow_shows_the_links_of_a_run_task_with_no_plugin_registering_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real path: `execute` stores the names, the task runner resolves every link when the
    task ends (or defers: a resumed task still has them), and the API server's copy of the
    operator, deserialized from the DAG's serialized form, reads the URLs back from XCom."""
    from airflow import plugins_manager, settings
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils import db
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    (tmp_path / "saxml_gke_links.py").write_text(PROBE_DAG)
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(tmp_path))
    db.initdb()
    dag = DagBag(dag_folder=str(tmp_path)).dags["saxml_gke_links"]
    run = dag.test()
    assert run.state == DagRunState.SUCCESS

    registered = plugins_manager.get_operator_extra_links()
    assert not [link for link in registered if isinstance(link, ConsoleLink)]
    with create_session() as session:
        served = SerializedDagModel.get_dag(dag.dag_id, session=session)
        pages = {}
        for task_id in ("done", "resumed", "unstored"):
            task = served.get_task(task_id)
            ti = session.scalar(
                select(TaskInstance).filter_by(
                    dag_id=dag.dag_id, run_id=run.run_id, task_id=task_id
                )
            )
            pages[task_id] = {name: task.get_extra_links(ti, name) for name in task.extra_links}
        returned = dict(
            session.execute(
                select(XComModel.task_id, XComModel.value).filter_by(
                    run_id=run.run_id, key="return_value"
                )
            ).all()
        )
    assert returned == {"done": "ran", "resumed": "resumed", "unstored": "ran"}  # it deferred
    assert pages == {"done": URLS, "resumed": URLS, "unstored": dict.fromkeys(URLS, "")}
