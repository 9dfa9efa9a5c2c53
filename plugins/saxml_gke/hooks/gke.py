"""GKE clusters, node pools and operations through google-cloud-container's REST transport.

The REST transport takes an `http(s)://` endpoint override (the emulator, or a Private Service
Connect endpoint) and needs no gRPC channel. Bodies and results are the REST JSON (camelCase),
so they compare directly with `bodies`.
"""

import json
from functools import cached_property
from typing import Any

from google.api_core import exceptions as core
from google.cloud import container_v1

from saxml_gke.hooks.google import GoogleApiHook, describe_google_error
from saxml_gke.retry import ATTEMPTS, with_retries


class GkeHook(GoogleApiHook):
    @cached_property
    def client(self) -> container_v1.ClusterManagerClient:
        return container_v1.ClusterManagerClient(
            credentials=self.get_credentials(),
            transport="rest",
            client_options=self.get_client_options(self.endpoint_override("container")),
        )

    def get_cluster(self, *, project_id: str, zone: str, name: str) -> dict[str, Any] | None:
        path = _cluster_path(project_id, zone, name)
        try:
            cluster = self._call(f"get cluster {name}", lambda: self.client.get_cluster(name=path))
        except core.NotFound:
            return None
        return _as_json(cluster)

    def list_clusters(
        self, *, project_id: str, zone: str
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The clusters, and the locations GKE could not reach (`missingZones`): their clusters
        are missing from the list, not gone."""
        parent = f"projects/{project_id}/locations/{zone}"
        response = self._call("list clusters", lambda: self.client.list_clusters(parent=parent))
        return [_as_json(cluster) for cluster in response.clusters], list(response.missing_zones)

    def create_cluster(self, *, project_id: str, zone: str, body: dict[str, Any]) -> str | None:
        """Start creating a cluster: the operation name, or None when it already exists."""
        parent = f"projects/{project_id}/locations/{zone}"
        cluster = container_v1.Cluster.from_json(json.dumps(body), ignore_unknown_fields=False)
        try:
            operation = self._call(
                f"create cluster {body['name']}",
                lambda: self.client.create_cluster(parent=parent, cluster=cluster),
            )
        except core.Conflict:
            return None
        return operation.name

    def delete_cluster(self, *, project_id: str, zone: str, name: str) -> str | None:
        """Start deleting a cluster: the operation name, or None when it does not exist."""
        path = _cluster_path(project_id, zone, name)
        try:
            operation = self._call(
                f"delete cluster {name}", lambda: self.client.delete_cluster(name=path)
            )
        except core.NotFound:
            return None
        return operation.name

    def get_node_pool(
        self, *, project_id: str, zone: str, cluster: str, name: str
    ) -> dict[str, Any] | None:
        path = f"{_cluster_path(project_id, zone, cluster)}/nodePools/{name}"
        try:
            pool = self._call(f"get node pool {name}", lambda: self.client.get_node_pool(name=path))
        except core.NotFound:
            return None
        return _as_json(pool)

    def create_node_pool(
        self, *, project_id: str, zone: str, cluster: str, body: dict[str, Any],
        attempts: int = ATTEMPTS,
    ) -> str | None:  # fmt: skip
        """Start creating a node pool: the operation name, or None when it already exists.
        With `attempts=1` a refusal to start another operation raises at once (transient)."""
        parent = _cluster_path(project_id, zone, cluster)
        pool = container_v1.NodePool.from_json(json.dumps(body), ignore_unknown_fields=False)
        try:
            operation = self._call(
                f"create node pool {body['name']}",
                lambda: self.client.create_node_pool(parent=parent, node_pool=pool),
                attempts,
            )
        except core.Conflict:
            return None
        return operation.name

    def delete_node_pool(
        self, *, project_id: str, zone: str, cluster: str, name: str, attempts: int = ATTEMPTS
    ) -> str | None:
        path = f"{_cluster_path(project_id, zone, cluster)}/nodePools/{name}"
        try:
            operation = self._call(
                f"delete node pool {name}",
                lambda: self.client.delete_node_pool(name=path),
                attempts,
            )
        except core.NotFound:
            return None
        return operation.name

    def set_cluster_labels(
        self, *, project_id: str, zone: str, name: str, labels: dict[str, str]
    ) -> str:
        """Replace the cluster's resource labels; the operation name."""
        request = {"name": _cluster_path(project_id, zone, name), "resource_labels": labels}
        operation = self._call(
            f"label cluster {name}", lambda: self.client.set_labels(request=request)
        )
        return operation.name

    def set_node_pool_labels(
        self, *, project_id: str, zone: str, cluster: str, name: str, labels: dict[str, str]
    ) -> str:
        """Replace a node pool's resource labels (its version kept); the operation name."""
        request = {
            "name": f"{_cluster_path(project_id, zone, cluster)}/nodePools/{name}",
            "node_version": "-",
            "image_type": "",
            "resource_labels": {"labels": labels},
        }
        operation = self._call(
            f"label node pool {name}", lambda: self.client.update_node_pool(request=request)
        )
        return operation.name

    def server_config(self, *, project_id: str, zone: str) -> dict[str, Any]:
        """GKE's server config for the zone: `channels`, each with its `validVersions`."""
        name = f"projects/{project_id}/locations/{zone}"
        config = self._call(
            f"get GKE's versions in {zone}", lambda: self.client.get_server_config(name=name)
        )
        return _as_json(config)

    def get_operation(self, *, project_id: str, zone: str, name: str) -> dict[str, Any]:
        path = f"projects/{project_id}/locations/{zone}/operations/{name}"
        return _as_json(
            self._call(f"get operation {name}", lambda: self.client.get_operation(name=path))
        )

    def _call(self, what: str, call: Any, attempts: int = ATTEMPTS) -> Any:
        """Retry transient errors; NotFound and Conflict (exists) reach the caller untouched."""

        def describe(error: Exception) -> Any:
            if isinstance(error, (core.NotFound, core.Conflict)):
                return None
            return describe_google_error(error)

        return with_retries(call, describe, what=what, attempts=attempts)


def _cluster_path(project_id: str, zone: str, name: str) -> str:
    return f"projects/{project_id}/locations/{zone}/clusters/{name}"


def _as_json(message: Any) -> dict[str, Any]:
    return json.loads(type(message).to_json(message, use_integers_for_enums=False))
