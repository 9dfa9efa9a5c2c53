"""check_ownership, and the adoption rules every ensure step applies to what already exists.

What exists and carries the deployment's identity is adopted and reconciled. What exists without
it belongs to someone else (another deployment, a person, another tool): it is refused, naming
the resource, the marks it carries and what to do, before anything is created; the ensure steps
apply the same rules again in case something appeared since. The exceptions are explicit: an
existing cluster with `adopt_cluster` and an existing bucket with `adopt_bucket` are used, never
changed or deleted. A Google service account that is not the deployment's is always refused: the
deployment would grant it access to the bucket and hand it to the cluster's pods.
"""

from collections.abc import Callable, Mapping
from typing import Any

from google.api_core import exceptions as core

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.gke_bodies import cluster_mismatches
from saxml_gke.hooks.compute import ComputeHook
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.hooks.iam import IamHook
from saxml_gke.hooks.storage import StorageHook
from saxml_gke.ownership import describe_marks
from saxml_gke.spec import DeploymentSpec, NodePoolSpec
from saxml_gke.steps.base import Result, StepContext

ABSENT, OURS, ADOPTED = "absent", "ours", "adopted"


def check_ownership(ctx: StepContext) -> Result:
    """Every refusal at once, before the first create."""
    spec = ctx.spec
    verdicts: dict[str, str] = {}
    refusals: list[str] = []

    def judge(what: str, check: Callable[[], str]) -> None:
        try:
            verdicts[what] = check()
        except DeploymentError as error:
            refusals.append(str(error))

    gke = GkeHook(gcp_conn_id=ctx.gcp_conn_id)
    where = {"project_id": spec.project_id, "zone": spec.cluster.zone}
    cluster = gke.get_cluster(**where, name=spec.cluster.name)
    judge("cluster", lambda: check_cluster(spec, cluster))
    if cluster is not None:
        for pool in spec.tpu.node_pools:
            existing = gke.get_node_pool(**where, cluster=spec.cluster.name, name=pool.name)
            judge(f"node pool {pool.name}", lambda p=pool, e=existing: check_node_pool(spec, p, e))
    judge("bucket", lambda: check_bucket(spec, read_bucket_labels(spec, ctx.gcp_conn_id)))
    if spec.saxml.http_address:
        found = ComputeHook(gcp_conn_id=ctx.gcp_conn_id).get_address(
            project_id=spec.project_id, region=spec.cluster.region, name=spec.saxml.http_address
        )
        judge("address", lambda: check_address(spec, found))
    account = IamHook(gcp_conn_id=ctx.gcp_conn_id).get_service_account(
        email=spec.identity.gsa_email
    )
    judge("service account", lambda: check_service_account(spec, account))
    if refusals:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"{len(refusals)} existing resource(s) are not deployment {spec.owner}'s; nothing "
            "was created:\n" + "\n".join(f"  - {refusal}" for refusal in refusals),
        )
    ctx.log.info("Ownership of what exists: %s", verdicts)
    return verdicts


def check_cluster(spec: DeploymentSpec, cluster: Mapping[str, Any] | None) -> str:
    name = f"cluster {spec.cluster.name} in {spec.cluster.zone}"
    if cluster is None:
        if spec.cluster.adopted:
            raise DeploymentError(
                ErrorKind.PERMANENT,
                f"adopt_cluster is set but {name} does not exist: create it (Standard, with "
                "Workload Identity) or leave adopt_cluster unset to have it created",
            )
        return ABSENT
    labels = cluster.get("resourceLabels") or {}
    ours = spec.owner.owns(labels)
    if not ours and not spec.cluster.adopted:
        raise _refusal(
            name,
            describe_marks(labels),
            "set adopt_cluster=true to deploy into it (it is then never changed or deleted), "
            "or choose another cluster_name",
        )
    problems = cluster_mismatches(spec, cluster)
    if problems:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"{name} exists but does not match: "
            + "; ".join(problems)
            + ". Nothing was changed; delete it or choose another cluster_name.",
        )
    return OURS if ours else ADOPTED


def check_node_pool(
    spec: DeploymentSpec, pool: NodePoolSpec, existing: Mapping[str, Any] | None
) -> str:
    return _ours_or_refused(
        spec,
        f"node pool {pool.name} of cluster {spec.cluster.name}",
        None if existing is None else (existing.get("config") or {}).get("resourceLabels") or {},
        "delete or rename that pool; this deployment names its TPU pools tpu1, tpu2, ...",
    )


def check_bucket(spec: DeploymentSpec, labels: Mapping[str, str] | None) -> str:
    """`labels` is None when the bucket does not exist."""
    if labels is None:
        return ABSENT
    if spec.owner.owns(labels):
        return OURS
    if spec.storage.adopted:
        return ADOPTED
    raise _refusal(
        f"bucket gs://{spec.storage.bucket}",
        describe_marks(labels),
        "set adopt_bucket=true to use it (it is then never deleted), or leave bucket empty "
        "for a name of this deployment",
    )


def read_bucket_labels(spec: DeploymentSpec, gcp_conn_id: str) -> dict[str, str] | None:
    """The bucket's labels, None when it does not exist; another project's is refused."""
    name = spec.storage.bucket
    try:
        bucket = StorageHook(gcp_conn_id=gcp_conn_id).get_bucket(name=name)
    except core.Forbidden as error:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"bucket {name} exists but this project cannot use it ({error.message}); bucket "
            "names are global: set the bucket parameter to a name of your own",
        ) from error
    return None if bucket is None else dict(bucket.labels or {})


def check_address(spec: DeploymentSpec, address: Mapping[str, Any] | None) -> str:
    return _ours_or_refused(
        spec,
        f"address {spec.saxml.http_address} in {spec.cluster.region}",
        None if address is None else address.get("labels") or {},
        "release it or choose another cluster_name",
    )


def check_service_account(spec: DeploymentSpec, account: Mapping[str, Any] | None) -> str:
    if account is None:
        return ABSENT
    if not spec.owner.owns_account(account):
        description = account.get("description") or "no description"
        raise _refusal(
            f"Google service account {spec.identity.gsa_email}",
            f'description "{description}"',
            "leave gsa_name empty for an account of this deployment, or name a new one; "
            "an account this deployment did not create is never used",
        )
    return OURS


def _ours_or_refused(
    spec: DeploymentSpec, what: str, labels: Mapping[str, str] | None, advice: str
) -> str:
    """ABSENT when `labels` is None (nothing exists), OURS when they carry our identity."""
    if labels is not None and not spec.owner.owns(labels):
        raise _refusal(what, describe_marks(labels), advice)
    return ABSENT if labels is None else OURS


def _refusal(what: str, marks: str, advice: str) -> DeploymentError:
    return DeploymentError(
        ErrorKind.PERMANENT, f"{what} exists but is not this deployment's ({marks}): {advice}"
    )
