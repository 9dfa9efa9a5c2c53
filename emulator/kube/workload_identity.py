"""Workload Identity Federation for GKE: the Google identity a pod's client libraries get, and
Cloud Storage as they see it with that identity.

A pod asks the GKE metadata server for tokens. It answers only on nodes of pools in
`GKE_METADATA` mode (label `iam.gke.io/gke-metadata-server-enabled`) of a cluster with a
workload pool (`PROJECT.svc.id.goog`). Its answer depends on the pod's Kubernetes service account:
- annotated `iam.gke.io/gcp-service-account: GSA`: a token of GSA, if IAM lets the member
  `serviceAccount:PROJECT.svc.id.goog[NS/KSA]` get one (`roles/iam.workloadIdentityUser` on
  GSA or the project); otherwise the metadata server's error;
- not annotated: a federated token of
  `principal://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/
  PROJECT.svc.id.goog/subject/ns/NS/sa/KSA`, which is granted access like any member.

Workload Identity does not apply to host-network pods (`hostNetwork: true`): they reach the
Compute Engine metadata server, as any process of the node does, and act as the node's service
account, their node pool's `config.serviceAccount` (`default`: the Compute Engine default
account), with that account's IAM rights, whatever their Kubernetes service account says.

Everything is decided at the moment of each access from the IAM, bucket and cluster state of
that moment, so a binding granted later starts working later, and a revoked one stops.

Behaviours use it as `PodStorage(ctx.cluster, ctx.pod)`.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from emulator.gcp.auth import granted
from emulator.gcp.storage import StorageService
from emulator.gcp.storage.model import Bucket

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

GSA_ANNOTATION = "iam.gke.io/gcp-service-account"
NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
METADATA_SERVER_LABEL = "iam.gke.io/gke-metadata-server-enabled"
CONTENT_TYPE = "application/octet-stream"
_DOCS = "https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#authenticating_to"


@runtime_checkable
class ClusterPools(Protocol):
    """GKE, as far as Workload Identity needs it."""

    def cluster_workload_pool(self, location: str, name: str) -> str: ...

    def node_service_account(self, location: str, name: str, pool: str) -> str: ...


@dataclass(frozen=True)
class GoogleIdentity:
    principal: str | None  # the IAM member, e.g. "serviceAccount:sax-iam-sa@P.iam...", or None
    reason: str  # why there is none (what a client library would report)
    members: tuple[str, ...] = ()  # every member string a policy may name this identity by


class BucketAccessError(Exception):
    """What GCS (or the metadata server, without an identity) answers instead of the data."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def pod_identity(cluster: "KubeCluster", pod: Mapping[str, Any]) -> GoogleIdentity:
    """The Google identity a pod's Google client libraries get from the GKE metadata server
    (from the Compute Engine one for a host-network pod)."""
    if (pod.get("spec") or {}).get("hostNetwork"):
        return _node_identity(cluster, pod)
    world = cluster.world
    gke = world.services.get("container")
    pool = (
        gke.cluster_workload_pool(cluster.location, cluster.name)
        if isinstance(gke, ClusterPools)
        else ""
    )
    if not pool:
        return _none(
            f"cluster {cluster.name} has no Workload Identity (workloadIdentityConfig."
            "workloadPool is not set): pods get the node's service account from the Compute "
            "Engine metadata server, not a workload identity"
        )
    store = cluster.store
    node_name = (pod.get("spec") or {}).get("nodeName")
    node = store.find(store.types.by_kind("v1", "Node"), "", node_name) if node_name else None
    if node is None:
        return _none(f"pod {pod['metadata']['name']} does not run on a node")
    if (node["metadata"].get("labels") or {}).get(METADATA_SERVER_LABEL) != "true":
        return _none(
            f"node {node_name} does not run the GKE metadata server (its node pool's "
            "workloadMetadataConfig.mode is not GKE_METADATA): pods get the node's service "
            "account from the Compute Engine metadata server, not a workload identity"
        )
    namespace = pod["metadata"]["namespace"]
    ksa_name = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    ksa = store.find(store.types.by_kind("v1", "ServiceAccount"), namespace, ksa_name)
    if ksa is None:
        return _none(f'serviceaccount "{ksa_name}" not found in namespace "{namespace}"')
    gsa = (ksa["metadata"].get("annotations") or {}).get(GSA_ANNOTATION)
    legacy_member = f"serviceAccount:{pool}[{namespace}/{ksa_name}]"
    if gsa is None:
        pool_path = (
            f"iam.googleapis.com/projects/{world.project_number}/locations/global/"
            f"workloadIdentityPools/{pool}"
        )
        principal = f"principal://{pool_path}/subject/ns/{namespace}/sa/{ksa_name}"
        namespace_set = f"principalSet://{pool_path}/namespace/{namespace}"
        return GoogleIdentity(principal, "", (principal, namespace_set, legacy_member))
    iam = world.services.get("iam")
    accounts = getattr(iam, "accounts", {})
    if gsa not in accounts:
        return _none(
            "Unable to generate access token; IAM returned 404 Not Found: Not found; Gaia id "
            f"not found for email {gsa}"
        )
    resource = f"projects/{world.project_id}/serviceAccounts/{gsa}"
    if not granted(world, [legacy_member], "iam.serviceAccounts.getAccessToken", resource):
        return _none(
            "Unable to generate access token; IAM returned 403 Forbidden: Permission "
            "'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).\n"
            "This error could be caused by a missing IAM policy binding on the target IAM "
            "service account.\nFor more information, refer to the Workload Identity "
            f"documentation:\n\t{_DOCS}\n"
        )
    member = f"serviceAccount:{gsa}"
    return GoogleIdentity(member, "", (member,))


def _node_identity(cluster: "KubeCluster", pod: Mapping[str, Any]) -> GoogleIdentity:
    """The node's service account, as the Compute Engine metadata server gives it."""
    store, world = cluster.store, cluster.world
    node_name = (pod.get("spec") or {}).get("nodeName")
    node = store.find(store.types.by_kind("v1", "Node"), "", node_name) if node_name else None
    if node is None:
        return _none(f"pod {pod['metadata']['name']} does not run on a node")
    gke = world.services.get("container")
    pool = (node["metadata"].get("labels") or {}).get(NODE_POOL_LABEL, "")
    email = (
        gke.node_service_account(cluster.location, cluster.name, pool)
        if isinstance(gke, ClusterPools)
        else ""
    )
    if not email:
        return _none(f"node {node_name} is in no node pool of cluster {cluster.name}")
    own_project = email.endswith(f"@{world.project_id}.iam.gserviceaccount.com")
    if own_project and email not in getattr(world.services.get("iam"), "accounts", {}):
        return _none(
            "Unable to generate access token; IAM returned 404 Not Found: Not found; Gaia id "
            f"not found for email {email}"
        )
    member = f"serviceAccount:{email}"
    return GoogleIdentity(member, "", (member,))


def _none(reason: str) -> GoogleIdentity:
    return GoogleIdentity(None, reason)


class PodStorage:
    """Cloud Storage as a pod's client library sees it, checked at the moment of each access
    against the bucket's IAM policy (and project policy) for the pod's identity."""

    def __init__(self, cluster: "KubeCluster", pod: Mapping[str, Any]) -> None:
        self.cluster = cluster
        self.pod = pod
        storage = cluster.world.services.get("storage")
        if not isinstance(storage, StorageService):
            raise RuntimeError("the world has no Cloud Storage service")
        self.storage = storage

    def read(self, bucket: str, name: str) -> bytes | None:
        """The object's data; None when there is no such object."""
        found = self._bucket(bucket, "storage.objects.get", name)
        stored = found.objects.get(name)
        return None if stored is None else stored.data

    def write(self, bucket: str, name: str, data: bytes) -> None:
        """A new generation of the object (replacing one also needs storage.objects.delete)."""
        found = self._bucket(bucket, "storage.objects.create", name)
        if name in found.objects:
            self._bucket(bucket, "storage.objects.delete", name)
        self.storage.objects.write(found, name, data, CONTENT_TYPE)

    def list(self, bucket: str, prefix: str) -> list[str]:
        """Names of the objects under `prefix`, in order."""
        found = self._bucket(bucket, "storage.objects.list", None)
        return sorted(name for name in found.objects if name.startswith(prefix))

    def _bucket(self, name: str, permission: str, object_name: str | None) -> Bucket:
        identity = pod_identity(self.cluster, self.pod)
        if identity.principal is None:
            raise BucketAccessError(403, identity.reason)
        owner = self.storage.other_projects_buckets.get(name)
        bucket = self.storage.buckets.get(name)
        if bucket is None and owner is None:
            raise BucketAccessError(404, "The specified bucket does not exist.")
        resource = f"projects/{owner or self.cluster.world.project_id}/buckets/{name}"
        if object_name is not None:
            resource += f"/objects/{object_name}"
        if bucket is None or not granted(
            self.cluster.world, identity.members, permission, resource
        ):
            caller = identity.principal.removeprefix("serviceAccount:")
            target = "bucket" if object_name is None else "object"
            raise BucketAccessError(
                403,
                f"{caller} does not have {permission} access to the Google Cloud Storage "
                f"{target}. Permission '{permission}' denied on resource (or it may not exist).",
            )
        return bucket
