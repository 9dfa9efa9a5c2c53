"""DeploymentSpec -> every request body the deployment sends: GKE, Compute, IAM, Kubernetes.

Bodies are the APIs' REST JSON (camelCase), so they read like the API references; GKE's parse
with the google-cloud-container proto types. The mismatch functions let a rerun adopt what exists
when it matches and refuse, with a message, when it does not: never a silent delete. Pure.
"""

import json
from collections.abc import Mapping
from typing import Any

from saxml_gke.ownership import Owner
from saxml_gke.spec import DeploymentSpec, NodePoolSpec

CPU_POOL = "default-pool"
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
# What the nodes' own service account is granted on the project: GKE's least-privilege node role
# (logs, metrics, resource metadata; "Configure GKE node service accounts") and image pulls
# from the project's Artifact Registry. The scope stays cloud-platform, as GKE recommends:
# IAM, not scopes, limits what the nodes can do.
NODE_PROJECT_ROLES = ("roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader")
# On the deployment's bucket: the model servers run with hostNetwork, where Workload Identity
# does not apply, so they act as the node's account; they only read the cell's location and
# the checkpoints.
NODE_BUCKET_ROLE = "roles/storage.objectViewer"
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
                    "serviceAccount": spec.node_sa_email,
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
        "serviceAccount": spec.node_sa_email,
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
    if pool.flex_start:
        _flex_start(body, pool, spec)
    if pool.multi_host:
        body["placementPolicy"] = {"type": "COMPACT", "tpuTopology": pool.topology}
        body["maxPodsConstraint"] = {"maxPodsPerNode": str(_TPU_MAX_PODS_PER_NODE)}
    return body


def _flex_start(body: dict[str, Any], pool: NodePoolSpec, spec: DeploymentSpec) -> None:
    """GKE's flex-start pool for a TPU slice: no nodes until GKE can start the whole slice,
    autoscaling to it anywhere in the zone, no reservation, and no auto-repair (GKE's TPU
    flex-start guide creates the pool with `--flex-start --enable-autoscaling --num-nodes=0
    --total-max-nodes=N --location-policy=ANY --reservation-affinity=none
    --no-enable-autorepair`). The nodes run at most `maxRunDuration` (GKE's default and
    maximum: 7 days); the deployment's TTL shortens it, so they go when it expires.

    Queued (`--enable-queued-provisioning`, "Run a large-scale workload with flex-start with
    queued provisioning"), the pool gets nodes only through a ProvisioningRequest, which
    carries the run limit itself (`maxRunDurationSeconds`, see the manifests)."""
    body["initialNodeCount"] = 0
    body["autoscaling"] = {
        "enabled": True,
        "totalMaxNodeCount": pool.node_count,
        "locationPolicy": "ANY",
    }
    body["management"]["autoRepair"] = False
    config = body["config"]
    config["flexStart"] = True
    config["reservationAffinity"] = {"consumeReservationType": "NO_RESERVATION"}
    if pool.queued:
        body["queuedProvisioning"] = {"enabled": True}
    elif spec.ttl_hours:
        config["maxRunDuration"] = f"{spec.max_run_seconds}s"


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


def node_pool_mismatches(
    spec: DeploymentSpec, pool: NodePoolSpec, existing: Mapping[str, Any]
) -> list[str]:
    """How an existing node pool differs from the slice the spec needs; empty = adopt it. A
    pool whose nodes run as another account (the default one, with the project's editor
    rights) is not adopted: the model servers act as the nodes' account."""
    config = existing.get("config") or {}
    placement = existing.get("placementPolicy") or {}
    actual = {
        "machine type": config.get("machineType", ""),
        "TPU topology": placement.get("tpuTopology", ""),
        "node count": int(existing.get("initialNodeCount", 0)),
        "spot": bool(config.get("spot", False)),
        "flex-start": bool(config.get("flexStart", False)),
        "queued provisioning": bool((existing.get("queuedProvisioning") or {}).get("enabled")),
        "service account": config.get("serviceAccount", "default"),
    }
    wanted = {
        "machine type": pool.machine_type,
        "TPU topology": pool.topology if pool.multi_host else "",
        "node count": 0 if pool.flex_start else pool.node_count,
        "spot": pool.spot,
        "flex-start": pool.flex_start,
        "queued provisioning": pool.queued,
        "service account": spec.node_sa_email,
    }
    return [
        f"{field} is {actual[field]!r}, needs {wanted[field]!r}"
        for field in wanted
        if actual[field] != wanted[field]
    ]


def address_type(spec: DeploymentSpec) -> str:
    return "INTERNAL" if spec.saxml.http_exposure == "internal" else "EXTERNAL"


def address_body(spec: DeploymentSpec) -> dict[str, Any]:
    """The static address of the sax-http load balancer (compute v1 addresses.insert)."""
    body: dict[str, Any] = {
        "name": spec.saxml.http_address,
        "description": f"sax-http load balancer of saxml-gke deployment {spec.deployment}",
        "addressType": address_type(spec),
        "labels": spec.labels,
    }
    if body["addressType"] == "INTERNAL":  # in the cluster's (default) network
        body["subnetwork"] = (
            f"projects/{spec.project_id}/regions/{spec.cluster.region}/subnetworks/default"
        )
    return body


def service_account_body(spec: DeploymentSpec) -> dict[str, Any]:
    """The Google service account the pods act as (iam v1 serviceAccounts.create)."""
    return _account_body(spec, spec.identity.gsa_name, f"Saxml ({spec.deployment})")


def node_service_account_body(spec: DeploymentSpec) -> dict[str, Any]:
    """The Google service account the nodes (and the host-network model servers) run as."""
    account_id = spec.node_sa_email.split("@", 1)[0]
    return _account_body(spec, account_id, f"Saxml nodes ({spec.deployment})")


def _account_body(spec: DeploymentSpec, account_id: str, display_name: str) -> dict[str, Any]:
    """Its description carries the deployment's marks, since accounts have no labels."""
    return {
        "accountId": account_id,
        "serviceAccount": {
            "displayName": display_name,
            "description": spec.owner.account_description(spec.expires_at),
        },
    }


def edit_binding(bindings: list[dict[str, Any]], role: str, member: str, *, add: bool) -> bool:
    """Grant (`add`) or revoke `role` for `member` in an IAM policy's bindings, in place;
    whether they changed. Any IAM policy: a service account's, a bucket's."""
    binding = next((b for b in bindings if b["role"] == role), None)
    members = list(binding["members"]) if binding else []
    if (member in members) == add:
        return False
    if add:
        members.append(member)
    else:
        members.remove(member)
    if binding is None:
        bindings.append({"role": role, "members": members})
    elif members:
        binding["members"] = members
    else:
        bindings.remove(binding)
    return True


# Where a deployment keeps its spec in its cluster, so the nightly teardown knows every name
# it used (bucket, service accounts, ...) without the run that created it.
SPEC_CONFIG_MAP = ("kube-system", "saxml-gke-deployment")


def spec_config_map(spec: DeploymentSpec) -> dict[str, Any]:
    namespace, name = SPEC_CONFIG_MAP
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(spec.labels)},
        "data": {"spec.json": json.dumps(spec.to_dict())},
    }


def stored_spec(owner: Owner, config_map: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The spec (as a dict) in the deployment's ConfigMap; None when there is none, or the
    ConfigMap of that name is not the deployment's."""
    if config_map is None or not owner.owns(config_map["metadata"].get("labels")):
        return None
    return json.loads(config_map["data"]["spec.json"])
