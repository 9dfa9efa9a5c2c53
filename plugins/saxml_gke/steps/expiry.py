"""A rerun with another `ttl_hours` moves the deployment's expiry where the nightly reads it.

The nightly teardown judges a deployment by the `expires-at` of its cluster (of its node pools in
an adopted cluster), and an orphan (bucket, address, Google SA) by its own. A rerun relabels
them only when `ttl_hours` changed since the spec stored in the cluster: a rerun with the same
value changes nothing, so it starts no GKE operation.
"""

from typing import Any

from saxml_gke.hooks.compute import ComputeHook
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.hooks.iam import IamHook
from saxml_gke.hooks.storage import StorageHook
from saxml_gke.ownership import with_expiry
from saxml_gke.spec import DeploymentSpec
from saxml_gke.steps import address
from saxml_gke.steps.base import StepContext


def move_expiry(
    ctx: StepContext, cluster: dict[str, Any], stored: dict[str, Any] | None
) -> list[str]:
    """Relabel what carries the expiry when the spec `stored` in the cluster by the previous
    run has another `ttl_hours` than this run's; what was relabelled."""
    spec = ctx.spec
    if stored is None:
        return []  # a first run: everything is created with this run's expiry
    previous = stored["ttl_hours"]
    if previous == spec.ttl_hours:
        return []
    moved = (
        _relabel_gke(ctx, spec, cluster)
        + _relabel_bucket(ctx, spec)
        + _relabel_address(ctx, spec)
        + _describe_account(ctx, spec)
    )
    ctx.log.info("ttl_hours %s -> %s: expires-at %s on %s", previous, spec.ttl_hours,
                 spec.expires_at or "removed", ", ".join(moved) or "nothing")  # fmt: skip
    return moved


def _relabel_gke(ctx: StepContext, spec: DeploymentSpec, cluster: dict[str, Any]) -> list[str]:
    hook = GkeHook(gcp_conn_id=ctx.gcp_conn_id)
    where = {"project_id": spec.project_id, "zone": spec.cluster.zone}
    moved = []
    labels = cluster.get("resourceLabels") or {}
    if spec.owner.owns(labels):
        hook.set_cluster_labels(
            **where, name=spec.cluster.name, labels=with_expiry(labels, spec.expires_at)
        )
        moved.append(f"cluster {spec.cluster.name}")
    for pool in cluster.get("nodePools") or []:
        labels = (pool.get("config") or {}).get("resourceLabels") or {}
        if spec.owner.owns(labels):
            hook.set_node_pool_labels(
                **where,
                cluster=spec.cluster.name,
                name=pool["name"],
                labels=with_expiry(labels, spec.expires_at),
            )
            moved.append(f"node pool {pool['name']}")
    return moved


def _relabel_bucket(ctx: StepContext, spec: DeploymentSpec) -> list[str]:
    storage = StorageHook(gcp_conn_id=ctx.gcp_conn_id)
    bucket = storage.get_bucket(name=spec.storage.bucket)
    if bucket is None or not spec.owner.owns(bucket.labels):
        return []
    storage.set_labels(name=bucket.name, labels=with_expiry(bucket.labels, spec.expires_at))
    return [f"bucket gs://{bucket.name}"]


def _relabel_address(ctx: StepContext, spec: DeploymentSpec) -> list[str]:
    if not spec.saxml.http_address:
        return []
    hook, where = ComputeHook(gcp_conn_id=ctx.gcp_conn_id), address.where(spec)
    found = hook.get_address(**where, name=spec.saxml.http_address)
    if found is None or not spec.owner.owns(found.get("labels")):
        return []
    labels = with_expiry(found.get("labels"), spec.expires_at)
    hook.set_address_labels(**where, address=found, labels=labels)
    return [f"address {found['name']}"]


def _describe_account(ctx: StepContext, spec: DeploymentSpec) -> list[str]:
    iam, email = IamHook(gcp_conn_id=ctx.gcp_conn_id), spec.identity.gsa_email
    if not spec.owner.owns_account(iam.get_service_account(email=email)):
        return []
    iam.set_description(email=email, description=spec.owner.account_description(spec.expires_at))
    return [f"service account {email}"]
