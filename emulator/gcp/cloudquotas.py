"""Cloud Quotas API v1: Compute Engine's regional quotas as QuotaInfos, the limits GKE enforces.

Google's "Implement common use cases" (docs/quotas/implement-common-use-cases) reads a quota's
limits here and its usage from Cloud Monitoring (`emulator.gcp.monitoring`). Every quota of
`emulator.gcp.compute.quotas` is a QuotaInfo of `compute.googleapis.com`, those `regions.get`
reports as well as the v5p and v6e ones it does not, with the same limits. Its `dimensionsInfos`
say the limit per region: an entry without a `region` dimension for the regions without a limit
of their own, and one per region that has one (the `quota` scenario sets them); the most
specific entry matching a region wins, as Google's dimension precedence says. The per-family
quota has the dimensions region and `tpu_family`: `{}` is 0 (the families the emulator does not
model), `{"tpu_family": "CT6E"}` v6e's limit, `{"region": R, "tpu_family": "CT6E"}` a region's.
Callers need `cloudquotas.quotas.get` on the project, for `get` and `list` alike.
"""

from typing import Any

from aiohttp import web

from emulator.core.errors import invalid_argument, not_found
from emulator.core.http import json_response
from emulator.core.world import World
from emulator.gcp.compute import places
from emulator.gcp.compute.capacity import ComputeCapacity
from emulator.gcp.compute.quotas import BY_ID, QUOTAS, SERVICE, Quota
from emulator.gcp.paging import paged_body

_SERVICE_PATH = "/v1/projects/{project}/locations/{location}/services/{service}/quotaInfos"
_METHOD = "cloudquotas.projects.locations.services.quotaInfos."
_PAGE_SIZE = 100


class CloudQuotasService:
    def __init__(self, world: World, capacity: ComputeCapacity) -> None:
        self.world = world
        self.capacity = capacity

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(_SERVICE_PATH, self.list_quota_infos, name=_METHOD + "list"),
            web.get(_SERVICE_PATH + "/{quota}", self.get_quota_info, name=_METHOD + "get"),
        ]

    async def get_quota_info(self, request: web.Request) -> web.Response:
        quota_id = request.match_info["quota"]
        await self._authorize(request, f"quotaInfos/{quota_id}")
        quota = BY_ID.get(quota_id)
        if quota is None:
            raise not_found(
                f"Quota '{quota_id}' does not exist or is not visible in the service "
                f"'{request.match_info['service']}'."
            )
        return json_response(self.quota_info(quota))

    async def list_quota_infos(self, request: web.Request) -> web.Response:
        await self._authorize(request, "quotaInfos")
        infos = [self.quota_info(quota) for quota in QUOTAS]
        return json_response(paged_body("quotaInfos", infos, request.query, _PAGE_SIZE))

    def quota_info(self, quota: Quota) -> dict[str, Any]:
        family = {"tpu_family": quota.tpu_family} if quota.tpu_family else {}
        return {
            "name": (
                f"projects/{self.world.project_number}/locations/global/services/{SERVICE}/"
                f"quotaInfos/{quota.quota_id}"
            ),
            "quotaId": quota.quota_id,
            "metric": quota.metric,
            "service": SERVICE,
            "isPrecise": True,
            "containerType": "PROJECT",
            "dimensions": ["region", *family],
            "metricDisplayName": quota.display_name,
            "quotaDisplayName": f"{quota.display_name} per project per region",
            "metricUnit": "1",
            "dimensionsInfos": self._dimensions_infos(quota, family),
        }

    def _dimensions_infos(self, quota: Quota, family: dict[str, str]) -> list[dict[str, Any]]:
        """The default entries first, then each region with a limit of its own."""
        default, own = self.capacity.limits.settings(quota.quota_id)
        others = [region for region in places.REGIONS if region not in own]
        infos = [_dimensions_info({}, 0, places.REGIONS)] if family else []
        if others:
            infos.append(_dimensions_info(family, default, others))
        for region, limit in sorted(own.items()):
            infos.append(_dimensions_info({"region": region, **family}, limit, [region]))
        return infos

    async def _authorize(self, request: web.Request, leaf: str) -> None:
        """The caller needs `cloudquotas.quotas.get` (list too); then the path must name the
        global location and Compute Engine's quotas, the only ones modelled."""
        info = request.match_info
        resource = (
            f"projects/{info['project']}/locations/{info['location']}/services/{info['service']}"
        )
        await self.world.authorize(request, "cloudquotas.quotas.get", f"{resource}/{leaf}")
        if info["location"] != "global":
            raise invalid_argument(
                f"Invalid location '{info['location']}': quota infos are in 'global' only."
            )
        if info["service"] != SERVICE:
            raise not_found(f"Service '{info['service']}' does not exist or is not visible.")


def _dimensions_info(
    dimensions: dict[str, str], limit: float, regions: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    return {
        "dimensions": dimensions,
        "details": {"value": str(int(limit))},
        "applicableLocations": list(regions),
    }
