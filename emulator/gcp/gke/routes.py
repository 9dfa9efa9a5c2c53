"""The container v1 REST surface: paths, method ids, authorization, and proto JSON in and out.

Every method is served under `projects/*/locations/*` (what the client libraries and Airflow's
GKEHook use) and under the legacy `projects/*/zones/*` form, each route named with its
discovery method id so injected faults match it. A path may name the project by ID or number.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import proto
from aiohttp import web
from google.cloud import container_v1

from emulator.core.http import json_response
from emulator.gcp.gke import names
from emulator.gcp.gke.protojson import parse, render, wants_enum_numbers

if TYPE_CHECKING:
    from emulator.gcp.gke.service import GkeService

Handler = Callable[[web.Request], Awaitable[web.Response]]

_CLUSTERS = "/clusters"
_CLUSTER = "/clusters/{cluster}"
_CLUSTER_LABELS = "/clusters/{cluster}:setResourceLabels"
_NODE_POOLS = "/clusters/{cluster}/nodePools"
_NODE_POOL = "/clusters/{cluster}/nodePools/{node_pool}"
_OPERATIONS = "/operations"
_OPERATION = "/operations/{operation}"


def _respond(request: web.Request, message: proto.Message) -> web.Response:
    return json_response(render(message, wants_enum_numbers(request.query.get("$alt", ""))))


class _Handlers:
    def __init__(self, service: GkeService) -> None:
        self.service = service

    def _place(self, request: web.Request) -> tuple[str, str]:
        """The project ID (a path may carry the project number instead) and the location."""
        world = self.service.world
        project = request.match_info["project"]
        if project == world.project_number:
            project = world.project_id
        return project, request.match_info["location"]

    async def _authorized(
        self, request: web.Request, permission: str, *path: str
    ) -> tuple[str, str, list[str]]:
        """Authorize `permission` on the resource the path names; return its parts."""
        project, location = self._place(request)
        parts = [request.match_info[part] for part in path]
        resource = "/".join([names.location_path(project, location), *parts])
        await self.service.world.authorize(request, permission, resource)
        return project, location, parts

    async def create_cluster(self, request: web.Request) -> web.Response:
        project, location, _ = await self._authorized(request, "container.clusters.create")
        body = parse(container_v1.CreateClusterRequest, await request.text())
        return _respond(request, self.service.create_cluster(project, location, body.cluster))

    async def list_clusters(self, request: web.Request) -> web.Response:
        project, location, _ = await self._authorized(request, "container.clusters.list")
        return _respond(request, self.service.list_clusters(project, location))

    async def get_cluster(self, request: web.Request) -> web.Response:
        project, location, (cluster,) = await self._authorized(
            request, "container.clusters.get", "cluster"
        )
        return _respond(request, self.service.get_cluster(project, location, cluster))

    async def delete_cluster(self, request: web.Request) -> web.Response:
        project, location, (cluster,) = await self._authorized(
            request, "container.clusters.delete", "cluster"
        )
        return _respond(request, self.service.delete_cluster(project, location, cluster))

    async def set_resource_labels(self, request: web.Request) -> web.Response:
        project, location, (cluster,) = await self._authorized(
            request, "container.clusters.update", "cluster"
        )
        body = parse(container_v1.SetLabelsRequest, await request.text())
        operation = self.service.set_resource_labels(
            project, location, cluster, dict(body.resource_labels)
        )
        return _respond(request, operation)

    async def update_node_pool(self, request: web.Request) -> web.Response:
        project, location, (cluster, pool) = await self._authorized(
            request, "container.clusters.update", "cluster", "node_pool"
        )
        body = parse(container_v1.UpdateNodePoolRequest, await request.text())
        labels = dict(body.resource_labels.labels)
        operation = self.service.update_node_pool_labels(project, location, cluster, pool, labels)
        return _respond(request, operation)

    async def create_node_pool(self, request: web.Request) -> web.Response:
        project, location, (cluster,) = await self._authorized(
            request, "container.clusters.update", "cluster"
        )
        body = parse(container_v1.CreateNodePoolRequest, await request.text())
        operation = self.service.create_node_pool(project, location, cluster, body.node_pool)
        return _respond(request, operation)

    async def list_node_pools(self, request: web.Request) -> web.Response:
        project, location, (cluster,) = await self._authorized(
            request, "container.clusters.get", "cluster"
        )
        return _respond(request, self.service.list_node_pools(project, location, cluster))

    async def get_node_pool(self, request: web.Request) -> web.Response:
        project, location, (cluster, pool) = await self._authorized(
            request, "container.clusters.get", "cluster", "node_pool"
        )
        return _respond(request, self.service.get_node_pool(project, location, cluster, pool))

    async def delete_node_pool(self, request: web.Request) -> web.Response:
        project, location, (cluster, pool) = await self._authorized(
            request, "container.clusters.update", "cluster", "node_pool"
        )
        return _respond(request, self.service.delete_node_pool(project, location, cluster, pool))

    async def get_operation(self, request: web.Request) -> web.Response:
        project, location, (operation,) = await self._authorized(
            request, "container.operations.get", "operation"
        )
        return _respond(request, self.service.get_operation(project, location, operation))

    async def list_operations(self, request: web.Request) -> web.Response:
        project, location, _ = await self._authorized(request, "container.operations.list")
        return _respond(request, self.service.list_operations(project, location))

    async def server_config(self, request: web.Request) -> web.Response:
        _, location, _ = await self._authorized(request, "container.clusters.list")
        return _respond(request, self.service.server_config(location))


def gke_routes(service: GkeService) -> list[web.RouteDef]:
    handlers = _Handlers(service)
    methods: list[tuple[str, str, str, Handler]] = [
        ("POST", _CLUSTERS, "clusters.create", handlers.create_cluster),
        ("GET", _CLUSTERS, "clusters.list", handlers.list_clusters),
        ("GET", _CLUSTER, "clusters.get", handlers.get_cluster),
        ("DELETE", _CLUSTER, "clusters.delete", handlers.delete_cluster),
        ("POST", _CLUSTER_LABELS, "clusters.setResourceLabels", handlers.set_resource_labels),
        ("POST", _NODE_POOLS, "clusters.nodePools.create", handlers.create_node_pool),
        ("GET", _NODE_POOLS, "clusters.nodePools.list", handlers.list_node_pools),
        ("GET", _NODE_POOL, "clusters.nodePools.get", handlers.get_node_pool),
        ("DELETE", _NODE_POOL, "clusters.nodePools.delete", handlers.delete_node_pool),
        ("PUT", _NODE_POOL, "clusters.nodePools.update", handlers.update_node_pool),
        ("GET", _OPERATION, "operations.get", handlers.get_operation),
        ("GET", _OPERATIONS, "operations.list", handlers.list_operations),
    ]
    routes = [
        web.route(
            method,
            f"/v1/projects/{{project}}/{family}/{{location}}{path}",
            handler,
            name=f"container.projects.{family}.{method_id}",
        )
        for family in ("locations", "zones")
        for method, path, method_id, handler in methods
    ]
    routes += [
        web.get(
            "/v1/projects/{project}/locations/{location}/serverConfig",
            handlers.server_config,
            name="container.projects.locations.getServerConfig",
        ),
        web.get(
            "/v1/projects/{project}/zones/{location}/serverconfig",
            handlers.server_config,
            name="container.projects.zones.getServerconfig",
        ),
    ]
    return routes
