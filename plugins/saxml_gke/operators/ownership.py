"""check_ownership: every refusal at once, before anything is created.

What exists but is not this deployment's (the rules are `saxml_gke.adoption`'s) is named with
its marks and what to do, so a run never starts creating next to something it must not touch.
"""

from collections.abc import Callable
from typing import Any

from saxml_gke.adoption import (
    check_address,
    check_bucket,
    check_cluster,
    check_node_pool,
    check_node_service_account,
    check_service_account,
)
from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.operators.base import DeploymentOperator, fails_fast


class CheckOwnershipOperator(DeploymentOperator):
    required_permissions = frozenset(
        {
            "container.clusters.get",
            "storage.buckets.get",
            "compute.addresses.get",
            "iam.serviceAccounts.get",
        }
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, str]:
        spec = self.deployment
        verdicts: dict[str, str] = {}
        refusals: list[str] = []

        def judge(what: str, check: Callable[[], str]) -> None:
            try:
                verdicts[what] = check()
            except DeploymentError as error:
                refusals.append(str(error))

        cluster = self.gke.get_cluster(**self.in_zone, name=spec.cluster.name)
        judge("cluster", lambda: check_cluster(spec, cluster))
        if cluster is not None:
            for pool in spec.tpu.node_pools:
                found = self.gke.get_node_pool(**self.in_zone, cluster=spec.cluster.name,
                                               name=pool.name)  # fmt: skip
                judge(f"node pool {pool.name}", lambda p=pool, f=found: check_node_pool(spec, p, f))
        judge(
            "bucket",
            lambda: check_bucket(spec, self.storage.bucket_labels(name=spec.storage.bucket)),
        )
        if spec.saxml.http_address:
            address = self.compute.get_address(**self.in_region, name=spec.saxml.http_address)
            judge("address", lambda: check_address(spec, address))
        account = self.iam.get_service_account(email=spec.identity.gsa_email)
        judge("service account", lambda: check_service_account(spec, account))
        nodes = self.iam.get_service_account(email=spec.node_sa_email)
        judge("node service account", lambda: check_node_service_account(spec, nodes))
        if refusals:
            raise DeploymentError(
                ErrorKind.PERMANENT,
                f"{len(refusals)} existing resource(s) are not deployment {spec.owner}'s; "
                "nothing was created:\n" + "\n".join(f"  - {refusal}" for refusal in refusals),
            )
        self.log.info("Ownership of what exists: %s", verdicts)
        return verdicts
