"""What every deployment operator shares: the plan's spec, failing fast, and deferring a wait.

Every operator takes `spec`, the `plan` task's output, as an XComArg: the edge from `plan` and
the data along it are one expression. Operators that talk to the cluster's Kubernetes API also
take `cluster`, the output of `ensure_cluster` (its endpoint and CA). Each class lists the IAM
permissions its calls need (`required_permissions`), next to the calls: the `preflight` task
tests them all before anything is created.
"""

import asyncio
import functools
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.links import CONSOLE_LINKS, persist_console_links
from saxml_gke.probes import Look
from saxml_gke.spec import DeploymentSpec
from saxml_gke.triggers.base import Waiting, WaitTrigger, resume_outcome

if TYPE_CHECKING:
    from saxml_gke.hooks.compute import ComputeHook
    from saxml_gke.hooks.gke import GkeHook
    from saxml_gke.hooks.iam import IamHook
    from saxml_gke.hooks.kube import KubeHook
    from saxml_gke.hooks.resource_manager import ResourceManagerHook
    from saxml_gke.hooks.storage import StorageHook

# Airflow's own deferral timeout backs up the trigger's deadline, which reports what it saw.
_DEFERRAL_GRACE = timedelta(minutes=2)

Method = TypeVar("Method", bound=Callable[..., Any])

# Server-side apply: a patch (GKE checks `update`) that creates what does not exist yet.
APPLY = ("create", "update")


def kubernetes_permissions(verbs: tuple[str, ...], *resources: str) -> frozenset[str]:
    """The IAM permissions GKE checks for Kubernetes requests: `container.clusters.get` on the
    cluster for any request, then `container.<resource>.<verb>` for each."""
    return frozenset(
        {"container.clusters.get", *(f"container.{r}.{v}" for r in resources for v in verbs)}
    )


def fails_fast(method: Method) -> Method:
    """Capacity and permanent errors fail the task without retries; transient ones (already
    retried inside the hooks) may use the task's retries."""

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DeploymentError as error:
            if error.kind is ErrorKind.TRANSIENT:
                raise
            raise AirflowFailException(str(error)) from error

    return run  # type: ignore[return-value]


class DeploymentTask:
    """The spec, and waits that end in the triggerer: shared by the operators and sensors
    (it defines no `execute`, so each class's own runs)."""

    spec: Any  # the plan's output: a DeploymentSpec as a dict
    gcp_conn_id: str
    # The IAM permissions the step's calls need in the project (the waits' included).
    required_permissions: ClassVar[frozenset[str]] = frozenset()
    log: Any
    defer: Callable[..., NoReturn]

    operator_extra_links = CONSOLE_LINKS

    @cached_property
    def deployment(self) -> DeploymentSpec:
        return DeploymentSpec.from_dict(self.spec)

    def pre_execute(self, context: Any) -> None:
        """Store the names the console links read, before the task can defer."""
        persist_console_links(context, self.deployment)

    # The hooks, one client each, imported when the task runs: importing the DAG stays cheap
    # (no Google or Kubernetes client library is loaded to parse it).
    @cached_property
    def gke(self) -> "GkeHook":
        from saxml_gke.hooks.gke import GkeHook

        return GkeHook(gcp_conn_id=self.gcp_conn_id)

    @cached_property
    def storage(self) -> "StorageHook":
        from saxml_gke.hooks.storage import StorageHook

        return StorageHook(gcp_conn_id=self.gcp_conn_id)

    @cached_property
    def compute(self) -> "ComputeHook":
        from saxml_gke.hooks.compute import ComputeHook

        return ComputeHook(gcp_conn_id=self.gcp_conn_id)

    @cached_property
    def iam(self) -> "IamHook":
        from saxml_gke.hooks.iam import IamHook

        return IamHook(gcp_conn_id=self.gcp_conn_id)

    @cached_property
    def resource_manager(self) -> "ResourceManagerHook":
        from saxml_gke.hooks.resource_manager import ResourceManagerHook

        return ResourceManagerHook(gcp_conn_id=self.gcp_conn_id)

    @property
    def in_zone(self) -> dict[str, str]:
        """Where the deployment's cluster is, as the GKE hook's arguments."""
        return {"project_id": self.deployment.project_id, "zone": self.deployment.cluster.zone}

    @property
    def in_region(self) -> dict[str, str]:
        """Where the deployment's address is, as the Compute hook's arguments."""
        return {"project_id": self.deployment.project_id, "region": self.deployment.cluster.region}

    def waiting(self, description: str, timeout: float, **known: Any) -> Waiting:
        """A wait of this task: `known` is what the task knew before it, part of its result."""
        return Waiting.lasting(
            description,
            gcp_conn_id=self.gcp_conn_id,
            poll_seconds=self.deployment.waits.poll_seconds,
            timeout=timeout,
            known=known,
        )

    def wait_for(self, trigger: WaitTrigger) -> dict[str, Any]:
        """Look once here; when the wait is not over yet, defer it to the triggerer, which ends
        the task (a rerun that adopts what exists finishes here, without deferring)."""
        look = look_once(trigger)
        waiting = trigger.waiting
        if look.failure:
            raise AirflowFailException(f"{waiting.description}: {look.failure}")
        self.log.info("%s: %s", waiting.description, look.progress)
        if look.done:
            return waiting.result(look.result)
        trigger.state = look.state or trigger.state  # what the look did, e.g. pools it created
        timeout = timedelta(seconds=waiting.deadline - waiting.started)
        self.log.info("Waiting for %s (up to %.0f s)", waiting.description,
                      timeout.total_seconds())  # fmt: skip
        self.defer(trigger=trigger, method_name="resume", timeout=timeout + _DEFERRAL_GRACE)

    def resume(self, context: Any, event: dict[str, Any]) -> Any:
        """Only `airflow dags test` resumes here: it runs the trigger inline. The triggerer
        ends the task itself (see saxml_gke.triggers.base)."""
        return resume_outcome(event)


class DeploymentOperator(DeploymentTask, BaseOperator):
    template_fields = ("spec",)
    ui_color = "#e8f0fe"

    def __init__(
        self, *, spec: Any, gcp_conn_id: str = "google_cloud_default", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.gcp_conn_id = gcp_conn_id


class KubeOperator(DeploymentOperator):
    """An operator that also reaches the cluster's Kubernetes API."""

    template_fields = ("spec", "cluster")

    def __init__(self, *, cluster: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster = cluster

    @cached_property
    def kube(self) -> "KubeHook":
        from saxml_gke.hooks.kube import KubeHook

        return KubeHook(
            endpoint=self.cluster["endpoint"],
            ca_certificate=self.cluster["ca_certificate"],
            gcp_conn_id=self.gcp_conn_id,
        )


def look_once(trigger: WaitTrigger) -> Look:
    """One look of a trigger, from synchronous code (a worker, a sensor's poke)."""

    async def look() -> Look:
        try:
            return await trigger.look(dict(trigger.state))
        finally:
            await trigger.close()

    return asyncio.run(look())
