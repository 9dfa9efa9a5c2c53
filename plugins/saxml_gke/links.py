"""Google Cloud console links on the deployment's tasks: cluster, TPU node pools, bucket,
workloads and the model server's logs, one click from the task in Airflow's UI.

Airflow 3 builds a task's links in the worker: when the task ends or defers, the task runner calls
each link's `get_link` and stores the URL in XCom under the link's `xcom_key`; the API server
only reads those URLs back (`XComOperatorLink`), so no plugin has to register these classes.
What the links need is the deployment's names in XCom before then: `persist_console_links`
pushes them once, under one key, and every link reads that entry.
"""

from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

    from saxml_gke.spec import DeploymentSpec

CONSOLE = "https://console.cloud.google.com"
CONSOLE_XCOM_KEY = "console"
# The JobSet controller's pod label jobset.sigs.k8s.io/jobset-name as GKE's logging agent puts it
# on log entries: under "k8s-pod/", with the key's dots made underscores.
JOBSET_POD_LABEL = 'labels."k8s-pod/jobset_sigs_k8s_io/jobset-name"'


def console_names(spec: "DeploymentSpec") -> dict[str, str]:
    """The few names of a deployment that its console links are built from."""
    return {
        "project_id": spec.project_id,
        "zone": spec.cluster.zone,
        "cluster": spec.cluster.name,
        "bucket": spec.storage.bucket,
        "namespace": spec.identity.namespace,
        "jobset": spec.saxml.model_jobset,
    }


def persist_console_links(context: "Context", spec: "DeploymentSpec") -> None:
    """Store the names every console link reads; call once in `execute`, before any wait."""
    context["ti"].xcom_push(key=CONSOLE_XCOM_KEY, value=console_names(spec))


class ConsoleLink(BaseOperatorLink):
    """A console page of the deployment, from the names `persist_console_links` stored."""

    name: ClassVar[str]

    @abstractmethod
    def url(self, names: Mapping[str, str]) -> str: ...

    def get_link(self, operator: "BaseOperator", *, ti_key: "TaskInstanceKey") -> str:
        names = XCom.get_value(ti_key=ti_key, key=CONSOLE_XCOM_KEY)
        return self.url(names) if names else ""  # "" until the task has run


class ClusterLink(ConsoleLink):
    name = "GKE cluster"

    def url(self, names: Mapping[str, str]) -> str:
        return f"{_cluster_page(names)}/details?project={names['project_id']}"


class NodePoolsLink(ConsoleLink):
    name = "TPU node pools"

    def url(self, names: Mapping[str, str]) -> str:
        return f"{_cluster_page(names)}/nodes?project={names['project_id']}"


class BucketLink(ConsoleLink):
    name = "Bucket"

    def url(self, names: Mapping[str, str]) -> str:
        return f"{CONSOLE}/storage/browser/{names['bucket']}?project={names['project_id']}"


class WorkloadsLink(ConsoleLink):
    """The workloads list filtered to the cluster and namespace (the console's `pageState`, as
    the Google provider's KubernetesEngineWorkloadsLink writes it)."""

    name = "Workloads"

    def url(self, names: Mapping[str, str]) -> str:
        view = (
            f'("savedViews":("c":["gke/{names["zone"]}/{names["cluster"]}"],'
            f'"n":["{names["namespace"]}"]))'
        )
        return (
            f"{CONSOLE}/kubernetes/workload/overview?project={names['project_id']}"
            f"&pageState={quote(view, safe='():,')}"
        )


class ModelServerLogsLink(ConsoleLink):
    """Logs Explorer on the model server JobSet's containers."""

    name = "Model server logs"

    def url(self, names: Mapping[str, str]) -> str:
        query = "\n".join(
            (
                'resource.type="k8s_container"',
                f'resource.labels.cluster_name="{names["cluster"]}"',
                f'resource.labels.namespace_name="{names["namespace"]}"',
                f'{JOBSET_POD_LABEL}="{names["jobset"]}"',
            )
        )
        return f"{CONSOLE}/logs/query;query={quote(query, safe='')}?project={names['project_id']}"


def _cluster_page(names: Mapping[str, str]) -> str:
    return f"{CONSOLE}/kubernetes/clusters/details/{names['zone']}/{names['cluster']}"


CONSOLE_LINKS: tuple[ConsoleLink, ...] = (
    ClusterLink(),
    NodePoolsLink(),
    BucketLink(),
    WorkloadsLink(),
    ModelServerLogsLink(),
)
