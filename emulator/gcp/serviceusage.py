"""Service Usage v1: which Google APIs the project has enabled, and the refusal when it has not.

Every API the emulator serves starts enabled. A disabled one (through `services.disable` or the
`service-disabled` scenario) answers each of its calls with Google's 403 `SERVICE_DISABLED`:
the "has not been used in project ... before or it is disabled" message, an `ErrorInfo` with the
service, consumer and activation URL, and the legacy `accessNotConfigured` reason. Enabling and
disabling answer long-running operations that are already done, as Service Usage's usually are.
"""

import uuid
from typing import Any

from aiohttp import web

from emulator.core.errors import GoogleApiError, invalid_argument, not_found
from emulator.core.http import json_response
from emulator.core.world import Resource, World
from emulator.gcp.paging import paged_body

# The APIs the emulator serves, by the first part of their method ids, with their titles.
SERVED = {
    "compute": ("compute.googleapis.com", "Compute Engine API"),
    "container": ("container.googleapis.com", "Kubernetes Engine API"),
    "iam": ("iam.googleapis.com", "Identity and Access Management (IAM) API"),
    "cloudresourcemanager": ("cloudresourcemanager.googleapis.com", "Cloud Resource Manager API"),
    "storage": ("storage.googleapis.com", "Cloud Storage API"),
    "serviceusage": ("serviceusage.googleapis.com", "Service Usage API"),
    "cloudquotas": ("cloudquotas.googleapis.com", "Cloud Quotas API"),
    "monitoring": ("monitoring.googleapis.com", "Cloud Monitoring API"),
}
# APIs a project may enable that the emulator does not serve: listed, disabled at first.
_OTHERS = {
    "tpu.googleapis.com": "Cloud TPU API",
    "artifactregistry.googleapis.com": "Artifact Registry API",
    "logging.googleapis.com": "Cloud Logging API",
}
TITLES = {name: title for name, title in SERVED.values()} | _OTHERS
_ALWAYS_ON = "serviceusage.googleapis.com"  # disabling it would lock the operator out
_PROJECT = "/v1/projects/{project}/services"
_METHOD = "serviceusage.services."
_PAGE_SIZE = 50


class ServiceDisabled(GoogleApiError):
    """Google's refusal of a call to an API the consumer project has not enabled."""

    def __init__(self, service: str, project_number: str) -> None:
        self.url = (
            f"https://console.developers.google.com/apis/api/{service}/overview?"
            f"project={project_number}"
        )
        title = TITLES.get(service, service)
        message = (
            f"{title} has not been used in project {project_number} before or it is disabled. "
            f"Enable it by visiting {self.url} then retry. If you enabled this API recently, "
            "wait a few minutes for the action to propagate to our systems and retry."
        )
        info = {
            "service": service,
            "consumer": f"projects/{project_number}",
            "activationUrl": self.url,
            "serviceTitle": title,
            "containerInfo": project_number,
        }
        super().__init__(
            403,
            message,
            "PERMISSION_DENIED",
            reason="accessNotConfigured",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "SERVICE_DISABLED",
                    "domain": "googleapis.com",
                    "metadata": info,
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": message,
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {"description": "Google developers console API activation", "url": self.url}
                    ],
                },
            ],
        )

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["errors"] = [
            {
                "message": self.message,
                "domain": "usageLimits",
                "reason": "accessNotConfigured",
                "extendedHelp": "https://console.developers.google.com",
            }
        ]
        return body


class ServiceUsageService:
    name = "serviceusage"

    def __init__(self, world: World) -> None:
        self.world = world
        self.enabled = {name for name, _ in SERVED.values()}
        world.faults.register_scenario("service-disabled", self._disable_scenario, self._enable_all)

    def routes(self) -> list[web.RouteDef]:
        service = _PROJECT + "/{service}"
        return [
            web.get(_PROJECT, self.list_services, name=_METHOD + "list"),
            web.get(service, self.get_service, name=_METHOD + "get"),
            web.post(service + ":enable", self.enable, name=_METHOD + "enable"),
            web.post(service + ":disable", self.disable, name=_METHOD + "disable"),
            web.get(
                "/v1/operations/{operation}", self.get_operation, name="serviceusage.operations.get"
            ),
        ]

    def check_enabled(self, method: str) -> None:
        """Raise SERVICE_DISABLED for a call of `method` (a method id) to a disabled API."""
        served = SERVED.get(method.split(".", 1)[0])
        if served is not None and served[0] not in self.enabled:
            raise ServiceDisabled(served[0], self.world.project_number)

    # -- the API ---------------------------------------------------------------------------

    async def list_services(self, request: web.Request) -> web.Response:
        await self._authorize(request, "serviceusage.services.list")
        wanted = _state_filter(request.query.get("filter", ""))
        services = [
            self._service_json(name)
            for name in sorted(TITLES)
            if wanted is None or (name in self.enabled) == (wanted == "ENABLED")
        ]
        return json_response(paged_body("services", services, request.query, _PAGE_SIZE))

    async def get_service(self, request: web.Request) -> web.Response:
        await self._authorize(request, "serviceusage.services.get")
        return json_response(self._service_json(self._known(request)))

    async def enable(self, request: web.Request) -> web.Response:
        await self._authorize(request, "serviceusage.services.enable")
        name = self._known(request)
        self.enabled.add(name)
        return json_response(self._done("EnableServiceResponse", name))

    async def disable(self, request: web.Request) -> web.Response:
        await self._authorize(request, "serviceusage.services.disable")
        name = self._known(request)
        if name == _ALWAYS_ON:
            raise invalid_argument(f"Service {name} cannot be disabled in the emulator.")
        self.enabled.discard(name)
        return json_response(self._done("DisableServiceResponse", name))

    async def get_operation(self, request: web.Request) -> web.Response:
        """Operations finish at once, so a poll finds any operation name done."""
        self.world.authenticate(request)
        return json_response(
            {"name": f"operations/{request.match_info['operation']}", "done": True}
        )

    # -- helpers ---------------------------------------------------------------------------

    async def _authorize(self, request: web.Request, permission: str) -> None:
        await self.world.authorize(request, permission, f"projects/{request.match_info['project']}")

    def _known(self, request: web.Request) -> str:
        name = request.match_info["service"]
        if name not in TITLES:
            raise not_found(f"Service {name} not found or permission denied.")
        return name

    def _service_json(self, name: str) -> dict[str, Any]:
        parent = f"projects/{self.world.project_number}"
        return {
            "name": f"{parent}/services/{name}",
            "config": {"name": name, "title": TITLES[name]},
            "state": "ENABLED" if name in self.enabled else "DISABLED",
            "parent": parent,
        }

    def _done(self, response_type: str, name: str) -> dict[str, Any]:
        return {
            "name": f"operations/acf.p2-{self.world.project_number}-{uuid.uuid4()}",
            "done": True,
            "response": {
                "@type": f"type.googleapis.com/google.api.serviceusage.v1.{response_type}",
                "service": self._service_json(name),
            },
        }

    def _disable_scenario(self, params: dict[str, Any]) -> dict[str, Any]:
        """The `service-disabled` scenario: `service` (such as `compute.googleapis.com`)."""
        name = params.get("service")
        if name not in TITLES or name == _ALWAYS_ON:
            raise ValueError(
                f"service must be one of {', '.join(sorted(set(TITLES) - {_ALWAYS_ON}))}"
            )
        self.enabled.discard(name)
        return {"enabled": sorted(self.enabled)}

    def _enable_all(self) -> None:
        self.enabled = {name for name, _ in SERVED.values()}

    # -- the service contract --------------------------------------------------------------

    def resources(self) -> list[Resource]:
        return []

    def dump(self) -> dict[str, Any]:
        return {"enabled": sorted(self.enabled)}

    def load(self, state: dict[str, Any]) -> None:
        self.enabled = set(state["enabled"])


def _state_filter(expression: str) -> str | None:
    """`state:ENABLED` or `state:DISABLED` (the filters `gcloud services list` sends)."""
    if not expression:
        return None
    key, _, value = expression.replace(" ", "").partition(":")
    if key != "state" or value not in ("ENABLED", "DISABLED"):
        raise invalid_argument(f"Invalid filter: {expression}")
    return value
