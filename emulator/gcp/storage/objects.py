"""Cloud Storage objects: uploads (media, multipart, resumable), downloads, listing, deletion.

A resumable session URL is a capability, as on GCS: its chunks need no token, because the
caller was authorized when the session started. Overwriting an object needs
`storage.objects.delete` as well as `create`, so an object creator cannot replace data.
"""

import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulator.core.errors import GoogleApiError, invalid_argument, not_found
from emulator.core.http import json_response, read_json
from emulator.gcp.discovery import validate
from emulator.gcp.paging import page
from emulator.gcp.storage.model import (
    OBJECT_HEADERS,
    Bucket,
    StoredObject,
    check_preconditions,
    crc32c,
    md5,
)
from emulator.gcp.storage.uploads import (
    ResumableUpload,
    byte_range,
    goog_hash,
    parse_chunk,
    parse_multipart_related,
    verify_checksums,
)

if TYPE_CHECKING:
    from emulator.gcp.storage.service import StorageService

_METHOD = "storage.objects."
_GENERATION_PRECONDITIONS = ("ifGenerationMatch", "ifGenerationNotMatch")
_DEFAULT_CONTENT_TYPE = "application/octet-stream"


class ObjectApi:
    def __init__(self, storage: "StorageService") -> None:
        self.storage = storage
        self._last_generation = 0

    def routes(self) -> list[web.RouteDef]:
        upload = "/upload/storage/v1/b/{bucket}/o"
        stored = "/storage/v1/b/{bucket}/o/{object:.+}"
        return [
            web.post(upload, self.insert, name=_METHOD + "insert"),
            web.put(upload, self.upload_chunk, name=_METHOD + "insert"),
            web.get("/storage/v1/b/{bucket}/o", self.list_objects, name=_METHOD + "list"),
            web.get("/{download:(?:download/)?}" + stored[1:], self.get, name=_METHOD + "get"),
            web.delete(stored, self.delete, name=_METHOD + "delete"),
        ]

    async def insert(self, request: web.Request) -> web.Response:
        upload_type = request.query.get("uploadType", "media")
        if upload_type == "resumable":
            return await self._start_resumable(request)
        if upload_type == "multipart":
            metadata, data, part_type = parse_multipart_related(
                await request.read(), request.headers.get("Content-Type", "")
            )
            metadata.setdefault("contentType", part_type or _DEFAULT_CONTENT_TYPE)
        elif upload_type == "media":
            data = await request.read()
            content_type = request.headers.get("Content-Type") or _DEFAULT_CONTENT_TYPE
            metadata = {"contentType": content_type}
        else:
            raise invalid_argument(f"Invalid upload type: {upload_type}")
        validate("storage.v1", "Object", metadata)
        metadata.setdefault("name", request.query.get("name"))
        bucket = await self._authorize_write(request, metadata)
        verify_checksums(
            data, crc32c_value=metadata.get("crc32c"), md5_value=metadata.get("md5Hash")
        )
        stored = self._commit(bucket, metadata, data, request.query)
        return json_response(stored.to_json(bucket.name, str(request.url.origin())))

    async def _start_resumable(self, request: web.Request) -> web.Response:
        metadata = await read_json(request)
        validate("storage.v1", "Object", metadata)
        metadata.setdefault("name", request.query.get("name"))
        content_type = request.headers.get("X-Upload-Content-Type")
        metadata.setdefault("contentType", content_type or _DEFAULT_CONTENT_TYPE)
        bucket = await self._authorize_write(request, metadata)
        check_preconditions(_generation(bucket, metadata["name"]), request.query, "Generation")
        upload_id = secrets.token_urlsafe(24)
        length = request.headers.get("X-Upload-Content-Length")
        self.storage.uploads[upload_id] = ResumableUpload(
            bucket=bucket.name,
            metadata=metadata,
            preconditions={
                key: value
                for key, value in request.query.items()
                if key in _GENERATION_PRECONDITIONS
            },
            total=int(length) if length and length.isdigit() else None,
        )
        location = request.url.with_query(uploadType="resumable", upload_id=upload_id)
        return web.Response(status=200, headers={"Location": str(location)})

    async def upload_chunk(self, request: web.Request) -> web.Response:
        upload_id = request.query.get("upload_id", "")
        upload = self.storage.uploads.get(upload_id)
        if upload is None:
            raise not_found(f"No such upload session: {upload_id}")
        chunk = parse_chunk(request.headers.get("Content-Range"), await request.read())
        if chunk.total is not None:
            upload.total = chunk.total
        if chunk.first is not None:
            if chunk.first > len(upload.data):
                raise invalid_argument("A chunk must continue where the session's bytes end.")
            upload.data = upload.data[: chunk.first] + chunk.data
        if upload.total is None or len(upload.data) < upload.total:
            headers = {"Range": f"bytes=0-{len(upload.data) - 1}"} if upload.data else {}
            return web.Response(status=308, headers=headers)
        del self.storage.uploads[upload_id]
        hashes = goog_hash(request.headers.get("X-Goog-Hash"))
        verify_checksums(
            upload.data,
            crc32c_value=hashes.get("crc32c") or upload.metadata.get("crc32c"),
            md5_value=hashes.get("md5") or upload.metadata.get("md5Hash"),
        )
        bucket = self.storage.buckets.get(upload.bucket)
        if bucket is None:
            raise not_found("The specified bucket does not exist.")
        stored = self._commit(bucket, upload.metadata, upload.data, upload.preconditions)
        return json_response(stored.to_json(bucket.name, str(request.url.origin())))

    async def get(self, request: web.Request) -> web.Response:
        bucket, stored = await self._authorized_object(request, "storage.objects.get")
        if not (request.match_info["download"] or request.query.get("alt") == "media"):
            return json_response(stored.to_json(bucket.name, str(request.url.origin())))
        size = len(stored.data)
        headers = {
            "Content-Type": stored.content_type,
            "X-Goog-Hash": f"crc32c={crc32c(stored.data)},md5={md5(stored.data)}",
            "X-Goog-Generation": str(stored.generation),
            "X-Goog-Metageneration": "1",
            "X-Goog-Stored-Content-Length": str(size),
        }
        span = byte_range(request.headers.get("Range"), size)
        if span is None:
            return web.Response(body=stored.data, headers=headers)
        first, last = span
        if first >= size:
            raise GoogleApiError(416, "The requested range cannot be satisfied.")
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return web.Response(status=206, body=stored.data[first : last + 1], headers=headers)

    async def list_objects(self, request: web.Request) -> web.Response:
        bucket = await self.storage.authorized_bucket(request, "storage.objects.list")
        query = request.query
        entries = _listing(bucket, query.get("prefix", ""), query.get("delimiter"), query)
        items, next_token = page(entries, query.get("maxResults"), query.get("pageToken"), 1000)
        url = str(request.url.origin())
        body: dict[str, Any] = {"kind": "storage#objects"}
        objects = [e.to_json(bucket.name, url) for e in items if isinstance(e, StoredObject)]
        prefixes = [e for e in items if isinstance(e, str)]
        if objects:
            body["items"] = objects
        if prefixes:
            body["prefixes"] = prefixes
        if next_token:
            body["nextPageToken"] = next_token
        return json_response(body)

    async def delete(self, request: web.Request) -> web.Response:
        bucket, stored = await self._authorized_object(request, "storage.objects.delete")
        del bucket.objects[stored.name]
        return web.Response(status=204)

    async def _authorized_object(
        self, request: web.Request, permission: str
    ) -> tuple[Bucket, StoredObject]:
        name = request.match_info["object"]
        bucket = await self.storage.authorized_bucket(request, permission, object_name=name)
        stored = bucket.objects.get(name)
        generation = request.query.get("generation")
        if stored is None or (generation is not None and generation != str(stored.generation)):
            raise not_found(f"No such object: {bucket.name}/{name}")
        check_preconditions(stored.generation, request.query, "Generation")
        return bucket, stored

    async def _authorize_write(self, request: web.Request, metadata: dict[str, Any]) -> Bucket:
        name = metadata.get("name")
        if not isinstance(name, str) or not name or len(name.encode()) > 1024:
            raise invalid_argument(f"Invalid object name: {name!r}")
        if name in (".", "..") or "\r" in name or "\n" in name:
            raise invalid_argument(f"Invalid object name: {name!r}")
        bucket = await self.storage.authorized_bucket(
            request, "storage.objects.create", object_name=name
        )
        if name in bucket.objects:
            await self.storage.authorized_bucket(
                request, "storage.objects.delete", object_name=name
            )
        return bucket

    def write(self, bucket: Bucket, name: str, data: bytes, content_type: str) -> StoredObject:
        """A new generation of an object, as a client's upload that was already authorized
        stores it (pods' client libraries, through `emulator.kube.workload_identity`)."""
        return self._commit(bucket, {"name": name, "contentType": content_type}, data, {})

    def _commit(
        self, bucket: Bucket, metadata: dict[str, Any], data: bytes, preconditions: Any
    ) -> StoredObject:
        name = metadata["name"]
        check_preconditions(_generation(bucket, name), preconditions, "Generation")
        now = self.storage.world.clock.now()
        self._last_generation = max(self._last_generation + 1, int(now * 1_000_000))
        stored = StoredObject(
            name=name,
            data=data,
            content_type=metadata.get("contentType") or _DEFAULT_CONTENT_TYPE,
            generation=self._last_generation,
            created=now,
            metadata=dict(metadata.get("metadata") or {}),
            headers={key: metadata[key] for key in OBJECT_HEADERS if metadata.get(key)},
        )
        bucket.objects[name] = stored
        return stored


def _generation(bucket: Bucket, name: str) -> int:
    """The live generation of an object; 0 when there is none (`ifGenerationMatch=0`)."""
    stored = bucket.objects.get(name)
    return stored.generation if stored else 0


def _listing(
    bucket: Bucket, prefix: str, delimiter: str | None, query: Any
) -> list[StoredObject | str]:
    """Objects and, with a delimiter, the common prefixes in between, in name order."""
    start, end = query.get("startOffset"), query.get("endOffset")
    entries: list[StoredObject | str] = []
    for name in sorted(bucket.objects):
        if not name.startswith(prefix) or (start and name < start) or (end and name >= end):
            continue
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if cut < 0:
            entries.append(bucket.objects[name])
            continue
        common = name[: cut + len(delimiter or "")]
        if not entries or entries[-1] != common:
            entries.append(common)
    return entries
