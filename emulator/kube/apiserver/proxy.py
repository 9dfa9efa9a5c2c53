"""The `proxy` subresources of Services and Pods: the request goes to a ready endpoint.

`/api/v1/namespaces/{ns}/services/[scheme:]{name}[:port]/proxy/{path}` picks a ready address of
the Service's Endpoints for that port; pods' own `proxy` goes to the pod IP. Containers that
really serve listen on a loopback port registered in the cluster network, so the method, body,
status and headers travel for real. No ready endpoint is 503, as on a real cluster.
"""

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from emulator.kube.controllers.endpoints import ready_endpoints
from emulator.kube.errors import service_unavailable

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "content-length",
    "content-encoding",
}
_CONNECT_TIMEOUT = 10.0


def split_target(text: str) -> tuple[str, str, str]:
    """`https:web:8443` -> ("https", "web", "8443"); `web` -> ("", "web", "")."""
    parts = text.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", parts[0], ""


async def service_proxy(
    request: web.Request, cluster: "KubeCluster", namespace: str, target: str, path: str
) -> web.Response:
    scheme, name, port = split_target(target)
    store = cluster.store
    service = store.get(store.types.by_kind("v1", "Service"), namespace, name)
    unavailable = service_unavailable(f'no endpoints available for service "{name}"')
    service_port = _service_port(service, port)
    if service_port is None:
        raise unavailable
    endpoints = store.find(store.types.by_kind("v1", "Endpoints"), namespace, name)
    candidates = ready_endpoints(endpoints, service_port)
    if not candidates:
        raise unavailable
    address, target_port = random.choice(candidates)
    return await _forward(request, cluster, scheme, address, int(target_port), path)


async def pod_proxy(
    request: web.Request, cluster: "KubeCluster", namespace: str, target: str, path: str
) -> web.Response:
    scheme, name, port = split_target(target)
    store = cluster.store
    pod = store.get(store.types.by_kind("v1", "Pod"), namespace, name)
    address = (pod.get("status") or {}).get("podIP")
    if not address:
        raise service_unavailable(f'pod "{name}" has no IP address yet')
    return await _forward(request, cluster, scheme, address, _pod_port(pod, port), path)


def _service_port(service: Mapping[str, Any], port: str) -> Mapping[str, Any] | None:
    ports = (service.get("spec") or {}).get("ports") or []
    if not port:
        unnamed = [p for p in ports if not p.get("name")]
        return unnamed[0] if len(unnamed) == 1 else (ports[0] if len(ports) == 1 else None)
    return next((p for p in ports if p.get("name") == port or str(p.get("port")) == port), None)


def _pod_port(pod: Mapping[str, Any], port: str) -> int:
    if not port:
        return 80
    if port.isdigit():
        return int(port)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in container.get("ports") or []:
            if declared.get("name") == port:
                return int(declared["containerPort"])
    raise service_unavailable(f'pod "{pod["metadata"]["name"]}" has no port named "{port}"')


async def _forward(
    request: web.Request,
    cluster: "KubeCluster",
    scheme: str,
    address: str,
    port: int,
    path: str,
) -> web.Response:
    listener = cluster.network.resolve(address, port)
    if listener is None:
        raise service_unavailable(
            f"error trying to reach service: dial tcp {address}:{port}: connect: connection refused"
        )
    host, real_port = listener
    url = f"{scheme or 'http'}://{host}:{real_port}/{path}"
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=_CONNECT_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(
                request.method,
                url,
                params=request.query,
                headers=headers,
                data=await request.read(),
                ssl=False,
            ) as upstream,
        ):
            body = await upstream.read()
            reply_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
            }
            return web.Response(status=upstream.status, body=body, headers=reply_headers)
    except aiohttp.ClientError as error:
        raise service_unavailable(
            f"error trying to reach service: dial tcp {address}:{port}: {error}"
        ) from None
