"""What the GKE tests share: a container client on the emulator, request bodies, and waiting.

Everything goes through google-cloud-container's REST transport, as Airflow's GKEHook and the
product use it; raw HTTP only where the client cannot express a request (unknown fields).
"""

import base64
import http.client
import ssl
import time
from dataclasses import dataclass
from typing import Any

from google.api_core.client_options import ClientOptions
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import container_v1
from google.oauth2 import service_account

from tests.emulator.conftest import Control, Ready, credentials_for, operator_key

ZONE = "us-west4-a"
DONE = container_v1.Operation.Status.DONE
WAIT_TIMEOUT = 30.0


@dataclass
class Gke:
    client: container_v1.ClusterManagerClient
    credentials: service_account.Credentials
    endpoint: str
    project: str
    zone: str = ZONE

    @property
    def location(self) -> str:
        return f"projects/{self.project}/locations/{self.zone}"

    def cluster_path(self, cluster: str) -> str:
        return f"{self.location}/clusters/{cluster}"

    def pool_path(self, cluster: str, pool: str) -> str:
        return f"{self.cluster_path(cluster)}/nodePools/{pool}"

    def operation(self, operation: container_v1.Operation) -> container_v1.Operation:
        return self.client.get_operation(name=f"{self.location}/operations/{operation.name}")

    def wait(self, operation: container_v1.Operation) -> container_v1.Operation:
        """The operation once DONE (successful or not)."""
        deadline = time.monotonic() + WAIT_TIMEOUT
        while operation.status != DONE:
            assert time.monotonic() < deadline, f"operation {operation.name} did not finish"
            time.sleep(0.01)
            operation = self.operation(operation)
        return operation

    def create_cluster(self, cluster: dict[str, Any]) -> container_v1.Operation:
        return self.client.create_cluster(parent=self.location, cluster=cluster)

    def create_pool(self, cluster: str, pool: dict[str, Any]) -> container_v1.Operation:
        return self.client.create_node_pool(parent=self.cluster_path(cluster), node_pool=pool)

    def running_cluster(self, cluster: dict[str, Any]) -> container_v1.Cluster:
        """Create `cluster`, wait until it runs, and return it."""
        assert not self.wait(self.create_cluster(cluster)).error.code
        return self.client.get_cluster(name=self.cluster_path(cluster["name"]))

    def raw(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """A request the client library could not send; the status and JSON body."""
        session = AuthorizedSession(self.credentials)
        response = session.request(method, f"{self.endpoint}/v1/{path}", json=body, timeout=10)
        return response.status_code, response.json()


def connect(ready: Ready) -> Gke:
    """A client of the emulator's container API with the operator's key."""
    credentials = credentials_for(operator_key(ready))
    endpoint = ready["endpoints"]["container"]
    client = container_v1.ClusterManagerClient(
        credentials=credentials,
        transport="rest",
        client_options=ClientOptions(api_endpoint=endpoint),
    )
    return Gke(client, credentials, endpoint, ready["project_id"])


def tutorial_cluster(project: str, name: str = "saxml") -> dict[str, Any]:
    """The tutorial's cluster: Workload Identity and 4 e2-standard-4 nodes for system Pods."""
    return {
        "name": name,
        "workload_identity_config": {"workload_pool": f"{project}.svc.id.goog"},
        "release_channel": {"channel": "REGULAR"},
        "resource_labels": {"app": "saxml"},
        "node_pools": [
            {"name": "default-pool", "initial_node_count": 4, "config": cpu_config()},
        ],
    }


def cpu_config(machine_type: str = "e2-standard-4") -> dict[str, Any]:
    return {"machine_type": machine_type}


def tpu_pool(
    name: str,
    topology: str | None = "4x8",
    nodes: int = 8,
    machine_type: str = "ct5lp-hightpu-4t",
) -> dict[str, Any]:
    """A TPU node pool as the tutorial creates it (v5e 4x8: 8 nodes of 4 chips)."""
    pool: dict[str, Any] = {
        "name": name,
        "initial_node_count": nodes,
        "config": {
            "machine_type": machine_type,
            "workload_metadata_config": {"mode": "GKE_METADATA"},
        },
        "max_pods_constraint": {"max_pods_per_node": 15},
    }
    if topology:
        pool["placement_policy"] = {"type_": "COMPACT", "tpu_topology": topology}
    return pool


def apply_scenario(control: Control, name: str, **params: Any) -> dict[str, Any]:
    response = control.post("/faults", json={"scenario": name, "params": params})
    response.raise_for_status()
    return response.json()["result"]


def billing(control: Control) -> dict[str, dict[str, Any]]:
    """`GET /billing` entries by node pool name."""
    response = control.get("/billing")
    response.raise_for_status()
    return {entry["node_pool"]: entry for entry in response.json()["node_pools"]}


def access_token(credentials: service_account.Credentials) -> str:
    credentials.refresh(Request())
    return credentials.token


def cluster_get(
    cluster: container_v1.Cluster, path: str, token: str | None, ca_pem: str | None = None
) -> tuple[int, str]:
    """GET `path` on the cluster endpoint, trusting only `ca_pem` (default: the cluster's CA)."""
    ca = ca_pem or base64.b64decode(cluster.master_auth.cluster_ca_certificate).decode()
    host, port = cluster.endpoint.split(":")
    connection = http.client.HTTPSConnection(
        host, int(port), context=ssl.create_default_context(cadata=ca), timeout=10
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()
