"""Reads: list (selectors, `limit`/`continue`) and watch (JSON lines, bookmarks, 410 Expired),
of objects or of their Tables."""

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

from aiohttp import web

from emulator.core.clock import Clock
from emulator.kube.apiserver.paths import query_flag, query_int
from emulator.kube.apiserver.tables import TableBuilder
from emulator.kube.errors import KubeApiError, bad_request, gone
from emulator.kube.resources import ResourceType
from emulator.kube.selectors import Matcher, field_matcher, label_matcher
from emulator.kube.store import Obj, Store, WatchEvent

T = TypeVar("T")

# Fields each kind can be selected on, besides metadata.name and metadata.namespace.
FIELD_LABELS: dict[tuple[str, str], frozenset[str]] = {
    ("", "Pod"): frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    ("", "Event"): frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "type",
        }
    ),
    ("", "Secret"): frozenset({"type"}),
    ("", "Namespace"): frozenset({"status.phase"}),
    ("", "Node"): frozenset({"spec.unschedulable"}),
    ("", "Service"): frozenset({"spec.clusterIP", "spec.type"}),
    ("apps", "ReplicaSet"): frozenset({"status.replicas"}),
    ("batch", "Job"): frozenset({"status.successful"}),
}
_ALWAYS_SELECTABLE = frozenset({"metadata.name", "metadata.namespace"})
BOOKMARK_INTERVAL = 60.0  # modelled seconds, as the watch cache sends them
_LIVENESS_CHECK = 0.1  # wall seconds between checks that the client is still there
_EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


async def feed(source: AsyncIterator[T], queue: "asyncio.Queue[T | KubeApiError | None]") -> None:
    """Move an async iterator's items into a queue, so its reader can wait with a timeout
    (cancelling a wait on the iterator itself would close it); an error, or None, ends it."""
    try:
        async for item in source:
            queue.put_nowait(item)
    except KubeApiError as error:
        queue.put_nowait(error)
        return
    queue.put_nowait(None)


async def end_stream(pump: "asyncio.Task[None]", response: web.StreamResponse) -> None:
    """Stop feeding a streamed response and end it; a client that went away is no error."""
    pump.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pump
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()


def selector(rtype: ResourceType, query: Mapping[str, str]) -> Matcher | None:
    """The label and field selectors of a request; 400 for what the API server cannot select."""
    labels, fields = query.get("labelSelector"), query.get("fieldSelector")
    if not labels and not fields:
        return None
    allowed = _ALWAYS_SELECTABLE | FIELD_LABELS.get((rtype.group, rtype.kind), frozenset())
    for term in (fields or "").split(","):
        path = term.replace("!=", "=").split("=", 1)[0].strip()
        if term.strip() and rtype.crd is None and path not in allowed:
            raise bad_request(f"field label not supported: {path}")
    by_label, by_field = label_matcher(labels), field_matcher(fields)
    return lambda obj: by_label(obj) and by_field(obj)


def _key(obj: Mapping[str, Any]) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def _encode_continue(version: int, start: str) -> str:
    token = json.dumps({"v": "meta.k8s.io/v1", "rv": version, "start": start})
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion"
        ) from None


def list_objects(
    store: Store, rtype: ResourceType, namespace: str | None, query: Mapping[str, str]
) -> Obj:
    """A `<Kind>List`, one page of it when `limit` is given."""
    items = store.list_objects(rtype, namespace, selector(rtype, query))
    version = int(store.resource_version)
    if query.get("continue"):
        version, start = _decode_continue(query["continue"])
        if version < store.oldest_resource_version:
            raise gone(_EXPIRED_CONTINUE)
        items = [item for item in items if _key(item) > start]
    metadata: dict[str, Any] = {"resourceVersion": str(version)}
    limit = query_int(query, "limit")
    if limit and len(items) > limit:
        metadata["continue"] = _encode_continue(version, _key(items[limit - 1]))
        metadata["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    for item in items:
        item["apiVersion"] = rtype.api_version
    return {
        "kind": f"{rtype.kind}List",
        "apiVersion": rtype.api_version,
        "metadata": metadata,
        "items": items,
    }


class WatchStream:
    """One watch request: initial events when asked, then changes, as JSON lines; with
    `tables`, each event's object is a Table of it (column definitions in the first only)."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        rtype: ResourceType,
        namespace: str | None,
        query: Mapping[str, str],
        tables: TableBuilder | None = None,
    ) -> None:
        self.store, self.clock, self.rtype, self.namespace = store, clock, rtype, namespace
        self.tables, self.headers_sent = tables, False
        self.match = selector(rtype, query)
        version = query.get("resourceVersion") or ""
        asked_initial = query_flag(query, "sendInitialEvents")
        self.send_initial = asked_initial or version in ("", "0")
        self.mark_initial_end = asked_initial
        self.since = None if self.send_initial else query_int(query, "resourceVersion")
        self.bookmarks = query_flag(query, "allowWatchBookmarks")
        self.timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        self.visible: set[str] = set()
        self.last_seen = 0

    async def serve(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        queue: asyncio.Queue[WatchEvent | KubeApiError | None] = asyncio.Queue()
        start = self._initial_version()
        pump = asyncio.create_task(feed(self.store.watch(start), queue))
        try:
            if self.send_initial:
                for obj in self.store.list_objects(self.rtype, self.namespace, self.match):
                    self.visible.add(_key(obj))
                    await self._write(response, "ADDED", self._present(obj))
                if self.bookmarks and self.mark_initial_end:
                    await self._bookmark(response, initial_events_end=True)
            elif self.match is not None:
                current = self.store.list_objects(self.rtype, self.namespace, self.match)
                self.visible = {_key(obj) for obj in current}
            await self._follow(request, response, queue)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            await end_stream(pump, response)
        return response

    def _initial_version(self) -> int:
        start = int(self.store.resource_version) if self.since is None else self.since
        self.last_seen = start
        return start

    async def _follow(
        self,
        request: web.Request,
        response: web.StreamResponse,
        queue: "asyncio.Queue[WatchEvent | KubeApiError | None]",
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout
        next_bookmark = loop.time() + self.clock.scaled(BOOKMARK_INTERVAL)
        while True:
            now = loop.time()
            if deadline is not None and now >= deadline:
                return
            if request.transport is None or request.transport.is_closing():
                return
            if self.bookmarks and now >= next_bookmark:
                await self._bookmark(response)
                next_bookmark = now + self.clock.scaled(BOOKMARK_INTERVAL)
            wait = min(
                _LIVENESS_CHECK,
                next_bookmark - now if self.bookmarks else _LIVENESS_CHECK,
                deadline - now if deadline is not None else _LIVENESS_CHECK,
            )
            try:
                item = await asyncio.wait_for(queue.get(), max(wait, 0))
            except TimeoutError:
                continue
            if item is None:
                return
            if isinstance(item, KubeApiError):
                await self._write(response, "ERROR", item.status())
                return
            self.last_seen = item.resource_version
            event = self._translate(item)
            if event is not None:
                await self._write(response, *event)

    def _translate(self, event: WatchEvent) -> tuple[str, Obj] | None:
        """The event as this watch sees it, through its type, namespace and selectors."""
        obj = event.object
        if event.resource_type.key != self.rtype.key:
            return None
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return None
        if self.match is None:
            return event.type, self._present(obj)
        key, matches = _key(obj), self.match(obj)
        was_visible = key in self.visible
        if event.type == "DELETED" or not matches:
            self.visible.discard(key)
            return (
                ("DELETED", self._present(obj))
                if was_visible or (matches and event.type == "DELETED")
                else None
            )
        self.visible.add(key)
        return ("MODIFIED" if was_visible else "ADDED"), self._present(obj)

    def _present(self, obj: Obj) -> Obj:
        obj = dict(obj)
        obj["apiVersion"] = self.rtype.api_version
        if self.tables is None:
            return obj
        table = self.tables.of_object(obj, headers=not self.headers_sent)
        self.headers_sent = True
        return table

    async def _bookmark(
        self, response: web.StreamResponse, initial_events_end: bool = False
    ) -> None:
        metadata: dict[str, Any] = {"resourceVersion": str(self.last_seen)}
        if initial_events_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        bookmark = {
            "kind": self.rtype.kind,
            "apiVersion": self.rtype.api_version,
            "metadata": metadata,
        }
        if self.tables is not None:  # a client of Tables decodes every event's object as one
            bookmark = self.tables.table([], metadata, headers=not self.headers_sent)
        await self._write(response, "BOOKMARK", bookmark)

    @staticmethod
    async def _write(response: web.StreamResponse, kind: str, obj: Mapping[str, Any]) -> None:
        await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
