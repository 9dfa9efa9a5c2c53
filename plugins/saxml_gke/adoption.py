"""The adoption rules for what already exists, applied before anything is created and again by
each step that creates.

What exists and carries the deployment's identity is adopted and reconciled. What exists without
it belongs to someone else (another deployment, a person, another tool): it is refused, naming
the resource, the marks it carries and what to do. The exceptions are explicit: an existing
cluster with `adopt_cluster` and an existing bucket with `adopt_bucket` are used, never changed
or deleted. A Google service account that is not the deployment's is always refused: the
deployment would grant it access to the bucket and hand it to the cluster's pods.

Pure: callers pass what they read.
"""

from collections.abc import Mapping
from typing import Any

from saxml_gke.bodies import address_type, cluster_mismatches
from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.ownership import describe_marks
from saxml_gke.spec import DeploymentSpec, NodePoolSpec

ABSENT, OURS, ADOPTED = "absent", "ours", "adopted"


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


def check_address(spec: DeploymentSpec, address: Mapping[str, Any] | None) -> str:
    return _ours_or_refused(
        spec,
        f"address {spec.saxml.http_address} in {spec.cluster.region}",
        None if address is None else address.get("labels") or {},
        "release it or choose another cluster_name",
    )


def check_service_account(spec: DeploymentSpec, account: Mapping[str, Any] | None) -> str:
    return _account_ours_or_refused(
        spec,
        spec.identity.gsa_email,
        account,
        "leave gsa_name empty for an account of this deployment, or name a new one; "
        "an account this deployment did not create is never used",
    )


def check_node_service_account(spec: DeploymentSpec, account: Mapping[str, Any] | None) -> str:
    """The nodes' account: its name comes from the deployment's identity, so only a copy made
    by hand can be someone else's."""
    return _account_ours_or_refused(
        spec,
        spec.node_sa_email,
        account,
        "delete it or choose another cluster_name; an account this deployment did not create "
        "is never given to its nodes",
    )


def _account_ours_or_refused(
    spec: DeploymentSpec, email: str, account: Mapping[str, Any] | None, advice: str
) -> str:
    if account is None:
        return ABSENT
    if not spec.owner.owns_account(account):
        description = account.get("description") or "no description"
        raise _refusal(f"Google service account {email}", f'description "{description}"', advice)
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


def check_adoptable(spec: DeploymentSpec, address: Mapping[str, Any]) -> dict[str, Any]:
    """An existing address is used only if it is this deployment's and of the right type:
    never someone else's, never silently replaced."""
    name = spec.saxml.http_address
    check_address(spec, address)
    wanted, actual = address_type(spec), address.get("addressType", "EXTERNAL")
    if actual != wanted:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"address {name} is {actual} but http_exposure={spec.saxml.http_exposure} needs "
            f"{wanted}: tear the deployment down before changing http_exposure",
        )
    return {"address": name, "ip": address["address"], "address_type": actual}


def kept_provisioning_request(
    request: Mapping[str, Any], existing: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ProvisioningRequest to apply where `existing` may already be. Its spec cannot change
    (the API refuses any edit) and GKE books the nodes by it, so a rerun keeps the run limit it
    was created with (another ttl_hours moves only its labels), and refuses other pods, which
    only a new request can book."""
    kept, wanted = (existing or {}).get("spec"), request["spec"]
    if not kept or kept == wanted:
        return dict(request)
    if any(kept.get(field) != wanted[field] for field in ("provisioningClassName", "podSets")):
        name, namespace = request["metadata"]["name"], request["metadata"]["namespace"]
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"ProvisioningRequest {name} in namespace {namespace} exists for other pods "
            f"({kept.get('podSets')}; these need {wanted['podSets']}), and a request "
            f"cannot change: delete it (kubectl delete provisioningrequest {name} -n "
            f"{namespace}) or tear the deployment down, then run it again",
        )
    return {**request, "spec": kept}
