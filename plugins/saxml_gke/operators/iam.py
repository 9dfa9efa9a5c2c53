"""IAM: Workload Identity for the Saxml pods, set up and removed.

Tutorial: "Configure Workload Identity". The Kubernetes service account (annotated with the
Google service account), the Google service account, `roles/storage.objectAdmin` on the bucket
only (not the tutorial's project-wide roles/storage.admin), and `roles/iam.workloadIdentityUser`,
which lets the Kubernetes service account act as the Google one.
"""

from typing import Any

from saxml_gke.adoption import check_service_account
from saxml_gke.bodies import service_account_body
from saxml_gke.manifests import render_objects
from saxml_gke.operators.base import APPLY, KubeOperator, fails_fast, kubernetes_permissions
from saxml_gke.operators.teardown_base import TeardownOperator

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"


class SetUpWorkloadIdentityOperator(KubeOperator):
    required_permissions = kubernetes_permissions(APPLY, "namespaces", "serviceAccounts") | {
        "iam.serviceAccounts.create",
        "iam.serviceAccounts.get",
        "iam.serviceAccounts.getIamPolicy",
        "iam.serviceAccounts.setIamPolicy",
        "storage.buckets.getIamPolicy",
        "storage.buckets.setIamPolicy",
    }

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, identity = self.deployment, self.deployment.identity
        accounts = [o for o in render_objects(spec) if o["kind"] in ("Namespace", "ServiceAccount")]
        self.kube.apply(accounts)
        self.log.info("Kubernetes service account %s/%s", identity.namespace, identity.ksa_name)
        account, created = self.iam.ensure_service_account(
            project_id=spec.project_id, body=service_account_body(spec)
        )
        if not created:  # made by someone else since check_ownership: never take it over
            check_service_account(spec, account)
        self.log.info("Google service account %s (%s)", identity.gsa_email,
                      "created" if created else "exists")  # fmt: skip
        member = f"serviceAccount:{identity.gsa_email}"
        self.storage.add_binding(name=spec.storage.bucket, role=identity.bucket_role, member=member)
        self.log.info("Granted %s on gs://%s to %s", identity.bucket_role, spec.storage.bucket,
                      member)  # fmt: skip
        self.iam.add_binding(
            email=identity.gsa_email,
            role=WORKLOAD_IDENTITY_USER,
            member=identity.workload_identity_member,
        )
        self.log.info("Granted %s on %s to %s", WORKLOAD_IDENTITY_USER, identity.gsa_email,
                      identity.workload_identity_member)  # fmt: skip
        return {"google_service_account": identity.gsa_email, "created": created}


class RemoveWorkloadIdentityOperator(TeardownOperator):
    """The bucket binding, the Workload Identity binding and the Google service account, each
    only if the account is the deployment's (never another account's binding); an adopted
    bucket loses our binding and stays."""

    required_permissions = frozenset(
        {
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.delete",
            "iam.serviceAccounts.getIamPolicy",
            "iam.serviceAccounts.setIamPolicy",
            "storage.buckets.get",
            "storage.buckets.getIamPolicy",
            "storage.buckets.setIamPolicy",
        }
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, identity = self.deployment, self.deployment.identity
        account = self.iam.get_service_account(email=identity.gsa_email)
        ours = spec.owner.owns_account(account)
        deleted = []
        bucket = self.storage.readable_bucket(name=spec.storage.bucket)
        member = f"serviceAccount:{identity.gsa_email}"
        if (
            bucket is not None
            and (account is None or ours)
            and self.storage.remove_binding(
                name=spec.storage.bucket, role=identity.bucket_role, member=member
            )
        ):
            deleted.append(f"binding {identity.bucket_role} on gs://{bucket.name}")
        if ours:
            self.iam.remove_binding(
                email=identity.gsa_email,
                role=WORKLOAD_IDENTITY_USER,
                member=identity.workload_identity_member,
            )
            if self.iam.delete_service_account(email=identity.gsa_email):
                deleted.append(f"service account {identity.gsa_email}")
        return self.deleted(deleted)
