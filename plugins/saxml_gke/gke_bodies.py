"""DeploymentSpec -> GKE API request bodies, and what an existing cluster or pool lacks.

Bodies are the container v1 REST JSON (camelCase), so they read like the API reference and parse
with the google-cloud-container proto types. The mismatch functions let a rerun adopt what exists
when it matches and refuse, with a message, when it does not: never a silent delete.
"""

from collections.abc import Mapping
from typing import Any

from saxml_gke.spec import DeploymentSpec, NodePoolSpec

CPU_POOL = "default-pool"
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# xpk and tpu-provisioner cap multi-host TPU pools at 15 pods per node to save pod IP space.
_TPU_MAX_PODS_PER_NODE = 15


def cluster_body(spec: DeploymentSpec) -> dict[str, Any]:
    cluster = spec.cluster
    return {
        "name": cluster.name,
        "initialClusterVersion": cluster.version,
        "releaseChannel": {"channel": cluster.release_channel},
        "workloadIdentityConfig": {"workloadPool": cluster.workload_pool},
        "resourceLabels": dict(spec.labels),
        "nodePools": [
            {
                "name": CPU_POOL,
                "initialNodeCount": cluster.cpu_nodes,
                "config": {
                    "machineType": cluster.cpu_machine_type,
                    "oauthScopes": _SCOPES,
                    "workloadMetadataConfig": {"mode": "GKE_METADATA"},
                    "resourceLabels": dict(spec.labels),
                },
            }
        ],
    }


def node_pool_body(spec: DeploymentSpec, pool: NodePoolSpec) -> dict[str, Any]:
    config: dict[str, Any] = {
        "machineType": pool.machine_type,
        "oauthScopes": _SCOPES,
        "workloadMetadataConfig": {"mode": "GKE_METADATA"},
        "resourceLabels": dict(spec.labels),
    }
    if pool.spot:
        config["spot"] = True
    if pool.reservation:
        config["reservationAffinity"] = {
            "consumeReservationType": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": [pool.reservation],
        }
    body: dict[str, Any] = {
        "name": pool.name,
        "initialNodeCount": pool.node_count,
        "locations": [spec.cluster.zone],
        "config": config,
        # A slice is atomic: auto-repair recreates it whole; an auto-upgrade would take the
        # model offline at a time nobody chose.
        "management": {"autoRepair": True, "autoUpgrade": False},
    }
    if pool.multi_host:
        body["placementPolicy"] = {"type": "COMPACT", "tpuTopology": pool.topology}
        body["maxPodsConstraint"] = {"maxPodsPerNode": str(_TPU_MAX_PODS_PER_NODE)}
    return body


def cluster_mismatches(spec: DeploymentSpec, cluster: Mapping[str, Any]) -> list[str]:
    """How an existing cluster (REST JSON) differs from what the spec needs; empty = adopt it."""
    problems = []
    pool = (cluster.get("workloadIdentityConfig") or {}).get("workloadPool", "")
    if pool != spec.cluster.workload_pool:
        problems.append(
            f"Workload Identity: workload pool is {pool or 'not set'}, "
            f"needs {spec.cluster.workload_pool}"
        )
    if cluster.get("autopilot", {}).get("enabled"):
        problems.append("the cluster is Autopilot; saxml-gke needs a Standard cluster")
    return problems


def node_pool_mismatches(pool: NodePoolSpec, existing: Mapping[str, Any]) -> list[str]:
    """How an existing node pool differs from the slice the spec needs; empty = adopt it."""
    config = existing.get("config") or {}
    placement = existing.get("placementPolicy") or {}
    actual = {
        "machine type": config.get("machineType", ""),
        "TPU topology": placement.get("tpuTopology", ""),
        "node count": int(existing.get("initialNodeCount", 0)),
        "spot": bool(config.get("spot", False)),
    }
    wanted = {
        "machine type": pool.machine_type,
        "TPU topology": pool.topology if pool.multi_host else "",
        "node count": pool.node_count,
        "spot": pool.spot,
    }
    return [
        f"{field} is {actual[field]!r}, needs {wanted[field]!r}"
        for field in wanted
        if actual[field] != wanted[field]
    ]
