"""JobSet on an emulated GKE cluster, as the DAG installs it: the release manifest downloaded
from the ready file's `jobset_manifest_url` and applied server-side, then a wait for the
controller manager's Deployment to be Available (its webhooks answer from then on)."""

import requests
import yaml
from kubernetes import client, utils

from tests.emulator.cluster_client import wait
from tests.emulator.conftest import Ready

JOBSET = ("jobset.x-k8s.io", "v1alpha2")  # group and version, for CustomObjectsApi


def install_jobset_from(ready: Ready, api: client.ApiClient) -> int:
    """Download the release as the DAG does and apply it server-side; the number of objects."""
    response = requests.get(ready["jobset_manifest_url"], timeout=10)
    response.raise_for_status()
    objects = [doc for doc in yaml.safe_load_all(response.text) if doc]
    utils.create_from_yaml(
        api, yaml_objects=objects, apply=True, namespace=None, force_conflicts=True
    )
    return len(objects)


def manager_available(api: client.ApiClient) -> bool:
    status = (
        client.AppsV1Api(api)
        .read_namespaced_deployment_status("jobset-controller-manager", "jobset-system")
        .status
    )
    return any(c.type == "Available" and c.status == "True" for c in status.conditions or [])


def wait_for_jobset(api: client.ApiClient) -> None:
    wait(lambda: manager_available(api), what="the JobSet controller to be Available")
