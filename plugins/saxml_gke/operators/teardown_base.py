"""What every teardown task shares: finding what is the deployment's, by name and identity.

A teardown task reads nothing from the tasks that created: it looks each resource up by name
and deletes it only if it carries the deployment's identity (`saxml_gke.ownership`). So it also
cleans up after a run that failed half way, one whose worker died, or one the nightly teardown
finds. Each runs whatever the previous one did (`all_done`): one that fails does not keep the
next resource billing.
"""

from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule

from saxml_gke.bodies import CPU_POOL
from saxml_gke.operators.base import DeploymentOperator

if TYPE_CHECKING:
    from saxml_gke.hooks.kube import KubeHook


class TeardownOperator(DeploymentOperator):
    ui_color = "#fce8e6"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)

    def found_cluster(self) -> dict[str, Any] | None:
        """The cluster of the deployment's name, with its base64 CA as `ca_certificate` and
        `own`: whether it is the deployment's (else it was adopted, or is someone else's: then
        only what carries the identity inside it is touched, never the cluster)."""
        spec = self.deployment
        cluster = self.gke.get_cluster(**self.in_zone, name=spec.cluster.name)
        if cluster is None:
            return None
        return {
            **cluster,
            "ca_certificate": cluster.get("masterAuth", {}).get("clusterCaCertificate"),
            "own": spec.owner.owns(cluster.get("resourceLabels")),
        }

    def reachable_kube(self, cluster: dict[str, Any] | None = None) -> "KubeHook | None":
        """The Kubernetes API of `cluster` (looked up when not given), when it exists and
        serves it."""
        from saxml_gke.hooks.kube import KubeHook

        cluster = cluster or self.found_cluster()
        if cluster is None or cluster.get("status") != "RUNNING" or not cluster.get("endpoint"):
            return None
        return KubeHook(
            endpoint=cluster["endpoint"],
            ca_certificate=cluster["ca_certificate"],
            gcp_conn_id=self.gcp_conn_id,
        )

    def our_node_pools(self, cluster: dict[str, Any]) -> list[str]:
        """The TPU pools in the cluster that carry the deployment's identity (also those of an
        earlier run with more slices)."""
        return [
            pool["name"]
            for pool in cluster.get("nodePools") or []
            if pool["name"] != CPU_POOL
            and self.deployment.owner.owns((pool.get("config") or {}).get("resourceLabels"))
        ]

    def deleted(self, items: list[str]) -> dict[str, Any]:
        """The task's result: what it deleted (nothing, when nothing of it existed)."""
        self.log.info("Deleted: %s", ", ".join(items) or "nothing (nothing of it existed)")
        return {"deleted": items}
