"""record_deployment: the spec kept in the cluster, and a rerun's new expiry where the nightly
teardown reads it.

The nightly teardown finds a deployment by its cluster and reads every name it used (bucket,
service accounts, ...) from the spec ConfigMap, without the run that created it. It judges the
deployment by the `expires-at` of its cluster (of its node pools in an adopted cluster), and an
orphan (bucket, address, Google SAs) by its own. A rerun relabels them only when `ttl_hours`
changed since the stored spec: a rerun with the same value changes nothing, so it starts no GKE
operation.
"""

from typing import Any

from saxml_gke.bodies import SPEC_CONFIG_MAP, spec_config_map, stored_spec
from saxml_gke.operators.base import APPLY, KubeOperator, fails_fast, kubernetes_permissions
from saxml_gke.ownership import with_expiry


class RecordDeploymentOperator(KubeOperator):
    # The spec ConfigMap, and a new expiry on the cluster, pools, bucket, address and accounts.
    required_permissions = kubernetes_permissions(("get", *APPLY), "configMaps") | {
        "container.clusters.update",
        "storage.buckets.get",
        "storage.buckets.update",
        "compute.addresses.get",
        "compute.addresses.setLabels",
        "iam.serviceAccounts.get",
        "iam.serviceAccounts.update",
    }

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec = self.deployment
        namespace, name = SPEC_CONFIG_MAP
        stored = stored_spec(
            spec.owner, self.kube.get("v1", "ConfigMap", name, namespace=namespace)
        )
        moved = self.move_expiry(stored["ttl_hours"]) if stored else []
        self.kube.apply([spec_config_map(spec)])
        self.log.info("Kept the spec in ConfigMap %s/%s", namespace, name)
        return {"config_map": f"{namespace}/{name}", "expiry_moved_on": moved}

    def move_expiry(self, previous_ttl_hours: int) -> list[str]:
        """Relabel what carries the expiry when the previous run had another `ttl_hours`."""
        spec = self.deployment
        if previous_ttl_hours == spec.ttl_hours:
            return []
        moved = [*self.relabel_gke(), *self.relabel_bucket(), *self.relabel_address(),
                 *self.describe_accounts()]  # fmt: skip
        self.log.info("ttl_hours %s -> %s: expires-at %s on %s", previous_ttl_hours,
                      spec.ttl_hours, spec.expires_at or "removed",
                      ", ".join(moved) or "nothing")  # fmt: skip
        return moved

    def relabel_gke(self) -> list[str]:
        spec, moved = self.deployment, []
        cluster = self.gke.get_cluster(**self.in_zone, name=spec.cluster.name) or {}
        labels = cluster.get("resourceLabels") or {}
        if spec.owner.owns(labels):
            self.gke.set_cluster_labels(
                **self.in_zone, name=spec.cluster.name, labels=with_expiry(labels, spec.expires_at)
            )
            moved.append(f"cluster {spec.cluster.name}")
        for pool in cluster.get("nodePools") or []:
            labels = (pool.get("config") or {}).get("resourceLabels") or {}
            if spec.owner.owns(labels):
                self.gke.set_node_pool_labels(
                    **self.in_zone, cluster=spec.cluster.name, name=pool["name"],
                    labels=with_expiry(labels, spec.expires_at),
                )  # fmt: skip
                moved.append(f"node pool {pool['name']}")
        return moved

    def relabel_bucket(self) -> list[str]:
        spec = self.deployment
        bucket = self.storage.get_bucket(name=spec.storage.bucket)
        if bucket is None or not spec.owner.owns(bucket.labels):
            return []
        self.storage.set_labels(
            name=bucket.name, labels=with_expiry(bucket.labels, spec.expires_at)
        )
        return [f"bucket gs://{bucket.name}"]

    def relabel_address(self) -> list[str]:
        spec = self.deployment
        if not spec.saxml.http_address:
            return []
        found = self.compute.get_address(**self.in_region, name=spec.saxml.http_address)
        if found is None or not spec.owner.owns(found.get("labels")):
            return []
        labels = with_expiry(found.get("labels"), spec.expires_at)
        self.compute.set_address_labels(**self.in_region, address=found, labels=labels)
        return [f"address {found['name']}"]

    def describe_accounts(self) -> list[str]:
        spec, moved = self.deployment, []
        for email in (spec.identity.gsa_email, spec.node_sa_email):
            if spec.owner.owns_account(self.iam.get_service_account(email=email)):
                self.iam.set_description(
                    email=email, description=spec.owner.account_description(spec.expires_at)
                )
                moved.append(f"service account {email}")
        return moved
