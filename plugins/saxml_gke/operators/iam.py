"""IAM: the nodes' service account, and Workload Identity for the Saxml pods, set up and removed.

Tutorial: "Configure Workload Identity". The Kubernetes service account (annotated with the
Google service account), the Google service account, `roles/storage.objectAdmin` on the bucket
only (not the tutorial's project-wide roles/storage.admin), and `roles/iam.workloadIdentityUser`,
which lets the Kubernetes service account act as the Google one.

Not in the tutorial: the nodes run as a service account of the deployment, not the Compute
Engine default one (roles/editor on most projects). Host-network pods, as the model servers are,
get no workload identity on GKE: they act as their node's account, so it is granted only what
the nodes and the model servers need (`NODE_PROJECT_ROLES`, `NODE_BUCKET_ROLE`).
"""

from typing import Any

from saxml_gke.adoption import check_node_service_account, check_service_account
from saxml_gke.bodies import (
    NODE_BUCKET_ROLE,
    NODE_PROJECT_ROLES,
    node_service_account_body,
    service_account_body,
)
from saxml_gke.manifests import render_objects
from saxml_gke.operators.base import (
    APPLY,
    DeploymentOperator,
    KubeOperator,
    fails_fast,
    kubernetes_permissions,
)
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


class EnsureNodeServiceAccountOperator(DeploymentOperator):
    """Before the cluster and pools that run as it (GKE refuses an account that does not
    exist, and checks that the caller may act as it)."""

    required_permissions = frozenset(
        {
            "iam.serviceAccounts.create",
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.actAs",
            "resourcemanager.projects.getIamPolicy",
            "resourcemanager.projects.setIamPolicy",
            "storage.buckets.getIamPolicy",
            "storage.buckets.setIamPolicy",
        }
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, email = self.deployment, self.deployment.node_sa_email
        account, created = self.iam.ensure_service_account(
            project_id=spec.project_id, body=node_service_account_body(spec)
        )
        if not created:  # made by someone else since check_ownership: never take it over
            check_node_service_account(spec, account)
        self.log.info("Node service account %s (%s)", email, "created" if created else "exists")
        member = f"serviceAccount:{email}"
        for role in NODE_PROJECT_ROLES:
            self.resource_manager.add_binding(project_id=spec.project_id, role=role, member=member)
            self.log.info("Granted %s on project %s to %s", role, spec.project_id, member)
        self.storage.add_binding(name=spec.storage.bucket, role=NODE_BUCKET_ROLE, member=member)
        self.log.info("Granted %s on gs://%s to %s", NODE_BUCKET_ROLE, spec.storage.bucket, member)
        return {"node_service_account": email, "created": created}


class RemoveNodeServiceAccountOperator(TeardownOperator):
    """After the cluster and pools that ran as it: the account's project and bucket bindings,
    then the account, only if it is the deployment's or gone (never another account's
    binding)."""

    required_permissions = frozenset(
        {
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.delete",
            "resourcemanager.projects.getIamPolicy",
            "resourcemanager.projects.setIamPolicy",
            "storage.buckets.get",
            "storage.buckets.getIamPolicy",
            "storage.buckets.setIamPolicy",
        }
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, email = self.deployment, self.deployment.node_sa_email
        account = self.iam.get_service_account(email=email)
        if account is not None and not spec.owner.owns_account(account):
            return self.deleted([])
        member, deleted = f"serviceAccount:{email}", []
        for role in NODE_PROJECT_ROLES:
            if self.resource_manager.remove_binding(
                project_id=spec.project_id, role=role, member=member
            ):
                deleted.append(f"binding {role} on project {spec.project_id}")
        bucket = self.storage.readable_bucket(name=spec.storage.bucket)
        if bucket is not None and self.storage.remove_binding(
            name=bucket.name, role=NODE_BUCKET_ROLE, member=member
        ):
            deleted.append(f"binding {NODE_BUCKET_ROLE} on gs://{bucket.name}")
        if account is not None and self.iam.delete_service_account(email=email):
            deleted.append(f"service account {email}")
        return self.deleted(deleted)
