"""The HTTP layer every emulated Google API shares: injected faults and Google error bodies."""

import json
from typing import Any

from aiohttp import web

from emulator.core.errors import GoogleApiError, invalid_argument
from emulator.core.world import World


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", charset="utf-8"
    )


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is `{}`, as Google's frontends treat it."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise invalid_argument(f"Invalid JSON payload received. {error}") from None
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.")
    return body


def google_api_app(world: World, routes: list[web.RouteDef]) -> web.Application:
    """An aiohttp app whose route names are method ids (the keys injected faults match on)."""

    @web.middleware
    async def faults_and_errors(request: web.Request, handler: Any) -> web.StreamResponse:
        method = request.match_info.route.name or ""
        try:
            if method and world.api_gate is not None:
                world.api_gate(method)
            fault = world.faults.take(method) if method else None
            if fault is not None:
                if fault.delay > 0:
                    await world.clock.sleep(fault.delay)
                if fault.status is not None:
                    raise GoogleApiError(fault.status, fault.message)
            return await handler(request)
        except GoogleApiError as error:
            return json_response(error.body(), status=error.code)

    app = web.Application(middlewares=[faults_and_errors], client_max_size=64 * 1024**2)
    app.add_routes(routes)
    return app
