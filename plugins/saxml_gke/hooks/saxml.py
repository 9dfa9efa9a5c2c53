"""Saxml's sax-http API, reached through the Kubernetes API server's service proxy.

The proxy works for every `http_exposure` (no route to the load balancer needed) and carries the
cluster's authentication, so the model API is never exposed just to be managed.
"""

from typing import Any

from saxml_gke import sax_http
from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.retry import with_retries

SAX_HTTP_PORT = 8888


class SaxHttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"sax-http answered {status}: {message}")
        self.status = status
        self.message = message


class SaxmlHook:
    def __init__(self, kube: KubeHook, *, namespace: str, service: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.service = service

    def listcell(self, model: str) -> sax_http.PublishedModel | None:
        """The published model, or None when it is not published."""
        try:
            return sax_http.parse_listcell(self._request("GET", "listcell", {"model": model}))
        except SaxHttpError as error:
            if sax_http.is_not_found(error.message):
                return None
            raise

    def publish(self, model: str, model_path: str, checkpoint: str, replicas: int) -> None:
        self._request(
            "POST", "publish", sax_http.publish_body(model, model_path, checkpoint, replicas)
        )

    def update(self, model: str, model_path: str, checkpoint: str, replicas: int) -> None:
        self._request(
            "PUT", "update", sax_http.publish_body(model, model_path, checkpoint, replicas)
        )

    def unpublish(self, model: str) -> bool:
        """Whether it was published."""
        try:
            self._request("POST", "unpublish", {"model": model})
        except SaxHttpError as error:
            if sax_http.is_not_found(error.message):
                return False
            raise
        return True

    def generate(self, model: str, query: str) -> list[tuple[str, float]]:
        return sax_http.parse_generate(
            self._request("POST", "generate", sax_http.generate_body(model, query))
        )

    def _request(self, method: str, path: str, body: dict[str, Any]) -> Any:
        def call() -> Any:
            status, answer = self.kube.proxy(
                self.namespace, self.service, SAX_HTTP_PORT, method, path, body
            )
            if status != 200:
                raise SaxHttpError(status, sax_http.error_message(answer))
            return answer

        return with_retries(call, _describe, what=f"sax-http {method} /{path}")


def _describe(error: Exception) -> tuple[ErrorKind, str] | None:
    """No ready sax-http pod behind the Service (503) is worth waiting for; errors from Saxml
    itself reach the caller, which knows what "not found" or "already exists" means there."""
    if isinstance(error, SaxHttpError):
        if error.status in (502, 503, 504):
            return ErrorKind.TRANSIENT, str(error)
        return None
    if isinstance(error, DeploymentError):
        return None
    if isinstance(error, (ConnectionError, TimeoutError)):
        return ErrorKind.TRANSIENT, f"connection failed: {error}"
    return None
