"""report: what the run created and served, as the task's XCom and as text in its log."""

from typing import Any

from saxml_gke.plan import plan_summary
from saxml_gke.steps.base import Result, StepContext

REPORTED_STEPS = (
    "ensure_cluster",
    "ensure_bucket",
    "ensure_http_address",
    "ensure_tpu_node_pools",
    "ensure_workload_identity",
    "install_jobset",
    "deploy_saxml",
    "wait_for_pods",
    "wait_for_http_address",
    "publish_model",
    "wait_for_model_loaded",
    "smoke_test",
)

_DETAIL_KEYS = (
    "created",
    "operation",
    "operations",
    "action",
    "wait_seconds",
    "ready_at",
    "loaded_at",
    "loaded_on",
    "address",
    "ip",
)


def report(ctx: StepContext) -> Result:
    spec, steps = ctx.spec, dict(ctx.upstream)
    smoke = steps.get("smoke_test") or {}
    http = steps.get("wait_for_http_address") or {}
    result = {
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
    ctx.log.info("Run report\n%s", render_text(result))
    return result


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
