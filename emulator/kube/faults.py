"""Kubernetes-side fault scenarios of the control API (`POST /faults {"scenario": ...}`).

Each one changes the state of the clusters the world runs, and users then see what they would
see on GKE: restarted containers, NotReady nodes and evicted pods, ErrImagePull, a JobSet
webhook that cannot be called, API errors, failing log reads. Scenarios act on every running
cluster, or on the one named by the `cluster` parameter.

- `kill-pod` {namespace, name | selector}: the pod's containers are SIGKILLed (exit 137) and
  restart as its restartPolicy says (a Job pod counts towards its backoffLimit).
- `fail-node` {node | pool, repair_seconds}: the VMs stop (see
  `emulator.kube.controllers.nodelifecycle`); GKE's auto-repair recreates them
  `repair_seconds` (modelled, default 600; null: never) after the failure. Clearing the
  faults repairs them at once.
- `image-pull-error` {image}: pulls of that image fail as for a tag that does not exist.
- `jobset-webhook-down`: JobSet's webhook servers stop answering until the faults are cleared.
- `kube-api-errors` {status, times, delay, verb, resource}: the next `times` Kubernetes API
  requests matching `verb` and `resource` (plural, `pods/log` for a subresource; default any)
  answer `status` (default 500) after `delay` modelled seconds; `status: null` only delays.
- `pod-log-errors` {times}: the next `times` log reads fail as when the API server cannot reach
  the kubelet.

The method faults behind the last four are ordinary method faults (listed by `GET /faults`):
`kubelet.images.pull/<image>`, `kubernetes.<verb>.<resource>`, `kubelet.containerLogs`.
"""

import asyncio
from typing import Any, Protocol, runtime_checkable

from emulator.core.faults import Fault
from emulator.core.world import Resource, World
from emulator.kube.cluster import KubeCluster
from emulator.kube.selectors import label_matcher

DEFAULT_REPAIR_SECONDS = 600.0  # GKE's auto-repair: ~10 min of NotReady, then a new VM
LOG_READS = "kubelet.containerLogs"
NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
_API_MESSAGES = {
    429: "the server has received too many requests and has asked us to try again later",
    500: "Internal error occurred: etcdserver: request timed out",
    503: "the server is currently unable to handle the request",
    504: (
        "the server was unable to return a response in the time allotted, but may still be "
        "processing the request"
    ),
}


@runtime_checkable
class ControlPlanes(Protocol):
    def control_planes(self) -> list[Any]: ...


def image_pull_method(image: str) -> str:
    return f"kubelet.images.pull/{image}"


def api_method(verb: str, resource: str) -> str:
    """The method id of a Kubernetes API request (`kubernetes.list.pods`)."""
    return f"kubernetes.{verb}.{resource}"


def api_error_message(status: int) -> str:
    return _API_MESSAGES.get(status, "an error on the server has prevented the request")


class KubeFaults:
    """The scenarios, and the one piece of state they keep outside the clusters: whether
    JobSet's webhook servers answer. A world service (`kube_faults`), saved with the world."""

    name = "kubernetes"

    def __init__(self, world: World) -> None:
        self.world = world
        self.jobset_webhooks_down = False
        self.changed = asyncio.Event()
        faults = world.faults
        faults.register_scenario("kill-pod", self._kill_pod)
        faults.register_scenario("fail-node", self._fail_node, self._repair_nodes)
        faults.register_scenario("image-pull-error", self._image_pull_error)
        faults.register_scenario(
            "jobset-webhook-down", self._webhooks_down, lambda: self._set_webhooks_down(False)
        )
        faults.register_scenario("kube-api-errors", self._api_errors)
        faults.register_scenario("pod-log-errors", self._log_errors)

    # Scenarios

    def _kill_pod(self, params: dict[str, Any]) -> dict[str, Any]:
        namespace = str(params.get("namespace") or "default")
        name, selector = params.get("name"), params.get("selector")
        if bool(name) == bool(selector):
            raise ValueError("kill-pod needs either name or selector")
        matches = label_matcher(selector) if selector else None
        killed = []
        for cluster in self._clusters(params):
            pods = cluster.store.list_objects(
                cluster.store.types.by_kind("v1", "Pod"), namespace, matches
            )
            for pod in pods:
                pod_name = pod["metadata"]["name"]
                if (name is None or pod_name == name) and cluster.kubelet.kill(namespace, pod_name):
                    killed.append(f"{namespace}/{pod_name}")
        if not killed:
            raise ValueError(f"no running pod in namespace {namespace} matches")
        return {"killed": killed}

    def _fail_node(self, params: dict[str, Any]) -> dict[str, Any]:
        node, pool = params.get("node"), params.get("pool")
        if bool(node) == bool(pool):
            raise ValueError("fail-node needs either node or pool")
        repair = params.get("repair_seconds", DEFAULT_REPAIR_SECONDS)
        if repair is not None and float(repair) < 0:
            raise ValueError("repair_seconds must not be negative")
        failed = []
        for cluster in self._clusters(params):
            nodes = cluster.store.list_objects(cluster.store.types.by_kind("v1", "Node"))
            for item in nodes:
                labels = item["metadata"].get("labels") or {}
                name = item["metadata"]["name"]
                if name == node or (pool and labels.get(NODE_POOL_LABEL) == pool):
                    cluster.nodes.fail(name, None if repair is None else float(repair))
                    failed.append(name)
        if not failed:
            raise ValueError(f"no node matches {node or 'pool ' + str(pool)}")
        return {"failed": failed, "repair_seconds": repair}

    def _repair_nodes(self) -> None:
        for cluster in self._clusters({}):
            for name in list(cluster.nodes.down):
                cluster.nodes.repair(name)

    def _image_pull_error(self, params: dict[str, Any]) -> dict[str, Any]:
        image = params.get("image")
        if not image or not isinstance(image, str):
            raise ValueError("image-pull-error needs an image")
        method = image_pull_method(image)
        self.world.faults.add(Fault(method, status=404, message=f"{image}: not found", times=None))
        return {"method": method}

    def _webhooks_down(self, params: dict[str, Any]) -> dict[str, Any]:
        self._set_webhooks_down(True)
        return {"jobset_webhooks_down": True}

    def _set_webhooks_down(self, down: bool) -> None:
        self.jobset_webhooks_down = down
        self.changed.set()
        self.changed = asyncio.Event()

    def _api_errors(self, params: dict[str, Any]) -> dict[str, Any]:
        status = params.get("status", 500)
        method = api_method(str(params.get("verb") or "*"), str(params.get("resource") or "*"))
        fault = Fault(
            method,
            status=None if status is None else int(status),
            message=api_error_message(int(status or 500)),
            times=int(params.get("times", 1)),
            delay=float(params.get("delay", 0.0)),
        )
        self.world.faults.add(fault)
        return {"method": method}

    def _log_errors(self, params: dict[str, Any]) -> dict[str, Any]:
        times = int(params.get("times", 1))
        self.world.faults.add(
            Fault(LOG_READS, status=500, message="No agent available", times=times)
        )
        return {"method": LOG_READS, "times": times}

    def _clusters(self, params: dict[str, Any]) -> list[KubeCluster]:
        container = self.world.services.get("container")
        running = container.control_planes() if isinstance(container, ControlPlanes) else []
        wanted = params.get("cluster")
        return [
            plane
            for plane in running
            if isinstance(plane, KubeCluster) and wanted in (None, plane.name)
        ]

    # The world service contract

    def resources(self) -> list[Resource]:
        return []

    def dump(self) -> dict[str, Any]:
        return {"jobset_webhooks_down": self.jobset_webhooks_down}

    def load(self, state: dict[str, Any]) -> None:
        self._set_webhooks_down(bool(state.get("jobset_webhooks_down")))


def kube_faults(world: World) -> KubeFaults:
    """The world's Kubernetes fault state, registered on first use."""
    if KubeFaults.name not in world.services:
        world.add_service(KubeFaults(world))
    service = world.services[KubeFaults.name]
    if not isinstance(service, KubeFaults):
        raise TypeError(f"the world's {KubeFaults.name} service is a {type(service).__name__}")
    return service
