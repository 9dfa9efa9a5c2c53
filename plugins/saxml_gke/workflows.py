"""The deploy and teardown DAGs, as factories: the shipped DAGs are made with them, and a team
declares its own scheduled deployment in a few lines (see dags/example_scheduled_deploy.py).

Reading `deploy_dag` top to bottom is the tutorial: each task is one operator class named for its
step, and each edge that carries data is the XComArg it carries (the plan's spec, the cluster's
endpoint, the reserved address). Building a DAG touches no network and loads no Google or
Kubernetes client library: the operators load them when they run.
"""

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from airflow.sdk import DAG, Asset, Param, TriggerRule, chain, setup, task, task_group

from saxml_gke.operators.compute import ReserveHttpAddressOperator
from saxml_gke.operators.gke import CreateClusterOperator, CreateTpuNodePoolsOperator
from saxml_gke.operators.iam import EnsureNodeServiceAccountOperator, SetUpWorkloadIdentityOperator
from saxml_gke.operators.jobset import InstallJobSetOperator
from saxml_gke.operators.ownership import CheckOwnershipOperator
from saxml_gke.operators.preflight import PreflightOperator
from saxml_gke.operators.record import RecordDeploymentOperator
from saxml_gke.operators.report import ReportOperator
from saxml_gke.operators.saxml import DeploySaxmlOperator, PublishModelOperator, SmokeTestOperator
from saxml_gke.operators.storage import CreateBucketOperator
from saxml_gke.operators.teardown import (
    TEARDOWN_STEPS,
    TeardownPolicyOperator,
    VerifyTeardownOperator,
    teardown_group,
    teardown_tasks,
)
from saxml_gke.parameters import PARAMETERS
from saxml_gke.sensors.saxml import HttpAddressSensor, ModelLoadedSensor, PodsReadySensor

log = logging.getLogger(__name__)

SERVED_MODEL = Asset(name="saxml_gke_served_model", uri="x-saxml-gke://served-model")
START = datetime(2026, 1, 1, tzinfo=UTC)

DEPLOY_DOC = """
### Saxml on multi-host TPU slices in GKE

Creates a GKE Standard cluster with Workload Identity, one multi-host TPU node pool per slice,
the bucket for Saxml's admin state, a labelled static address for the load balancer, the
IAM bindings, JobSet, and Saxml (admin server, model servers as a JobSet, sax-http), then
publishes the model and smoke-tests `generate`.

The first task, `plan`, validates every parameter and derives every name; nothing is created
when a parameter is wrong. `preflight` then checks through the APIs what the deployment needs
from the project (machine types in the zone, the GKE version, TPU chip quota, the caller's
permissions, enabled APIs, the reservation) and reports every problem at once, before anything
bills. `check_ownership` then refuses, before anything is created, what exists but is not
this deployment's (`adopt_cluster` and `adopt_bucket` use an existing cluster or bucket, never
changing or deleting it). Every task converges when re-run. TPU slices bill
while their nodes exist: `teardown` (on_failure, always, never) decides whether the `teardown`
group removes the deployment, resource by resource, and the nightly `saxml_gke_teardown`
removes deployments whose `ttl_hours` have passed.
"""


def deploy_dag(
    dag_id: str = "saxml_gke_deploy",
    *,
    schedule: Any = None,
    defaults: Mapping[str, Any] | None = None,
    sensor_mode: Literal["poke", "reschedule"] | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """The deploy DAG; `defaults` replaces parameter defaults (validated now, so a wrong one is
    an import error naming it), which a scheduled DAG needs for `project_id` and `zone`. The
    sensors defer to the triggerer, or, with `sensor_mode`, wait in a worker as Airflow's
    `poke` or `reschedule` mode does (where no triggerer runs)."""
    waits = {"deferrable": sensor_mode is None, "mode": sensor_mode or "poke"}
    params = {name: _param(schema) for name, schema in _with_defaults(defaults or {}).items()}
    with DAG(
        dag_id=dag_id,
        description="Serve an LLM with Saxml on multi-host TPU slices in GKE",
        schedule=schedule,
        start_date=START,
        catchup=False,
        params=params,
        doc_md=DEPLOY_DOC,
        tags=["saxml", "gke", "tpu"],
        **dag_kwargs,
    ) as dag:
        spec = plan()
        checked = PreflightOperator(task_id="preflight", spec=spec)
        ownership = CheckOwnershipOperator(task_id="check_ownership", spec=spec)
        checked >> ownership
        cluster = CreateClusterOperator(task_id="ensure_cluster", spec=spec)
        bucket = CreateBucketOperator(task_id="ensure_bucket", spec=spec)
        http_address = ReserveHttpAddressOperator(task_id="ensure_http_address", spec=spec)
        node_account = EnsureNodeServiceAccountOperator(
            task_id="ensure_node_service_account", spec=spec
        )
        ownership >> [bucket, http_address]
        bucket >> node_account >> cluster  # its bucket binding; the nodes run as it

        access = cluster.output
        record = RecordDeploymentOperator(task_id="record_deployment", spec=spec, cluster=access)
        node_pools = CreateTpuNodePoolsOperator(task_id="ensure_tpu_node_pools", spec=spec)
        identity = SetUpWorkloadIdentityOperator(
            task_id="ensure_workload_identity", spec=spec, cluster=access
        )
        jobset = InstallJobSetOperator(task_id="install_jobset", spec=spec, cluster=access)
        cluster >> node_pools
        bucket >> identity

        deploy = DeploySaxmlOperator(
            task_id="deploy_saxml", spec=spec, cluster=access, http_address=http_address.output
        )
        [record, node_pools, identity, jobset] >> deploy
        pods = PodsReadySensor(task_id="wait_for_pods", spec=spec, cluster=access, **waits)
        address = HttpAddressSensor(
            task_id="wait_for_http_address", spec=spec, cluster=access, **waits
        )
        publish = PublishModelOperator(task_id="publish_model", spec=spec, cluster=access)
        loaded = ModelLoadedSensor(
            task_id="wait_for_model_loaded", spec=spec, cluster=access, **waits
        )
        smoke = SmokeTestOperator(task_id="smoke_test", spec=spec, cluster=access)
        deploy >> [pods, address]
        pods >> publish >> loaded >> smoke

        report = ReportOperator(
            task_id="report", spec=spec, smoke=smoke.output, http=address.output,
            outlets=[SERVED_MODEL],
        )  # fmt: skip
        decide = TeardownPolicyOperator(task_id="decide_teardown", spec=spec)
        decide.as_teardown(setups=spec.operator)
        # A normal task after the teardown: a teardown that failed or left something fails the
        # run (and a work task that failed still counts, which on_failure_fail_dagrun would hide).
        verify = VerifyTeardownOperator(
            task_id="verify_teardown", spec=spec, trigger_rule=TriggerRule.ALL_SUCCESS
        )
        chain(report, decide, *teardown_group(spec, setup=spec.operator), verify)
    return dag


NIGHTLY_DOC = """
### Nightly teardown of saxml-gke deployments

Finds deployments (by the `saxml-gke-id` on their cluster, or on their node pools in an adopted
cluster) whose `expires-at` has passed (or the one named in `cluster_name`: only that one), plus
expired buckets, load balancer addresses (with any forwarding rule a cluster deleted before its
Service left on them) and Google service accounts of deployments whose cluster is gone, and
tears each down with the deploy DAG's own teardown tasks, mapped over them (load balancer,
workloads, TPU pools, cluster, address, IAM, service account, bucket). An item that cannot be
judged (foreign or malformed labels, an API error) or torn down does not stop the others; the run
fails at the end listing them. While GKE cannot list a location, no orphan that could belong to
it is deleted. With `dry_run`, the run only reports what it would delete.
"""

# Null-able: Airflow's trigger form requires every field whose type does not admit null.
NIGHTLY_PARAMETERS: dict[str, dict[str, Any]] = {
    "project_id": {"default": None, "type": ["null", "string"], "title": "Project",
                   "description": "Project; empty means the connection's project."},
    "zone": {"default": None, "type": ["null", "string"], "title": "Zone",
             "description": "Zone; empty means every location."},
    "cluster_name": {"default": None, "type": ["null", "string"], "title": "Cluster name",
                     "description": "Tear down this deployment only, expired or not; empty "
                     "means every expired deployment."},
    "dry_run": {"default": False, "type": "boolean", "title": "Dry run",
                "description": "Only report what would go."},
}  # fmt: skip


def teardown_dag(
    dag_id: str = "saxml_gke_teardown",
    *,
    schedule: Any = "@daily",
    defaults: Mapping[str, Any] | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """The teardown DAG: every expired deployment by default, or the one `defaults` names
    (`cluster_name`), as a team's scheduled deployment does at the end of its day."""
    schemas = {name: dict(schema) for name, schema in NIGHTLY_PARAMETERS.items()}
    for name, value in (defaults or {}).items():
        if name not in schemas:
            raise ValueError(f"unknown parameter {name!r}; allowed: {sorted(schemas)}")
        schemas[name]["default"] = value
    with DAG(
        dag_id=dag_id,
        description="Remove expired saxml-gke deployments and their orphans",
        schedule=schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        params={name: _param(schema) for name, schema in schemas.items()},
        doc_md=NIGHTLY_DOC,
        tags=["saxml", "gke", "tpu"],
        **dag_kwargs,
    ) as dag:
        specs = find_deployments()
        tear_down.expand(spec=specs) >> report_teardowns(specs)
    return dag


@task
def find_deployments(**context: Any) -> list[dict[str, Any]]:
    """Specs of the deployments to remove (the named one, or every expired one, and orphans);
    the items that could not be judged go to the XCom `problems`."""
    from saxml_gke.hooks.google import GoogleApiHook
    from saxml_gke.operators.discovery import existing_resources, find_deployments

    params = context["params"]
    found = find_deployments(
        project_id=params["project_id"] or GoogleApiHook().project_id,
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


@task_group
def tear_down(spec: Any) -> None:
    """One deployment's teardown tasks, mapped over the deployments found."""
    teardown_tasks(spec)


@task(task_id="report", trigger_rule="all_done")
def report_teardowns(specs: Any, **context: Any) -> dict[str, Any]:
    """What this run deleted, per deployment, in one place; fails, listing them, when an item
    could not be judged or a teardown task failed (each deployment was torn down on its own)."""
    from airflow.sdk.exceptions import AirflowFailException

    ti = context["ti"]
    task_ids = [f"tear_down.{task_id}" for task_id, _ in TEARDOWN_STEPS]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
    deleted, unhandled = {}, list(ti.xcom_pull(task_ids="find_deployments", key="problems") or [])
    for index, spec in enumerate(specs or []):
        name = f"{spec['deployment']} ({spec['cluster']['zone']})"
        failed = [
            t for t in task_ids if states.get(f"{t}_{index}") in ("failed", "upstream_failed")
        ]
        unhandled += [f"{name}: its {t.split('.', 1)[1]} task failed" for t in failed]
        results = [ti.xcom_pull(task_ids=task_id, map_indexes=index) for task_id in task_ids]
        items = [item for result in results if result for item in result["deleted"]]
        deleted[spec["deployment"]] = items
        log.info("%s: deleted %s", name, ", ".join(items) or "nothing (already gone)")
    if unhandled:
        raise AirflowFailException(
            "could not handle:\n" + "\n".join(f"  - {item}" for item in unhandled)
        )
    return {"deployments": deleted}


@setup
@task
def plan(**context: Any) -> dict[str, Any]:
    """Validate the parameters and derive every name once; every later task takes this."""
    from saxml_gke.plan import plan_summary
    from saxml_gke.spec import build_spec

    spec = build_spec(context["params"], now=context["dag_run"].run_after)
    log.info("Plan:\n%s", json.dumps(plan_summary(spec), indent=2))
    return spec.to_dict()


def _with_defaults(defaults: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The parameter schemas with `defaults`, each checked against its schema and, together,
    against the deployment's rules (so a scheduled run cannot fail on its own parameters)."""
    from saxml_gke.spec import build_spec

    unknown = sorted(set(defaults) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"unknown parameters {unknown}; allowed: {sorted(PARAMETERS)}")
    schemas = {name: {**schema} for name, schema in PARAMETERS.items()}
    for name, value in defaults.items():
        schemas[name]["default"] = value
    if defaults:
        values = {name: s["default"] for name, s in schemas.items() if "default" in s}
        build_spec(values, now=START)  # raises InvalidParameters naming each bad one
    return schemas


# Airflow checks a Param's schema against its dialect's meta-schema each time it resolves the
# Param: for every task it runs and every time the DAG is serialized or compared, 42 times each.
# Draft 7's meta-schema checks in a third of the time of the default, 2020-12's (which resolves
# dynamic references); the parameters use nothing newer than draft 7.
PARAM_DIALECT = "http://json-schema.org/draft-07/schema#"


def _param(schema: dict[str, Any]) -> Param:
    rest = {"$schema": PARAM_DIALECT, **{k: v for k, v in schema.items() if k != "default"}}
    if "default" in schema:
        return Param(schema["default"], **rest)
    return Param(**rest)
