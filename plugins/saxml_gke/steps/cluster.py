"""ensure_cluster: the GKE Standard cluster with Workload Identity and its CPU pool."""

import json
import time
from typing import Any

from saxml_gke.errors import DeploymentError, ErrorKind, classify_operation_error
from saxml_gke.gke_bodies import cluster_body, cluster_mismatches
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.spec import DeploymentSpec
from saxml_gke.steps.base import Result, StepContext, Wait, elapsed_since, now_iso


def ensure_cluster(ctx: StepContext) -> Result | Wait:
    spec, hook = ctx.spec, GkeHook(gcp_conn_id=ctx.gcp_conn_id)
    where = {"project_id": spec.project_id, "zone": spec.cluster.zone}
    existing = hook.get_cluster(**where, name=spec.cluster.name)
    operation = None
    if existing is None:
        operation = hook.create_cluster(**where, body=cluster_body(spec))
        ctx.log.info("Creating cluster %s (operation %s)", spec.cluster.name, operation)
    else:
        problems = cluster_mismatches(spec, existing)
        if problems:
            raise DeploymentError(
                ErrorKind.PERMANENT,
                f"cluster {spec.cluster.name} in {spec.cluster.zone} exists but does not match: "
                + "; ".join(problems)
                + ". Nothing was changed; delete it or choose another cluster_name.",
            )
        ctx.log.info("Cluster %s exists (%s): adopting it", spec.cluster.name, existing["status"])
    return Wait(
        probe="cluster_settled",
        arguments=ctx.probe_arguments(**where, cluster=spec.cluster.name),
        timeout=spec.waits.operation_timeout,
        description=f"cluster {spec.cluster.name}",
        then="saxml_gke.steps.cluster:cluster_settled",
        carry={"operation": operation, "created": existing is None, "started": time.time()},
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
    KubeHook(
        endpoint=cluster["endpoint"], ca_certificate=ca_certificate, gcp_conn_id=ctx.gcp_conn_id
    ).apply([spec_config_map(spec)])
    return {
        "name": spec.cluster.name,
        "endpoint": cluster["endpoint"],
        "ca_certificate": ca_certificate,
        "version": cluster.get("currentMasterVersion", ""),
        "created": carry["created"],
        "operation": carry["operation"],
        "wait_seconds": elapsed_since(carry["started"]),
        "ready_at": now_iso(),
    }


SPEC_CONFIG_MAP = ("kube-system", "saxml-gke-deployment")


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
