"""The emulated world: one project's state across every API, and what the APIs share."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from emulator.core.clock import Clock
from emulator.core.faults import Faults


@dataclass(frozen=True)
class Resource:
    """One thing that exists (and may cost money), as the control API's `/resources` lists it."""

    api: str
    kind: str
    name: str
    labels: dict[str, str]
    created: str


class Service(Protocol):
    """An emulated API: it owns part of the world's state and can save and restore it."""

    name: str

    def resources(self) -> Iterable[Resource]: ...

    def dump(self) -> dict[str, Any]: ...

    def load(self, state: dict[str, Any]) -> None: ...


class Authorizer(Protocol):
    def authenticate(self, request: web.Request) -> str:
        """The caller's principal; raises 401 without a valid token."""
        ...

    async def authorize(self, request: web.Request, permission: str, resource: str) -> str:
        """The caller's principal; raises 401 without a valid token and 403 without permission."""
        ...


@dataclass
class World:
    project_id: str
    project_number: str
    clock: Clock
    faults: Faults = field(default_factory=Faults)
    services: dict[str, Service] = field(default_factory=dict)
    authorizer: Authorizer | None = None
    # Raises for a call of a method id whose API the project has not enabled (Service Usage).
    api_gate: Callable[[str], None] | None = None

    def add_service(self, service: Service) -> None:
        self.services[service.name] = service

    def resources(self) -> list[Resource]:
        return [r for service in self.services.values() for r in service.resources()]

    async def authorize(self, request: web.Request, permission: str, resource: str) -> str:
        return await self._authorizer().authorize(request, permission, resource)

    def authenticate(self, request: web.Request) -> str:
        return self._authorizer().authenticate(request)

    def _authorizer(self) -> Authorizer:
        if self.authorizer is None:
            raise RuntimeError("the world has no authorizer; start it through emulator.app")
        return self.authorizer
