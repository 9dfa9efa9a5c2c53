"""sax-http v1.2.0 and later: the FastAPI rewrite (ai-on-gke `tools/saxml-on-gke/httpserver/
http_server.py`), served by uvicorn.

Bodies, GET ones included, are validated against the server's pydantic models, with FastAPI's
rules: JSON is parsed when the Content-Type is JSON (or absent), a bad body is 422 `{"detail":
[...]}` (pydantic's errors, `loc` starting at `body`). Any exception in a handler is logged and
answered 500 `{"detail": "<exception text>"}`. Unknown paths are 404, wrong methods 405. Publish
and update echo `model_path`; generate sends the four `extra_inputs` (defaults filled in) and
returns a bare list of `[text, score]`; `/listall` lists a cell's models.
"""

import email.message
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from emulator.saxml.client import GaveUp
from emulator.saxml.http_process import ProcessDied, SaxHttpProcess, application

STARTUP_LINES = (
    "INFO:     Started server process [1]",
    "INFO:     Waiting for application startup.",
    "INFO:     Application startup complete.",
    "INFO:     Uvicorn running on http://0.0.0.0:8888 (Press CTRL+C to quit)",
)


class ExtraInputs(BaseModel):
    temperature: float | None = 0.5
    per_example_max_decode_steps: int | None = 128
    per_example_top_k: int | None = 200
    per_example_top_p: float | None = 0.95


class Generate(BaseModel):
    model: str
    query: str
    extra_inputs: ExtraInputs | None = Field(default_factory=ExtraInputs)


class Model(BaseModel):
    model: str
    model_path: str
    checkpoint: str
    replicas: int


class ModelID(BaseModel):
    model: str


class SaxCell(BaseModel):
    sax_cell: str


Endpoint = Callable[[SaxHttpProcess, Any], Awaitable[Any]]


async def _root(process: SaxHttpProcess, body: None) -> Any:
    return {"message": "HTTP Server for SAX Client"}


async def _listcell(process: SaxHttpProcess, request: ModelID) -> Any:
    details = await process.client().list_detail(request.model)
    return {
        "model": request.model,
        "model_path": details.model.model_path,
        "checkpoint": details.model.checkpoint_path,
        "max_replicas": details.model.requested_num_replicas,
        "active_replicas": len(details.modelet_addresses),
    }


async def _listall(process: SaxHttpProcess, request: SaxCell) -> Any:
    return await process.client().list_all(request.sax_cell)


async def _publish(process: SaxHttpProcess, request: Model) -> Any:
    client = process.client()
    await client.publish(request.model, request.model_path, request.checkpoint, request.replicas)
    return request.model_dump()


async def _update(process: SaxHttpProcess, request: Model) -> Any:
    client = process.client()
    await client.update(request.model, request.model_path, request.checkpoint, request.replicas)
    return request.model_dump()


async def _unpublish(process: SaxHttpProcess, request: ModelID) -> Any:
    await process.client().unpublish(request.model)
    return {"model": request.model}


async def _generate(process: SaxHttpProcess, request: Generate) -> Any:
    client = process.client()
    await client.list_detail(request.model)
    extra = request.extra_inputs.model_dump() if request.extra_inputs else {}
    options = {key: float(value) for key, value in extra.items() if value is not None}
    samples = await client.generate(request.model, request.query, options)
    return [[text, score] for text, score in samples]


# path -> method -> (body model, endpoint, what the handler's exception log calls it)
ROUTES: dict[str, dict[str, tuple[type[BaseModel] | None, Endpoint, str]]] = {
    "/": {"GET": (None, _root, "")},
    "/listcell": {"GET": (ModelID, _listcell, "model listcell")},
    "/listall": {"GET": (SaxCell, _listall, "model listall")},
    "/publish": {"POST": (Model, _publish, "model publish")},
    "/unpublish": {"POST": (ModelID, _unpublish, "model unpublish")},
    "/generate": {"POST": (Generate, _generate, "lm generate")},
    "/update": {"PUT": (Model, _update, "model update")},
}


def app(process: SaxHttpProcess) -> web.Application:
    served = application()

    async def handle(request: web.Request) -> web.StreamResponse:
        response = await _dispatch(process, request)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        client = f"{peer[0]}:{peer[1]}" if peer else "-"
        process.log(
            f'INFO:     {client} - "{request.method} {request.raw_path} HTTP/1.1" '
            f"{response.status} {response.reason}"
        )
        return response

    served.router.add_route("*", "/{tail:.*}", handle)
    return served


async def _dispatch(process: SaxHttpProcess, request: web.Request) -> web.Response:
    methods = ROUTES.get(request.path)
    if methods is None:
        return _detail(404, "Not Found")
    if request.method not in methods:
        response = _detail(405, "Method Not Allowed")
        response.headers["Allow"] = ", ".join(methods)
        return response
    schema, endpoint, name = methods[request.method]
    parsed = None
    if schema is not None:
        try:
            parsed = schema.model_validate(await _body(request))
        except _Invalid as invalid:
            return _json(422, {"detail": invalid.errors})
        except ValidationError as error:
            errors = json.loads(error.json(include_url=False))
            for entry in errors:
                entry["loc"] = ["body", *entry["loc"]]
            return _json(422, {"detail": errors})
    try:
        result = await endpoint(process, parsed)
    except (ProcessDied, GaveUp):
        raise
    except Exception as error:
        process.log(f"ERROR:root:Exception in {name}")
        process.log("Traceback (most recent call last):")
        process.log(f"RuntimeError: {error}")
        return _detail(500, str(error))
    return web.Response(
        body=json.dumps(result, indent=4).encode(),
        content_type="application/json",
        headers={"Server": "uvicorn"},
    )


class _Invalid(Exception):
    """A body FastAPI rejects before validating its fields."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid body")
        self.errors = errors


async def _body(request: web.Request) -> Any:
    """The body as FastAPI hands it to validation: JSON for a JSON (or no) Content-Type, else
    the raw bytes; a missing body is a missing field."""
    raw = await request.read()
    if not raw:
        raise _Invalid(
            [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
        )
    content_type = request.headers.get("Content-Type")
    if content_type:
        message = email.message.Message()
        message["content-type"] = content_type
        subtype = message.get_content_subtype()
        is_json = message.get_content_maintype() == "application" and (
            subtype == "json" or subtype.endswith("+json")
        )
        if not is_json:
            return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise _Invalid(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", error.pos],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ]
        ) from None


def _detail(status: int, detail: str) -> web.Response:
    return _json(status, {"detail": detail})


def _json(status: int, body: Any) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers={"Server": "uvicorn"},
    )
