"""Probes: ready only when the container really serves its port; liveness restarts it."""

import asyncio

from aiohttp import web
from node_harness import NodeLab, condition, container, container_status, run_on_one_cpu_node

from emulator.kube.kubelet import ContainerBehaviour, ContainerContext
from emulator.kube.store import Obj


def ready(lab: NodeLab, name: str) -> bool:
    found = condition(lab.pod(name), "Ready")
    return bool(found and found["status"] == "True")


class LateServer(ContainerBehaviour):
    """Loads for a minute (modelled), then serves TCP on 10000, like Saxml's admin server."""

    def matches(self, pod: Obj, container: Obj) -> bool:
        return container["image"] == "admin:1"

    async def run(self, ctx: ContainerContext) -> int | None:
        ctx.log("Starting the server")
        if not await ctx.sleep(60):
            return 0

        async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        await ctx.serve_tcp(10000, hang_up)
        ctx.log("Starting the server on port 10000")
        await ctx.wait_until_stopped()
        return 0


def test_a_tcp_readiness_probe_waits_for_the_port_to_be_served() -> None:
    async def scenario(lab: NodeLab) -> None:
        probe = {"tcpSocket": {"port": 10000}, "periodSeconds": 5}
        lab.create_pod("admin", [container(image="admin:1", readinessProbe=probe)])
        await lab.wait_for(lambda: container_status(lab.pod("admin")).get("started"))
        pod = lab.pod("admin")
        assert pod["status"]["phase"] == "Running" and not ready(lab, "admin")
        assert condition(pod, "ContainersReady")["message"] == (
            "containers with unready status: [app]"
        )

        await lab.wait_for(lambda: ready(lab, "admin"))
        ip = lab.pod("admin")["status"]["podIP"]
        unhealthy = [e for e in lab.events("admin") if e["reason"] == "Unhealthy"]
        assert unhealthy[0]["type"] == "Warning"
        assert unhealthy[0]["message"] == (
            f"Readiness probe failed: dial tcp {ip}:10000: connect: connection refused"
        )
        assert unhealthy[0]["count"] >= 2  # probed every 5 s while it was loading
        lines = [line for _, line in lab.kubelet.logs("default", "admin")]
        assert lines == ["Starting the server", "Starting the server on port 10000"]

    run_on_one_cpu_node(scenario, LateServer())


class Health(ContainerBehaviour):
    """Serves /healthz: 503 while warming up, then 200; `/` says hello."""

    def matches(self, pod: Obj, container: Obj) -> bool:
        return container["image"] == "http:1"

    async def run(self, ctx: ContainerContext) -> int | None:
        warm = asyncio.Event()

        async def healthz(request: web.Request) -> web.Response:
            return web.Response(status=200 if warm.is_set() else 503, text="ok")

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        await ctx.serve_http(8888, app)
        await ctx.sleep(120)
        warm.set()
        await ctx.wait_until_stopped()
        return 0


def test_an_http_readiness_probe_follows_the_status_code() -> None:
    async def scenario(lab: NodeLab) -> None:
        probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2}
        ports = [{"name": "http", "containerPort": 8888}]
        lab.create_pod("web", [container(image="http:1", readinessProbe=probe, ports=ports)])
        await lab.wait_for(lambda: ready(lab, "web"))
        messages = {e["message"] for e in lab.events("web") if e["reason"] == "Unhealthy"}
        assert "Readiness probe failed: HTTP probe failed with statuscode: 503" in messages

    run_on_one_cpu_node(scenario, Health())


def test_exec_probes_ask_the_behaviour() -> None:
    class Flag(ContainerBehaviour):
        def matches(self, pod: Obj, container: Obj) -> bool:
            return container["image"] == "flag:1"

        async def run(self, ctx: ContainerContext) -> int | None:
            ctx.set_ready(False)
            await ctx.sleep(20)
            ctx.set_ready(True)
            await ctx.wait_until_stopped()
            return 0

    async def scenario(lab: NodeLab) -> None:
        probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}
        lab.create_pod("flag", [container(image="flag:1", readinessProbe=probe)])
        await lab.wait_for(lambda: container_status(lab.pod("flag")).get("started"))
        assert not ready(lab, "flag")
        await lab.wait_for(lambda: ready(lab, "flag"))

    run_on_one_cpu_node(scenario, Flag())


def test_a_failing_liveness_probe_restarts_the_container() -> None:
    class Wedged(ContainerBehaviour):
        """Serves its port for a while on its first run, then stops answering."""

        def matches(self, pod: Obj, container: Obj) -> bool:
            return container["image"] == "wedged:1"

        async def run(self, ctx: ContainerContext) -> int | None:
            async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.close()

            if ctx.restart_count == 0:
                await ctx.serve_tcp(7000, answer)
                await ctx.sleep(30)
                await ctx.stop_serving(7000)  # the process wedges: its port stops answering
            else:
                await ctx.serve_tcp(7000, answer)
            await ctx.wait_until_stopped()
            return 0

    async def scenario(lab: NodeLab) -> None:
        probe = {"tcpSocket": {"port": 7000}, "periodSeconds": 5, "failureThreshold": 3}
        lab.create_pod("wedged", [container(image="wedged:1", livenessProbe=probe)])
        await lab.wait_for(lambda: container_status(lab.pod("wedged")).get("restartCount") == 1)
        killing = [e["message"] for e in lab.events("wedged") if e["reason"] == "Killing"]
        assert killing == ["Container app failed liveness probe, will be restarted"]
        await lab.wait_for(lambda: ready(lab, "wedged"))
        status = container_status(lab.pod("wedged"))
        assert status["lastState"]["terminated"]["exitCode"] == 0
        liveness = [e["message"] for e in lab.events("wedged") if e["reason"] == "Unhealthy"]
        assert liveness[0].startswith("Liveness probe failed: dial tcp ")

    run_on_one_cpu_node(scenario, Wedged())
