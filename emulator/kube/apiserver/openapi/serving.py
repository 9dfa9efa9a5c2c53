"""The OpenAPI endpoints' HTTP: content negotiation and caching as the real server does them.

`/openapi/v3` lists each group version's document under a URL with its hash; such a URL is
immutable (`Cache-Control: public, immutable`, a stale hash redirects to the current one), which
lets kubectl's HTTP cache keep documents across runs. `/openapi/v2` answers JSON or protobuf
under one ETag and 304 to a matching `If-None-Match`.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from emulator.kube.apiserver.openapi.documents import OpenApiDocuments
from emulator.kube.apiserver.openapi.operations import JSON
from emulator.kube.apiserver.openapi.v2_protobuf import PROTOBUF

Serve = Callable[[web.Request, OpenApiDocuments], web.Response]

_IMMUTABLE_FOR = timedelta(days=365)


def serve_v3_index(request: web.Request, documents: OpenApiDocuments) -> web.Response:
    paths = {}
    for group_version in documents.group_versions():
        document = documents.v3(group_version)
        if document is not None:
            url = f"/openapi/v3/{group_version}?hash={document.hash}"
            paths[group_version] = {"serverRelativeURL": url}
    return web.json_response({"paths": paths})


def serve_v3(request: web.Request, documents: OpenApiDocuments) -> web.Response:
    """One group version; with `?hash=` of an older document, a redirect to the current one."""
    document = documents.v3(request.match_info["group_version"])
    if document is None:
        return web.Response(status=404, text="404 page not found\n")
    if _accepted(request, JSON) is None:
        return _not_acceptable()
    asked = request.query.get("hash")
    if asked is not None and asked != document.hash:
        location = f"{request.path}?hash={document.hash}"
        return web.Response(status=301, headers={"Location": location, "Vary": "Accept"})
    response = _conditional(request, document.hash, document.body, JSON)
    if asked is not None:
        expires = datetime.now(UTC) + _IMMUTABLE_FOR
        response.headers["Cache-Control"] = "public, immutable"
        response.headers["Expires"] = expires.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response


def serve_v2(request: web.Request, documents: OpenApiDocuments) -> web.Response:
    """JSON, or gnostic's protobuf as client-go asks for it; one ETag for both."""
    media_type = _accepted(request, JSON, *PROTOBUF)
    if media_type is None:
        return _not_acceptable()
    if media_type == JSON:
        document = documents.v2()
        return _conditional(request, document.hash, document.body, JSON)
    etag, body = documents.v2_protobuf()
    return _conditional(request, etag, body, PROTOBUF[-1])


def _accepted(request: web.Request, *media_types: str) -> str | None:
    """The first of `media_types` the request's Accept header allows, in the header's order."""
    wanted = [
        part.split(";")[0].strip() for part in request.headers.get("Accept", "*/*").split(",")
    ]
    for pattern in wanted:
        for media_type in media_types:
            if pattern in (media_type, "*/*", media_type.split("/")[0] + "/*"):
                return media_type
    return None


def _not_acceptable() -> web.Response:
    return web.Response(status=406, text="406 Not Acceptable\n")


def _conditional(request: web.Request, etag: str, body: bytes, content_type: str) -> web.Response:
    quoted = f'"{etag}"'
    headers = {"ETag": quoted, "Vary": "Accept"}
    if quoted in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    response = web.Response(body=body, headers=headers)
    response.content_type = content_type
    return response
