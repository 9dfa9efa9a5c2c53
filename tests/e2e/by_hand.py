"""What a person does by hand with gcloud, through the emulator's APIs and real clients."""

import time
from typing import Any

from google.api_core import exceptions
from google.cloud import container_v1, storage

from tests.e2e.conftest import ZONE
from tests.emulator.conftest import (
    RunningEmulator,
    credentials_for,
    discovery_client,
    operator_key,
    storage_client,
)
from tests.emulator.test_gke_support import connect, cpu_config, tpu_pool, tutorial_cluster


def create_cluster(world: RunningEmulator, name: str, labels: dict[str, str] | None = None) -> None:
    """As the tutorial's `gcloud container clusters create --workload-pool=...`: no labels."""
    project = world.ready["project_id"]
    connect(world.ready).running_cluster(
        {
            "name": name,
            "workload_identity_config": {"workload_pool": f"{project}.svc.id.goog"},
            "resource_labels": labels or {},
            "node_pools": [
                {"name": "default-pool", "initial_node_count": 2, "config": cpu_config()}
            ],
        }
    )


def create_v6e_cluster(world: RunningEmulator, name: str, zone: str) -> None:
    """Another team's cluster with one on-demand v6e slice (4x8: 32 chips) in `zone`."""
    gke = connect(world.ready)
    gke.zone = zone
    cluster = tutorial_cluster(world.ready["project_id"], name=name)
    cluster["node_pools"].append(tpu_pool("v6e", machine_type="ct6e-standard-4t"))
    gke.running_cluster(cluster)


def delete_cluster(world: RunningEmulator, name: str) -> None:
    """`gcloud container clusters delete`, waiting until it is gone."""
    client = _gke(world)
    path = f"projects/{world.ready['project_id']}/locations/{ZONE}/clusters/{name}"
    client.delete_cluster(name=path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            client.get_cluster(name=path)
        except exceptions.NotFound:
            return
        time.sleep(0.2)
    raise AssertionError(f"cluster {name} was not deleted in 120 s")


def create_bucket(world: RunningEmulator, name: str, labels: dict[str, str]) -> None:
    bucket = storage.Bucket(_gcs(world), name=name)
    bucket.labels = labels
    _gcs(world).create_bucket(bucket, location="US-WEST4")


def bucket_exists(world: RunningEmulator, name: str) -> bool:
    return _gcs(world).lookup_bucket(name) is not None


def create_service_account(world: RunningEmulator, account_id: str, description: str) -> None:
    body = {"accountId": account_id, "serviceAccount": {"description": description}}
    project = f"projects/{world.ready['project_id']}"
    _iam(world).projects().serviceAccounts().create(name=project, body=body).execute()


def service_account(world: RunningEmulator, email: str) -> dict[str, Any] | None:
    accounts = _iam(world).projects().serviceAccounts()
    listed = accounts.list(name=f"projects/{world.ready['project_id']}").execute()
    return next((a for a in listed.get("accounts", []) if a["email"] == email), None)


def _credentials(world: RunningEmulator) -> Any:
    return credentials_for(operator_key(world.ready))


def _gke(world: RunningEmulator) -> container_v1.ClusterManagerClient:
    return connect(world.ready).client


def _gcs(world: RunningEmulator) -> storage.Client:
    return storage_client(world.ready, _credentials(world))


def _iam(world: RunningEmulator) -> Any:
    return discovery_client(world.ready, "iam", "v1", _credentials(world))
