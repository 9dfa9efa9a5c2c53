"""Find what the nightly teardown should remove: expired deployments, and orphans.

A deployment is found by its cluster's labels; its spec comes from the ConfigMap the deploy
run stored in the cluster, or, when that cannot be read, is derived from the labels (teardown
then deletes only what carries this deployment's labels, so a guessed name cannot hit anything
else). Orphans are buckets, load balancer addresses and Google service accounts of ours whose
cluster is gone; an orphan address may still carry the forwarding rule a cluster deleted before
its Service left behind, and the teardown removes that rule with it.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from saxml_gke.hooks.compute import ComputeHook
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.hooks.iam import IamHook
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.hooks.storage import StorageHook
from saxml_gke.spec import (
    EXPIRES_AT_FORMAT,
    LABEL_DEPLOYMENT,
    LABEL_EXPIRES_AT,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    DeploymentSpec,
    build_spec,
)
from saxml_gke.steps.base import StepContext
from saxml_gke.steps.cluster import SPEC_CONFIG_MAP
from saxml_gke.steps.teardown import leftovers

ANY_ZONE = "-"


def find_deployments(
    *, project_id: str, zone: str, cluster_name: str, now: datetime, gcp_conn_id: str
) -> list[dict[str, Any]]:
    """Specs (as dicts) of the deployments to tear down: the named one, else the expired."""
    found = []
    clusters = GkeHook(gcp_conn_id=gcp_conn_id).list_clusters(
        project_id=project_id, zone=zone or ANY_ZONE
    )
    for cluster in clusters:
        labels = cluster.get("resourceLabels") or {}
        if labels.get(LABEL_MANAGED_BY) != MANAGED_BY:
            continue
        if cluster_name and cluster["name"] != cluster_name:
            continue
        if not cluster_name and not expired(labels, now):
            continue
        found.append(_spec_of(cluster, project_id, now, gcp_conn_id))
    found += _orphans(project_id, zone, {c["name"] for c in clusters}, now, gcp_conn_id)
    return found


def expired(labels: dict[str, str], now: datetime) -> bool:
    stamp = labels.get(LABEL_EXPIRES_AT)
    if not stamp:
        return False  # ttl_hours=0: never expires
    expires_at = datetime.strptime(stamp, EXPIRES_AT_FORMAT).replace(tzinfo=UTC)
    return expires_at <= now


def _spec_of(
    cluster: dict[str, Any], project_id: str, now: datetime, gcp_conn_id: str
) -> dict[str, Any]:
    if cluster.get("status") == "RUNNING" and cluster.get("endpoint"):
        kube = KubeHook(
            endpoint=cluster["endpoint"],
            ca_certificate=cluster["masterAuth"]["clusterCaCertificate"],
            gcp_conn_id=gcp_conn_id,
        )
        namespace, name = SPEC_CONFIG_MAP
        config_map = kube.get("v1", "ConfigMap", name, namespace=namespace)
        if config_map is not None:
            return json.loads(config_map["data"]["spec.json"])
    conf = {"project_id": project_id, "zone": cluster["location"], "cluster_name": cluster["name"]}
    return build_spec(conf, now=now).to_dict()


def _orphans(
    project_id: str, zone: str, clusters: set[str], now: datetime, gcp_conn_id: str
) -> list[dict[str, Any]]:
    """Specs of expired deployments that have no cluster any more but still a bucket or a
    load balancer address of ours: the teardown removes whichever of them exists."""
    confs: dict[str, dict[str, Any]] = {}

    def orphan(labels: dict[str, str], zone_guess: str) -> dict[str, Any] | None:
        deployment = labels.get(LABEL_DEPLOYMENT)
        if labels.get(LABEL_MANAGED_BY) != MANAGED_BY or not deployment or deployment in clusters:
            return None
        if not expired(labels, now):
            return None
        return confs.setdefault(
            deployment,
            {"project_id": project_id, "zone": zone or zone_guess, "cluster_name": deployment},
        )

    for bucket in StorageHook(gcp_conn_id=gcp_conn_id).list_buckets(project_id=project_id):
        conf = orphan(bucket.labels or {}, _zone_in(bucket.location.lower()))
        if conf is not None:
            conf["bucket"] = bucket.name
    addresses = ComputeHook(gcp_conn_id=gcp_conn_id).list_addresses(
        project_id=project_id,
        region=zone.rsplit("-", 1)[0] if zone else None,
        label=(LABEL_MANAGED_BY, MANAGED_BY),
    )
    for found in addresses:
        orphan(found.get("labels") or {}, _zone_in(found["region"].rsplit("/", 1)[-1]))
    return [build_spec(conf, now=now).to_dict() for conf in confs.values()]


def existing_resources(spec: dict[str, Any], *, gcp_conn_id: str) -> list[str]:
    """What of a deployment exists now: what tearing it down would delete."""
    ctx = StepContext(DeploymentSpec.from_dict(spec), gcp_conn_id, {}, logging.getLogger(__name__))
    return leftovers(ctx)


def orphan_service_accounts(*, project_id: str, clusters: set[str], gcp_conn_id: str) -> list[str]:
    """Emails of our Google service accounts whose deployment has no cluster any more."""
    orphans = []
    for account in IamHook(gcp_conn_id=gcp_conn_id).list_service_accounts(project_id=project_id):
        description = account.get("description", "")
        if not description.startswith(f"{LABEL_MANAGED_BY}={MANAGED_BY} "):
            continue
        deployment = description.rsplit("deployment=", 1)[-1]
        if deployment not in clusters:
            orphans.append(account["email"])
    return orphans


def _zone_in(region: str) -> str:
    """A zone for a spec derived from a regional resource: only its region matters there."""
    return f"{region}-a"
