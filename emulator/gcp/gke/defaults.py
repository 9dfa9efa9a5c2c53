"""The fields GKE fills in when it accepts a cluster or node pool, so reads look like GKE's."""

import math
import uuid

from google.cloud import container_v1

from emulator.core.clock import rfc3339
from emulator.core.errors import invalid_argument
from emulator.gcp.gke import catalog, names, queued, versions
from emulator.gcp.gke.validation import Mode, PoolShape

DEFAULT_POOL_NAME = "default-pool"
DEFAULT_MAX_PODS = 110
DEFAULT_OAUTH_SCOPES = (
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/trace.append",
)


def adopt_legacy_default_pool(cluster: container_v1.Cluster) -> None:
    """Turn the deprecated `initialNodeCount`/`nodeConfig` into `default-pool`, as GKE does."""
    legacy = cluster.initial_node_count or container_v1.Cluster.pb(cluster).HasField("node_config")
    if not legacy:
        return
    if cluster.node_pools:
        raise invalid_argument(
            "Cluster.node_pools and Cluster.initial_node_count/Cluster.node_config are mutually "
            "exclusive; set the node pool's initial_node_count and config instead."
        )
    cluster.node_pools.append(
        container_v1.NodePool(
            name=DEFAULT_POOL_NAME,
            initial_node_count=cluster.initial_node_count,
            config=cluster.node_config,
        )
    )
    cluster.initial_node_count = 0
    container_v1.Cluster.pb(cluster).ClearField("node_config")


def fill_cluster(
    cluster: container_v1.Cluster, project_id: str, zone: str, zones: list[str], now: float
) -> None:
    """Fill a validated cluster's output fields; its node pools are filled separately."""
    region = catalog.region_of(zone)
    channel = cluster.release_channel.channel or versions.DEFAULT_CHANNEL
    version = versions.resolve_version(cluster.initial_cluster_version, channel)
    cluster.release_channel.channel = channel
    cluster.initial_cluster_version = version
    cluster.current_master_version = version
    cluster.current_node_version = version
    cluster.location = zone
    cluster.zone = zone
    cluster.locations = zones
    cluster.self_link = names.cluster_link(project_id, zone, cluster.name)
    cluster.create_time = rfc3339(now)
    cluster.id = uuid.uuid4().hex
    cluster.status = container_v1.Cluster.Status.PROVISIONING
    cluster.network = cluster.network or "default"
    cluster.subnetwork = cluster.subnetwork or "default"
    cluster.network_config.network = f"projects/{project_id}/global/networks/{cluster.network}"
    cluster.network_config.subnetwork = (
        f"projects/{project_id}/regions/{region}/subnetworks/{cluster.subnetwork}"
    )
    cluster.ip_allocation_policy.use_ip_aliases = True
    cluster.cluster_ipv4_cidr = cluster.cluster_ipv4_cidr or "10.92.0.0/14"
    cluster.services_ipv4_cidr = cluster.services_ipv4_cidr or "34.118.224.0/20"
    cluster.logging_service = cluster.logging_service or "logging.googleapis.com/kubernetes"
    cluster.monitoring_service = (
        cluster.monitoring_service or "monitoring.googleapis.com/kubernetes"
    )
    max_pods = cluster.default_max_pods_constraint.max_pods_per_node or DEFAULT_MAX_PODS
    cluster.default_max_pods_constraint.max_pods_per_node = max_pods
    cluster.node_ipv4_cidr_size = pod_cidr_size(max_pods)


def pod_cidr_size(max_pods: int) -> int:
    """GKE gives each node a pod range with room for twice its maximum pods."""
    return 32 - math.ceil(math.log2(2 * max_pods))


def fill_node_pool(
    pool: container_v1.NodePool,
    shape: PoolShape,
    cluster: container_v1.Cluster,
    project_id: str,
) -> None:
    """Fill a validated node pool's defaults and output fields for `cluster`."""
    config = pool.config
    config.machine_type = shape.machine.name
    config.disk_size_gb = config.disk_size_gb or 100
    config.disk_type = config.disk_type or "pd-balanced"
    config.image_type = config.image_type or "COS_CONTAINERD"
    config.service_account = config.service_account or "default"
    config.oauth_scopes = list(config.oauth_scopes) or list(DEFAULT_OAUTH_SCOPES)
    config.metadata.setdefault("disable-legacy-endpoints", "true")
    if cluster.workload_identity_config.workload_pool and not config.workload_metadata_config.mode:
        config.workload_metadata_config.mode = Mode.GKE_METADATA
    pool.locations = list(shape.zones)
    pool.version = versions.resolve_node_version(pool.version, cluster.current_master_version)
    max_pods = (
        pool.max_pods_constraint.max_pods_per_node
        or cluster.default_max_pods_constraint.max_pods_per_node
    )
    pool.max_pods_constraint.max_pods_per_node = max_pods
    pool.pod_ipv4_cidr_size = pod_cidr_size(max_pods)
    if queued.is_queued(pool):
        queued.add_taint(pool)
    if not container_v1.NodePool.pb(pool).HasField("management"):
        pool.management = container_v1.NodeManagement(auto_upgrade=True, auto_repair=True)
    pool.self_link = names.node_pool_link(project_id, cluster.location, cluster.name, pool.name)
    pool.status = container_v1.NodePool.Status.PROVISIONING
