"""Cloud Quotas v1 over REST: a quota's values (`quotaInfos.get`).

google-api-python-client ships no discovery document for Cloud Quotas, so the call is a plain
authorized request; its errors become google-api-core's, which the retry policy knows.
"""

from functools import cached_property
from typing import Any

import requests
from google.api_core import exceptions
from google.auth.transport.requests import AuthorizedSession

from saxml_gke.errors import ErrorKind
from saxml_gke.hooks.google import GoogleApiHook, describe_google_error
from saxml_gke.retry import with_retries

ENDPOINT = "https://cloudquotas.googleapis.com"
TIMEOUT = 60.0


class CloudQuotasHook(GoogleApiHook):
    @cached_property
    def _session(self) -> AuthorizedSession:
        return AuthorizedSession(self.get_credentials())

    def get_quota_info(
        self, *, project_id: str, service: str, quota_id: str
    ) -> dict[str, Any] | None:
        """The QuotaInfo of `quota_id`; None when Cloud Quotas knows no such quota."""
        base = (self.endpoint_override("cloudquotas") or ENDPOINT).rstrip("/")
        url = (
            f"{base}/v1/projects/{project_id}/locations/global/services/{service}"
            f"/quotaInfos/{quota_id}"
        )

        def get() -> dict[str, Any] | None:
            response = self._session.get(url, timeout=TIMEOUT)
            if response.status_code == 404:
                return None
            if not response.ok:
                raise exceptions.from_http_response(response)
            return response.json()

        return with_retries(get, _describe, what=f"get quota {quota_id}")


def _describe(error: Exception) -> tuple[ErrorKind, str] | None:
    if isinstance(error, requests.RequestException):
        return ErrorKind.TRANSIENT, f"connection failed: {error}"
    return describe_google_error(error)
