"""The emulated world's operator console: what exists, what it billed, faults, reset, keys.

It needs no token: it is not part of Google Cloud but the view from outside that tests and
rehearsing users have, to prove nothing leaked, to inject failures, and to mint keys for
identities with fewer roles.
"""

from dataclasses import asdict
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from emulator.core.errors import GoogleApiError
from emulator.core.faults import Fault
from emulator.core.http import json_response, read_json
from emulator.core.world import World


class Operator(Protocol):
    world: World

    async def reset(self) -> None:
        """Forget all state: the world as freshly started, with the same operator key."""
        ...

    def issue_key(self, account_id: str, roles: list[str]) -> dict[str, Any]:
        """A key file for a service account holding `roles` on the project."""
        ...


@runtime_checkable
class Billing(Protocol):
    def billing(self) -> list[dict[str, Any]]: ...


def control_app(operator: Operator) -> web.Application:
    console = _Console(operator)
    app = web.Application(middlewares=[_errors_as_json])
    app.add_routes(
        [
            web.get("/resources", console.resources),
            web.get("/billing", console.billing),
            web.get("/faults", console.list_faults),
            web.post("/faults", console.add_fault),
            web.delete("/faults", console.clear_faults),
            web.post("/reset", console.reset),
            web.post("/keys", console.issue_key),
        ]
    )
    return app


class _Console:
    def __init__(self, operator: Operator) -> None:
        self.operator = operator
        self.world = operator.world

    async def resources(self, request: web.Request) -> web.Response:
        return json_response({"resources": [asdict(r) for r in self.world.resources()]})

    async def billing(self, request: web.Request) -> web.Response:
        container = self.world.services.get("container")
        node_pools = container.billing() if isinstance(container, Billing) else []
        total = sum(pool["chip_seconds"] for pool in node_pools)
        return json_response({"node_pools": node_pools, "total_chip_seconds": total})

    async def list_faults(self, request: web.Request) -> web.Response:
        faults = self.world.faults
        return json_response({"faults": faults.describe(), "scenarios": sorted(faults.scenarios)})

    async def add_fault(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if "scenario" in body:
            params = body.get("params") or {}
            result = self.world.faults.apply_scenario(body["scenario"], params)
            return json_response({"scenario": body["scenario"], "result": result})
        fault = Fault(**body)
        self.world.faults.add(fault)
        return json_response({"fault": asdict(fault)})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.world.faults.reset()
        return json_response({})

    async def reset(self, request: web.Request) -> web.Response:
        await self.operator.reset()
        return json_response({})

    async def issue_key(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        roles = body.get("roles") or []
        if not isinstance(roles, list):
            raise ValueError("roles must be a list of role names")
        return json_response(self.operator.issue_key(str(body.get("account_id", "")), roles))


@web.middleware
async def _errors_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    """A bad operator request is a 400 with the reason, never a stack trace."""
    try:
        return await handler(request)
    except GoogleApiError as error:
        return json_response(error.body(), status=error.code)
    except (KeyError, TypeError, ValueError) as error:
        return json_response({"error": {"code": 400, "message": str(error)}}, status=400)
