"""The compute v1 methods a deployment reads before it spends: where it can run, and on what.

Regions (with their quotas), zones, machine types, accelerator types and reservations, at the
real paths and with the permissions Compute checks (`compute.regions.get`,
`compute.machineTypes.list`, ...). Lists take the same `filter`, `maxResults` and `pageToken`
as the other lists; aggregated lists group by `zones/Z`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.core.http import json_response
from emulator.gcp.compute import places
from emulator.gcp.compute.errors import invalid_field, not_found
from emulator.gcp.compute.routes import (
    Handlers,
    check_region,
    list_body,
    list_filter,
    list_page,
    no_results,
)

if TYPE_CHECKING:
    from emulator.gcp.compute.service import ComputeService

_PROJECT = "/compute/v1/projects/{project}"
_ZONE = _PROJECT + "/zones/{zone}"


def capacity_routes(service: ComputeService) -> list[web.RouteDef]:
    api = _CapacityHandlers(service)
    machine_types, accelerators = _ZONE + "/machineTypes", _ZONE + "/acceleratorTypes"
    reservations = _ZONE + "/reservations"
    return [
        web.get(_PROJECT + "/regions", api.list_regions, name="compute.regions.list"),
        web.get(_PROJECT + "/regions/{region}", api.get_region, name="compute.regions.get"),
        web.get(_PROJECT + "/zones", api.list_zones, name="compute.zones.list"),
        web.get(_ZONE, api.get_zone, name="compute.zones.get"),
        web.get(machine_types, api.list_machine_types, name="compute.machineTypes.list"),
        web.get(machine_types + "/{name}", api.get_machine_type, name="compute.machineTypes.get"),
        web.get(accelerators, api.list_accelerators, name="compute.acceleratorTypes.list"),
        web.get(accelerators + "/{name}", api.get_accelerator, name="compute.acceleratorTypes.get"),
        web.get(
            _PROJECT + "/aggregated/machineTypes",
            api.aggregated_machine_types,
            name="compute.machineTypes.aggregatedList",
        ),
        web.get(
            _PROJECT + "/aggregated/acceleratorTypes",
            api.aggregated_accelerators,
            name="compute.acceleratorTypes.aggregatedList",
        ),
        web.get(reservations, api.list_reservations, name="compute.reservations.list"),
        web.get(reservations + "/{name}", api.get_reservation, name="compute.reservations.get"),
        web.get(
            _PROJECT + "/aggregated/reservations",
            api.aggregated_reservations,
            name="compute.reservations.aggregatedList",
        ),
    ]


class _CapacityHandlers(Handlers):
    # -- regions and zones -----------------------------------------------------------------

    async def get_region(self, request: web.Request) -> web.Response:
        region = request.match_info["region"]
        await self._authorize(request, "compute.regions.get", self._path(request, "regions"))
        check_region(region)
        return json_response(self._region_json(region))

    async def list_regions(self, request: web.Request) -> web.Response:
        await self._authorize(request, "compute.regions.list", self._project_path(request))
        items = [self._region_json(region) for region in places.REGIONS]
        return json_response(self._page(request, "compute#regionList", "regions", items))

    async def get_zone(self, request: web.Request) -> web.Response:
        zone = await self._zone(request, "compute.zones.get", self._path(request, "zones"))
        return json_response(places.zone_json(self.world.project_id, zone))

    async def list_zones(self, request: web.Request) -> web.Response:
        await self._authorize(request, "compute.zones.list", self._project_path(request))
        project = self.world.project_id
        items = [places.zone_json(project, zone) for zone in places.ZONES]
        return json_response(self._page(request, "compute#zoneList", "zones", items))

    # -- what a zone offers ----------------------------------------------------------------

    async def get_machine_type(self, request: web.Request) -> web.Response:
        zone, name = await self._named_in_zone(request, "compute.machineTypes.get", "machineTypes")
        for machine in places.machine_types_in(zone):
            if machine.name == name:
                return json_response(places.machine_type_json(self.world.project_id, zone, machine))
        raise not_found(self._path(request, "zones", "machineTypes", name))

    async def list_machine_types(self, request: web.Request) -> web.Response:
        zone = await self._zone(request, "compute.machineTypes.list", self._project_path(request))
        project = self.world.project_id
        items = [places.machine_type_json(project, zone, m) for m in places.machine_types_in(zone)]
        return json_response(
            self._page(request, "compute#machineTypeList", "machineTypes", items, zone)
        )

    async def get_accelerator(self, request: web.Request) -> web.Response:
        zone, name = await self._named_in_zone(
            request, "compute.acceleratorTypes.get", "acceleratorTypes"
        )
        most = places.accelerators_in(zone).get(name)
        if most is None:
            raise not_found(self._path(request, "zones", "acceleratorTypes", name))
        return json_response(places.accelerator_type_json(self.world.project_id, zone, name, most))

    async def list_accelerators(self, request: web.Request) -> web.Response:
        permission = "compute.acceleratorTypes.list"
        zone = await self._zone(request, permission, self._project_path(request))
        project = self.world.project_id
        items = [
            places.accelerator_type_json(project, zone, name, most)
            for name, most in sorted(places.accelerators_in(zone).items())
        ]
        return json_response(
            self._page(request, "compute#acceleratorTypeList", "acceleratorTypes", items, zone)
        )

    # -- reservations ----------------------------------------------------------------------

    async def get_reservation(self, request: web.Request) -> web.Response:
        zone, name = await self._named_in_zone(request, "compute.reservations.get", "reservations")
        body = self.service.capacity.reservation_json(zone, name)
        if body is None:
            raise not_found(self._path(request, "zones", "reservations", name))
        return json_response(body)

    async def list_reservations(self, request: web.Request) -> web.Response:
        zone = await self._zone(request, "compute.reservations.list", self._project_path(request))
        items = [body for z, body in self.service.capacity.reservations_json() if z == zone]
        return json_response(
            self._page(request, "compute#reservationList", "reservations", items, zone)
        )

    async def aggregated_reservations(self, request: web.Request) -> web.Response:
        await self._authorize(request, "compute.reservations.list", self._project_path(request))
        scoped = self.service.capacity.reservations_json()
        return self._by_zone(request, "compute#reservationAggregatedList", "reservations", scoped)

    async def aggregated_machine_types(self, request: web.Request) -> web.Response:
        await self._authorize(request, "compute.machineTypes.list", self._project_path(request))
        project = self.world.project_id
        scoped = [
            (zone, places.machine_type_json(project, zone, machine))
            for zone in places.ZONES
            for machine in places.machine_types_in(zone)
        ]
        return self._by_zone(request, "compute#machineTypeAggregatedList", "machineTypes", scoped)

    async def aggregated_accelerators(self, request: web.Request) -> web.Response:
        permission = "compute.acceleratorTypes.list"
        await self._authorize(request, permission, self._project_path(request))
        project = self.world.project_id
        scoped = [
            (zone, places.accelerator_type_json(project, zone, name, most))
            for zone in places.ZONES
            for name, most in sorted(places.accelerators_in(zone).items())
        ]
        kind = "compute#acceleratorTypeAggregatedList"
        return self._by_zone(request, kind, "acceleratorTypes", scoped)

    # -- shared ----------------------------------------------------------------------------

    def _by_zone(
        self,
        request: web.Request,
        kind: str,
        collection: str,
        scoped: list[tuple[str, dict[str, Any]]],
    ) -> web.Response:
        """An aggregated list: items grouped by `zones/Z`, a zone without any saying so."""
        keep = list_filter(request)
        shown, next_token = list_page(request, [(z, item) for z, item in scoped if keep(item)])
        by_scope: dict[str, Any] = {}
        for zone in places.ZONES:
            scope = f"zones/{zone}"
            items = [item for item_zone, item in shown if item_zone == zone]
            by_scope[scope] = {collection: items} if items else no_results(scope)
        path = f"{self._project_path(request)}/aggregated/{collection}"
        return json_response(list_body(kind, path, {"items": by_scope}, next_token))

    def _region_json(self, region: str) -> dict[str, Any]:
        quotas = self.service.capacity.region_quotas(region)
        return places.region_json(self.world.project_id, region, quotas)

    def _path(self, request: web.Request, *parts: str) -> str:
        """`projects/P/<collection>/<the path's own name>[/...]`."""
        info = request.match_info
        own = info.get("region") if parts[0] == "regions" else info.get("zone")
        return "/".join((self._project_path(request), parts[0], own or "", *parts[1:]))

    async def _zone(self, request: web.Request, permission: str, resource: str) -> str:
        await self._authorize(request, permission, resource)
        zone = request.match_info["zone"]
        if zone not in places.ZONES:
            raise invalid_field("zone", zone, "Unknown zone.")
        return zone

    async def _named_in_zone(
        self, request: web.Request, permission: str, collection: str
    ) -> tuple[str, str]:
        name = request.match_info["name"]
        path = self._path(request, "zones", collection, name)
        return await self._zone(request, permission, path), name

    def _page(
        self,
        request: web.Request,
        kind: str,
        collection: str,
        items: list[dict[str, Any]],
        zone: str = "",
    ) -> dict[str, Any]:
        """A list of `items` (filtered and paged) whose id is the collection's path."""
        scope = f"/zones/{zone}" if zone else ""
        path = f"{self._project_path(request)}{scope}/{collection}"
        keep = list_filter(request)
        shown, next_token = list_page(request, [item for item in items if keep(item)])
        return list_body(kind, path, {"items": shown} if shown else {}, next_token)
