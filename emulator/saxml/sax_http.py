"""The `sax-http` image: an HTTP front end (port 8888) over Saxml's Python client.

Tags before v1.2.0 run the stdlib server (`http_stdlib`), later ones (and nightly builds) the
FastAPI server (`http_fastapi`); both share one process (`http_process`).
"""

from collections.abc import Mapping
from typing import Any

from emulator.kube.kubelet.behaviour import ContainerBehaviour, ContainerContext
from emulator.saxml import http_fastapi, http_stdlib
from emulator.saxml.glog import FATAL_EXIT_CODE
from emulator.saxml.http_process import SaxHttpProcess
from emulator.saxml.images import HTTP_SERVER, fastapi_http, image_name
from emulator.saxml.processes import SaxProcesses, unless_stopped

PORT = 8888


class SaxHttpImage(ContainerBehaviour):
    image_pull_seconds = 12.0
    image_size_bytes = 420_000_000

    def __init__(self, processes: SaxProcesses) -> None:
        self.processes = processes

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return image_name(str(container.get("image", ""))) == HTTP_SERVER

    async def run(self, ctx: ContainerContext) -> int | None:
        process = SaxHttpProcess(ctx, self.processes)
        if fastapi_http(str(ctx.container.get("image", ""))):
            app = http_fastapi.app(process)
            for line in http_fastapi.STARTUP_LINES:
                ctx.log(line)
        else:
            app = http_stdlib.app(process)
        await ctx.serve_http(PORT, app)
        return FATAL_EXIT_CODE if await unless_stopped(ctx, process.died) else 0
