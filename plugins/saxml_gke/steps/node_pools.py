"""ensure_tpu_node_pools: one multi-host TPU node pool per slice, created in parallel."""

import time
from typing import Any

from saxml_gke.errors import DeploymentError, ErrorKind, capacity_advice, classify_operation_error
from saxml_gke.gke_bodies import node_pool_body, node_pool_mismatches
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.steps.adoption import check_node_pool
from saxml_gke.steps.base import Result, StepContext, Wait, elapsed_since


def ensure_tpu_node_pools(ctx: StepContext) -> Wait:
    spec, hook = ctx.spec, GkeHook(gcp_conn_id=ctx.gcp_conn_id)
    where = {"project_id": spec.project_id, "zone": spec.cluster.zone, "cluster": spec.cluster.name}
    operations, adopted, problems = {}, [], []
    for pool in spec.tpu.node_pools:
        existing = hook.get_node_pool(**where, name=pool.name)
        check_node_pool(spec, pool, existing)
        if existing is None:
            operations[pool.name] = hook.create_node_pool(**where, body=node_pool_body(spec, pool))
            ctx.log.info("Creating node pool %s (operation %s)", pool.name, operations[pool.name])
        elif mismatches := node_pool_mismatches(pool, existing):
            problems.append(f"{pool.name}: " + "; ".join(mismatches))
        else:
            adopted.append(pool.name)
    if problems:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            "existing node pools do not match the spec: "
            + " | ".join(problems)
            + ". Nothing was changed; delete them or change the TPU parameters.",
        )
    if adopted:
        ctx.log.info("Adopting existing node pools: %s", ", ".join(adopted))
    return Wait(
        probe="node_pools_settled",
        arguments=ctx.probe_arguments(**where, pools=[p.name for p in spec.tpu.node_pools]),
        timeout=spec.waits.operation_timeout,
        description=f"{len(spec.tpu.node_pools)} TPU node pools",
        then="saxml_gke.steps.node_pools:node_pools_settled",
        carry={"operations": operations, "adopted": adopted, "started": time.time()},
    )


def node_pools_settled(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result:
    spec = ctx.spec
    failed = {name: pool for name, pool in result.items() if pool["status"] != "RUNNING"}
    if failed:
        messages = "; ".join(
            f"{name} {pool['status']}: {pool['message']}" for name, pool in failed.items()
        )
        kinds = {classify_operation_error(0, pool["message"]) for pool in failed.values()}
        kind = ErrorKind.CAPACITY if ErrorKind.CAPACITY in kinds else ErrorKind.PERMANENT
        if kind is ErrorKind.CAPACITY:
            messages += ". " + capacity_advice(
                spec.cluster.zone, spec.tpu.machine_type, spec.tpu.capacity
            )
        raise DeploymentError(kind, f"TPU node pools failed: {messages}")
    ctx.log.info("TPU node pools RUNNING: %s", ", ".join(result))
    return {
        "pools": sorted(result),
        "operations": carry["operations"],
        "adopted": carry["adopted"],
        "nodes": spec.tpu.nodes_per_slice * spec.tpu.slices,
        "chips": spec.tpu.chips_per_slice * spec.tpu.slices,
        "wait_seconds": elapsed_since(carry["started"]),
    }
