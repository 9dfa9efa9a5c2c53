"""What every Google hook shares: the connection's endpoint overrides and error descriptions.

`endpoint_overrides` in the `google_cloud_platform` connection's extras maps an API
(`container`, `iam`, `cloudresourcemanager`, `storage`, `compute`, `serviceusage`,
`cloudquotas`, `monitoring`) to a base URL: a Private Service Connect endpoint on Google
Cloud, or the local emulator. Without it, the clients use Google's endpoints. Each must be
https, or plain http to loopback (the emulator): the clients send the connection's bearer
tokens there.
"""

import json
import re
from typing import Any

from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

from saxml_gke.errors import DeploymentError, ErrorKind, classify_http
from saxml_gke.urls import is_https_or_loopback, is_loopback_url

# A new service account is not usable as a policy member for a while (eventual consistency).
_MEMBER_NOT_YET_PROPAGATED = re.compile(r"Service account \S+ does not exist")

# Credentials (and project) by everything that makes them: see `get_credentials_and_project_id`.
_CREDENTIALS: dict[str, tuple[Any, str | None]] = {}


class GoogleApiHook(GoogleBaseHook):
    """A GoogleBaseHook that honours the connection's `endpoint_overrides`."""

    def get_credentials_and_project_id(self) -> tuple[Any, str | None]:
        """The provider's credentials, made once per process for each connection content: a
        task builds several hooks, and each would read the service account key again (an RSA
        key check of some 70 ms) and fetch a token of its own. google-auth credentials are
        meant to be shared; a changed connection is another entry."""
        made_of = [self.gcp_conn_id, self.extras, list(self.scopes), self.impersonation_chain]
        key = json.dumps([*made_of, self.quota_project_id], sort_keys=True, default=str)
        if key not in _CREDENTIALS:
            _CREDENTIALS[key] = super().get_credentials_and_project_id()
        self._cached_credentials, self._cached_project_id = _CREDENTIALS[key]
        return _CREDENTIALS[key]

    def endpoint_override(self, api: str) -> str | None:
        return self.endpoint_overrides().get(api)

    def endpoint_overrides(self) -> dict[str, str]:
        """Every override, each refused unless https or on loopback: a token sent over plain
        http to another host would travel in clear text."""
        overrides: Any = self._get_field("endpoint_overrides", None) or {}
        if isinstance(overrides, str):
            overrides = json.loads(overrides)
        for api, url in overrides.items():
            if not (isinstance(url, str) and is_https_or_loopback(url)):
                raise DeploymentError(
                    ErrorKind.PERMANENT,
                    f"connection {self.gcp_conn_id!r}: endpoint_overrides.{api} = {url!r} must "
                    "be https (plain http only to a loopback address: 127.0.0.1, localhost, "
                    "[::1]), or the connection's bearer tokens would travel in clear text",
                )
        return overrides

    def points_at_loopback(self) -> bool:
        """Whether the connection overrides its APIs and every override is on this machine: it
        points at the local emulator."""
        overrides = self.endpoint_overrides()
        return bool(overrides) and all(is_loopback_url(url) for url in overrides.values())


def describe_google_error(error: Exception) -> tuple[ErrorKind, str] | None:
    """Kind and message of an error from google-api-core, googleapiclient or google-auth."""
    from google.api_core import exceptions as core
    from google.auth.exceptions import TransportError
    from googleapiclient.errors import HttpError

    if isinstance(error, core.GoogleAPICallError) and error.code is not None:
        status = _canonical_status(error)
        return classify_http(
            int(error.code), status, error.message
        ), f"{error.code} {error.message}"
    if isinstance(error, HttpError):
        status, message = _http_error_details(error)
        return classify_http(error.status_code, status, message), f"{error.status_code} {message}"
    if isinstance(error, (TransportError, ConnectionError, TimeoutError)):
        return ErrorKind.TRANSIENT, f"connection failed: {error}"
    return None


def describe_policy_error(error: Exception) -> tuple[ErrorKind, str] | None:
    """As `describe_google_error`, but a member that does not exist *yet* is worth waiting for."""
    described = describe_google_error(error)
    if described and _MEMBER_NOT_YET_PROPAGATED.search(described[1]):
        return ErrorKind.TRANSIENT, described[1]
    return described


def _canonical_status(error: Any) -> str:
    grpc_code = getattr(error, "grpc_status_code", None)
    if grpc_code is not None:
        return str(grpc_code.name)
    response = getattr(error, "response", None)
    try:
        return str(response.json()["error"]["status"])
    except Exception:
        return ""


def _http_error_details(error: Any) -> tuple[str, str]:
    try:
        body = json.loads(error.content)["error"]
        return str(body.get("status", "")), str(body.get("message", error.reason))
    except Exception:
        return "", str(error.reason)
