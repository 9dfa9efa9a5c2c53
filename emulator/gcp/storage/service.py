"""Cloud Storage JSON API: buckets, bucket IAM, and the state objects live in.

Bucket names are global: a name another project owns (the `bucket-owned-by-other-project`
scenario) answers 409 on insert and 403 on everything else, because the caller has no role in
that project. Access to a bucket and its objects is the union of the bucket policy and the
project policy of the project that owns the bucket.
"""

import re
from typing import Any

from aiohttp import web

from emulator.core.clock import rfc3339
from emulator.core.errors import GoogleApiError, invalid_argument, not_found
from emulator.core.http import json_response, read_json
from emulator.core.world import Resource, World
from emulator.gcp.discovery import validate
from emulator.gcp.paging import page
from emulator.gcp.policy import Policy, replace_policy
from emulator.gcp.storage.model import (
    STORED_SETTINGS,
    Bucket,
    check_bucket_name,
    check_labels,
    check_placement,
    check_preconditions,
    default_bucket_policy,
    precondition_failed,
)
from emulator.gcp.storage.objects import ObjectApi
from emulator.gcp.storage.uploads import ResumableUpload

_BUCKET_RESOURCE = re.compile(r"^projects/[^/]+/buckets/(?P<bucket>[^/]+)")
_METHOD = "storage.buckets."
DEFAULT_OTHER_PROJECT = "someone-elses-project"


class StorageService:
    name = "storage"

    def __init__(self, world: World) -> None:
        self.world = world
        self.buckets: dict[str, Bucket] = {}
        self.other_projects_buckets: dict[str, str] = {}  # bucket name -> owning project
        self.uploads: dict[str, ResumableUpload] = {}
        self.objects = ObjectApi(self)
        world.faults.register_scenario(
            "bucket-owned-by-other-project", self._give_to_other_project, self._forget_others
        )

    def routes(self) -> list[web.RouteDef]:
        buckets = "/storage/v1/b"
        bucket = buckets + "/{bucket}"
        return [
            web.post(buckets, self.insert, name=_METHOD + "insert"),
            web.get(buckets, self.list_buckets, name=_METHOD + "list"),
            web.get(bucket, self.get, name=_METHOD + "get"),
            web.patch(bucket, self.patch, name=_METHOD + "patch"),
            web.delete(bucket, self.delete, name=_METHOD + "delete"),
            web.get(bucket + "/iam", self.get_iam_policy, name=_METHOD + "getIamPolicy"),
            web.put(bucket + "/iam", self.set_iam_policy, name=_METHOD + "setIamPolicy"),
            web.get(
                bucket + "/iam/testPermissions",
                self.test_iam_permissions,
                name=_METHOD + "testIamPermissions",
            ),
            *self.objects.routes(),
        ]

    async def authorized_bucket(
        self, request: web.Request, permission: str, *, object_name: str | None = None
    ) -> Bucket:
        """The bucket the path names, after the caller proved `permission` on it (403 first)."""
        name = request.match_info["bucket"]
        bucket = self.buckets.get(name)
        owner = self.other_projects_buckets.get(name, self.world.project_id)
        resource = f"projects/{owner}/buckets/{name}"
        if object_name is not None:
            resource += f"/objects/{object_name}"
        await self.world.authorize(request, permission, resource)
        if bucket is None:
            raise not_found("The specified bucket does not exist.")
        return bucket

    def policies_for(self, resource: str) -> list[Policy]:
        match = _BUCKET_RESOURCE.match(resource)
        bucket = self.buckets.get(match["bucket"]) if match else None
        return [bucket.policy] if bucket else []

    # -- buckets ---------------------------------------------------------------------------

    async def insert(self, request: web.Request) -> web.Response:
        project = self._project_param(request)
        await self.world.authorize(request, "storage.buckets.create", f"projects/{project}")
        body = await read_json(request)
        validate("storage.v1", "Bucket", body)
        name = check_bucket_name(body.get("name"))
        if name in self.other_projects_buckets:
            raise GoogleApiError(
                409,
                "The requested bucket name is not available. The bucket namespace is shared by "
                "all users of the system. Please select a different name and try again.",
                reason="conflict",
            )
        if name in self.buckets:
            raise GoogleApiError(
                409,
                "Your previous request to create the named bucket succeeded and you already "
                "own it.",
                reason="conflict",
            )
        location = (body.get("location") or "US").upper()
        storage_class = (body.get("storageClass") or "STANDARD").upper()
        check_placement(location, storage_class)
        labels = {k: v for k, v in (body.get("labels") or {}).items() if v is not None}
        check_labels(labels)
        bucket = Bucket(
            name=name,
            project=self.world.project_id,
            created=self.world.clock.now(),
            location=location,
            storage_class=storage_class,
            uniform_access=_uniform_access(body, default=False),
            labels=labels,
            settings={key: body[key] for key in STORED_SETTINGS if body.get(key) is not None},
            policy=default_bucket_policy(self.world.project_id),
        )
        self.buckets[name] = bucket
        return self._bucket_response(request, bucket)

    async def list_buckets(self, request: web.Request) -> web.Response:
        project = self._project_param(request)
        await self.world.authorize(request, "storage.buckets.list", f"projects/{project}")
        prefix = request.query.get("prefix", "")
        own = project in (self.world.project_id, self.world.project_number)
        matching = [
            self.buckets[name] for name in sorted(self.buckets) if own and name.startswith(prefix)
        ]
        items, next_token = page(
            matching, request.query.get("maxResults"), request.query.get("pageToken"), 1000
        )
        body: dict[str, Any] = {"kind": "storage#buckets"}
        if items:
            url = str(request.url.origin())
            body["items"] = [b.to_json(self.world.project_number, url) for b in items]
        if next_token:
            body["nextPageToken"] = next_token
        return json_response(body)

    async def get(self, request: web.Request) -> web.Response:
        bucket = await self.authorized_bucket(request, "storage.buckets.get")
        check_preconditions(bucket.metageneration, request.query, "Metageneration")
        return self._bucket_response(request, bucket)

    async def patch(self, request: web.Request) -> web.Response:
        bucket = await self.authorized_bucket(request, "storage.buckets.update")
        check_preconditions(bucket.metageneration, request.query, "Metageneration")
        body = await read_json(request)
        validate("storage.v1", "Bucket", body)
        if "labels" in body:
            merged = {**bucket.labels, **(body["labels"] or {})}
            labels = {key: value for key, value in merged.items() if value is not None}
            check_labels(labels)
            bucket.labels = labels
        if body.get("storageClass"):
            storage_class = body["storageClass"].upper()
            check_placement(bucket.location, storage_class)
            bucket.storage_class = storage_class
        bucket.uniform_access = _uniform_access(body, default=bucket.uniform_access)
        for key in STORED_SETTINGS:
            if key in body:
                bucket.settings.pop(key, None)
                if body[key] is not None:
                    bucket.settings[key] = body[key]
        bucket.metageneration += 1
        bucket.updated = self.world.clock.now()
        return self._bucket_response(request, bucket)

    async def delete(self, request: web.Request) -> web.Response:
        bucket = await self.authorized_bucket(request, "storage.buckets.delete")
        check_preconditions(bucket.metageneration, request.query, "Metageneration")
        if bucket.objects:
            raise GoogleApiError(
                409, "The bucket you tried to delete is not empty.", reason="conflict"
            )
        del self.buckets[bucket.name]
        self.uploads = {key: u for key, u in self.uploads.items() if u.bucket != bucket.name}
        return web.Response(status=204)

    # -- bucket IAM ------------------------------------------------------------------------

    async def get_iam_policy(self, request: web.Request) -> web.Response:
        bucket = await self.authorized_bucket(request, "storage.buckets.getIamPolicy")
        return self._policy_response(bucket)

    async def set_iam_policy(self, request: web.Request) -> web.Response:
        bucket = await self.authorized_bucket(request, "storage.buckets.setIamPolicy")
        body = await read_json(request)
        validate("storage.v1", "Policy", body)
        policy = replace_policy(
            self.world,
            bucket.policy,
            body,
            resource_kind="bucket",
            stale_etag=precondition_failed("Precondition Failed"),
        )
        if policy.version == 3 and not bucket.uniform_access:
            raise invalid_argument(
                "IAM conditions can only be used on buckets with uniform bucket-level access."
            )
        bucket.policy = policy
        return self._policy_response(bucket)

    async def test_iam_permissions(self, request: web.Request) -> web.Response:
        granted = []
        for permission in request.query.getall("permissions", []):
            try:
                await self.authorized_bucket(request, permission)
            except GoogleApiError as error:
                if error.code != 403:
                    raise
            else:
                granted.append(permission)
        body: dict[str, Any] = {"kind": "storage#testIamPermissionsResponse"}
        if granted:
            body["permissions"] = granted
        return json_response(body)

    # -- helpers, scenario, state ----------------------------------------------------------

    def _project_param(self, request: web.Request) -> str:
        project = request.query.get("project")
        if not project:
            raise invalid_argument("Required parameter: project")
        return project

    def _bucket_response(self, request: web.Request, bucket: Bucket) -> web.Response:
        return json_response(bucket.to_json(self.world.project_number, str(request.url.origin())))

    @staticmethod
    def _policy_response(bucket: Bucket) -> web.Response:
        return json_response(
            {
                "kind": "storage#policy",
                "resourceId": f"projects/_/buckets/{bucket.name}",
                **bucket.policy.to_json(),
            }
        )

    def _give_to_other_project(self, params: dict[str, Any]) -> dict[str, Any]:
        name = check_bucket_name(params.get("bucket"))
        if name in self.buckets:
            raise ValueError(f"bucket {name} already exists in this project")
        owner = str(params.get("project") or DEFAULT_OTHER_PROJECT)
        self.other_projects_buckets[name] = owner
        return {"bucket": name, "project": owner}

    def _forget_others(self) -> None:
        self.other_projects_buckets.clear()

    def resources(self) -> list[Resource]:
        return [
            Resource("storage", "Bucket", bucket.name, dict(bucket.labels), rfc3339(bucket.created))
            for bucket in self.buckets.values()
        ]

    def dump(self) -> dict[str, Any]:
        return {
            "buckets": [bucket.dump() for bucket in self.buckets.values()],
            "other_projects_buckets": dict(self.other_projects_buckets),
            "uploads": {key: upload.dump() for key, upload in self.uploads.items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        buckets = (Bucket.load(bucket) for bucket in state["buckets"])
        self.buckets = {bucket.name: bucket for bucket in buckets}
        self.other_projects_buckets = dict(state["other_projects_buckets"])
        self.uploads = {key: ResumableUpload.load(u) for key, u in state["uploads"].items()}


def _uniform_access(body: dict[str, Any], *, default: bool) -> bool:
    config = body.get("iamConfiguration") or {}
    setting = config.get("uniformBucketLevelAccess") or config.get("bucketPolicyOnly") or {}
    enabled = setting.get("enabled")
    return default if enabled is None else bool(enabled)
