"""ensure_cluster: the GKE Standard cluster with Workload Identity and its CPU pool."""

import json
import time
from typing import Any

from saxml_gke.errors import DeploymentError, classify_operation_error
from saxml_gke.gke_bodies import cluster_body
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.ownership import Owner
from saxml_gke.spec import DeploymentSpec
from saxml_gke.steps.adoption import ABSENT, ADOPTED, check_cluster
from saxml_gke.steps.base import Result, StepContext, Wait, elapsed_since, now_iso
from saxml_gke.steps.expiry import move_expiry


def ensure_cluster(ctx: StepContext) -> Result | Wait:
    spec, hook = ctx.spec, GkeHook(gcp_conn_id=ctx.gcp_conn_id)
    where = {"project_id": spec.project_id, "zone": spec.cluster.zone}
    existing = hook.get_cluster(**where, name=spec.cluster.name)
    verdict = check_cluster(spec, existing)
    operation = None
    if existing is None:
        operation = hook.create_cluster(**where, body=cluster_body(spec))
        ctx.log.info("Creating cluster %s (operation %s)", spec.cluster.name, operation)
    else:
        ctx.log.info("Cluster %s exists (%s, %s): using it", spec.cluster.name,
                     existing["status"], verdict)  # fmt: skip
    return Wait(
        probe="cluster_settled",
        arguments=ctx.probe_arguments(**where, cluster=spec.cluster.name),
        timeout=spec.waits.operation_timeout,
        description=f"cluster {spec.cluster.name}",
        then="saxml_gke.steps.cluster:cluster_settled",
        carry={
            "operation": operation,
            "created": verdict == ABSENT,
            "adopted": verdict == ADOPTED,
            "started": time.time(),
        },
    )


def cluster_settled(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result:
    spec = ctx.spec
    if result["status"] != "RUNNING":
        message = result["message"] or "no message"
        kind = classify_operation_error(0, message)
        raise DeploymentError(kind, f"cluster {spec.cluster.name} is {result['status']}: {message}")
    cluster = GkeHook(gcp_conn_id=ctx.gcp_conn_id).get_cluster(
        project_id=spec.project_id, zone=spec.cluster.zone, name=spec.cluster.name
    )
    assert cluster is not None
    ctx.log.info("Cluster %s is RUNNING at %s", spec.cluster.name, cluster["endpoint"])
    ca_certificate = cluster["masterAuth"]["clusterCaCertificate"]  # base64 PEM
    kube = KubeHook(
        endpoint=cluster["endpoint"], ca_certificate=ca_certificate, gcp_conn_id=ctx.gcp_conn_id
    )
    moved = move_expiry(ctx, cluster, stored_spec(spec.owner, kube))
    kube.apply([spec_config_map(spec)])
    return {
        "name": spec.cluster.name,
        "endpoint": cluster["endpoint"],
        "ca_certificate": ca_certificate,
        "version": cluster.get("currentMasterVersion", ""),
        "created": carry["created"],
        "adopted": carry.get("adopted", False),
        "expiry_moved_on": moved,
        "operation": carry["operation"],
        "wait_seconds": elapsed_since(carry["started"]),
        "ready_at": now_iso(),
    }


SPEC_CONFIG_MAP = ("kube-system", "saxml-gke-deployment")


def stored_spec(owner: Owner, kube: KubeHook) -> dict[str, Any] | None:
    """The spec (as a dict) the deployment's last run stored in the cluster; None when there
    is none, or the ConfigMap of that name is not the deployment's."""
    namespace, name = SPEC_CONFIG_MAP
    config_map = kube.get("v1", "ConfigMap", name, namespace=namespace)
    if config_map is None or not owner.owns(config_map["metadata"].get("labels")):
        return None
    return json.loads(config_map["data"]["spec.json"])


def spec_config_map(spec: DeploymentSpec) -> dict[str, Any]:
    """The spec, kept in the cluster, so the nightly teardown knows every name this
    deployment used (bucket, service accounts, ...) without the run that created it."""
    namespace, name = SPEC_CONFIG_MAP
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(spec.labels)},
        "data": {"spec.json": json.dumps(spec.to_dict())},
    }
