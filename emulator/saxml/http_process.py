"""The sax-http process's shared state: its Saxml client, its log, and how it dies.

The client reads `SAX_ROOT`; without it, the embedded Go code calls `log.Fatal` on the first
Saxml call and the whole process dies mid-request. A call that would block forever (an
unreachable admin, a model no server has loaded) is cut off after `WAIT_LIMIT_SECONDS` by
dropping the connection, which is what a caller's own timeout would have ended with.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulator.kube.kubelet.behaviour import ContainerContext
from emulator.kube.workload_identity import PodStorage
from emulator.saxml.cellfs import NO_SAX_ROOT, Files, LocalFiles
from emulator.saxml.client import GaveUp, SaxClient
from emulator.saxml.glog import Glog
from emulator.saxml.processes import SaxProcesses

WAIT_LIMIT_SECONDS = 1800.0  # modelled; longer than a loading 175B model takes
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ProcessDied(Exception):
    """The process exited while handling the request."""


class HangUp(Exception):
    """The handler failed before answering: the connection closes without a response."""


class SaxHttpProcess:
    """What the server's handlers share: the Saxml client, the log, and whether it died."""

    def __init__(self, ctx: ContainerContext, processes: SaxProcesses) -> None:
        self.ctx = ctx
        self.died = asyncio.Event()
        sax_root = ctx.env.get("SAX_ROOT", "")
        files: Files = (
            PodStorage(ctx.cluster, ctx.pod) if sax_root.startswith("gs://") else LocalFiles()
        )
        self.sax_root = sax_root
        self._client = SaxClient(
            processes, files, sax_root, ctx.world.clock, ctx.sleep, WAIT_LIMIT_SECONDS
        )

    def log(self, line: str) -> None:
        self.ctx.log(line)

    def client(self) -> SaxClient:
        """The client, once its Go half has found SAX_ROOT (else the process dies)."""
        if not self.sax_root:
            Glog(self.ctx, self.ctx.world.clock.now).fatal("cloud.go:84", NO_SAX_ROOT)
            self.died.set()
            raise ProcessDied()
        return self._client


def dropping_connections() -> Callable[[web.Request, Handler], Any]:
    """Middleware: a request whose process died, that waited too long or whose handler hung up
    gets no answer."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (ProcessDied, GaveUp, HangUp):
            if request.transport is not None:
                request.transport.close()
            return web.Response()

    return middleware


def application() -> web.Application:
    """An app whose requests are dropped when the process dies or a call waits too long."""
    return web.Application(middlewares=[dropping_connections()])
