"""Serve an LLM with Saxml on multi-host TPU slices in GKE: the tutorial as one DAG.

Thin on purpose: the parameters come from `saxml_gke.parameters`, the logic from `saxml_gke`.
Importing this file touches no network and imports no Google provider module.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from saxml_gke.parameters import PARAMETERS

log = logging.getLogger(__name__)

DOC = """
### Saxml on multi-host TPU slices in GKE

Creates a GKE Standard cluster with Workload Identity, one multi-host TPU node pool per slice,
the bucket for Saxml's admin state, the IAM bindings, JobSet, and Saxml (admin server, model
servers as a JobSet, sax-http), then publishes the model and smoke-tests `generate`.

The first task, `plan`, validates every parameter and derives every name; nothing is created
when a parameter is wrong. TPU slices bill while their nodes exist: see `teardown` and
`ttl_hours`.
"""


def _param(schema: dict[str, Any]) -> Param:
    if "default" in schema:
        rest = {key: value for key, value in schema.items() if key != "default"}
        return Param(schema["default"], **rest)
    return Param(**schema)


with DAG(
    dag_id="saxml_gke_deploy",
    description="Serve an LLM with Saxml on multi-host TPU slices in GKE",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    params={name: _param(schema) for name, schema in PARAMETERS.items()},
    doc_md=DOC,
    tags=["saxml", "gke", "tpu"],
) as dag:

    @task
    def plan(**context: Any) -> dict[str, Any]:
        """Validate the parameters and derive every name once; later tasks read this XCom."""
        from saxml_gke.plan import plan_summary
        from saxml_gke.spec import build_spec

        spec = build_spec(context["params"], now=context["dag_run"].run_after)
        log.info("Plan:\n%s", json.dumps(plan_summary(spec), indent=2))
        return spec.to_dict()

    plan()
