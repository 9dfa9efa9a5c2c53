"""Teardown as tasks: one small, idempotent task per resource, in dependency order, then proof
that nothing of the deployment remains.

The model is unpublished and the Service goes first and is waited for (its load balancer
outlives a deleted cluster, as on Google Cloud), then the other Kubernetes objects, the TPU node
pools (they bill while their nodes exist), the cluster, the forwarding rules a cluster deleted
too early left on the reserved address, the address, the IAM bindings and the Google service
account, the nodes' service account and its bindings, and the bucket. The deploy DAG runs the
group after its work, gated by the `teardown` policy; the nightly DAG maps it over the
deployments it finds.
"""

from typing import Any

from airflow.sdk import TaskGroup, chain
from airflow.sdk.bases.skipmixin import SkipMixin

from saxml_gke.bodies import NODE_BUCKET_ROLE, NODE_PROJECT_ROLES, SPEC_CONFIG_MAP
from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.manifests import object_refs
from saxml_gke.operators.base import DeploymentOperator, fails_fast, kubernetes_permissions
from saxml_gke.operators.compute import DeleteForwardingRulesOperator, ReleaseHttpAddressOperator
from saxml_gke.operators.gke import DeleteClusterOperator, DeleteTpuNodePoolsOperator
from saxml_gke.operators.iam import RemoveNodeServiceAccountOperator, RemoveWorkloadIdentityOperator
from saxml_gke.operators.saxml import (
    DeleteHttpServiceOperator,
    DeleteSaxmlWorkloadsOperator,
    UnpublishModelOperator,
    http_service_ref,
    owns_object,
)
from saxml_gke.operators.storage import DeleteBucketOperator
from saxml_gke.operators.teardown_base import TeardownOperator
from saxml_gke.probes import resource_name

# The order resources go in: each class deletes one kind, and the task is named for it.
TEARDOWN_STEPS: tuple[tuple[str, type[TeardownOperator]], ...] = (
    ("unpublish_model", UnpublishModelOperator),
    ("delete_http_service", DeleteHttpServiceOperator),
    ("delete_workloads", DeleteSaxmlWorkloadsOperator),
    ("delete_tpu_node_pools", DeleteTpuNodePoolsOperator),
    ("delete_cluster", DeleteClusterOperator),
    ("delete_forwarding_rules", DeleteForwardingRulesOperator),
    ("release_http_address", ReleaseHttpAddressOperator),
    ("remove_workload_identity", RemoveWorkloadIdentityOperator),
    ("remove_node_service_account", RemoveNodeServiceAccountOperator),
    ("delete_bucket", DeleteBucketOperator),
)


def teardown_tasks(spec: Any) -> list[TeardownOperator]:
    """The ordered teardown tasks of the deployment `spec` (an XComArg, or a mapped task
    group's argument), in the current DAG and task group."""
    tasks = [cls(task_id=task_id, spec=spec) for task_id, cls in TEARDOWN_STEPS]
    chain(*tasks)
    return tasks


def teardown_group(spec: Any, *, setup: Any) -> list[TeardownOperator]:
    """The ordered teardown tasks in the task group `teardown`, as Airflow teardown tasks of
    `setup` (the task that plans the deployment): they run whatever the work tasks did, and do
    not decide the run's state. (A group of teardown tasks has no leaves to chain from, hence
    the list.)"""
    with TaskGroup("teardown", tooltip="Remove the deployment, resource by resource"):
        tasks = teardown_tasks(spec)
    for teardown in tasks:
        teardown.as_teardown(setups=setup)
    return tasks


class TeardownPolicyOperator(DeploymentOperator, SkipMixin):
    """The `teardown` policy: `always`, `on_failure` (only when a task of the run failed) or
    `never`. When the run keeps its deployment, every task after this one is skipped."""

    _FAILED = ("failed", "upstream_failed")

    @fails_fast
    def execute(self, context: Any) -> str:
        policy, ti = self.deployment.teardown, context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        failed = sorted(task for task, state in states.items() if state in self._FAILED)
        if policy == "always" or (policy == "on_failure" and failed):
            reason = f"these tasks failed: {', '.join(failed)}" if failed else "teardown=always"
            self.log.info("Tearing down (%s)", reason)
            return "tear down"
        if policy == "never":
            self.log.info("teardown=never: the deployment keeps running")
        else:
            self.log.info(
                "The run succeeded and teardown=on_failure: the deployment keeps serving until "
                "the nightly teardown removes it (expires-at label)"
            )
        self.skip(ti=ti, tasks=self.get_flat_relatives(upstream=False))
        return "keep"


class VerifyTeardownOperator(TeardownOperator):
    """A separate check after the teardown, so a teardown that left something fails the run."""

    # What `leftovers` looks up: in an adopted cluster, also the deployment's objects.
    required_permissions = kubernetes_permissions(
        ("get",),
        "services",
        "deployments",
        "thirdPartyObjects",
        "podTemplates",
        "serviceAccounts",
        "namespaces",
        "configMaps",
    ) | {
        "iam.serviceAccounts.get",
        "storage.buckets.get",
        "storage.buckets.getIamPolicy",
        "resourcemanager.projects.getIamPolicy",
        "compute.addresses.get",
    }

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        remaining = leftovers(self)
        if remaining:
            raise DeploymentError(
                ErrorKind.PERMANENT, "still exist after teardown: " + "; ".join(remaining)
            )
        self.log.info("Nothing of deployment %s remains", self.deployment.owner)
        return {"remaining": []}


def leftovers(task: TeardownOperator) -> list[str]:
    """What of the task's deployment still exists, asked of the APIs themselves: every kind it
    creates, in its own cluster or in an adopted one."""
    spec, owner = task.deployment, task.deployment.owner
    remaining = []
    cluster = task.found_cluster()
    if cluster is not None and cluster["own"]:
        remaining.append(f"cluster {spec.cluster.name}")
    elif cluster is not None:
        remaining += [
            f"node pool {pool} in cluster {spec.cluster.name}"
            for pool in task.our_node_pools(cluster)
        ]
        kube = task.reachable_kube(cluster)
        if kube is not None:
            namespace, name = SPEC_CONFIG_MAP
            refs = [
                http_service_ref(spec),
                *object_refs(spec),
                ("v1", "ConfigMap", name, namespace),
            ]
            remaining += [
                f"{kind} {'/'.join(filter(None, (ns, obj)))} in cluster {spec.cluster.name}"
                for api_version, kind, obj, ns in dict.fromkeys(refs)
                if owns_object(spec, kube, (api_version, kind, obj, ns))
            ]
    bucket = task.storage.readable_bucket(name=spec.storage.bucket)
    if bucket is not None and owner.owns(bucket.labels):
        remaining.append(f"bucket gs://{spec.storage.bucket}")
        bucket = None  # its bindings go with it
    remaining += _account_leftovers(task, spec.identity.gsa_email, bucket,
                                    spec.identity.bucket_role, ())  # fmt: skip
    remaining += _account_leftovers(task, spec.node_sa_email, bucket, NODE_BUCKET_ROLE,
                                    NODE_PROJECT_ROLES)  # fmt: skip
    address = spec.saxml.http_address and task.compute.get_address(
        **task.in_region, name=spec.saxml.http_address
    )
    if address and owner.owns(address.get("labels")):
        users = ", ".join(resource_name(user) for user in address.get("users") or [])
        remaining.append(
            f"address {address['name']}" + (f" (used by forwarding rules {users})" if users else "")
        )
    return remaining


def _account_leftovers(
    task: TeardownOperator,
    email: str,
    bucket: Any,
    bucket_role: str,
    project_roles: tuple[str, ...],
) -> list[str]:
    """A service account of the deployment and its bindings on `bucket` (None: none to look
    at) and on the project; an account that is not the deployment's, and its bindings, are
    someone else's."""
    spec = task.deployment
    account = task.iam.get_service_account(email=email)
    if account is not None and not spec.owner.owns_account(account):
        return []
    member, remaining = f"serviceAccount:{email}", []
    if bucket is not None and member in task.storage.members(name=bucket.name, role=bucket_role):
        remaining.append(f"binding {bucket_role} of {member} on gs://{bucket.name}")
    remaining += [
        f"binding {role} of {member} on project {spec.project_id}"
        for role in project_roles
        if member in task.resource_manager.members(project_id=spec.project_id, role=role)
    ]
    if account is not None:
        remaining.append(f"service account {email}")
    return remaining
