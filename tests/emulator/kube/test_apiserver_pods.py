"""Pod logs (every query parameter, and following) and the service and pod proxies, against
containers that log and serve for real."""

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from kubernetes import client
from kubernetes.client.rest import ApiException
from served_cluster import ServedCluster, cpu_nodes

from emulator.kube.kubelet.behaviour import ContainerBehaviour, ContainerContext

IMAGE = "lab/chatty:1.0"


class Chatty(ContainerBehaviour):
    """`lab/chatty`: five numbered lines, then HTTP on 8080. `POST /log` logs the body,
    `POST /exit?code=N` ends the process; anything else is echoed back (method, path, query,
    body) with the status the `X-Status` header asks for."""

    image_pull_seconds = 1.0

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return str(container.get("image", "")).startswith("lab/chatty")

    async def run(self, ctx: ContainerContext) -> int | None:
        for number in range(1, 6):
            ctx.log(f"line {number}")
            await ctx.sleep(1)
        exit_code = 0
        exited = asyncio.Event()

        async def handle(request: web.Request) -> web.Response:
            nonlocal exit_code
            body = await request.text()
            if request.path == "/log":
                ctx.log(body)
                return web.Response(text="logged")
            if request.path == "/exit":
                exit_code = int(request.query.get("code", "0"))
                exited.set()
                return web.Response(text="bye")
            echo = {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "body": body,
            }
            return web.json_response(echo, status=int(request.headers.get("X-Status", "200")))

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        await ctx.serve_http(8080, app)
        waiters = [
            asyncio.ensure_future(exited.wait()),
            asyncio.ensure_future(ctx.wait_until_stopped()),
        ]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        return exit_code


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except ApiException:
            result = None
        if result:
            return result
        assert time.monotonic() < deadline, "the cluster did not get there in time"
        time.sleep(0.02)


@pytest.fixture
def chatty(kube: ServedCluster) -> Iterator[client.ApiClient]:
    """A running `chatty` pod behind a `chatty` Service (port 80 -> 8080)."""
    kube.call(kube.cluster.kubelet.behaviours.append, Chatty())
    kube.add_nodes(cpu_nodes("default-pool", 2))
    with kube.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(
            "default",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "chatty", "labels": {"app": "chatty"}},
                "spec": {
                    "containers": [
                        {"name": "chatty", "image": IMAGE, "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
        )
        core.create_namespaced_service(
            "default",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "chatty"},
                "spec": {
                    "selector": {"app": "chatty"},
                    "ports": [{"port": 80, "targetPort": 8080}],
                },
            },
        )
        eventually(lambda: "line 5" in core.read_namespaced_pod_log("chatty", "default"))
        eventually(lambda: ready_endpoints(core, "chatty"))
        # Ready means running (no probe), not serving yet: wait until the server answers.
        eventually(
            lambda: proxy(api, "GET", "/api/v1/namespaces/default/services/chatty:80/proxy/")
        )
        yield api


def ready_endpoints(core: client.CoreV1Api, name: str) -> list[str]:
    subsets = core.read_namespaced_endpoints(name, "default").subsets or []
    return [address.ip for subset in subsets for address in subset.addresses or []]


def proxy(api: client.ApiClient, method: str, path: str, body: str = "", **headers: str) -> Any:
    """A raw request through the API server (the generated proxy methods take no body)."""
    return api.call_api(
        path,
        method,
        header_params={"Content-Type": "text/plain", **headers},
        body=body,
        auth_settings=["BearerToken"],
        _preload_content=False,
    )


def log_of(api: client.ApiClient, **query: Any) -> str:
    """The log with any query parameter (the generated client has no `sinceTime`)."""
    response = api.call_api(
        "/api/v1/namespaces/default/pods/chatty/log",
        "GET",
        query_params=list(query.items()),
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    return response.data.decode()


def read_log(core: client.CoreV1Api, **options: Any) -> str:
    """The typed call, read raw: kubernetes 36 returns the log as a bytes repr (client issue
    kubernetes-client/python#2596), which the real API server's answer also triggers."""
    response = core.read_namespaced_pod_log("chatty", "default", _preload_content=False, **options)
    return response.data.decode()


def say(api: client.ApiClient, line: str) -> None:
    proxy(api, "POST", "/api/v1/namespaces/default/services/chatty:80/proxy/log", line)


def test_log_selection_and_format(chatty: client.ApiClient) -> None:
    core = client.CoreV1Api(chatty)
    lines = [f"line {n}" for n in range(1, 6)]
    assert read_log(core) == "".join(f"{line}\n" for line in lines)
    assert read_log(core, tail_lines=2) == "line 4\nline 5\n"
    assert read_log(core, limit_bytes=10) == "line 1\nlin"
    assert read_log(core, container="chatty").startswith("line 1")

    stamped = read_log(core, timestamps=True).splitlines()
    stamps = [line.split(" ", 1)[0] for line in stamped]
    assert [line.split(" ", 1)[1] for line in stamped] == lines
    assert all(stamp.endswith("Z") and "T" in stamp for stamp in stamps)
    assert log_of(chatty, sinceTime=stamps[2]) == "line 3\nline 4\nline 5\n"
    assert log_of(chatty, sinceTime=stamps[2], tailLines=1, timestamps="true") == (
        f"{stamps[4]} line 5\n"
    )

    time.sleep(1.1)
    say(chatty, "late")
    assert read_log(core, since_seconds=1) == "late\n"


def test_log_errors_are_the_api_servers(chatty: client.ApiClient) -> None:
    core = client.CoreV1Api(chatty)
    cases = {
        "container": ("nope", 400, "container nope is not valid for pod chatty"),
        "previous": (True, 400, 'previous terminated container "chatty" in pod "chatty" not found'),
    }
    for parameter, (value, code, message) in cases.items():
        with pytest.raises(ApiException) as failed:
            read_log(core, **{parameter: value})
        status = json.loads(failed.value.body)
        assert (status["code"], status["message"]) == (code, message)
    with pytest.raises(ApiException) as both:
        log_of(chatty, sinceSeconds=5, sinceTime="2026-01-01T00:00:00Z")
    assert both.value.status == 422
    with pytest.raises(ApiException) as absent:
        core.read_namespaced_pod_log("absent", "default")
    assert absent.value.status == 404


def test_follow_streams_until_the_container_exits_then_previous_keeps_it(
    chatty: client.ApiClient,
) -> None:
    core = client.CoreV1Api(chatty)
    followed: list[str] = []
    response = core.read_namespaced_pod_log(
        "chatty", "default", follow=True, tail_lines=1, _preload_content=False
    )

    def follow() -> None:
        buffered = b""
        for chunk in response.stream(amt=None, decode_content=False):
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            followed.extend(line.decode() for line in lines)

    follower = threading.Thread(target=follow)
    follower.start()
    eventually(lambda: followed == ["line 5"])
    say(chatty, "first")
    say(chatty, "second")
    eventually(lambda: followed[-1:] == ["second"])
    proxy(chatty, "POST", "/api/v1/namespaces/default/services/chatty:80/proxy/exit?code=3")
    follower.join(timeout=10)
    assert not follower.is_alive()
    assert followed == ["line 5", "first", "second"]

    def restarted() -> bool:
        statuses = core.read_namespaced_pod("chatty", "default").status.container_statuses
        return statuses[0].restart_count == 1 and statuses[0].state.running is not None

    eventually(restarted)
    assert read_log(core, previous=True).splitlines()[-2:] == ["first", "second"]
    assert eventually(lambda: read_log(core)).startswith("line 1\n")


def test_service_proxy_forwards_method_body_query_and_status(chatty: client.ApiClient) -> None:
    response = proxy(
        chatty,
        "POST",
        "/api/v1/namespaces/default/services/chatty:80/proxy/echo/x?q=1",
        "hello",
        **{"X-Status": "201"},
    )
    assert response.status == 201
    assert json.loads(response.data) == {
        "method": "POST",
        "path": "/echo/x",
        "query": {"q": "1"},
        "body": "hello",
    }
    core = client.CoreV1Api(chatty)
    root = core.connect_get_namespaced_service_proxy("chatty", "default", _preload_content=False)
    assert json.loads(root.data)["path"] == "/"
    with pytest.raises(ApiException) as teapot:  # the pod's own status, passed through
        proxy(
            chatty,
            "PUT",
            "/api/v1/namespaces/default/pods/chatty:8080/proxy/tea",
            "x",
            **{"X-Status": "418"},
        )
    assert teapot.value.status == 418
    assert json.loads(teapot.value.body) == {
        "method": "PUT",
        "path": "/tea",
        "query": {},
        "body": "x",
    }


def test_service_proxy_is_503_without_a_ready_endpoint(chatty: client.ApiClient) -> None:
    core = client.CoreV1Api(chatty)
    core.create_namespaced_service(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "nobody"},
            "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]},
        },
    )
    with pytest.raises(ApiException) as unavailable:
        proxy(chatty, "GET", "/api/v1/namespaces/default/services/nobody:80/proxy/")
    status = json.loads(unavailable.value.body)
    assert (status["code"], status["reason"]) == (503, "ServiceUnavailable")
    assert status["message"] == 'no endpoints available for service "nobody"'
    with pytest.raises(ApiException) as refused:
        proxy(chatty, "GET", "/api/v1/namespaces/default/pods/chatty:9999/proxy/")
    assert refused.value.status == 503
    assert "connect: connection refused" in json.loads(refused.value.body)["message"]
