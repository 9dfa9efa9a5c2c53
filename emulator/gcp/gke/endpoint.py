"""The HTTPS endpoint of one cluster's control plane (`https://<cluster.endpoint>`).

It serves TLS with a certificate from the cluster's own CA and accepts only callers whose Google
access token grants `container.clusters.get`, as GKE's does. What answers behind it is a
`ControlPlane`: by default `VersionOnlyControlPlane` (`/version`, `/healthz`); the Kubernetes half
of the emulator provides the full API server through `GkeService.control_plane_factory`
(`emulator.kube.cluster.KubeCluster` has this shape).
"""

import socket
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from emulator.core.errors import GoogleApiError
from emulator.core.world import World
from emulator.gcp.gke.certificates import ClusterAuthority
from emulator.kube.cluster import NodeSpec
from emulator.kube.version import version_info

_KUBERNETES_REASONS = {401: "Unauthorized", 403: "Forbidden"}


class ControlPlane(Protocol):
    """What runs behind a cluster endpoint while the cluster's control plane is up."""

    def routes(self) -> list[web.RouteDef]: ...

    def sync_nodes(self, nodes: Sequence[NodeSpec]) -> None:
        """The cluster's nodes changed (a pool came up or went away); here are all of them."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def dump(self) -> dict[str, Any]: ...

    def load(self, state: dict[str, Any]) -> None: ...


# Called with the cluster's name, zone and master version.
ControlPlaneFactory = Callable[[str, str, str], ControlPlane]


class VersionOnlyControlPlane:
    """An API server that answers only `/version` and `/healthz`, and keeps no state."""

    def __init__(self, name: str, location: str, version: str) -> None:
        self.version = version

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/version", self._version), web.get("/healthz", self._healthz)]

    def sync_nodes(self, nodes: Sequence[NodeSpec]) -> None:
        """Nodes matter only to a control plane that schedules Pods."""

    async def start(self) -> None:
        """Nothing runs in the background."""

    async def stop(self) -> None:
        """Nothing runs in the background."""

    def dump(self) -> dict[str, Any]:
        return {}

    def load(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(version_info(self.version))

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")


def kubernetes_status(code: int, message: str) -> web.Response:
    """A Kubernetes `Status` failure, the body every API server error has."""
    return web.json_response(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": _KUBERNETES_REASONS.get(code, "InternalError"),
            "code": code,
        },
        status=code,
    )


class ClusterEndpoint:
    """One cluster's control plane behind TLS on a fixed loopback port."""

    def __init__(
        self,
        world: World,
        cluster_path: str,
        authority: ClusterAuthority,
        control_plane: ControlPlane,
    ) -> None:
        self.world = world
        self.cluster_path = cluster_path
        self.authority = authority
        self.control_plane = control_plane
        self.app = web.Application(middlewares=[self._require_google_token])
        self.app.add_routes(control_plane.routes())
        self._runner: web.AppRunner | None = None

    @web.middleware
    async def _require_google_token(
        self, request: web.Request, handler: Callable
    ) -> web.StreamResponse:
        try:
            await self.world.authorize(request, "container.clusters.get", self.cluster_path)
        except GoogleApiError as error:
            return kubernetes_status(error.code, error.message)
        return await handler(request)

    async def start(self, port: int = 0) -> int:
        """Serve on 127.0.0.1:`port` (0: any free port) and start the control plane."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        await web.SockSite(
            runner, listener, ssl_context=self.authority.server_ssl_context()
        ).start()
        self._runner = runner
        await self.control_plane.start()
        return listener.getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self.control_plane.stop()
            await self._runner.cleanup()
            self._runner = None
