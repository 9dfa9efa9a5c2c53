"""The pod `log` subresource: the kubelet's lines, selected and formatted as `kubectl logs` gets
them (`container`, `tailLines`, `sinceSeconds`, `sinceTime`, `timestamps`, `previous`,
`limitBytes`), or streamed while the container runs (`follow`). A read fails as on GKE when
the API server cannot reach the node's kubelet (the `pod-log-errors` scenario)."""

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from emulator.kube.apiserver.paths import query_flag, query_int
from emulator.kube.apiserver.reads import end_stream, feed
from emulator.kube.apiserver.timestamps import parse_rfc3339, rfc3339_nano
from emulator.kube.errors import KubeApiError, bad_request, internal_error, invalid
from emulator.kube.faults import LOG_READS
from emulator.kube.kubelet.logs import chosen_container
from emulator.kube.nodes import KUBELET_PORT

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

_LIVENESS_CHECK = 0.1  # wall seconds between checks that a follower is still there
LogLine = tuple[float, str]


class LogOptions:
    """The query of a log request, validated as `PodLogOptions` is."""

    def __init__(self, pod: str, query: Mapping[str, str], now: float) -> None:
        self.container = query.get("container") or None
        self.follow = query_flag(query, "follow")
        self.previous = query_flag(query, "previous")
        self.timestamps = query_flag(query, "timestamps")
        self.tail_lines = query_int(query, "tailLines")
        self.limit_bytes = query_int(query, "limitBytes")
        since_seconds = query_int(query, "sinceSeconds")
        causes = []
        if since_seconds is not None and query.get("sinceTime"):
            causes.append(
                _cause("", "at most one of `sinceTime` or `sinceSeconds` may be specified", "")
            )
        if since_seconds is not None and since_seconds < 1:
            causes.append(_cause("sinceSeconds", "must be greater than 0", since_seconds))
        if self.tail_lines is not None and self.tail_lines < 0:
            causes.append(
                _cause("tailLines", "must be greater than or equal to 0", self.tail_lines)
            )
        if self.limit_bytes is not None and self.limit_bytes < 1:
            causes.append(_cause("limitBytes", "must be greater than 0", self.limit_bytes))
        if causes:
            raise invalid("PodLogOptions", pod, causes)
        self.since: float | None = None
        if since_seconds is not None:
            self.since = now - since_seconds
        elif query.get("sinceTime"):
            try:
                self.since = parse_rfc3339(query["sinceTime"])
            except ValueError:
                raise bad_request(f"invalid sinceTime: {query['sinceTime']!r}") from None

    def select(self, lines: list[LogLine]) -> list[LogLine]:
        if self.since is not None:
            since = _microseconds(self.since)  # the precision timestamps are printed with
            lines = [line for line in lines if _microseconds(line[0]) >= since]
        if self.tail_lines is not None:
            lines = lines[-self.tail_lines :] if self.tail_lines else []
        return lines

    def render(self, line: LogLine) -> bytes:
        text = f"{rfc3339_nano(line[0])} {line[1]}" if self.timestamps else line[1]
        return f"{text}\n".encode()


async def pod_log(
    request: web.Request, cluster: "KubeCluster", namespace: str, name: str
) -> web.StreamResponse:
    options = LogOptions(name, request.query, cluster.world.clock.now())
    kubelet = cluster.kubelet
    everything = kubelet.logs(namespace, name, options.container, options.previous)
    if cluster.world.faults.take(LOG_READS) is not None:
        raise _kubelet_unreachable(cluster, namespace, name, options.container)
    budget = options.limit_bytes
    chunks = []
    for line in options.select(everything):
        chunk = options.render(line)
        if budget is not None:
            chunk, budget = chunk[:budget], budget - len(chunk[:budget])
        chunks.append(chunk)
    if not options.follow or options.previous or budget == 0:
        return web.Response(body=b"".join(chunks), content_type="text/plain", charset="utf-8")
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)
    queue: asyncio.Queue[LogLine | KubeApiError | None] = asyncio.Queue()
    source = kubelet.follow_logs(namespace, name, options.container, start=len(everything))
    pump = asyncio.create_task(feed(source, queue))
    try:
        while budget is None or budget > 0:
            try:
                line = await asyncio.wait_for(queue.get(), _LIVENESS_CHECK)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    break
                continue
            if not isinstance(line, tuple):
                break
            chunk = options.render(line)
            if budget is not None:
                chunk, budget = chunk[:budget], budget - len(chunk[:budget])
            await response.write(chunk)
    except ConnectionResetError:
        pass
    finally:
        await end_stream(pump, response)
    return response


def _kubelet_unreachable(
    cluster: "KubeCluster", namespace: str, name: str, container: str | None
) -> KubeApiError:
    """What the API server answers when its tunnel to the node's kubelet is down (GKE's
    konnectivity agents): the `pod-log-errors` scenario."""
    store = cluster.store
    pod = store.get(store.types.by_kind("v1", "Pod"), namespace, name)
    host = (pod.get("status") or {}).get("hostIP", "")
    chosen = chosen_container(pod, container)
    url = f"https://{host}:{KUBELET_PORT}/containerLogs/{namespace}/{name}/{chosen}"
    return internal_error(f'Get "{url}": No agent available')


def _microseconds(instant: float) -> int:
    """Whole microseconds as the printed stamp has them: datetime's own rounding of the float,
    so a stamp read back as `sinceTime` selects its own line (round(x * 1e6) can differ by 1)."""
    return (datetime.fromtimestamp(instant, UTC) - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime.fromtimestamp(0, UTC)


def _cause(field: str, detail: str, value: object) -> dict[str, str]:
    message = f"Invalid value: {value}: {detail}" if field else detail
    return {"reason": "FieldValueInvalid", "message": message, "field": field}
