"""What runs inside a container: behaviours per image, and the context they run in.

Pods are not processes here. The kubelet asks `cluster.kubelet.behaviours` (in order) which
behaviour runs a container; none matching means `DefaultBehaviour`: log a line, keep running
until stopped. Part 3 registers the Saxml images' behaviours (admin server, model server,
sax-http) on the same contract: log lines, serve real ports, sleep modelled time, exit.
`ctx.cluster` is the whole cluster: e.g. `emulator.kube.workload_identity.PodStorage(ctx.cluster,
ctx.pod)` is Cloud Storage as the pod's client library sees it through Workload Identity.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from aiohttp import web

from emulator.kube.kubelet.env import expand
from emulator.kube.kubelet.logs import ContainerLog

if TYPE_CHECKING:
    from emulator.core.world import World
    from emulator.kube.cluster import KubeCluster
    from emulator.kube.webhooks import AdmissionHandler

StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def wait_for_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for `event` at most `timeout` wall seconds; whether it is set.

    Not `asyncio.wait_for`, which in Python 3.11 can swallow a cancellation.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()


class ContainerExit(Exception):
    """Raised by `ctx.exit(code)`: the container's process ends with `code`."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exit code {code}")
        self.code = code


class ContainerContext:
    """One run of one container, as its behaviour sees it.

    `pod` and `container` are the objects as they were when the container started; `env`,
    `command` and `args` are resolved as the kubelet passes them (`$(VAR)` expanded). Readiness
    follows Kubernetes: without a readinessProbe the container is ready once running; tcpSocket
    and httpGet probes check what the container really serves (`serve_http`, `serve_tcp`);
    exec probes ask `ContainerBehaviour.exec`, which by default answers with `ready`.
    """

    def __init__(
        self,
        cluster: "KubeCluster",
        pod: Mapping[str, Any],
        container: Mapping[str, Any],
        env: dict[str, str],
        restart_count: int,
        log: ContainerLog,
    ) -> None:
        self.cluster = cluster
        self.pod = pod
        self.container = container
        self.env = env
        self.command = [expand(part, env) for part in container.get("command") or []]
        self.args = [expand(part, env) for part in container.get("args") or []]
        self.restart_count = restart_count
        self.ready = True
        self._log = log
        self._stopping = asyncio.Event()
        self._servers: dict[int, Callable[[], Awaitable[None]]] = {}

    @property
    def world(self) -> "World":
        return self.cluster.world

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def pod_name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def node_name(self) -> str:
        return str(self.pod["spec"]["nodeName"])

    @property
    def pod_ip(self) -> str:
        """The pod's IP (its node's IP with hostNetwork), where its ports are reached."""
        return str(self.pod["status"]["podIP"])

    @property
    def host_ip(self) -> str:
        return str(self.pod["status"]["hostIP"])

    @property
    def is_init(self) -> bool:
        """An init container: the pod's app containers wait for it to exit 0."""
        names = [c["name"] for c in self.pod["spec"].get("initContainers") or []]
        return self.container["name"] in names

    @property
    def stopping(self) -> bool:
        """The kubelet has asked the container to stop (SIGTERM): finish and return."""
        return self._stopping.is_set()

    def log(self, line: str) -> None:
        """Write a line to the container's stdout (timestamped now)."""
        self._log.append(self.world.clock.now(), line)

    def set_ready(self, ready: bool) -> None:
        self.ready = ready

    def exit(self, code: int) -> NoReturn:
        raise ContainerExit(code)

    async def sleep(self, seconds: float) -> bool:
        """Wait a modelled duration; False if a stop request cut it short."""
        return not await wait_for_event(self._stopping, self.world.clock.scaled(seconds))

    async def wait_until_stopped(self) -> None:
        await self._stopping.wait()

    async def serve_http(self, port: int, app: web.Application) -> None:
        """Serve `app` as this container's `port` (pod IP:port reaches it)."""
        await self.stop_serving(port)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._register(port, runner.addresses[0][1], runner.cleanup)

    async def serve_tcp(self, port: int, handler: StreamHandler) -> None:
        """Serve raw TCP connections on this container's `port`."""
        await self.stop_serving(port)
        server = await asyncio.start_server(handler, "127.0.0.1", 0)

        async def close() -> None:
            server.close()
            await server.wait_closed()

        self._register(port, server.sockets[0].getsockname()[1], close)

    async def serve_admission(self, port: int, handlers: Mapping[str, "AdmissionHandler"]) -> None:
        """Serve admission webhooks on `port`: the API server calls `handlers[path]` in-process
        for a webhook whose Service reaches this port (TLS connections are accepted and closed)."""
        await self.serve_tcp(port, _hang_up)
        self.cluster.network.register_admission(self.pod_ip, port, handlers)

    async def stop_serving(self, port: int) -> None:
        """Close the server of `port`: connections to it are refused from now on."""
        close = self._servers.pop(port, None)
        if close is not None:
            await close()

    def request_stop(self) -> None:
        """The kubelet's SIGTERM."""
        self._stopping.set()

    async def close(self) -> None:
        """The kubelet's cleanup once the process is gone: its ports stop listening."""
        for port in list(self._servers):
            await self.stop_serving(port)
        self._log.close()

    def _register(self, port: int, real_port: int, close: Callable[[], Awaitable[None]]) -> None:
        network, pod_ip = self.cluster.network, self.pod_ip
        network.register_listener(pod_ip, port, ("127.0.0.1", real_port))

        async def unregister() -> None:
            if network.resolve(pod_ip, port) == ("127.0.0.1", real_port):
                network.unregister_listener(pod_ip, port)
            await close()

        self._servers[port] = unregister


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


class ContainerBehaviour:
    """How the containers of some image behave; subclass and add to `kubelet.behaviours`.

    Durations are modelled seconds. `pull_error` makes the image unpullable (the message is
    what the runtime reports, e.g. `not_found_pull_error(image)`).
    """

    image_pull_seconds: float = 5.0
    image_size_bytes: int = 50_000_000
    start_seconds: float = 2.0

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def pull_error(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
        return None

    async def run(self, ctx: ContainerContext) -> int | None:
        """The container's process: return (or `ctx.exit`) its exit code; None means 0."""
        raise NotImplementedError

    async def exec(self, ctx: ContainerContext, command: list[str]) -> tuple[int, str]:
        """`command` run in the container (exec probes): exit code and output."""
        return (0, "") if ctx.ready else (1, "")


class DefaultBehaviour(ContainerBehaviour):
    """Any image nobody modelled: it starts, says so, and runs until it is stopped (an init
    container's job is done once it has started)."""

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return True

    async def run(self, ctx: ContainerContext) -> int | None:
        ctx.log(f"Started {ctx.container['name']} ({ctx.container.get('image', '')})")
        if not ctx.is_init:
            await ctx.wait_until_stopped()
        return 0


def not_found_pull_error(image: str) -> str:
    """containerd's answer for a tag or repository that does not exist."""
    reference = normalized_image(image)
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{reference}": '
        f'failed to resolve reference "{reference}": {reference}: not found'
    )


def normalized_image(image: str) -> str:
    """`nginx:1.27` -> `docker.io/library/nginx:1.27`, as containerd names images."""
    first, _, rest = image.partition("/")
    if not rest:
        return f"docker.io/library/{image}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{image}"
    return image
