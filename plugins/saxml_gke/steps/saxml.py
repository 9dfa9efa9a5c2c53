"""Saxml: deploy the workloads, wait for them, publish the model, smoke-test it."""

import time
from typing import Any

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.hooks.saxml import SaxmlHook
from saxml_gke.manifests import render_objects
from saxml_gke.spec import DeploymentSpec
from saxml_gke.steps.base import Result, StepContext, Wait, elapsed_since, now_iso


def deploy_saxml(ctx: StepContext) -> Result:
    objects = render_objects(ctx.spec, ctx.upstream["ensure_http_address"]["ip"])
    KubeHook(**ctx.cluster_access(), gcp_conn_id=ctx.gcp_conn_id).apply(objects)
    names = [f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects]
    ctx.log.info("Applied %s", ", ".join(names))
    return {"objects": names, "applied_at": now_iso()}


def wait_for_pods(ctx: StepContext) -> Wait:
    spec = ctx.spec
    expected = 2 + spec.tpu.slices * spec.tpu.nodes_per_slice  # admin + sax-http + model servers
    return Wait(
        probe="pods_ready",
        arguments=ctx.probe_arguments(
            cluster=ctx.cluster_access(),
            namespace=spec.identity.namespace,
            label_selector=spec.owner.selector(),
            expected=expected,
        ),
        timeout=spec.waits.pods_timeout,
        description=f"{expected} Saxml pods Ready",
        then="saxml_gke.steps.saxml:pods_ready",
        carry={"started": time.time()},
    )


def pods_ready(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result:
    return {**result, "wait_seconds": elapsed_since(carry["started"]), "ready_at": now_iso()}


def wait_for_http_address(ctx: StepContext) -> Result | Wait:
    spec = ctx.spec
    if spec.saxml.http_exposure == "none":
        return {"address": None, "exposure": "none"}
    return Wait(
        probe="service_address",
        arguments=ctx.probe_arguments(
            cluster=ctx.cluster_access(),
            namespace=spec.identity.namespace,
            name=spec.saxml.http_service,
        ),
        timeout=spec.waits.pods_timeout,
        description=f"the {spec.saxml.http_exposure} load balancer address",
        then="saxml_gke.steps.saxml:http_address",
    )


def http_address(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result:
    endpoint = f"http://{result['address']}:8888"
    ctx.log.info("sax-http is reachable at %s (%s)", endpoint, ctx.spec.saxml.http_exposure)
    return {"address": result["address"], "endpoint": endpoint,
            "exposure": ctx.spec.saxml.http_exposure}  # fmt: skip


def publish_model(ctx: StepContext) -> Result:
    """Idempotent: published with this path = nothing (or a replica update); another path =
    an error, since Saxml cannot change a published model's path."""
    saxml = _saxml(ctx)
    model = ctx.spec.saxml
    current = saxml.listcell(model.model_key)
    if current is None:
        saxml.publish(model.model_key, model.model_path, model.checkpoint, model.model_replicas)
        action = "published"
    elif current.model_path != model.model_path or current.checkpoint != model.checkpoint:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"{model.model_key} is already published with {current.model_path} "
            f"(checkpoint {current.checkpoint}); unpublish it first or choose another model_key",
        )
    elif current.max_replicas != model.model_replicas:
        saxml.update(model.model_key, model.model_path, model.checkpoint, model.model_replicas)
        action = f"updated replicas {current.max_replicas} -> {model.model_replicas}"
    else:
        action = "unchanged"
    ctx.log.info("%s: %s (%s, %d replicas)", model.model_key, action, model.model_path,
                 model.model_replicas)  # fmt: skip
    return {"model": model.model_key, "action": action, "at": now_iso()}


def wait_for_model_loaded(ctx: StepContext) -> Wait:
    spec = ctx.spec
    return Wait(
        probe="model_loaded",
        arguments=ctx.probe_arguments(
            cluster=ctx.cluster_access(),
            namespace=spec.identity.namespace,
            leader_selector=leader_selector(spec),
            model_key=spec.saxml.model_key,
            model_path=spec.saxml.model_path,
            replicas=spec.saxml.model_replicas,
        ),
        timeout=spec.waits.model_load_timeout,
        description=f"{spec.saxml.model_key} loaded on {spec.saxml.model_replicas} replicas",
        then="saxml_gke.steps.saxml:model_loaded",
        carry={"started": time.time()},
    )


def model_loaded(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result:
    return {**result, "wait_seconds": elapsed_since(carry["started"]), "loaded_at": now_iso()}


def smoke_test(ctx: StepContext) -> Result:
    model = ctx.spec.saxml
    started = time.monotonic()
    samples = _saxml(ctx).generate(model.model_key, model.prompt)
    latency = round(time.monotonic() - started, 3)
    if not samples or not samples[0][0].strip():
        raise DeploymentError(ErrorKind.PERMANENT, f"generate returned no text: {samples!r}")
    answer, score = samples[0]
    ctx.log.info("generate(%r) -> %r (score %.3f) in %.3f s", model.prompt, answer, score, latency)
    return {"prompt": model.prompt, "answer": answer, "score": score,
            "samples": len(samples), "latency_seconds": latency}  # fmt: skip


def leader_selector(spec: DeploymentSpec) -> str:
    """Process 0 of every slice: only it joins the admin and logs model loads."""
    return (
        f"jobset.sigs.k8s.io/jobset-name={spec.saxml.model_jobset},"
        "batch.kubernetes.io/job-completion-index=0"
    )


def _saxml(ctx: StepContext) -> SaxmlHook:
    kube = KubeHook(**ctx.cluster_access(), gcp_conn_id=ctx.gcp_conn_id)
    return SaxmlHook(
        kube, namespace=ctx.spec.identity.namespace, service=ctx.spec.saxml.http_service
    )
