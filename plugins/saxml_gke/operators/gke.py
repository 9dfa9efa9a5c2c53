"""GKE: the Standard cluster and its multi-host TPU node pools, created and deleted.

Tutorial: "Create a GKE Standard cluster" and "Create the TPU node pools". Each operator makes
its calls, then waits for GKE's state in the triggerer (saxml_gke.triggers.gke), which ends the
task with its result.
"""

from dataclasses import asdict
from typing import Any

from saxml_gke.adoption import ABSENT, ADOPTED, check_cluster, check_node_pool
from saxml_gke.bodies import cluster_body, node_pool_body, node_pool_mismatches
from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.operators.base import DeploymentOperator, fails_fast
from saxml_gke.operators.teardown_base import TeardownOperator
from saxml_gke.provisioning import CapacityRequest


class CreateClusterOperator(DeploymentOperator):
    """The GKE Standard cluster with Workload Identity and its CPU pool; ends with how to reach
    its Kubernetes API (`endpoint`, `ca_certificate`), which later tasks take as `cluster`."""

    # Its nodes run as the Compute Engine default service account: acting as it needs actAs.
    required_permissions = frozenset(
        {"container.clusters.get", "container.clusters.create", "iam.serviceAccounts.actAs"}
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, name = self.deployment, self.deployment.cluster.name
        existing = self.gke.get_cluster(**self.in_zone, name=name)
        verdict = check_cluster(spec, existing)
        operation = None
        if existing is None:
            operation = self.gke.create_cluster(**self.in_zone, body=cluster_body(spec))
            self.log.info("Creating cluster %s (operation %s)", name, operation)
        else:
            self.log.info("Cluster %s exists (%s, %s): using it", name, existing["status"], verdict)
        from saxml_gke.triggers.gke import ClusterRunningTrigger

        return self.wait_for(
            ClusterRunningTrigger(
                **self.in_zone,
                cluster=name,
                waiting=self.waiting(
                    f"cluster {name}",
                    spec.waits.operation_timeout,
                    created=verdict == ABSENT,
                    adopted=verdict == ADOPTED,
                    operation=operation,
                ),
            )
        )


class CreateTpuNodePoolsOperator(DeploymentOperator):
    """One multi-host TPU node pool per slice, created in parallel; existing pools of the
    deployment that match are adopted."""

    required_permissions = frozenset(
        {"container.clusters.get", "container.clusters.update", "iam.serviceAccounts.actAs"}
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, tpu = self.deployment, self.deployment.tpu
        where = {**self.in_zone, "cluster": spec.cluster.name}
        adopted, problems = [], []
        for pool in tpu.node_pools:
            existing = self.gke.get_node_pool(**where, name=pool.name)
            check_node_pool(spec, pool, existing)
            if existing is None:
                continue
            if mismatches := node_pool_mismatches(spec, pool, existing):
                problems.append(f"{pool.name}: " + "; ".join(mismatches))
            else:
                adopted.append(pool.name)
        if problems:
            raise DeploymentError(
                ErrorKind.PERMANENT,
                "existing node pools do not match the spec: " + " | ".join(problems)
                + ". Nothing was changed; delete them or change the TPU parameters.",
            )  # fmt: skip
        if adopted:
            self.log.info("Adopting existing node pools: %s", ", ".join(adopted))
        self.log.info(
            "Creating %d TPU node pools as GKE admits them (at most 5 operations per cluster)%s",
            len(tpu.node_pools) - len(adopted),
            f"; waiting up to {spec.waits.capacity_wait / 60:.0f} min for capacity"
            if spec.waits.capacity_wait else "",
        )  # fmt: skip
        from saxml_gke.triggers.gke import NodePoolsCreatedTrigger

        return self.wait_for(
            NodePoolsCreatedTrigger(
                **where,
                bodies={pool.name: node_pool_body(spec, pool) for pool in tpu.node_pools},
                request=asdict(CapacityRequest.of(spec)),
                waiting=self.waiting(
                    f"{len(tpu.node_pools)} TPU node pools",
                    spec.waits.operation_timeout + spec.waits.capacity_wait,
                    adopted=adopted,
                    nodes=tpu.nodes_per_slice * tpu.slices,
                    chips=tpu.total_chips,
                ),
            )
        )


class DeleteTpuNodePoolsOperator(TeardownOperator):
    """The TPU pools that carry the deployment's identity, in its own cluster or an adopted one
    (also those of an earlier run with more slices). They bill while their nodes exist."""

    required_permissions = frozenset({"container.clusters.get", "container.clusters.update"})

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, cluster = self.deployment, self.found_cluster()
        if cluster is None or (cluster["own"] and cluster.get("status") != "RUNNING"):
            return self.deleted([])  # none, or they go with the cluster being deleted
        ours = self.our_node_pools(cluster)
        if not ours:
            return self.deleted([])
        from saxml_gke.triggers.gke import NodePoolsDeletedTrigger

        return self.wait_for(
            NodePoolsDeletedTrigger(
                **self.in_zone,
                cluster=spec.cluster.name,
                pools=ours,
                waiting=self.waiting(
                    f"TPU node pools {', '.join(ours)} to go",
                    spec.waits.operation_timeout,
                    deleted=[f"node pool {name}" for name in ours],
                ),
            )
        )


class DeleteClusterOperator(TeardownOperator):
    """The cluster, when it is the deployment's own; an adopted one stays."""

    required_permissions = frozenset({"container.clusters.get", "container.clusters.delete"})

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, cluster = self.deployment, self.found_cluster()
        if cluster is None or not cluster["own"]:
            return self.deleted([])
        name = spec.cluster.name
        started = self.gke.delete_cluster(**self.in_zone, name=name)
        from saxml_gke.triggers.gke import ClusterGoneTrigger

        return self.wait_for(
            ClusterGoneTrigger(
                **self.in_zone,
                cluster=name,
                waiting=self.waiting(
                    f"cluster {name} to go",
                    spec.waits.operation_timeout,
                    deleted=[f"cluster {name}"] if started else [],
                ),
            )
        )
