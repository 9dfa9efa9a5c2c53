"""Waits on the cluster's Kubernetes API: JobSet serving, pods Ready, the model loaded, the load
balancer's address, an object gone.

Each keeps one `AsyncKubeHook` session (the provider's `GKEKubernetesAsyncHook`) for all its
looks, and each look makes a constant number of calls however many pods there are.
"""

from typing import Any

from saxml_gke.hooks.kube_async import AsyncKubeHook
from saxml_gke.probes import (
    Look,
    ModelWanted,
    crashed_pods,
    diagnostics,
    failing_pods,
    gone_look,
    jobset_controller_look,
    model_look,
    pods_look,
    running_leaders,
    service_address_look,
)
from saxml_gke.provisioning import (
    PROVISIONING_REQUEST_GROUP,
    PROVISIONING_REQUEST_VERSION,
    CapacityRequest,
    provisioning_request_look,
)
from saxml_gke.triggers.base import WaitTrigger

JOBSET_NAMESPACE = "jobset-system"
_JOBSET_CONTROLLER = (
    f"/apis/apps/v1/namespaces/{JOBSET_NAMESPACE}/deployments/jobset-controller-manager"
)
_JOBSET_PROBE = {
    "apiVersion": "jobset.x-k8s.io/v1alpha2",
    "kind": "JobSet",
    "metadata": {"name": "saxml-gke-webhook-check", "namespace": "default"},
    "spec": {"replicatedJobs": []},
}
# GKE's ProvisioningRequests (flex-start-queued), as custom objects.
_PROVISIONING_REQUESTS = {
    "group": PROVISIONING_REQUEST_GROUP,
    "version": PROVISIONING_REQUEST_VERSION,
    "plural": "provisioningrequests",
}


class KubeTrigger(WaitTrigger):
    """A wait on one cluster's Kubernetes API; `cluster` holds its endpoint and CA."""

    def __init__(self, *, cluster: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cluster = {
            "endpoint": cluster["endpoint"],
            "ca_certificate": cluster["ca_certificate"],
        }
        self.kube = AsyncKubeHook(**self.cluster, gcp_conn_id=self.waiting.gcp_conn_id)

    def arguments(self) -> dict[str, Any]:
        return {"cluster": self.cluster}

    async def close(self) -> None:
        await self.kube.close()


class JobSetReadyTrigger(KubeTrigger):
    """JobSet's controller is Available and its webhook admits a (dry-run) JobSet."""

    async def look(self, state: dict[str, Any]) -> Look:
        deployment = await self.kube.get(_JOBSET_CONTROLLER)
        look = jobset_controller_look(deployment, webhook_error=None)
        if deployment is not None and not look.done:  # fail fast on a controller that cannot start
            pods = await self.kube.list_items(
                f"/api/v1/namespaces/{JOBSET_NAMESPACE}/pods", "control-plane=controller-manager"
            )
            stuck = pods_look(pods, 1, state.get("unschedulable_looks", 0))
            return Look(failure=stuck.failure, progress=look.progress, state=stuck.state)
        if not look.done:
            return look
        error = await self.kube.dry_run_create(
            "/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets", _JOBSET_PROBE
        )
        return jobset_controller_look(deployment, webhook_error=error)


class PodsReadyTrigger(KubeTrigger):
    """`expected` pods match the selector and all are Ready. A failure carries the failing pods'
    warning events and the last log lines of the crashed ones.

    `queued`: the pods may wait for flex-start nodes. `provisioning_request` (flex-start-queued):
    the `name` of the request their nodes come from and the `capacity` it asks for (a
    `CapacityRequest`). It is read while the pods are not all Ready: its conditions join the
    progress, and one that brings no nodes fails the wait, with advice."""

    def __init__(
        self, *, namespace: str, label_selector: str, expected: int, queued: bool = False,
        provisioning_request: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.namespace, self.label_selector, self.expected = namespace, label_selector, expected
        self.queued, self.provisioning_request = queued, provisioning_request

    def arguments(self) -> dict[str, Any]:
        return {
            **super().arguments(),
            "namespace": self.namespace,
            "label_selector": self.label_selector,
            "expected": self.expected,
            "queued": self.queued,
            "provisioning_request": self.provisioning_request,
        }

    async def look(self, state: dict[str, Any]) -> Look:
        pods = await self.kube.list_items(
            f"/api/v1/namespaces/{self.namespace}/pods", self.label_selector
        )
        look = pods_look(pods, self.expected, state.get("unschedulable_looks", 0), self.queued)
        if look.failure is not None:
            return await self._diagnosed(look, pods)
        wanted = self.provisioning_request
        if look.done or wanted is None:
            return look
        request = await self.kube.get_custom_object(
            **_PROVISIONING_REQUESTS, namespace=self.namespace, name=wanted["name"]
        )
        return provisioning_request_look(
            look,
            pods,
            request,
            (wanted["name"], self.namespace),
            CapacityRequest(**wanted["capacity"]),
        )

    async def _diagnosed(self, look: Look, pods: list[dict[str, Any]]) -> Look:
        """The failure with what a person would look up next about the failing pods."""
        events = await self.kube.list_items(f"/api/v1/namespaces/{self.namespace}/events")
        last_lines = {
            pod: [text for _, text in await self.kube.read_log(
                self.namespace, pod, tail_lines=10, previous=True
            )]
            for pod in crashed_pods(pods)
        }  # fmt: skip
        found = diagnostics(failing_pods(pods), events, last_lines)
        return Look(failure=look.failure + found, progress=look.progress)


class ModelLoadedTrigger(KubeTrigger):
    """`replicas` leader model servers logged the loaded line; any failure line fails.

    Reads each leader's log from where the previous look stopped (`sinceTime`), so a long load
    costs one small read per leader per look."""

    def __init__(
        self, *, namespace: str, leader_selector: str, wanted: dict[str, Any], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.namespace, self.leader_selector = namespace, leader_selector
        self.wanted = ModelWanted(**wanted)

    def arguments(self) -> dict[str, Any]:
        return {
            **super().arguments(),
            "namespace": self.namespace,
            "leader_selector": self.leader_selector,
            "wanted": {
                "model_key": self.wanted.model_key,
                "model_path": self.wanted.model_path,
                "replicas": self.wanted.replicas,
            },
        }

    async def look(self, state: dict[str, Any]) -> Look:
        leaders = await self.kube.list_items(
            f"/api/v1/namespaces/{self.namespace}/pods", self.leader_selector
        )
        cursors = state.get("cursors", {})
        new_lines = {
            pod: await self.kube.read_log(self.namespace, pod, since_time=cursors.get(pod))
            for pod in running_leaders(leaders, state.get("loaded", []))
        }
        return model_look(self.wanted, new_lines, state)


class ServiceAddressTrigger(KubeTrigger):
    """The LoadBalancer Service has its address."""

    def __init__(self, *, namespace: str, name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.namespace, self.name = namespace, name

    def arguments(self) -> dict[str, Any]:
        return {**super().arguments(), "namespace": self.namespace, "name": self.name}

    async def look(self, state: dict[str, Any]) -> Look:
        service = await self.kube.get(f"/api/v1/namespaces/{self.namespace}/services/{self.name}")
        return service_address_look(self.name, service)


class ObjectGoneTrigger(KubeTrigger):
    """The object at `path` no longer exists (a Service goes once its load balancer has)."""

    def __init__(self, *, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path

    def arguments(self) -> dict[str, Any]:
        return {**super().arguments(), "path": self.path}

    async def look(self, state: dict[str, Any]) -> Look:
        found = await self.kube.get(self.path)
        return gone_look([self.path] if found else [])
