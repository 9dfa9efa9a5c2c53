"""Part 2's shared fixtures: clusters serving their Kubernetes API (see `served_cluster`).

Tests import helpers from `served_cluster`; the names re-exported here keep older imports
(`from conftest import ServedCluster`) working.
"""

from collections.abc import Iterator

import pytest
from kubernetes import client
from served_cluster import ServedCluster, cpu_nodes

__all__ = ["ServedCluster", "cpu_nodes"]


@pytest.fixture
def kube() -> Iterator[ServedCluster]:
    served = ServedCluster()
    yield served
    served.stop()


@pytest.fixture
def api_only() -> Iterator[ServedCluster]:
    """A cluster whose API server runs alone: no controller, scheduler or kubelet writes."""
    served = ServedCluster(run_loops=False)
    yield served
    served.stop()


@pytest.fixture
def api_only_client(api_only: ServedCluster) -> Iterator[client.ApiClient]:
    """An admin client of a cluster whose API server runs alone."""
    with api_only.api_client() as api:
        yield api


@pytest.fixture
def api_client(kube: ServedCluster) -> Iterator[client.ApiClient]:
    """A client with the token of a `roles/container.admin` service account."""
    with kube.api_client() as api:
        yield api
