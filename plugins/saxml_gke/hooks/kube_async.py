"""The Kubernetes API of one GKE cluster, asynchronously, for the triggerer's waits.

Built on the Google provider's `GKEKubernetesAsyncHook`, which authenticates the
kubernetes_asyncio client with the connection's Google credentials. A wait opens one session and
keeps it across its polls; the calls are plain REST paths, so one hook reads pods, Deployments,
Services, events, logs and custom resources alike. A 401 (the token expired during a long wait)
opens a new session.
"""

import contextlib
import json
from typing import Any

from airflow.providers.google.cloud.hooks.kubernetes_engine import GKEKubernetesAsyncHook
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from saxml_gke.errors import DeploymentError, classify_http


class AsyncKubeHook:
    def __init__(self, *, endpoint: str, ca_certificate: str, gcp_conn_id: str) -> None:
        self._provider_hook = GKEKubernetesAsyncHook(
            cluster_url=f"https://{endpoint}", ssl_ca_cert=ca_certificate, gcp_conn_id=gcp_conn_id
        )
        self._session: contextlib.AsyncExitStack | None = None
        self._client: ApiClient | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.aclose()
        self._session, self._client = None, None

    async def get(self, path: str) -> dict[str, Any] | None:
        """The object at `path` (e.g. /api/v1/namespaces/x/services/y); None when absent."""
        try:
            return json.loads(await self._request("GET", path))
        except ApiException as error:
            if error.status == 404:
                return None
            raise _described(error, f"GET {path}") from error

    async def get_custom_object(
        self, *, group: str, version: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        """A namespaced custom object (a ProvisioningRequest, say), read as CustomObjectsApi's
        `get_namespaced_custom_object` reads it; None when it, or its kind, does not exist."""
        return await self.get(f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}")

    async def list_items(self, path: str, label_selector: str = "") -> list[dict[str, Any]]:
        """The items of a collection, by label selector: one call however many there are."""
        query = [("labelSelector", label_selector)] if label_selector else []
        try:
            return json.loads(await self._request("GET", path, query)).get("items") or []
        except ApiException as error:
            raise _described(error, f"list {path}") from error

    async def read_log(
        self,
        namespace: str,
        pod: str,
        *,
        since_time: str | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
    ) -> list[tuple[str, str]]:
        """(timestamp, line) pairs; a pod whose log cannot be read yet has none."""
        query: list[tuple[str, Any]] = [("timestamps", "true")]
        if since_time:
            query.append(("sinceTime", since_time))
        if tail_lines is not None:
            query.append(("tailLines", tail_lines))
        if previous:
            query.append(("previous", "true"))
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        try:
            text = await self._request("GET", path, query)
        except ApiException as error:
            if error.status in (400, 404):
                return []
            raise _described(error, f"read log of {pod}") from error
        return [tuple(line.partition(" ")[::2]) for line in text.splitlines()]  # type: ignore[misc]

    async def dry_run_create(self, path: str, body: dict[str, Any]) -> str | None:
        """POST `body` with dryRun=All: None when the API server and its admission webhooks
        accept it, else their message (nothing is stored either way)."""
        try:
            await self._request("POST", path, [("dryRun", "All")], body)
        except ApiException as error:
            return _message(error)
        return None

    async def _request(
        self, method: str, path: str, query: list[tuple[str, Any]] | None = None, body: Any = None
    ) -> str:
        try:
            return await self._send(method, path, query or [], body)
        except ApiException as error:
            if error.status != 401:
                raise
        await self.close()  # the token expired during a long wait: a new session brings one
        return await self._send(method, path, query or [], body)

    async def _send(self, method: str, path: str, query: list[tuple[str, Any]], body: Any) -> str:
        if self._client is None:
            self._session = contextlib.AsyncExitStack()
            self._client = await self._session.enter_async_context(self._provider_hook.get_conn())
        client = self._client
        response = await client.rest_client.request(
            method,
            f"{client.configuration.host}{path}",
            query_params=query,
            headers={**client.default_headers, "Accept": "application/json"},
            body=body,
            _request_timeout=60,
        )
        return response.data.decode("utf-8", errors="replace")


def _message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body).get("message", error.reason))
    except Exception:
        return str(error.reason)


def _described(error: ApiException, what: str) -> DeploymentError:
    """Transient errors (5xx, throttling) are the trigger's to retry at the next poll."""
    return DeploymentError(
        classify_http(int(error.status or 0), str(error.reason or ""), _message(error)),
        f"{what}: {error.status} {_message(error)}",
    )
