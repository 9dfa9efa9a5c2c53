"""A `kubernetes` client of an emulated GKE cluster, configured as `gcloud container clusters
get-credentials` and the gke-gcloud-auth-plugin configure kubectl: the cluster endpoint over TLS
with the cluster's CA, and a Google access token, refreshed whenever it has expired (the test
emulator's tokens live two seconds)."""

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.auth.transport.requests import Request
from google.cloud import container_v1
from google.oauth2 import service_account
from kubernetes import client

WAIT_TIMEOUT = 30.0


def kube_client(
    cluster: container_v1.Cluster, credentials: service_account.Credentials, workdir: Path
) -> client.ApiClient:
    ca_file = workdir / f"{cluster.name}-ca.crt"
    ca_file.write_bytes(base64.b64decode(cluster.master_auth.cluster_ca_certificate))
    configuration = client.Configuration(host=f"https://{cluster.endpoint}")
    configuration.ssl_ca_cert = str(ca_file)

    def refresh(config: client.Configuration) -> None:
        if not credentials.valid:
            credentials.refresh(Request())
        config.api_key = {"authorization": f"Bearer {credentials.token}"}

    configuration.refresh_api_key_hook = refresh
    refresh(configuration)
    return client.ApiClient(configuration)


def wait(check: Callable[[], Any], timeout: float = WAIT_TIMEOUT, what: str = "") -> Any:
    """Poll until `check()` is truthy; its value."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"not met within {timeout}s: {what or check}"
        time.sleep(0.02)
    return result
