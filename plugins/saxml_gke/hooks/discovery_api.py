"""What the hooks on google-api-python-client discovery clients share: building the client
against the connection's endpoint override, and executing requests with the retry policy.

The discovery documents ship inside google-api-python-client, so building a client needs no
network. An endpoint override replaces the whole base URL, service path included, so the
service path is appended to it here.
"""

from collections.abc import Iterator
from typing import Any

from googleapiclient import discovery
from googleapiclient.errors import HttpError

from saxml_gke.errors import ErrorKind
from saxml_gke.hooks.google import GoogleApiHook, describe_google_error
from saxml_gke.retry import with_retries


class DiscoveryApiHook(GoogleApiHook):
    def build_client(self, api: str, version: str, *, service_path: str = "") -> Any:
        override = self.endpoint_override(api)
        endpoint = f"{override.rstrip('/')}/{service_path}" if override else None
        return discovery.build(
            api,
            version,
            credentials=self.get_credentials(),
            client_options=self.get_client_options(endpoint),
            static_discovery=True,
            cache_discovery=False,
        )

    def execute(self, what: str, request: Any) -> dict[str, Any]:
        """The response; transient errors retried; 404 and 409 raised as HttpError for the
        caller to act on; other errors as DeploymentError."""
        return with_retries(lambda: request.execute(num_retries=0), _describe, what=what)

    def execute_or_none(self, what: str, request: Any) -> dict[str, Any] | None:
        """As `execute`, but None when the resource does not exist."""
        try:
            return self.execute(what, request)
        except HttpError as error:
            if error.status_code == 404:
                return None
            raise

    def list_all(self, what: str, collection: Any, items_key: str, **arguments: Any) -> list[Any]:
        """Every item of a paged list method (`collection.list(**arguments)` and its pages)."""
        return [
            item
            for response in self.pages(what, collection, "list", **arguments)
            for item in response.get(items_key, [])
        ]

    def pages(
        self, what: str, collection: Any, method: str, **arguments: Any
    ) -> Iterator[dict[str, Any]]:
        """Each response of a paged method (`list`, `aggregatedList`, ...), page by page."""
        request = getattr(collection, method)(**arguments)
        while request is not None:
            response = self.execute(what, request)
            yield response
            request = getattr(collection, f"{method}_next")(request, response)


def _describe(error: Exception) -> tuple[ErrorKind, str] | None:
    """404 and 409 are answers the callers act on, not failures."""
    if isinstance(error, HttpError) and error.status_code in (404, 409):
        return None
    return describe_google_error(error)
