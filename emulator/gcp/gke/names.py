"""How GKE names and links its resources.

Resource names use `locations`; self links and target links use the zonal form GKE writes for
zonal clusters, with the project ID for clusters and node pools and the project number for
operations, as the real API does.
"""

API_ROOT = "https://container.googleapis.com/v1"


def location_path(project: str, location: str) -> str:
    return f"projects/{project}/locations/{location}"


def cluster_path(project: str, location: str, cluster: str) -> str:
    return f"{location_path(project, location)}/clusters/{cluster}"


def node_pool_path(project: str, location: str, cluster: str, node_pool: str) -> str:
    return f"{cluster_path(project, location, cluster)}/nodePools/{node_pool}"


def cluster_link(project: str, zone: str, cluster: str) -> str:
    return f"{API_ROOT}/projects/{project}/zones/{zone}/clusters/{cluster}"


def node_pool_link(project: str, zone: str, cluster: str, node_pool: str) -> str:
    return f"{cluster_link(project, zone, cluster)}/nodePools/{node_pool}"


def operation_link(project_number: str, zone: str, operation: str) -> str:
    return f"{API_ROOT}/projects/{project_number}/zones/{zone}/operations/{operation}"
