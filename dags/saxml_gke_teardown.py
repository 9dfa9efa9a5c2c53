"""Nightly teardown: remove saxml-gke deployments whose time is up, and what they left behind.

A deployment expires when its `expires-at` label (the deploy run's `ttl_hours`) has passed;
a manual run can name one cluster instead. Each is torn down with the deploy DAG's own ordered
teardown code. With `dry_run`, the run only reports what it would delete.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from saxml_gke.operators.step import StepOperator

log = logging.getLogger(__name__)

DOC = """
### Nightly teardown of saxml-gke deployments

Finds deployments (by the `saxml-gke-id` on their cluster, or on their node pools in an adopted
cluster) whose `expires-at` has passed (or the one named in `cluster_name`: only that one), plus
expired buckets, load balancer addresses (with any forwarding rule a cluster deleted before its
Service left on them) and Google service accounts of deployments whose cluster is gone, and
tears each down on its own, in order (load balancer, workloads, TPU pools, cluster, address, IAM,
service account, bucket). An item that cannot be judged (foreign or malformed labels, an API
error) or torn down does not stop the others; the run fails at the end listing them. While GKE
cannot list a location, no orphan that could belong to it is deleted.
"""

with DAG(
    dag_id="saxml_gke_teardown",
    description="Remove expired saxml-gke deployments and their orphans",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    params={
        # Null-able: Airflow's trigger form requires every field whose type does not admit null.
        "project_id": Param(
            None,
            type=["null", "string"],
            title="Project",
            description="Project; empty means the connection's project.",
        ),
        "zone": Param(
            None,
            type=["null", "string"],
            title="Zone",
            description="Zone; empty means every location.",
        ),
        "cluster_name": Param(
            None,
            type=["null", "string"],
            title="Cluster name",
            description="Tear down this deployment only, expired or not; empty means every "
            "expired deployment.",
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run", description="Only report what would go."
        ),
    },
    doc_md=DOC,
    tags=["saxml", "gke", "tpu"],
) as dag:

    @task
    def find_deployments(**context: Any) -> list[dict[str, Any]]:
        """Specs of the deployments to remove (the named one, or every expired one, and
        orphans); the items that could not be judged go to the XCom `problems`."""
        from saxml_gke.hooks.google import GoogleApiHook
        from saxml_gke.steps.discovery import existing_resources, find_deployments

        params = context["params"]
        project = params["project_id"] or GoogleApiHook().project_id
        found = find_deployments(
            project_id=project,
            zone=params["zone"] or "",
            cluster_name=params["cluster_name"] or "",
            now=context["dag_run"].run_after,  # a scheduled run judges expiry at its own time
            gcp_conn_id="google_cloud_default",
        )
        context["ti"].xcom_push(key="problems", value=found.problems)
        if not params["dry_run"]:
            names = [f"{s['deployment']} ({s['cluster']['zone']})" for s in found.specs]
            log.info("Tearing down: %s", ", ".join(names) or "nothing")
            return found.specs
        for spec in found.specs:
            existing = existing_resources(spec, gcp_conn_id="google_cloud_default")
            log.info("Would tear down %s (%s): %s", spec["deployment"], spec["cluster"]["zone"],
                     "; ".join(existing) or "nothing exists any more")  # fmt: skip
        if not found.specs:
            log.info("Would tear down nothing")
        return []

    @task(trigger_rule="all_done")
    def report(torn_down: Any, **context: Any) -> dict:
        """What this run deleted, per deployment, in one place; fails, listing them, when an
        item could not be judged or a teardown failed (each was tried on its own)."""
        from airflow.sdk.exceptions import AirflowFailException

        deleted = {result["deployment"]: result["deleted"] for result in torn_down or [] if result}
        for deployment, items in deleted.items():
            log.info("%s: deleted %s", deployment, ", ".join(items) or "nothing (already gone)")
        ti = context["ti"]
        problems = ti.xcom_pull(task_ids="find_deployments", key="problems") or []
        specs = ti.xcom_pull(task_ids="find_deployments") or []
        not_torn_down = [
            f"{spec['deployment']} ({spec['cluster']['zone']}): its tear_down task failed"
            for spec in specs
            if spec["deployment"] not in deleted
        ]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        failed = sorted(
            task
            for task, state in states.items()
            if state == "failed" and not task.startswith("tear_down")
        )
        unhandled = [*problems, *not_torn_down, *(f"task {task} failed" for task in failed)]
        if unhandled:
            raise AirflowFailException(
                "could not handle:\n" + "\n".join(f"  - {item}" for item in unhandled)
            )
        return {"deployments": deleted}

    specs = find_deployments()
    torn_down = StepOperator.partial(
        task_id="tear_down", step="saxml_gke.steps.teardown:tear_down"
    ).expand(spec=specs)
    report(torn_down.output)
