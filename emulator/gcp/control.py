"""The emulated world's operator console: what exists, what it billed, the access tokens it
issued, faults, reset, keys.

It is not part of Google Cloud but the view from outside that tests and rehearsing users have,
to prove nothing leaked, to inject failures, and to mint keys for identities with fewer roles.
Whoever reaches it can mint a key with any role or wipe the world, so every request must:

- carry `Authorization: Bearer <control token>`, the token written only to the ready file;
- name this server in `Host` (`127.0.0.1:PORT` or `localhost:PORT`), so a page whose name a
  DNS rebinding points at loopback is refused;
- send its body, if any, as `application/json`, which a web page can send cross-origin only
  after a CORS preflight the console never answers.
"""

import hmac
from dataclasses import asdict
from typing import Any, Protocol, runtime_checkable

from aiohttp import hdrs, web

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


@runtime_checkable
class TokenIssuer(Protocol):
    def issued_tokens(self) -> list[dict[str, Any]]: ...


def control_app(operator: Operator, token: str) -> web.Application:
    console = _Console(operator)
    app = web.Application(middlewares=[_guard(token), _errors_as_json])
    app.add_routes(
        [
            web.get("/resources", console.resources),
            web.get("/billing", console.billing),
            web.get("/tokens", console.tokens),
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

    async def tokens(self, request: web.Request) -> web.Response:
        auth = self.world.services.get("oauth2")
        return json_response(
            {"tokens": auth.issued_tokens() if isinstance(auth, TokenIssuer) else []}
        )

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


def _guard(token: str) -> Any:
    """The checks every control request passes (see the module's docstring), in that order."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        port = request.transport.get_extra_info("sockname")[1] if request.transport else None
        host = request.headers.get(hdrs.HOST, "")
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return _refusal(421, f"Host {host!r} is not this control API (127.0.0.1:{port})")
        if not hmac.compare_digest(_bearer_credential(request), token.encode()):
            refused = _refusal(401, "the control API needs the ready file's control_token")
            refused.headers[hdrs.WWW_AUTHENTICATE] = 'Bearer realm="emulator control"'
            return refused
        declared = hdrs.CONTENT_TYPE in request.headers
        if (request.body_exists or declared) and request.content_type != "application/json":
            return _refusal(415, f"bodies must be application/json, not {request.content_type}")
        return await handler(request)

    return guard


def _bearer_credential(request: web.Request) -> bytes:
    """The request's bearer credential (b"" for none), as bytes: a header may hold any byte."""
    scheme, _, credential = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() != "bearer":
        return b""
    return credential.strip().encode(errors="surrogateescape")


def _refusal(status: int, message: str) -> web.Response:
    return json_response({"error": {"code": status, "message": message}}, status=status)


@web.middleware
async def _errors_as_json(request: web.Request, handler: Any) -> web.StreamResponse:
    """A bad operator request is a 400 with the reason, never a stack trace."""
    try:
        return await handler(request)
    except GoogleApiError as error:
        return json_response(error.body(), status=error.code)
    except (KeyError, TypeError, ValueError) as error:
        return _refusal(400, str(error))
