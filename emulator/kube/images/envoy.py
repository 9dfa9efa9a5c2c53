"""The Envoy proxy image (`envoyproxy/envoy`), as a pod's sidecar runs it: a static
configuration given inline with `--config-yaml` (the image's entrypoint runs `envoy` with
arguments that start with `-`).

Understood: listeners of one HTTP connection manager whose virtual hosts route by exact `path`
or `prefix` (the query string aside, no normalization) to STATIC clusters of one endpoint,
within the route's `timeout` (default 15 s, `0s` none; modelled seconds). A request no route
matches gets Envoy's empty 404 and never reaches a cluster; an endpoint that refuses or drops
the connection gets Envoy's 503, one that outlasts the timeout its 504. A configuration outside
this subset (or none, or `-c FILE`) fails as Envoy does on one it cannot load: a critical log
line and exit code 1, so nothing unmodelled runs silently.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from yarl import URL

from emulator.kube.kubelet.behaviour import ContainerBehaviour, ContainerContext
from emulator.kube.kubelet.images import image_repository

REPOSITORIES = ("envoyproxy/envoy", "docker.io/envoyproxy/envoy")
HTTP_CONNECTION_MANAGER = "envoy.filters.network.http_connection_manager"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade"}
_RESET = "upstream connect error or disconnect/reset before headers. reset reason: "


class UnsupportedConfig(ValueError):
    """A configuration Envoy would refuse, or one the emulator does not model."""


@dataclass(frozen=True)
class Route:
    path: str | None
    prefix: str | None
    cluster: str
    timeout: float = 15.0  # modelled seconds; 0: none

    def matches(self, path: str) -> bool:
        return path == self.path if self.path is not None else path.startswith(str(self.prefix))


@dataclass(frozen=True)
class Listener:
    port: int
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class Config:
    listeners: tuple[Listener, ...]
    clusters: dict[str, tuple[str, int]]  # name -> its one endpoint (address, port)


def parse_config(args: list[str]) -> Config:
    """The static configuration of `--config-yaml`; raises UnsupportedConfig."""
    if "--config-yaml" not in args[:-1] or any(a in ("-c", "--config-path") for a in args):
        raise UnsupportedConfig("only an inline --config-yaml configuration is modelled")
    try:
        document = yaml.safe_load(args[args.index("--config-yaml") + 1])
        resources = document["static_resources"]
        clusters = {c["name"]: _endpoint(c) for c in resources.get("clusters") or []}
        listeners = tuple(_listener(listener) for listener in resources["listeners"])
    except (yaml.YAMLError, KeyError, TypeError, IndexError, ValueError) as error:
        raise UnsupportedConfig(f"malformed static_resources: {error!r}") from None
    for route in (route for listener in listeners for route in listener.routes):
        if route.cluster not in clusters:
            raise UnsupportedConfig(f"route: unknown cluster '{route.cluster}'")
    return Config(listeners, clusters)


def _endpoint(cluster: Mapping[str, Any]) -> tuple[str, int]:
    if cluster.get("type") != "STATIC":
        raise UnsupportedConfig(f"cluster {cluster['name']}: only STATIC clusters are modelled")
    (locality,) = cluster["load_assignment"]["endpoints"]
    (endpoint,) = locality["lb_endpoints"]
    address = endpoint["endpoint"]["address"]["socket_address"]
    return str(address["address"]), int(address["port_value"])


def _listener(listener: Mapping[str, Any]) -> Listener:
    port = int(listener["address"]["socket_address"]["port_value"])
    (chain,) = listener["filter_chains"]
    (manager,) = chain["filters"]
    if manager["name"] != HTTP_CONNECTION_MANAGER:
        raise UnsupportedConfig(f"listener {listener['name']}: only {HTTP_CONNECTION_MANAGER}")
    hosts = manager["typed_config"]["route_config"]["virtual_hosts"]
    if any(host["domains"] != ["*"] for host in hosts):
        raise UnsupportedConfig('virtual hosts: only domains ["*"] are modelled')
    return Listener(port, tuple(_route(route) for host in hosts for route in host["routes"]))


def _route(route: Mapping[str, Any]) -> Route:
    match = route["match"]
    if set(match) not in ({"path"}, {"prefix"}):
        raise UnsupportedConfig(f"route match {match}: only path or prefix is modelled")
    action = route["route"]
    timeout = str(action.get("timeout", "15s"))
    if not timeout.endswith("s"):
        raise UnsupportedConfig(f"route timeout {timeout}: a duration in seconds, e.g. 15s")
    return Route(match.get("path"), match.get("prefix"), action["cluster"], float(timeout[:-1]))


class EnvoyImage(ContainerBehaviour):
    image_pull_seconds = 4.0
    image_size_bytes = 60_000_000
    start_seconds = 1.0

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return image_repository(str(container.get("image", ""))) in REPOSITORIES

    async def run(self, ctx: ContainerContext) -> int | None:
        try:
            config = parse_config([*ctx.command, *ctx.args])
        except UnsupportedConfig as error:
            ctx.log(f"[critical][main] error initializing configuration '': {error}")
            return 1
        for listener in config.listeners:
            await ctx.serve_http(listener.port, _app(ctx, listener, config.clusters))
        ctx.log("[info][main] starting main dispatch loop")
        await ctx.wait_until_stopped()
        return 0


def _app(
    ctx: ContainerContext, listener: Listener, clusters: Mapping[str, tuple[str, int]]
) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        route = next(
            (r for r in listener.routes if r.matches(request.raw_path.split("?")[0])), None
        )
        if route is None:
            return web.Response(status=404, headers={"server": "envoy"})
        timeout = ctx.world.clock.scaled(route.timeout) or None
        return await _forward(request, _resolve(ctx, *clusters[route.cluster]), timeout)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _resolve(ctx: ContainerContext, address: str, port: int) -> tuple[str, int] | None:
    """The real listener of an endpoint: loopback is the pod's own network namespace."""
    host = ctx.pod_ip if address.startswith("127.") else address
    return ctx.cluster.network.resolve(host, port)


def _envoy_says(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, headers={"server": "envoy"})


async def _forward(
    request: web.Request, target: tuple[str, int] | None, timeout: float | None
) -> web.StreamResponse:
    if target is None:
        return _envoy_says(503, f"{_RESET}connection failure")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    try:
        async with (
            aiohttp.ClientSession(
                auto_decompress=False, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as session,
            session.request(
                request.method,
                URL(f"http://{target[0]}:{target[1]}{request.raw_path}", encoded=True),
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as upstream,
        ):
            body = await upstream.read()
    except aiohttp.ClientConnectorError:
        return _envoy_says(503, f"{_RESET}connection failure")
    except aiohttp.ClientConnectionError:
        return _envoy_says(503, f"{_RESET}connection termination")
    except TimeoutError:
        return _envoy_says(504, "upstream request timeout")
    reply = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
    return web.Response(status=upstream.status, body=body, headers={**reply, "server": "envoy"})
