"""ensure_workload_identity: the pods act as a Google service account scoped to the bucket.

Kubernetes SA (annotated with the Google SA), Google SA, `roles/storage.objectAdmin` on the
bucket only (not the tutorial's project-wide roles/storage.admin), and the
`roles/iam.workloadIdentityUser` binding that lets the Kubernetes SA act as the Google SA.
"""

from saxml_gke.hooks.iam import IamHook
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.hooks.storage import StorageHook
from saxml_gke.manifests import render_objects
from saxml_gke.steps.adoption import check_service_account
from saxml_gke.steps.base import Result, StepContext

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"


def ensure_workload_identity(ctx: StepContext) -> Result:
    spec, identity = ctx.spec, ctx.spec.identity
    kube = KubeHook(**ctx.cluster_access(), gcp_conn_id=ctx.gcp_conn_id)
    accounts = [o for o in render_objects(spec) if o["kind"] in ("Namespace", "ServiceAccount")]
    kube.apply(accounts)
    ctx.log.info("Kubernetes service account %s/%s", identity.namespace, identity.ksa_name)
    iam = IamHook(gcp_conn_id=ctx.gcp_conn_id)
    account, created = iam.ensure_service_account(
        project_id=spec.project_id,
        account_id=identity.gsa_name,
        display_name=f"Saxml ({spec.deployment})",
        description=spec.owner.account_description(spec.expires_at),
    )
    if not created:  # made by someone else since check_ownership: never take it over
        check_service_account(spec, account)
    ctx.log.info("Google service account %s (%s)", identity.gsa_email,
                 "created" if created else "exists")  # fmt: skip
    member = f"serviceAccount:{identity.gsa_email}"
    StorageHook(gcp_conn_id=ctx.gcp_conn_id).add_binding(
        name=spec.storage.bucket, role=identity.bucket_role, member=member
    )
    ctx.log.info("Granted %s on gs://%s to %s", identity.bucket_role, spec.storage.bucket, member)
    iam.add_binding(
        email=identity.gsa_email,
        role=WORKLOAD_IDENTITY_USER,
        member=identity.workload_identity_member,
    )
    ctx.log.info("Granted %s on %s to %s", WORKLOAD_IDENTITY_USER, identity.gsa_email,
                 identity.workload_identity_member)  # fmt: skip
    return {"google_service_account": identity.gsa_email, "created": created}
