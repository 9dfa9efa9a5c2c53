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

Finds clusters labelled `managed-by: saxml-gke` whose `expires-at` has passed (or the one named
in `cluster_name`), plus buckets, load balancer addresses (with any forwarding rule a cluster
deleted before its Service left on them) and Google service accounts of ours whose cluster is
gone, and tears each down in order (load balancer, workloads, TPU pools, cluster, address, IAM,
bucket).
"""

with DAG(
    dag_id="saxml_gke_teardown",
    description="Remove expired saxml-gke deployments and their orphans",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    params={
        "project_id": Param(
            "", type="string", description="Project; empty means the connection's project."
        ),
        "zone": Param("", type="string", description="Zone; empty means every location."),
        "cluster_name": Param(
            "", type="string", description="Tear down this deployment, expired or not."
        ),
        "dry_run": Param(False, type="boolean", description="Only report what would go."),
    },
    doc_md=DOC,
    tags=["saxml", "gke", "tpu"],
) as dag:

    @task
    def find_deployments(**context: Any) -> list[dict[str, Any]]:
        """Specs of the deployments to remove (the named one, or every expired one)."""
        from saxml_gke.hooks.google import GoogleApiHook
        from saxml_gke.steps.discovery import existing_resources, find_deployments

        params = context["params"]
        project = params["project_id"] or GoogleApiHook().project_id
        specs = find_deployments(
            project_id=project,
            zone=params["zone"],
            cluster_name=params["cluster_name"],
            now=context["dag_run"].run_after,  # a scheduled run judges expiry at its own time
            gcp_conn_id="google_cloud_default",
        )
        if not params["dry_run"]:
            names = [f"{s['deployment']} ({s['cluster']['zone']})" for s in specs]
            log.info("Tearing down: %s", ", ".join(names) or "nothing")
            return specs
        for spec in specs:
            found = existing_resources(spec, gcp_conn_id="google_cloud_default")
            log.info("Would tear down %s (%s): %s", spec["deployment"], spec["cluster"]["zone"],
                     "; ".join(found) or "nothing exists any more")  # fmt: skip
        if not specs:
            log.info("Would tear down nothing")
        return []

    @task(trigger_rule="none_failed")
    def delete_orphan_service_accounts(**context: Any) -> list[str]:
        """Google service accounts of ours whose deployment's cluster is gone."""
        from saxml_gke.hooks.gke import GkeHook
        from saxml_gke.hooks.google import GoogleApiHook
        from saxml_gke.hooks.iam import IamHook
        from saxml_gke.steps.discovery import ANY_ZONE, orphan_service_accounts

        params = context["params"]
        project = params["project_id"] or GoogleApiHook().project_id
        clusters = {
            cluster["name"]
            for cluster in GkeHook().list_clusters(project_id=project, zone=ANY_ZONE)
        }
        orphans = orphan_service_accounts(
            project_id=project, clusters=clusters, gcp_conn_id="google_cloud_default"
        )
        if not params["dry_run"]:
            for email in orphans:
                IamHook().delete_service_account(email=email)
        log.info(
            "Orphan service accounts%s: %s", " (dry run)" if params["dry_run"] else "", orphans
        )
        return orphans

    @task(trigger_rule="all_done")
    def report(torn_down: Any, service_accounts: list[str] | None, **context: Any) -> dict:
        """What this run deleted, per deployment, in one place (with dry_run: nothing, and the
        service accounts it would delete)."""
        deleted = {result["deployment"]: result["deleted"] for result in torn_down or [] if result}
        for deployment, items in deleted.items():
            log.info("%s: deleted %s", deployment, ", ".join(items) or "nothing (already gone)")
        done = "that a real run would delete" if context["params"]["dry_run"] else "deleted"
        log.info("Orphan service accounts %s: %s", done, service_accounts or "none")
        return {"deployments": deleted, "service_accounts": service_accounts or []}

    specs = find_deployments()
    torn_down = StepOperator.partial(
        task_id="tear_down", step="saxml_gke.steps.teardown:tear_down"
    ).expand(spec=specs)
    orphans = delete_orphan_service_accounts()
    torn_down >> orphans
    report(torn_down.output, orphans)
