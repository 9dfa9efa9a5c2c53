"""Teardown in dependency order, then proof that nothing of the deployment remains.

The Service goes first and is waited for (its load balancer outlives a deleted cluster, as on
GCP), then the other Kubernetes objects, the TPU node pools (they bill while their nodes exist),
the cluster, the reserved load balancer address (after any forwarding rule a cluster deleted too
early left on it), the IAM bindings and the Google service account, and the bucket. Each is
deleted only if it carries the deployment's identity (`saxml_gke.ownership`): in an adopted
cluster only our pools and objects go, the cluster stays; an adopted bucket only loses our
binding. Everything is looked up by name and identity, so it also cleans up after a run that
failed half way, or one whose worker died.
"""

import time
from typing import Any

from google.api_core import exceptions as core

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.gke_bodies import CPU_POOL
from saxml_gke.hooks.compute import ComputeHook, resource_name
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.hooks.iam import IamHook
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.hooks.saxml import SaxmlHook
from saxml_gke.hooks.storage import StorageHook
from saxml_gke.manifests import render_objects
from saxml_gke.spec import DeploymentSpec
from saxml_gke.steps import address
from saxml_gke.steps.base import Result, StepContext, Wait, elapsed_since
from saxml_gke.steps.cluster import SPEC_CONFIG_MAP
from saxml_gke.steps.identity import WORKLOAD_IDENTITY_USER


def tear_down(ctx: StepContext) -> Result | Wait:
    spec = ctx.spec
    carry: dict[str, Any] = {"started": time.time(), "deleted": []}
    cluster = _cluster(ctx)
    if cluster is None or cluster.get("status") != "RUNNING" or not cluster.get("endpoint"):
        return _delete_node_pools(ctx, carry)
    kube = _kube(ctx, cluster)
    if spec.owner.owns(_labels_of(kube.get(*_service(spec)))):  # else its Saxml is not ours
        saxml = SaxmlHook(kube, namespace=spec.identity.namespace, service=spec.saxml.http_service)
        try:
            if saxml.unpublish(spec.saxml.model_key):
                carry["deleted"].append(f"model {spec.saxml.model_key}")
        except Exception as error:  # a dead sax-http must not block the teardown
            ctx.log.warning("Could not unpublish %s: %s", spec.saxml.model_key, error)
        if kube.delete(*_service(spec)):
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
    """The rest of the deployment's objects, dependents first. In its own cluster they would go
    with it; in an adopted cluster (which stays) only these, each if it carries our identity."""
    spec, kube = ctx.spec, _kube(ctx, carry["cluster"])
    for ref in _kube_objects(spec)[1:]:  # the Service is gone
        if _delete_ours(spec, kube, *ref):
            carry["deleted"].append(f"{ref[1]} {ref[2]}")
    return _delete_node_pools(ctx, carry)


def _delete_node_pools(ctx: StepContext, carry: dict[str, Any]) -> Result | Wait:
    """The TPU pools that carry our identity, in our cluster or in an adopted one."""
    spec, hook = ctx.spec, GkeHook(gcp_conn_id=ctx.gcp_conn_id)
    cluster = _cluster(ctx)
    if cluster is None:
        return _release_http_address(ctx, carry)
    if cluster["own"] and cluster.get("status") != "RUNNING":  # its pools go with it
        return node_pools_gone(ctx, None, carry)
    where = _where(spec)
    deleting = [
        pool
        for pool in _our_node_pools(spec, cluster)
        if hook.delete_node_pool(**where, cluster=spec.cluster.name, name=pool)
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
    """The cluster, when it is the deployment's own; an adopted one stays."""
    spec, cluster = ctx.spec, _cluster(ctx)
    if cluster is None or not cluster["own"]:
        return _release_http_address(ctx, carry)
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
    """IAM bindings, the Google SA and the bucket: each only if it is the deployment's (a
    bucket used with adopt_bucket loses our binding and stays)."""
    spec, identity, owner = ctx.spec, ctx.spec.identity, ctx.spec.owner
    iam, storage = IamHook(gcp_conn_id=ctx.gcp_conn_id), StorageHook(gcp_conn_id=ctx.gcp_conn_id)
    account = iam.get_service_account(email=identity.gsa_email)
    ours = owner.owns_account(account)
    bucket = _readable_bucket(storage, spec)
    if bucket is not None and (account is None or ours):  # never another account's binding
        if storage.remove_binding(
            name=spec.storage.bucket, role=identity.bucket_role, member=_member(spec)
        ):
            carry["deleted"].append(f"binding {identity.bucket_role} on gs://{bucket.name}")
        if owner.owns(bucket.labels) and storage.delete_bucket(name=spec.storage.bucket):
            carry["deleted"].append(f"bucket gs://{spec.storage.bucket}")
    if ours:
        iam.remove_binding(
            email=identity.gsa_email,
            role=WORKLOAD_IDENTITY_USER,
            member=identity.workload_identity_member,
        )
        if iam.delete_service_account(email=identity.gsa_email):
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
    ctx.log.info("Nothing of deployment %s remains", ctx.spec.owner)
    return {"remaining": []}


def leftovers(ctx: StepContext) -> list[str]:
    """What of this deployment still exists, asked of the APIs themselves: every kind it
    creates, in its own cluster or in an adopted one."""
    spec, owner = ctx.spec, ctx.spec.owner
    remaining = []
    cluster = _cluster(ctx)
    if cluster is not None and cluster["own"]:
        remaining.append(f"cluster {spec.cluster.name}")
    elif cluster is not None:
        remaining += [
            f"node pool {pool} in cluster {spec.cluster.name}"
            for pool in _our_node_pools(spec, cluster)
        ]
        if cluster.get("status") == "RUNNING" and cluster.get("endpoint"):
            kube = _kube(ctx, cluster)
            remaining += [
                f"{kind} {'/'.join(filter(None, (namespace, name)))} in cluster {spec.cluster.name}"
                for api_version, kind, name, namespace in _kube_objects(spec)
                if owner.owns(_labels_of(kube.get(api_version, kind, name, namespace)))
            ]
    account = IamHook(gcp_conn_id=ctx.gcp_conn_id).get_service_account(
        email=spec.identity.gsa_email
    )
    storage = StorageHook(gcp_conn_id=ctx.gcp_conn_id)
    bucket = _readable_bucket(storage, spec)
    if bucket is not None and owner.owns(bucket.labels):
        remaining.append(f"bucket gs://{spec.storage.bucket}")
    elif (
        bucket is not None
        and (account is None or owner.owns_account(account))  # else the binding is not ours
        and _member(spec) in storage.members(name=bucket.name, role=spec.identity.bucket_role)
    ):
        remaining.append(f"binding {spec.identity.bucket_role} of {_member(spec)} on "
                         f"gs://{bucket.name}")  # fmt: skip
    if owner.owns_account(account):
        remaining.append(f"service account {spec.identity.gsa_email}")
    found = _our_address(ctx)
    if found is not None:
        name = spec.saxml.http_address
        users = ", ".join(resource_name(user) for user in found.get("users") or [])
        remaining.append(
            f"address {name}" + (f" (used by forwarding rules {users})" if users else "")
        )
    return remaining


def _cluster(ctx: StepContext) -> dict[str, Any] | None:
    """The cluster of the deployment's name, with base64 CA as `ca_certificate` and `own`:
    whether it is the deployment's (else it was adopted, or is someone else's: then only what
    carries our identity inside it is touched, never the cluster)."""
    spec = ctx.spec
    cluster = GkeHook(gcp_conn_id=ctx.gcp_conn_id).get_cluster(
        **_where(spec), name=spec.cluster.name
    )
    if cluster is None:
        return None
    return {
        **cluster,
        "ca_certificate": cluster.get("masterAuth", {}).get("clusterCaCertificate"),
        "own": spec.owner.owns(cluster.get("resourceLabels")),
    }


def _our_node_pools(spec: DeploymentSpec, cluster: dict[str, Any]) -> list[str]:
    """The TPU pools in the cluster that carry the deployment's identity (also those of an
    earlier run with more slices)."""
    return [
        pool["name"]
        for pool in cluster.get("nodePools") or []
        if pool["name"] != CPU_POOL
        and spec.owner.owns((pool.get("config") or {}).get("resourceLabels"))
    ]


def _readable_bucket(storage: StorageHook, spec: DeploymentSpec) -> Any:
    """The bucket; None when it does not exist or is another project's (so never ours)."""
    try:
        return storage.get_bucket(name=spec.storage.bucket)
    except core.Forbidden:
        return None


def _our_address(ctx: StepContext) -> dict[str, Any] | None:
    """The deployment's reserved address; None when there is none or it is not ours."""
    spec, name = ctx.spec, ctx.spec.saxml.http_address
    if not name:
        return None
    found = ComputeHook(gcp_conn_id=ctx.gcp_conn_id).get_address(**address.where(spec), name=name)
    if found is None or not spec.owner.owns(found.get("labels")):
        return None
    return found


def _kube_objects(spec: DeploymentSpec) -> list[tuple[str, str, str, str | None]]:
    """(apiVersion, kind, name, namespace) of every object the deployment applies, dependents
    first (the load balancer's Service leads), then the spec ConfigMap."""
    rendered = [
        (obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        for obj in reversed(render_objects(spec))
    ]
    namespace, name = SPEC_CONFIG_MAP
    return [_service(spec), *rendered, ("v1", "ConfigMap", name, namespace)]


def _service(spec: DeploymentSpec) -> tuple[str, str, str, str | None]:
    return ("v1", "Service", spec.saxml.http_service, spec.identity.namespace)


def _delete_ours(
    spec: DeploymentSpec,
    kube: KubeHook,
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
) -> bool:
    """Delete the object if it carries the deployment's identity; whether it did."""
    if not spec.owner.owns(_labels_of(kube.get(api_version, kind, name, namespace))):
        return False
    return kube.delete(api_version, kind, name, namespace)


def _labels_of(obj: dict[str, Any] | None) -> dict[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _member(spec: DeploymentSpec) -> str:
    return f"serviceAccount:{spec.identity.gsa_email}"


def _kube(ctx: StepContext, cluster: dict[str, Any]) -> KubeHook:
    return KubeHook(
        endpoint=cluster["endpoint"],
        ca_certificate=cluster["ca_certificate"],
        gcp_conn_id=ctx.gcp_conn_id,
    )


def _where(spec: DeploymentSpec) -> dict[str, str]:
    return {"project_id": spec.project_id, "zone": spec.cluster.zone}
