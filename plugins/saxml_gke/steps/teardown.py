"""Teardown in dependency order, then proof that nothing of the deployment remains.

The Service goes first and is waited for (its load balancer outlives a deleted cluster, as on
GCP), then the workloads, the TPU node pools (they bill while their nodes exist), the cluster,
the reserved load balancer address (after any forwarding rule a cluster deleted too early left
on it), the IAM bindings and Google service account, and the bucket only if this deployment
created it. Everything is looked up by name and label, so it also cleans up after a run that failed
half way, or one whose worker died.
"""

import time
from typing import Any

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.compute import ComputeHook, resource_name
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.hooks.iam import IamHook
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.hooks.saxml import SaxmlHook
from saxml_gke.hooks.storage import StorageHook
from saxml_gke.spec import DeploymentSpec
from saxml_gke.steps import address
from saxml_gke.steps.base import Result, StepContext, Wait, elapsed_since
from saxml_gke.steps.identity import WORKLOAD_IDENTITY_USER, service_account_description
from saxml_gke.steps.storage import owned_by


def tear_down(ctx: StepContext) -> Result | Wait:
    spec = ctx.spec
    carry: dict[str, Any] = {"started": time.time(), "deleted": []}
    cluster = _our_cluster(ctx)
    if cluster is None or cluster.get("status") != "RUNNING" or not cluster.get("endpoint"):
        return _delete_node_pools(ctx, carry)
    kube = _kube(ctx, cluster)
    saxml = SaxmlHook(kube, namespace=spec.identity.namespace, service=spec.saxml.http_service)
    try:
        if saxml.unpublish(spec.saxml.model_key):
            carry["deleted"].append(f"model {spec.saxml.model_key}")
    except Exception as error:  # the cluster goes anyway: a dead sax-http must not block that
        ctx.log.warning("Could not unpublish %s: %s", spec.saxml.model_key, error)
    if kube.delete("v1", "Service", spec.saxml.http_service, spec.identity.namespace):
        carry["deleted"].append(f"Service {spec.saxml.http_service}")
    access = {"endpoint": cluster["endpoint"], "ca_certificate": cluster["ca_certificate"]}
    return Wait(
        probe="object_gone",
        arguments=ctx.probe_arguments(
            cluster=access,
            api_version="v1",
            kind="Service",
            name=spec.saxml.http_service,
            namespace=spec.identity.namespace,
        ),
        timeout=spec.waits.operation_timeout,
        description=f"Service {spec.saxml.http_service} and its load balancer to go",
        then="saxml_gke.steps.teardown:service_gone",
        carry={**carry, "cluster": access},
    )


def service_gone(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result | Wait:
    spec, kube = ctx.spec, _kube(ctx, carry["cluster"])
    namespace = spec.identity.namespace
    workloads = [
        ("jobset.x-k8s.io/v1alpha2", "JobSet", spec.saxml.model_jobset),
        ("apps/v1", "Deployment", spec.saxml.http_deployment),
        ("apps/v1", "Deployment", spec.saxml.admin_deployment),
    ]
    for api_version, kind, name in workloads:
        if kube.delete(api_version, kind, name, namespace):
            carry["deleted"].append(f"{kind} {name}")
    return _delete_node_pools(ctx, carry)


def _delete_node_pools(ctx: StepContext, carry: dict[str, Any]) -> Result | Wait:
    spec, hook = ctx.spec, GkeHook(gcp_conn_id=ctx.gcp_conn_id)
    cluster = _our_cluster(ctx)
    if cluster is None:
        return _release_http_address(ctx, carry)
    if cluster.get("status") != "RUNNING":  # deleting the cluster takes its pools with it
        return node_pools_gone(ctx, None, carry)
    where = _where(spec)
    deleting = [
        pool.name
        for pool in spec.tpu.node_pools
        if hook.delete_node_pool(**where, cluster=spec.cluster.name, name=pool.name)
    ]
    carry["deleted"] += [f"node pool {name}" for name in deleting]
    if not deleting:
        return node_pools_gone(ctx, None, carry)
    return Wait(
        probe="gke_gone",
        arguments=ctx.probe_arguments(**where, cluster=spec.cluster.name, pools=deleting),
        timeout=spec.waits.operation_timeout,
        description=f"TPU node pools {', '.join(deleting)} to go",
        then="saxml_gke.steps.teardown:node_pools_gone",
        carry=carry,
    )


def node_pools_gone(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result | Wait:
    spec = ctx.spec
    if GkeHook(gcp_conn_id=ctx.gcp_conn_id).delete_cluster(**_where(spec), name=spec.cluster.name):
        carry["deleted"].append(f"cluster {spec.cluster.name}")
    return Wait(
        probe="gke_gone",
        arguments=ctx.probe_arguments(**_where(spec), cluster=spec.cluster.name),
        timeout=spec.waits.operation_timeout,
        description=f"cluster {spec.cluster.name} to go",
        then="saxml_gke.steps.teardown:cluster_gone",
        carry=carry,
    )


def cluster_gone(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result | Wait:
    return _release_http_address(ctx, carry)


def _release_http_address(ctx: StepContext, carry: dict[str, Any]) -> Result | Wait:
    """Release our reserved address. A forwarding rule still using it was left behind by a
    cluster deleted before its Service (nothing else can use our address): it goes first."""
    spec, found = ctx.spec, _our_address(ctx)
    if found is None:
        return _delete_google_resources(ctx, carry)
    rules = [resource_name(user) for user in found.get("users") or []]
    if not rules:
        return _delete_address(ctx, carry, found)
    hook = ComputeHook(gcp_conn_id=ctx.gcp_conn_id)
    operations = [
        operation["name"]
        for rule in rules
        if (operation := hook.delete_forwarding_rule(**address.where(spec), name=rule))
    ]
    on = spec.saxml.http_address
    carry["deleted"] += [f"forwarding rule {rule} (left behind on {on})" for rule in rules]
    return _wait_for_compute(
        ctx,
        operations,
        f"forwarding rules {', '.join(rules)} to go",
        "forwarding_rules_gone",
        carry,
    )


def forwarding_rules_gone(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result | Wait:
    found = _our_address(ctx)
    return (
        _delete_google_resources(ctx, carry)
        if found is None
        else _delete_address(ctx, carry, found)
    )


def _delete_address(
    ctx: StepContext, carry: dict[str, Any], found: dict[str, Any]
) -> Result | Wait:
    spec, name = ctx.spec, ctx.spec.saxml.http_address
    hook = ComputeHook(gcp_conn_id=ctx.gcp_conn_id)
    operation = hook.delete_address(**address.where(spec), name=name)
    if operation is None:
        return _delete_google_resources(ctx, carry)
    carry["deleted"].append(f"address {name} ({found.get('address')})")
    return _wait_for_compute(
        ctx, [operation["name"]], f"address {name} to be released", "address_released", carry
    )


def address_released(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result:
    return _delete_google_resources(ctx, carry)


def _wait_for_compute(
    ctx: StepContext, operations: list[str], description: str, then: str, carry: dict[str, Any]
) -> Wait:
    return Wait(
        probe="compute_operations_done",
        arguments=ctx.probe_arguments(**address.where(ctx.spec), operations=operations),
        timeout=ctx.spec.waits.operation_timeout,
        description=description,
        then=f"saxml_gke.steps.teardown:{then}",
        carry=carry,
    )


def _delete_google_resources(ctx: StepContext, carry: dict[str, Any]) -> Result:
    spec, identity = ctx.spec, ctx.spec.identity
    iam, storage = IamHook(gcp_conn_id=ctx.gcp_conn_id), StorageHook(gcp_conn_id=ctx.gcp_conn_id)
    account = iam.get_service_account(email=identity.gsa_email)
    ours = account is not None and account.get("description") == service_account_description(spec)
    bucket = storage.get_bucket(name=spec.storage.bucket)
    if bucket is not None:
        storage.remove_binding(
            name=spec.storage.bucket,
            role=identity.bucket_role,
            member=f"serviceAccount:{identity.gsa_email}",
        )
        if owned_by(spec, bucket.labels or {}) and storage.delete_bucket(name=spec.storage.bucket):
            carry["deleted"].append(f"bucket gs://{spec.storage.bucket}")
    if account is not None:
        iam.remove_binding(
            email=identity.gsa_email,
            role=WORKLOAD_IDENTITY_USER,
            member=identity.workload_identity_member,
        )
        if ours and iam.delete_service_account(email=identity.gsa_email):
            carry["deleted"].append(f"service account {identity.gsa_email}")
    remaining = leftovers(ctx)
    if remaining:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            "teardown finished but these still exist: " + "; ".join(remaining),
        )
    ctx.log.info("Deleted: %s", ", ".join(carry["deleted"]) or "nothing (nothing existed)")
    return {
        "deployment": spec.deployment,
        "deleted": carry["deleted"],
        "seconds": elapsed_since(carry["started"]),
    }


def verify(ctx: StepContext) -> Result:
    """A separate check after teardown, so a teardown that left something fails the run."""
    remaining = leftovers(ctx)
    if remaining:
        raise DeploymentError(
            ErrorKind.PERMANENT, "still exist after teardown: " + "; ".join(remaining)
        )
    ctx.log.info("Nothing of deployment %s remains", ctx.spec.deployment)
    return {"remaining": []}


def leftovers(ctx: StepContext) -> list[str]:
    """What of this deployment still exists, asked of the APIs themselves."""
    spec = ctx.spec
    remaining = []
    if _our_cluster(ctx) is not None:
        remaining.append(f"cluster {spec.cluster.name}")
    bucket = StorageHook(gcp_conn_id=ctx.gcp_conn_id).get_bucket(name=spec.storage.bucket)
    if bucket is not None and owned_by(spec, bucket.labels or {}):
        remaining.append(f"bucket gs://{spec.storage.bucket}")
    account = IamHook(gcp_conn_id=ctx.gcp_conn_id).get_service_account(
        email=spec.identity.gsa_email
    )
    if account is not None and account.get("description") == service_account_description(spec):
        remaining.append(f"service account {spec.identity.gsa_email}")
    found = _our_address(ctx)
    if found is not None:
        name = spec.saxml.http_address
        users = ", ".join(resource_name(user) for user in found.get("users") or [])
        remaining.append(
            f"address {name}" + (f" (used by forwarding rules {users})" if users else "")
        )
    return remaining


def _our_cluster(ctx: StepContext) -> dict[str, Any] | None:
    """The deployment's cluster, with base64 CA as `ca_certificate`; None when it does not
    exist or is not ours (its labels name another deployment): that one is never touched."""
    spec = ctx.spec
    cluster = GkeHook(gcp_conn_id=ctx.gcp_conn_id).get_cluster(
        **_where(spec), name=spec.cluster.name
    )
    if cluster is None or not owned_by(spec, cluster.get("resourceLabels") or {}):
        return None
    return {**cluster, "ca_certificate": cluster.get("masterAuth", {}).get("clusterCaCertificate")}


def _our_address(ctx: StepContext) -> dict[str, Any] | None:
    """The deployment's reserved address; None when there is none or it is not ours."""
    spec, name = ctx.spec, ctx.spec.saxml.http_address
    if not name:
        return None
    found = ComputeHook(gcp_conn_id=ctx.gcp_conn_id).get_address(**address.where(spec), name=name)
    if found is None or not owned_by(spec, found.get("labels") or {}):
        return None
    return found


def _kube(ctx: StepContext, cluster: dict[str, Any]) -> KubeHook:
    return KubeHook(
        endpoint=cluster["endpoint"],
        ca_certificate=cluster["ca_certificate"],
        gcp_conn_id=ctx.gcp_conn_id,
    )


def _where(spec: DeploymentSpec) -> dict[str, str]:
    return {"project_id": spec.project_id, "zone": spec.cluster.zone}
