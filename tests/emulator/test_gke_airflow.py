"""Airflow's GKEHook reaches the emulator with the connection from the ready file.

The hook builds a gRPC client; as the Google provider offers no endpoint setting for GKE, a
subclass returns a REST client on the emulator's endpoint instead (everything else is the hook's
own code: credentials from the connection, request building, label handling, NotFound on delete).
"""

import json
import time

import pytest
from airflow.providers.google.cloud.hooks.kubernetes_engine import GKEHook
from google.api_core.client_options import ClientOptions
from google.cloud import container_v1

from tests.emulator.test_gke_support import WAIT_TIMEOUT, ZONE, tpu_pool, tutorial_cluster

DONE = container_v1.Operation.Status.DONE


class EmulatedGKEHook(GKEHook):
    def __init__(self, api_endpoint: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api_endpoint = api_endpoint

    def get_cluster_manager_client(self) -> container_v1.ClusterManagerClient:
        if self._client is None:
            self._client = container_v1.ClusterManagerClient(
                credentials=self.get_credentials(),
                transport="rest",
                client_options=ClientOptions(api_endpoint=self.api_endpoint),
            )
        return self._client


def _wait(hook: GKEHook, operation: container_v1.Operation) -> container_v1.Operation:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while operation.status != DONE:
        assert time.monotonic() < deadline, f"operation {operation.name} did not finish"
        time.sleep(0.01)
        operation = hook.get_operation(operation.name)
    return operation


@pytest.fixture
def hook(fresh_world, monkeypatch):
    connection = json.dumps(fresh_world["airflow_connection"])
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", connection)
    return EmulatedGKEHook(fresh_world["endpoints"]["container"], location=ZONE)


def test_the_hook_creates_and_deletes_the_tutorial_cluster(hook, fresh_world):
    assert hook.project_id == fresh_world["project_id"]
    body = tutorial_cluster(hook.project_id)
    slice_pool = tpu_pool("tpu1")
    slice_pool["placement_policy"] = {"type": "COMPACT", "tpu_topology": "4x8"}
    body["node_pools"].append(slice_pool)

    created = _wait(hook, hook.create_cluster(cluster=body, wait_to_complete=False))

    assert not created.error.code
    cluster = hook.get_cluster(name="saxml")
    assert cluster.status == container_v1.Cluster.Status.RUNNING
    assert cluster.resource_labels["airflow-version"].startswith("v3-")
    assert [pool.name for pool in cluster.node_pools] == ["default-pool", "tpu1"]

    client = hook.get_cluster_manager_client()
    parent = f"projects/{hook.project_id}/locations/{ZONE}/clusters/saxml"
    added = _wait(hook, client.create_node_pool(parent=parent, node_pool=tpu_pool("tpu2")))
    assert not added.error.code

    deleted = _wait(hook, hook.delete_cluster(name="saxml", wait_to_complete=False))
    assert not deleted.error.code
    assert hook.delete_cluster(name="saxml", wait_to_complete=False) is None  # NotFound
