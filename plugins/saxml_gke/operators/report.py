"""report: what the run created and served, as the task's XCom and as text in its log, plus an
asset event for the served model.

The steps it reports are the tasks upstream of it, in the DAG's order: the DAG's edges are the
only list of them.
"""

from typing import Any

from saxml_gke.operators.base import DeploymentOperator, fails_fast
from saxml_gke.plan import plan_summary

_DETAIL_KEYS = (
    "created", "operation", "operations", "action", "wait_seconds", "capacity_wait_seconds",
    "capacity_tries", "ready_at", "loaded_at", "loaded_on", "address", "ip",
)  # fmt: skip


class ReportOperator(DeploymentOperator):
    """`smoke` and `http` are the smoke test's and the load balancer address's results. Its
    outlet's event carries where the model is served, so a downstream DAG scheduled on the
    asset (an evaluation, a load test) knows what to call."""

    template_fields = ("spec", "smoke", "http")

    def __init__(self, *, smoke: Any, http: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.smoke, self.http = smoke, http

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, ti, dag = self.deployment, context["ti"], context["dag"]
        upstream = self.get_flat_relative_ids(upstream=True)
        steps = {  # the plan (the setup task) is reported as the plan summary
            task_id: ti.xcom_pull(task_ids=task_id)
            for task_id in dag.task_ids
            if task_id in upstream and not dag.get_task(task_id).is_setup
        }
        smoke, http = self.smoke or {}, self.http or {}
        report = {
            "deployment": spec.deployment,
            "model": spec.saxml.model_key,
            "model_path": spec.saxml.model_path,
            "endpoint": http.get("endpoint"),
            "http_exposure": spec.saxml.http_exposure,
            "answer": smoke.get("answer"),
            "latency_seconds": smoke.get("latency_seconds"),
            "plan": plan_summary(spec),
            "steps": steps,
        }
        self.log.info("Run report\n%s", render_text(report))
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {
                "deployment": report["deployment"],
                "project_id": spec.project_id,
                "zone": spec.cluster.zone,
                "model": report["model"],
                "model_path": report["model_path"],
                "endpoint": report["endpoint"],
            }
        return report


def render_text(report: dict[str, Any]) -> str:
    plan = report["plan"]
    tpu = plan["tpu"]
    lines = [
        f"deployment     {report['deployment']} ({plan['project_id']}, {plan['zone']})",
        f"TPU            {tpu['slices']} x {tpu['generation']} {tpu['topology']} "
        f"({tpu['machine_type']}, {tpu['nodes_per_slice']} nodes, {tpu['chips_per_slice']} "
        f"chips per slice)",
        f"cost estimate  ${plan['estimated_cost_per_hour_usd']:.2f}/h ({plan['cost_note']})",
        f"model          {report['model']} = {report['model_path']}",
        f"endpoint       {report['endpoint'] or 'none (ClusterIP only)'} "
        f"[{report['http_exposure']}]",
        f"smoke test     {report['answer']!r} in {report['latency_seconds']} s",
        "steps:",
    ]
    for step, result in report["steps"].items():
        if result is None:
            lines.append(f"  {step:26} (no result)")
            continue
        details = {key: value for key, value in result.items() if key in _DETAIL_KEYS}
        lines.append(f"  {step:26} {details}")
    return "\n".join(lines)
