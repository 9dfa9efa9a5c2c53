"""JobSet's controller manager (`registry.k8s.io/jobset/jobset:<tag>`), as the release manifest
runs it: Deployment `jobset-system/jobset-controller-manager`, probes on port 8081, webhook
server on 9443 behind Service `jobset-webhook-service`.

The process starts its probe server at once (`/healthz` is a ping; `/readyz` is the webhook
server's started check, which dials the webhook port), then spends a while on internal cert
management (generating the serving certificate and waiting for it in the mounted Secret) before
its webhook server listens. From then on the pod turns Ready on its next readiness probe, the
webhook Service gets a ready endpoint, the API server's JobSet and pod webhooks answer, and the
Deployment becomes Available, which is when the JobSet controller reconciles
(`JobSetController.active`). Until then, creating a JobSet fails closed, as on a cluster where
JobSet was just installed.

While the `jobset-webhook-down` scenario is on, the managers' webhook servers do not answer:
connections are refused, `/readyz` fails, the pod turns NotReady and the webhook calls find no
endpoint.
"""

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from emulator.kube.apiserver.timestamps import rfc3339_nano
from emulator.kube.controllers.jobset_webhooks import JobSetWebhooks
from emulator.kube.faults import kube_faults
from emulator.kube.kubelet.behaviour import ContainerBehaviour, ContainerContext
from emulator.kube.kubelet.images import image_repository

IMAGE = "registry.k8s.io/jobset/jobset"
PROBE_PORT = 8081
WEBHOOK_PORT = 9443
CERT_SECONDS = 30.0  # generate the CA and serving cert, then wait to see them in the Secret volume


class JobSetManagerImage(ContainerBehaviour):
    image_pull_seconds = 4.0
    image_size_bytes = 31_457_280
    start_seconds = 1.0

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return image_repository(str(container.get("image", ""))) == IMAGE

    async def run(self, ctx: ContainerContext) -> int | None:
        log = _ManagerLog(ctx)
        log.info("setup", "starting manager")
        await ctx.serve_http(PROBE_PORT, _probe_app(ctx))
        log.info("controller-runtime.metrics", "Starting metrics server")
        log.info("setup", "starting health probes", addr=f"[::]:{PROBE_PORT}")
        log.info("cert-rotation", "refreshing CA and server certs")
        if not await ctx.sleep(CERT_SECONDS):
            return 0
        log.info("cert-rotation", "server certs refreshed")
        handlers = JobSetWebhooks(ctx.cluster.store).handlers()
        for path in handlers:
            log.info("controller-runtime.webhook", "Registering webhook", path=path)
        log.info("controller-runtime.webhook", "Starting webhook server")
        log.info("leader-election", "successfully acquired lease jobset-system/6d4f6a47.x-k8s.io")
        log.info("jobset", "Starting Controller", controller="jobset")
        log.info("jobset", "Starting workers", controller="jobset", **{"worker count": 1})
        faults = kube_faults(ctx.world)
        serving = False
        while not ctx.stopping:
            changed = faults.changed
            if serving == faults.jobset_webhooks_down:
                serving = not faults.jobset_webhooks_down
                if serving:
                    await ctx.serve_admission(WEBHOOK_PORT, handlers)
                    log.info(
                        "controller-runtime.webhook", "Serving webhook server", port=WEBHOOK_PORT
                    )
                else:
                    await ctx.stop_serving(WEBHOOK_PORT)
            await _until_either(ctx, changed)
        log.info("setup", "Stopping and waiting for non leader election runnables")
        return 0


def _probe_app(ctx: ContainerContext) -> web.Application:
    """healthz.Ping, and readyz as the webhook server's StartedChecker (a dial of its port)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(request: web.Request) -> web.Response:
        if ctx.cluster.network.resolve(ctx.pod_ip, WEBHOOK_PORT) is None:
            return web.Response(
                status=500, text="[-]readyz failed: reason withheld\nhealthz check failed\n"
            )
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
    return app


async def _until_either(ctx: ContainerContext, changed: asyncio.Event) -> None:
    """Wait for a stop request or a change of the scenario."""
    waits = {asyncio.ensure_future(ctx.wait_until_stopped()), asyncio.ensure_future(changed.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waits:
            waiter.cancel()


class _ManagerLog:
    """controller-runtime's zap JSON lines."""

    def __init__(self, ctx: ContainerContext) -> None:
        self.ctx = ctx

    def info(self, logger: str, message: str, **fields: Any) -> None:
        self._write("info", logger, message, fields)

    def _write(self, level: str, logger: str, message: str, fields: dict[str, Any]) -> None:
        now = rfc3339_nano(self.ctx.world.clock.now())
        entry = {"level": level, "ts": now, "logger": logger, "msg": message, **fields}
        self.ctx.log(json.dumps(entry))
