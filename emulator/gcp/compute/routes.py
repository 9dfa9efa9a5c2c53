"""The compute v1 REST surface: regional addresses, forwarding rules and region operations.

Paths are the real ones under `/compute/v1/projects/{project}`, each route named with its
discovery method id so injected faults match it; a path may name the project by id or number.
Callers need Compute's permissions (`compute.addresses.create`, and `createInternal` plus
`compute.subnetworks.use` for an INTERNAL address), refused with Compute's 403 wording. Lists
take `filter`, `maxResults` (at most 500) and `pageToken`; the aggregated lists cover the regions
of the emulated zones.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from emulator.core.errors import GoogleApiError
from emulator.core.http import json_response, read_json
from emulator.gcp.compute.errors import forbidden, invalid_field
from emulator.gcp.compute.filters import Predicate, parse_filter
from emulator.gcp.compute.model import INTERNAL, Address, link, region_path
from emulator.gcp.compute.operations import Operation
from emulator.gcp.compute.places import REGIONS
from emulator.gcp.compute.validation import address_request, labels_request
from emulator.gcp.paging import page

if TYPE_CHECKING:
    from emulator.gcp.compute.service import ComputeService

_MAX_RESULTS = 500
# regionOperations.wait answers when the operation is DONE, or after at most two minutes.
_WAIT_SECONDS = 120.0
_PROJECT = "/compute/v1/projects/{project}"
_REGION = _PROJECT + "/regions/{region}"

Item = TypeVar("Item")


def compute_routes(service: ComputeService) -> list[web.RouteDef]:
    api = Handlers(service)
    addresses, rules = _REGION + "/addresses", _REGION + "/forwardingRules"
    operation = _REGION + "/operations/{operation}"
    return [
        web.post(addresses, api.insert_address, name="compute.addresses.insert"),
        web.get(addresses, api.list_addresses, name="compute.addresses.list"),
        web.get(addresses + "/{address}", api.get_address, name="compute.addresses.get"),
        web.delete(addresses + "/{address}", api.delete_address, name="compute.addresses.delete"),
        web.post(
            addresses + "/{address}/setLabels",
            api.set_address_labels,
            name="compute.addresses.setLabels",
        ),
        web.get(
            _PROJECT + "/aggregated/addresses",
            api.aggregated_addresses,
            name="compute.addresses.aggregatedList",
        ),
        web.get(rules, api.list_rules, name="compute.forwardingRules.list"),
        web.get(rules + "/{rule}", api.get_rule, name="compute.forwardingRules.get"),
        web.delete(rules + "/{rule}", api.delete_rule, name="compute.forwardingRules.delete"),
        web.get(
            _PROJECT + "/aggregated/forwardingRules",
            api.aggregated_rules,
            name="compute.forwardingRules.aggregatedList",
        ),
        web.get(operation, api.get_operation, name="compute.regionOperations.get"),
        web.post(operation + "/wait", api.wait_operation, name="compute.regionOperations.wait"),
    ]


class Handlers:
    def __init__(self, service: ComputeService) -> None:
        self.service = service
        self.world = service.world

    # -- addresses -------------------------------------------------------------------------

    async def insert_address(self, request: web.Request) -> web.Response:
        project, region = self._project(request), request.match_info["region"]
        body = address_request(await read_json(request), project)
        internal = body.address_type == INTERNAL
        user = await self._authorize(
            request,
            "compute.addresses.createInternal" if internal else "compute.addresses.create",
            f"{region_path(project, region)}/addresses/{body.name}",
        )
        if internal:
            subnet_project, subnet_region, subnet = body.subnetwork
            subnetwork = f"{region_path(subnet_project, subnet_region)}/subnetworks/{subnet}"
            await self._authorize(request, "compute.subnetworks.use", subnetwork)
        check_region(region)
        return self._operation(self.service.insert_address(region, body, user))

    async def get_address(self, request: web.Request) -> web.Response:
        region, name, _ = await self._named(
            request, "compute.addresses.get", "addresses", "address"
        )
        return json_response(self._address_json(self.service.find_address(region, name)))

    async def delete_address(self, request: web.Request) -> web.Response:
        region, name = request.match_info["region"], request.match_info["address"]
        internal = any(
            name in (a.name, a.id) and a.address_type == INTERNAL
            for a in self.service.list_addresses(region)
        )
        permission = "compute.addresses.deleteInternal" if internal else "compute.addresses.delete"
        region, name, user = await self._named(request, permission, "addresses", "address")
        return self._operation(self.service.delete_address(region, name, user))

    async def set_address_labels(self, request: web.Request) -> web.Response:
        region, name, user = await self._named(
            request, "compute.addresses.setLabels", "addresses", "address"
        )
        labels, fingerprint = labels_request(await read_json(request))
        return self._operation(
            self.service.set_address_labels(region, name, labels, fingerprint, user)
        )

    async def list_addresses(self, request: web.Request) -> web.Response:
        region = await self._region(request, "compute.addresses.list")
        items = [self._address_json(a) for a in self.service.list_addresses(region)]
        return json_response(self._list(request, "compute#addressList", "addresses", items))

    async def aggregated_addresses(self, request: web.Request) -> web.Response:
        await self._authorize(request, "compute.addresses.list", self._project_path(request))
        scoped = [(a.region, self._address_json(a)) for a in self.service.list_addresses(None)]
        return json_response(
            self._aggregated(request, "compute#addressAggregatedList", "addresses", scoped)
        )

    def _address_json(self, address: Address) -> dict[str, Any]:
        project = self.world.project_id
        users = [link(rule.path(project)) for rule in self.service.users_of(address)]
        return address.to_json(project, users)

    # -- forwarding rules ------------------------------------------------------------------

    async def get_rule(self, request: web.Request) -> web.Response:
        region, name, _ = await self._named(
            request, "compute.forwardingRules.get", "forwardingRules", "rule"
        )
        return json_response(self.service.find_rule(region, name).to_json(self.world.project_id))

    async def delete_rule(self, request: web.Request) -> web.Response:
        region, name, user = await self._named(
            request, "compute.forwardingRules.delete", "forwardingRules", "rule"
        )
        return self._operation(self.service.delete_rule_operation(region, name, user))

    async def list_rules(self, request: web.Request) -> web.Response:
        region = await self._region(request, "compute.forwardingRules.list")
        project = self.world.project_id
        items = [rule.to_json(project) for rule in self.service.list_rules(region)]
        return json_response(
            self._list(request, "compute#forwardingRuleList", "forwardingRules", items)
        )

    async def aggregated_rules(self, request: web.Request) -> web.Response:
        await self._authorize(request, "compute.forwardingRules.list", self._project_path(request))
        project = self.world.project_id
        scoped = [(rule.region, rule.to_json(project)) for rule in self.service.list_rules(None)]
        return json_response(
            self._aggregated(
                request, "compute#forwardingRuleAggregatedList", "forwardingRules", scoped
            )
        )

    # -- operations ------------------------------------------------------------------------

    async def get_operation(self, request: web.Request) -> web.Response:
        region, name, _ = await self._named(
            request, "compute.regionOperations.get", "operations", "operation"
        )
        return self._operation(self.service.find_operation(region, name))

    async def wait_operation(self, request: web.Request) -> web.Response:
        region, name, _ = await self._named(
            request, "compute.regionOperations.get", "operations", "operation"
        )
        operation = self.service.find_operation(region, name)
        clock = self.world.clock
        deadline = clock.now() + clock.scaled(_WAIT_SECONDS)
        while not operation.done(now := clock.now()) and now < deadline:
            await asyncio.sleep(min(operation.done_at, deadline) - now + 0.001)
        self.service.settle()
        return self._operation(operation)

    def _operation(self, operation: Operation) -> web.Response:
        project = self.world.project_id
        return json_response(operation.to_json(project, self.world.clock.now()))

    # -- what every method shares ----------------------------------------------------------

    def _project(self, request: web.Request) -> str:
        """The project the path names, by id (a path may carry its number instead)."""
        project = request.match_info["project"]
        return self.world.project_id if project == self.world.project_number else project

    def _project_path(self, request: web.Request) -> str:
        return f"projects/{self._project(request)}"

    async def _authorize(self, request: web.Request, permission: str, resource: str) -> str:
        """The caller, who must hold `permission` on `resource` (Compute's 403 otherwise)."""
        try:
            return await self.world.authorize(request, permission, resource)
        except GoogleApiError as error:
            if error.code != 403:
                raise
            raise forbidden(permission, resource) from None

    async def _region(self, request: web.Request, permission: str) -> str:
        """The region of a list, after the caller proved `permission` on the project."""
        await self._authorize(request, permission, self._project_path(request))
        region = request.match_info["region"]
        check_region(region)
        return region

    async def _named(
        self, request: web.Request, permission: str, collection: str, key: str
    ) -> tuple[str, str, str]:
        """The region and name of the resource the path names, and the caller, who must hold
        `permission` on it."""
        region, name = request.match_info["region"], request.match_info[key]
        path = f"{region_path(self._project(request), region)}/{collection}/{name}"
        user = await self._authorize(request, permission, path)
        check_region(region)
        return region, name, user

    def _list(
        self, request: web.Request, kind: str, collection: str, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        path = f"{region_path(self._project(request), request.match_info['region'])}/{collection}"
        keep = list_filter(request)
        shown, next_token = list_page(request, [item for item in items if keep(item)])
        return list_body(kind, path, {"items": shown} if shown else {}, next_token)

    def _aggregated(
        self,
        request: web.Request,
        kind: str,
        collection: str,
        scoped: list[tuple[str, dict[str, Any]]],
    ) -> dict[str, Any]:
        """Items grouped by `regions/R`; a region without any says so, as Compute does."""
        keep = list_filter(request)
        shown, next_token = list_page(request, [(r, item) for r, item in scoped if keep(item)])
        by_scope: dict[str, Any] = {}
        for region in REGIONS:
            scope = f"regions/{region}"
            items = [item for item_region, item in shown if item_region == region]
            by_scope[scope] = {collection: items} if items else no_results(scope)
        path = f"{self._project_path(request)}/aggregated/{collection}"
        return list_body(kind, path, {"items": by_scope}, next_token)


def check_region(region: str) -> None:
    if region not in REGIONS:
        raise invalid_field("region", region, "Unknown region.")


def list_filter(request: web.Request) -> Predicate:
    expression = request.query.get("filter", "")
    return parse_filter(expression) if expression else lambda item: True


def list_page(request: web.Request, items: list[Item]) -> tuple[list[Item], str | None]:
    """One page of `items`: `maxResults` of them (at most, and by default, 500)."""
    size = request.query.get("maxResults") or str(_MAX_RESULTS)
    if not size.isdigit() or int(size) > _MAX_RESULTS:
        raise invalid_field("maxResults", size, f"Must be at most {_MAX_RESULTS}.")
    shown, next_token = page(items, size, request.query.get("pageToken"), _MAX_RESULTS)
    return list(shown), next_token


def list_body(
    kind: str, path: str, items: dict[str, Any], next_token: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "id": path, **items, "selfLink": link(path)}
    if next_token:
        body["nextPageToken"] = next_token
    return body


def no_results(scope: str) -> dict[str, Any]:
    return {
        "warning": {
            "code": "NO_RESULTS_ON_PAGE",
            "message": f"There are no results for scope '{scope}' on this page.",
            "data": [{"key": "scope", "value": scope}],
        }
    }
