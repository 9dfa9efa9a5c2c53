"""The Kubernetes REST API of one cluster: routing, authorization, and the Status of every error.

Callers are GKE callers: a Google access token, and IAM permissions in the project named as
GKE names them (`container.pods.list`, `container.deployments.updateScale`,
`container.thirdPartyObjects.create` for custom resources). Without a valid token the answer is
401, without the permission 403, each a Kubernetes `Status`.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from emulator.core.errors import GoogleApiError
from emulator.kube.apiserver import discovery, logs, openapi, proxy, reads, tables
from emulator.kube.apiserver.admission import Admission, AdmissionHook
from emulator.kube.apiserver.paths import Target, not_found, parse_target, query_flag, query_int
from emulator.kube.apiserver.subresources import Subresources
from emulator.kube.apiserver.writes import (
    APPLY,
    DeleteOptions,
    WriteOptions,
    Writer,
    Written,
)
from emulator.kube.errors import KubeApiError, bad_request, invalid, method_not_allowed
from emulator.kube.faults import api_method
from emulator.kube.provreq.crd import provisioning_request_crd
from emulator.kube.resources import ResourceType
from emulator.kube.version import version_info

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

log = logging.getLogger(__name__)

_VERB_ACTIONS = {
    "get": "get",
    "list": "list",
    "watch": "list",
    "create": "create",
    "update": "update",
    "patch": "update",
    "delete": "delete",
    "deletecollection": "delete",
}
_SUBRESOURCE_ACTIONS = {
    ("log", "get"): "getLogs",
    ("status", "get"): "getStatus",
    ("status", "update"): "updateStatus",
    ("scale", "get"): "getScale",
    ("scale", "update"): "updateScale",
}
_FIELD_VALIDATION = ("", "Ignore", "Warn", "Strict")
_ERROR_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def permission(rtype: ResourceType, verb: str, subresource: str) -> str:
    """The IAM permission GKE checks for a Kubernetes request."""
    if subresource == "binding":
        return "container.bindings.create"
    action = _VERB_ACTIONS[verb]
    if rtype.crd is not None:
        return f"container.thirdPartyObjects.{action}"
    plural = rtype.plural
    if plural.startswith(rtype.kind.lower()):
        plural = rtype.kind[0].lower() + rtype.kind[1:] + plural[len(rtype.kind) :]
    if subresource == "proxy":
        return f"container.{plural}.proxy"
    return f"container.{plural}.{_SUBRESOURCE_ACTIONS.get((subresource, action), action)}"


def status_response(error: KubeApiError) -> web.Response:
    return web.json_response(error.status(), status=error.code)


class ApiServer:
    """Everything under `/api` and `/apis`, plus `/version` and the health endpoints."""

    def __init__(self, cluster: "KubeCluster") -> None:
        self.cluster = cluster
        self.admission: list[AdmissionHook] = []
        self.chain = Admission(cluster, self.admission)
        self.writer = Writer(cluster, self.chain)
        self.subresources = Subresources(cluster, self.writer)
        self.openapi = openapi.OpenApiDocuments(
            cluster.store.types, cluster.version, self.chain.crd_of
        )

    @property
    def cluster_resource(self) -> str:
        """The cluster as IAM names it; project-level grants apply to it."""
        cluster = self.cluster
        return (
            f"projects/{cluster.world.project_id}/locations/{cluster.location}"
            f"/clusters/{cluster.name}"
        )

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/version", self._version),
            web.get("/version/", self._version),
            web.get("/healthz", self._health),
            web.get("/livez", self._health),
            web.get("/readyz", self._health),
            web.get("/api", self._discovery),
            web.get("/api/", self._discovery),
            web.get("/apis", self._discovery),
            web.get("/apis/", self._discovery),
            web.get("/openapi/v2", self._openapi(openapi.serve_v2)),
            web.get("/openapi/v3", self._openapi(openapi.serve_v3_index)),
            web.get("/openapi/v3/{group_version:.+}", self._openapi(openapi.serve_v3)),
            web.route("*", "/api/{tail:.+}", self._serve),
            web.route("*", "/apis/{tail:.+}", self._serve),
        ]

    def bootstrap(self) -> None:
        """The objects every cluster starts with (kept when they exist, as after a restore),
        GKE's ProvisioningRequest CRD among them."""
        store = self.cluster.store
        crds = store.types.by_kind("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        crd = provisioning_request_crd()
        if store.find(crds, "", crd["metadata"]["name"]) is None:
            self.chain.default("CREATE", crds, crd, None)
            self.chain.committed("CREATE", crds, store.create(crds, crd))
        namespaces = store.types.by_kind("v1", "Namespace")
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if store.find(namespaces, "", name) is None:
                namespace: dict[str, Any] = {"metadata": {"name": name}}
                self.chain.default("CREATE", namespaces, namespace, None)
                store.create(namespaces, namespace)
            self.chain.populate_namespace(name)
        services = store.types.by_kind("v1", "Service")
        if store.find(services, "default", "kubernetes") is None:
            service: dict[str, Any] = {
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]
                },
            }
            self.chain.default("CREATE", services, service, None)
            store.create(services, service)

    async def create(
        self, rtype: ResourceType, obj: Mapping[str, Any], manager: str = "kube-controller-manager"
    ) -> dict[str, Any]:
        """Create as an in-cluster client would (controllers): the whole admission chain."""
        namespace = (obj.get("metadata") or {}).get("namespace", "") if rtype.namespaced else ""
        written = await self.writer.create(rtype, namespace, obj, WriteOptions(manager=manager))
        return written.obj

    # Public and discovery endpoints

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(version_info(self.cluster.version))

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _discovery(self, request: web.Request) -> web.Response:
        try:
            await self._authorize(request, None)
        except KubeApiError as error:
            return status_response(error)
        if request.path.rstrip("/") == "/api":
            return web.json_response(discovery.api_versions(request.host))
        return web.json_response(discovery.api_group_list(self.cluster.store.types))

    def _openapi(self, serve: openapi.Serve) -> Callable[[web.Request], Awaitable[web.Response]]:
        """A handler of OpenAPI documents, which callers read as they read discovery."""

        async def handle(request: web.Request) -> web.Response:
            try:
                await self._authorize(request, None)
            except KubeApiError as error:
                return status_response(error)
            return serve(request, self.openapi)

        return handle

    # Resources

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except KubeApiError as error:
            return status_response(error)
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path)
            error = KubeApiError(
                500,
                "InternalError",
                "an error on the server has prevented the request from succeeding",
            )
            return status_response(error)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        types = self.cluster.store.types
        segments = [s for s in request.path.split("/") if s]
        if segments[0] == "api":
            group, version, rest = "", segments[1], segments[2:]
        elif len(segments) == 2:
            await self._authorize(request, None)
            return web.json_response(discovery.api_group(types, segments[1]))
        else:
            group, version, rest = segments[1], segments[2], segments[3:]
        if not rest:
            await self._authorize(request, None)
            if request.method != "GET":
                raise method_not_allowed(
                    "the server does not allow this method on the requested resource"
                )
            return web.json_response(discovery.resource_list(types, group, version))
        target = parse_target(types, group, version, rest, request.path.endswith("/"))
        verb = _verb(request, target)
        await self._authorize(request, (target, verb))
        await self._injected_fault(target, verb)
        return await self._handle(request, target, verb)

    async def _injected_fault(self, target: Target, verb: str) -> None:
        """An injected method fault on `kubernetes.<verb>.<resource>` (`kube-api-errors`)."""
        resource = target.rtype.plural + (f"/{target.subresource}" if target.subresource else "")
        world = self.cluster.world
        fault = world.faults.take(api_method(verb, resource))
        if fault is None:
            return
        await asyncio.sleep(world.clock.scaled(fault.delay))
        if fault.status is not None:
            reason = _ERROR_REASONS.get(fault.status, "InternalError")
            raise KubeApiError(fault.status, reason, fault.message)

    async def _authorize(self, request: web.Request, action: tuple[Target, str] | None) -> None:
        world = self.cluster.world
        try:
            principal = await world.authorize(
                request, "container.clusters.get", self.cluster_resource
            )
            if action is not None:
                target, verb = action
                needed = permission(target.rtype, verb, target.subresource)
                try:
                    await world.authorize(request, needed, self.cluster_resource)
                except GoogleApiError as error:
                    if error.code != 403:
                        raise
                    raise _forbidden(principal, target, verb, needed) from None
        except GoogleApiError as error:
            if error.code == 401:
                raise KubeApiError(401, "Unauthorized", "Unauthorized") from None
            raise KubeApiError(403, "Forbidden", error.message) from None

    async def _handle(self, request: web.Request, target: Target, verb: str) -> web.StreamResponse:
        store = self.cluster.store
        rtype, namespace, name, sub = (
            target.rtype,
            target.namespace or "",
            target.name,
            target.subresource,
        )
        query = request.query
        if sub == "proxy":
            proxies = {("", "Service"): proxy.service_proxy, ("", "Pod"): proxy.pod_proxy}
            forward = proxies.get((rtype.group, rtype.kind))
            if forward is None:
                raise not_found()  # node proxies are not emulated
            return await forward(request, self.cluster, namespace, name or "", target.rest)
        if sub == "log":
            return await logs.pod_log(request, self.cluster, namespace, name or "")
        if sub in ("scale", "binding"):
            return _json(
                await self.subresources.handle(request, target, verb, _write_options(request))
            )
        tabular = self._tables(request, rtype) if verb in ("get", "list", "watch") else None
        if verb == "watch":
            stream = reads.WatchStream(
                store, self.cluster.world.clock, rtype, target.namespace, query, tabular
            )
            return await stream.serve(request)
        if verb == "list":
            listed = reads.list_objects(store, rtype, target.namespace, query)
            return web.json_response(tabular.of_list(listed) if tabular else listed)
        if verb == "get":
            obj = store.get(rtype, namespace, name or "")
            return web.json_response(tabular.of_object(obj) if tabular else obj)
        options = _write_options(request, apply=request.content_type == APPLY)
        if verb == "create":
            written = await self.writer.create(rtype, namespace, await _body(request), options)
        elif verb == "update":
            body = await _body(request)
            written = await self.writer.update(rtype, namespace, name or "", body, sub, options)
        elif verb == "patch":
            raw = await request.read()
            written = await self.writer.patch(
                rtype, namespace, name or "", request.content_type, raw, sub, options
            )
        elif verb == "delete":
            written = self.writer.delete(
                rtype, namespace, name or "", await _delete_options(request)
            )
        else:
            written = await self._delete_collection(request, target)
        return _json(written)

    def _tables(self, request: web.Request, rtype: ResourceType) -> tables.TableBuilder | None:
        """A builder of the Tables the request asks for (`kubectl get` asks), or None."""
        asked = tables.table_request(request.headers.get("Accept", ""), request.query)
        if asked is None:
            return None
        printer = tables.printer_for(rtype, self.chain.crd_of(rtype))
        return tables.TableBuilder(asked, printer, self.cluster.world.clock.now)

    async def _delete_collection(self, request: web.Request, target: Target) -> Written:
        options = await _delete_options(request)
        store = self.cluster.store
        warnings: list[str] = []
        for obj in store.list_objects(
            target.rtype, target.namespace, reads.selector(target.rtype, request.query)
        ):
            metadata = obj["metadata"]
            deleted = self.writer.delete(
                target.rtype, metadata.get("namespace", ""), metadata["name"], options
            )
            warnings = deleted.warnings
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return Written(status, 200, warnings)


def _verb(request: web.Request, target: Target) -> str:
    method = request.method
    if target.subresource == "proxy":
        return "get" if method in ("GET", "HEAD") else "create"
    if target.name is None:
        if method == "GET":
            return "watch" if query_flag(request.query, "watch") else "list"
        verbs = {"POST": "create", "DELETE": "deletecollection"}
    else:
        verbs = {
            "GET": "get",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
            "POST": "create",
        }
    if method not in verbs or (
        method == "POST" and target.name is not None and target.subresource != "binding"
    ):
        raise method_not_allowed("the server does not allow this method on the requested resource")
    if target.namespace is None and target.rtype.namespaced and verbs[method] != "list":
        raise not_found()
    return verbs[method]


def _forbidden(principal: str, target: Target, verb: str, needed: str) -> KubeApiError:
    rtype = target.rtype
    resource = f"{rtype.plural}/{target.subresource}" if target.subresource else rtype.plural
    subject = f'{rtype.plural} "{target.name}"' if target.name else rtype.plural
    scope = (
        f' in the namespace "{target.namespace}"' if target.namespace else " at the cluster scope"
    )
    message = (
        f'{subject} is forbidden: User "{principal}" cannot {verb} resource "{resource}" in API '
        f'group "{rtype.group}"{scope}: requires one of ["{needed}"] permission(s).'
    )
    details: dict[str, Any] = {"kind": rtype.plural}
    if rtype.group:
        details["group"] = rtype.group
    if target.name:
        details["name"] = target.name
    return KubeApiError(403, "Forbidden", message, details)


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        if "yaml" in request.content_type:
            return yaml.safe_load(raw)
        return json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as error:
        raise bad_request(f"couldn't get version/kind; json parse error: {error}") from None


def _write_options(request: web.Request, apply: bool = False) -> WriteOptions:
    query = request.query
    causes = []
    dry_run = query.getall("dryRun", [])
    if any(value != "All" for value in dry_run):
        causes.append(_not_supported("dryRun", dry_run[0], ['"All"']))
    validation = query.get("fieldValidation", "")
    if validation not in _FIELD_VALIDATION:
        causes.append(
            _not_supported("fieldValidation", validation, [f'"{v}"' for v in _FIELD_VALIDATION[1:]])
        )
    force = query.get("force")
    if force is not None and not apply:
        causes.append(
            {
                "reason": "FieldValueForbidden",
                "message": "Forbidden: may not be specified for non-apply patch",
                "field": "force",
            }
        )
    manager = query.get("fieldManager", "")
    if apply and not manager:
        causes.append(
            {
                "reason": "FieldValueRequired",
                "message": "Required value: is required for apply patch",
                "field": "fieldManager",
            }
        )
    if len(manager) > 128:
        causes.append(
            {
                "reason": "FieldValueTooLong",
                "message": "Too long: may not be longer than 128",
                "field": "fieldManager",
            }
        )
    if causes:
        kind = (
            "PatchOptions"
            if request.method == "PATCH"
            else ("CreateOptions" if request.method == "POST" else "UpdateOptions")
        )
        raise invalid(kind, "", causes, "meta.k8s.io")
    return WriteOptions(
        manager=manager or request.headers.get("User-Agent", "unknown").split("/")[0],
        field_validation=validation or "Strict",
        dry_run=bool(dry_run),
        force=query_flag(query, "force"),
    )


def _not_supported(field: str, value: str, supported: list[str]) -> dict[str, str]:
    return {
        "reason": "FieldValueNotSupported",
        "message": f'Unsupported value: "{value}": supported values: {", ".join(supported)}',
        "field": field,
    }


async def _delete_options(request: web.Request) -> DeleteOptions:
    raw = await request.read()
    body: Mapping[str, Any] = {}
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise bad_request(f"couldn't get version/kind; json parse error: {error}") from None
    query = request.query

    def pick(name: str) -> Any:
        return query.get(name) if name in query else body.get(name)

    picked = {name: pick(name) for name in ("gracePeriodSeconds", "orphanDependents")}
    dry_run = query.getall("dryRun", []) or body.get("dryRun") or []
    return DeleteOptions(
        propagation_policy=pick("propagationPolicy"),
        grace_period_seconds=query_int(picked, "gracePeriodSeconds"),
        orphan_dependents=(
            None if picked["orphanDependents"] is None else query_flag(picked, "orphanDependents")
        ),
        preconditions=body.get("preconditions"),
        dry_run=bool(dry_run),
    )


def _json(written: Written) -> web.Response:
    response = web.json_response(written.obj, status=written.code)
    for warning in written.warnings:
        response.headers.add("Warning", f'299 - "{warning}"')
    return response
