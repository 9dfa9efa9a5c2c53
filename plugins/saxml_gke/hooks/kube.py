"""The Kubernetes API of one GKE cluster, authenticated as the Google connection.

The cluster's endpoint and CA come from the GKE API and the bearer token from the connection's
Google credentials (refreshed when it expires), as the Google provider's GKE hooks do: no
kubeconfig, gcloud or auth plugin. Server-side apply makes every apply idempotent.
"""

import json
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

from airflow.providers.google.cloud.hooks.kubernetes_engine import GKEClusterConnection
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from saxml_gke.errors import ErrorKind, classify_http
from saxml_gke.hooks.google import GoogleApiHook
from saxml_gke.retry import with_retries

FIELD_MANAGER = "saxml-gke"


class KubeHook:
    def __init__(
        self, *, endpoint: str, ca_certificate: str, gcp_conn_id: str = "google_cloud_default"
    ) -> None:
        self.endpoint = endpoint
        self.ca_certificate = ca_certificate
        self.gcp_conn_id = gcp_conn_id

    @cached_property
    def api_client(self) -> client.ApiClient:
        credentials = GoogleApiHook(gcp_conn_id=self.gcp_conn_id).get_credentials()
        return GKEClusterConnection(
            cluster_url=f"https://{self.endpoint}",
            ssl_ca_cert=self.ca_certificate,
            credentials=credentials,
        ).get_conn()

    @cached_property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @cached_property
    def _dynamic(self) -> dynamic.DynamicClient:
        return dynamic.DynamicClient(self.api_client)

    def apply(self, objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Server-side apply each object in order, taking ownership of conflicting fields."""
        applied = []
        for obj in objects:
            resource = self._resource(obj["apiVersion"], obj["kind"])
            metadata = obj["metadata"]
            what = f"apply {obj['kind']} {metadata.get('namespace', '')}/{metadata['name']}"
            result = self._call(
                what,
                lambda resource=resource, obj=obj: resource.server_side_apply(
                    body=dict(obj),
                    name=obj["metadata"]["name"],
                    namespace=obj["metadata"].get("namespace"),
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True,
                ),
            )
            applied.append(result.to_dict())
        return applied

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        """The object as a dict, or None when it (or its kind) does not exist."""
        try:
            resource = self._resource(api_version, kind)
        except dynamic.exceptions.ResourceNotFoundError:
            return None
        try:
            return self._call(
                f"get {kind} {name}", lambda: resource.get(name=name, namespace=namespace)
            ).to_dict()
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """Objects of a kind, by label selector: one API call however many there are."""
        try:
            resource = self._resource(api_version, kind)
        except dynamic.exceptions.ResourceNotFoundError:
            return []
        result = self._call(
            f"list {kind}",
            lambda: resource.get(namespace=namespace, label_selector=label_selector),
        )
        return result.to_dict().get("items", [])

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete with foreground propagation (dependents first); whether it existed."""
        try:
            resource = self._resource(api_version, kind)
        except dynamic.exceptions.ResourceNotFoundError:
            return False
        try:
            self._call(
                f"delete {kind} {name}",
                lambda: resource.delete(
                    name=name, namespace=namespace, propagation_policy="Foreground"
                ),
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def dry_run_create(self, obj: Mapping[str, Any]) -> str | None:
        """Create `obj` with dryRun=All: None when the API server and its admission webhooks
        accept it, else their message (nothing is stored either way)."""
        resource = self._resource(obj["apiVersion"], obj["kind"])
        try:
            resource.create(
                body=dict(obj), namespace=obj["metadata"].get("namespace"), dry_run="All"
            )
        except ApiException as error:
            return _status_details(error)[1]
        return None

    def read_log(
        self,
        namespace: str,
        pod: str,
        *,
        since_time: str | None = None,
        tail_lines: int | None = None,
        container: str | None = None,
        previous: bool = False,
    ) -> list[tuple[str, str]]:
        """(timestamp, line) pairs; poll with the last timestamp seen to read only new lines.

        A pod whose log cannot be read (not started, or no previous container) has no lines.
        """
        query: list[tuple[str, Any]] = [("timestamps", "true")]
        if previous:
            query.append(("previous", "true"))
        if since_time:
            query.append(("sinceTime", since_time))
        if tail_lines is not None:
            query.append(("tailLines", tail_lines))
        if container:
            query.append(("container", container))
        try:
            response = self._call(
                f"read log of {pod}",
                lambda: self.api_client.call_api(
                    f"/api/v1/namespaces/{namespace}/pods/{pod}/log",
                    "GET",
                    query_params=query,
                    auth_settings=["BearerToken"],
                    _preload_content=False,  # the 36.x client turns preloaded logs into a repr
                ),
                answers=(400, 404),
            )
        except ApiException as error:
            if error.status in (400, 404):
                return []
            raise
        text = response.data.decode("utf-8", errors="replace")
        pairs = []
        for line in (text or "").splitlines():
            stamp, _, message = line.partition(" ")
            pairs.append((stamp, message))
        return pairs

    def proxy(
        self, namespace: str, service: str, port: int, method: str, path: str, body: Any = None
    ) -> tuple[int, Any]:
        """A request to a Service through the API server's proxy: (status, JSON or text).

        Sent with urllib3 directly because the generated client drops GET bodies, and sax-http's
        GET endpoints (`/listcell`) take a JSON body.
        """
        configuration = self.api_client.configuration
        if configuration.refresh_api_key_hook is not None:
            configuration.refresh_api_key_hook(configuration)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.api_client.update_params_for_auth(headers, [], ["BearerToken"])
        url = (
            f"{configuration.host}/api/v1/namespaces/{namespace}/services/"
            f"{service}:{port}/proxy/{path.lstrip('/')}"
        )
        payload = None if body is None else json.dumps(body).encode()
        response = self.api_client.rest_client.pool_manager.request(
            method, url, body=payload, headers=headers, timeout=60
        )
        text = response.data.decode("utf-8", errors="replace")
        try:
            return response.status, json.loads(text)
        except json.JSONDecodeError:
            return response.status, text

    def _resource(self, api_version: str, kind: str) -> Any:
        return self._dynamic.resources.get(api_version=api_version, kind=kind)

    def _call(self, what: str, call: Any, answers: tuple[int, ...] = (404,)) -> Any:
        """Retry transient errors; statuses in `answers` reach the caller as ApiException."""

        def describe(error: Exception) -> tuple[ErrorKind, str] | None:
            if isinstance(error, ApiException) and error.status in answers:
                return None
            return describe_kube_error(error)

        return with_retries(call, describe, what=what)


def describe_kube_error(error: Exception) -> tuple[ErrorKind, str] | None:
    """API errors by the shared policy (callers pick which statuses they handle themselves)."""
    if isinstance(error, ApiException):
        reason, message = _status_details(error)
        return classify_http(int(error.status or 0), reason, message), f"{error.status} {message}"
    if isinstance(error, (ConnectionError, TimeoutError)):
        return ErrorKind.TRANSIENT, f"connection failed: {error}"
    return None


def _status_details(error: ApiException) -> tuple[str, str]:
    try:
        status = json.loads(error.body)
        return str(status.get("reason", "")), str(status.get("message", error.reason))
    except Exception:
        return "", str(error.reason)
