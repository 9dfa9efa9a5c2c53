"""sax-http v1.0.0: Python's `http.server` with one handler class (ai-on-gke
`saxml-on-gke/httpserver/http_server.py` before the FastAPI rewrite).

One request at a time (`HTTPServer` is not threaded), HTTP/1.0, no Content-Type. GET `/` and
`/listcell`; POST `/publish`, `/unpublish`, `/generate`; PUT `/update`; bodies need exactly the
documented number of keys (so generate takes no `extra_inputs`). Errors are 400 `{"Error": ...}`
with the Python exception's text, an unknown path 400 `{"message": "Invalid Request"}`; a body
that is not JSON kills the handler and the connection closes unanswered. There is no `/listall`.
"""

import asyncio
import html
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from emulator.saxml.client import GaveUp
from emulator.saxml.http_process import HangUp, ProcessDied, SaxHttpProcess, application

SERVER_HEADER = "BaseHTTP/0.6 Python/3.10.12"
GET_PATHS = ("/", "/listcell")
POST_PATHS = ("/publish", "/unpublish", "/generate")
PUT_PATHS = ("/update",)
_UNSUPPORTED = """<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: 501</p>
        <p>Message: Unsupported method ({method}).</p>
        <p>Error code explanation: 501 - Server does not support this operation.</p>
    </body>
</html>
"""

Params = dict[str, Any]
Operation = Callable[[SaxHttpProcess, Params], Awaitable[dict[str, Any]]]


def app(process: SaxHttpProcess) -> web.Application:
    served = application()
    one_at_a_time = asyncio.Lock()

    async def handle(request: web.Request) -> web.StreamResponse:
        async with one_at_a_time:
            response = await _dispatch(process, request)
        date = datetime.now(UTC).strftime("%d/%b/%Y %H:%M:%S")
        process.log(
            f'{request.remote} - - [{date}] "{request.method} {request.raw_path} HTTP/1.1" '
            f"{response.status} -"
        )
        return response

    served.router.add_route("*", "/{tail:.*}", handle)
    return served


async def _dispatch(process: SaxHttpProcess, request: web.Request) -> web.Response:
    routes = {"GET": GET_PATHS, "POST": POST_PATHS, "PUT": PUT_PATHS}
    if request.method not in routes:
        body = _UNSUPPORTED.format(method=html.escape(repr(request.method)))
        return _reply(501, body.encode(), "text/html;charset=utf-8")
    path = request.raw_path
    if path not in routes[request.method]:
        return _reply(400, json.dumps({"message": "Invalid Request"}).encode() + b"\n")
    if path == "/":
        return _success({"message": "HTTP Server for SAX Client"})
    length = request.headers.get("Content-Length")
    if length is None:
        raise HangUp()  # int(None) raises before any answer
    try:
        params = json.loads((await request.content.read(int(length))).decode())
    except ValueError:
        raise HangUp() from None
    if not hasattr(params, "__len__"):
        raise HangUp()  # len(params) raises outside the handler's try
    try:
        return _success(await OPERATIONS[path](process, params))
    except (ProcessDied, GaveUp):
        raise
    except Exception as error:  # the handler answers any other exception with its text
        return _reply(400, _indented({"Error": str(error)}))


async def _listcell(process: SaxHttpProcess, params: Params) -> dict[str, Any]:
    if len(params) != 1:
        raise UsageError("Provide model for list cell")
    model = params["model"]
    details = await process.client().list_detail(model)
    return {
        "model": model,
        "model_path": details.model.model_path,
        "checkpoint": details.model.checkpoint_path,
        "max_replicas": details.model.requested_num_replicas,
        "active_replicas": len(details.modelet_addresses),
    }


async def _publish(process: SaxHttpProcess, params: Params) -> dict[str, Any]:
    if len(params) != 4:
        raise UsageError("Provide model, model path, checkpoint, and replica number for publish")
    model, path, checkpoint = params["model"], params["model_path"], params["checkpoint"]
    replicas = int(params["replicas"])
    await process.client().publish(model, path, checkpoint, replicas)
    return {"model": model, "path": path, "checkpoint": checkpoint, "replicas": replicas}


async def _update(process: SaxHttpProcess, params: Params) -> dict[str, Any]:
    if len(params) != 4:
        raise UsageError("Provide model, model path, checkpoint, and replica number for update")
    model, path, checkpoint = params["model"], params["model_path"], params["checkpoint"]
    replicas = int(params["replicas"])
    await process.client().update(model, path, checkpoint, replicas)
    return {"model": model, "path": path, "checkpoint": checkpoint, "replicas": replicas}


async def _unpublish(process: SaxHttpProcess, params: Params) -> dict[str, Any]:
    if len(params) != 1:
        raise UsageError("Provide model for unpublish")
    model = params["model"]
    await process.client().unpublish(model)
    return {"model": model}


async def _generate(process: SaxHttpProcess, params: Params) -> dict[str, Any]:
    if len(params) != 2:
        raise UsageError("Provide model and query for generate")
    model, query = params["model"], params["query"]
    client = process.client()
    await client.list_detail(model)
    samples = await client.generate(model, query, {})
    return {"generate_response": [[text, score] for text, score in samples]}


class UsageError(Exception):
    """The handler's own `error_res("Provide ...")`."""


OPERATIONS: dict[str, Operation] = {
    "/listcell": _listcell,
    "/publish": _publish,
    "/update": _update,
    "/unpublish": _unpublish,
    "/generate": _generate,
}


def _indented(body: Any) -> bytes:
    return json.dumps(body, indent=4).encode() + b"\n"


def _success(body: dict[str, Any]) -> web.Response:
    return _reply(200, _indented(body))


def _reply(status: int, body: bytes, content_type: str | None = None) -> web.Response:
    headers = {"Server": SERVER_HEADER}
    if content_type:
        headers["Content-Type"] = content_type
    response = web.Response(status=status, body=body, headers=headers)
    response.force_close()  # HTTP/1.0: one request per connection
    return response
