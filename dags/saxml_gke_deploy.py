"""Serve an LLM with Saxml on multi-host TPU slices in GKE: the tutorial as one DAG.

Thin on purpose: the parameters come from `saxml_gke.parameters`, every task is a step of
`saxml_gke.steps` run by a thin operator, and the waits are deferred to the triggerer.
Importing this file touches no network and imports no Google provider module.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Asset, Param, setup

from saxml_gke.operators.report import ReportOperator
from saxml_gke.operators.step import StepOperator
from saxml_gke.operators.teardown import TeardownOperator
from saxml_gke.parameters import PARAMETERS
from saxml_gke.sensors.saxml import ModelLoadedSensor, PodsReadySensor

log = logging.getLogger(__name__)

SERVED_MODEL = Asset(name="saxml_gke_served_model", uri="x-saxml-gke://served-model")

DOC = """
### Saxml on multi-host TPU slices in GKE

Creates a GKE Standard cluster with Workload Identity, one multi-host TPU node pool per slice,
the bucket for Saxml's admin state, a labelled static address for the load balancer, the
IAM bindings, JobSet, and Saxml (admin server, model
servers as a JobSet, sax-http), then publishes the model and smoke-tests `generate`.

The first task, `plan`, validates every parameter and derives every name; nothing is created
when a parameter is wrong. `check_ownership` then refuses, before anything is created, what
exists but is not this deployment's (`adopt_cluster` and `adopt_bucket` use an existing cluster
or bucket, never changing or deleting it). Every task converges when re-run. TPU slices bill
while their nodes exist: `teardown` (on_failure, always, never) decides what this run removes,
and the nightly `saxml_gke_teardown` removes deployments whose `ttl_hours` have passed.
"""


def _param(schema: dict[str, Any]) -> Param:
    if "default" in schema:
        rest = {key: value for key, value in schema.items() if key != "default"}
        return Param(schema["default"], **rest)
    return Param(**schema)


def _step(task_id: str, step: str, needs: tuple[str, ...] = ()) -> StepOperator:
    return StepOperator(task_id=task_id, step=f"saxml_gke.steps.{step}", needs=needs)


CLUSTER = ("ensure_cluster",)

with DAG(
    dag_id="saxml_gke_deploy",
    description="Serve an LLM with Saxml on multi-host TPU slices in GKE",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    params={name: _param(schema) for name, schema in PARAMETERS.items()},
    doc_md=DOC,
    tags=["saxml", "gke", "tpu"],
) as dag:

    @setup
    def plan(**context: Any) -> dict[str, Any]:
        """Validate the parameters and derive every name once; later tasks read this XCom."""
        from saxml_gke.plan import plan_summary
        from saxml_gke.spec import build_spec

        spec = build_spec(context["params"], now=context["dag_run"].run_after)
        log.info("Plan:\n%s", json.dumps(plan_summary(spec), indent=2))
        return spec.to_dict()

    planned = plan()
    # Refuses, before anything is created, what exists but is not this deployment's.
    ownership = _step("check_ownership", "adoption:check_ownership")
    cluster = _step("ensure_cluster", "cluster:ensure_cluster")
    bucket = _step("ensure_bucket", "storage:ensure_bucket")
    http_ip = _step("ensure_http_address", "address:ensure_http_address")
    node_pools = _step("ensure_tpu_node_pools", "node_pools:ensure_tpu_node_pools")
    identity = _step("ensure_workload_identity", "identity:ensure_workload_identity", CLUSTER)
    jobset = _step("install_jobset", "jobset:install_jobset", CLUSTER)
    deploy = _step("deploy_saxml", "saxml:deploy_saxml", (*CLUSTER, "ensure_http_address"))
    pods = PodsReadySensor(task_id="wait_for_pods")
    address = _step("wait_for_http_address", "saxml:wait_for_http_address", CLUSTER)
    publish = _step("publish_model", "saxml:publish_model", CLUSTER)
    loaded = ModelLoadedSensor(task_id="wait_for_model_loaded")
    smoke = _step("smoke_test", "saxml:smoke_test", CLUSTER)
    report = ReportOperator(task_id="report", outlets=[SERVED_MODEL])
    teardown = TeardownOperator(task_id="teardown").as_teardown(setups=planned)
    # A normal task after the teardown: a teardown that failed or left something fails the run
    # (and a work task that failed still counts, which on_failure_fail_dagrun would hide).
    verify = _step("verify_teardown", "teardown:verify")

    planned >> ownership >> [cluster, bucket, http_ip]
    cluster >> node_pools
    [cluster, bucket] >> identity
    cluster >> jobset
    [node_pools, identity, jobset, http_ip] >> deploy >> [pods, address]
    pods >> publish >> loaded >> smoke
    [smoke, address] >> report >> teardown >> verify
