"""What GKE tells the control plane behind each cluster endpoint (where Kubernetes plugs in).

The serve process runs the default control plane, so this test serves `GkeService` in-process
with a recording one, on a background event loop, and drives it with the real client over HTTP.
"""

import asyncio
import dataclasses
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from aiohttp import web
from google.api_core.client_options import ClientOptions
from google.cloud import container_v1
from google.oauth2.credentials import Credentials

from emulator.core.clock import Clock
from emulator.core.errors import unauthenticated
from emulator.core.http import google_api_app
from emulator.core.world import World
from emulator.gcp.gke import GkeService
from emulator.kube.cluster import NodeSpec
from tests.emulator.conftest import TIME_SCALE
from tests.emulator.test_gke_support import ZONE, Gke, cluster_get, tpu_pool, tutorial_cluster

TOKEN = "test-token"
PROJECT = "cp-project"


class TokenAuthorizer:
    async def authorize(self, request: web.Request, permission: str, resource: str) -> str:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise unauthenticated()
        return "tester"


class RecordingControlPlane:
    """Serves `/nodes` (what GKE last synced) and counts its starts across restarts."""

    made: list["RecordingControlPlane"] = []

    def __init__(self, name: str, location: str, version: str) -> None:
        self.identity = (name, location, version)
        self.nodes: list[Any] = []
        self.starts = 0
        self.running = False
        RecordingControlPlane.made.append(self)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/nodes", self._nodes)]

    async def _nodes(self, request: web.Request) -> web.Response:
        return web.json_response([node.name for node in self.nodes])

    def sync_nodes(self, nodes: Sequence[Any]) -> None:
        self.nodes = list(nodes)

    async def start(self) -> None:
        self.starts += 1
        self.running = True

    async def stop(self) -> None:
        self.running = False

    def dump(self) -> dict[str, Any]:
        return {"starts": self.starts}

    def load(self, state: dict[str, Any]) -> None:
        self.starts = state["starts"]


class InProcessGke:
    """A GkeService served on a background loop, restartable from its own dump."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.world = World(PROJECT, "123456789012", Clock(TIME_SCALE), authorizer=TokenAuthorizer())
        self.service = self._new_service()
        self.runner = self.run(self._serve(port=0))
        self.endpoint = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def _new_service(self) -> GkeService:
        return GkeService(self.world, control_plane_factory=RecordingControlPlane)

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def call(self, function: Callable[[], Any]) -> Any:
        """Run `function` on the loop thread, where all emulator state lives."""

        async def on_loop() -> Any:
            return function()

        return self.run(on_loop())

    async def _serve(self, port: int) -> web.AppRunner:
        runner = web.AppRunner(google_api_app(self.world, self.service.routes()))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await self.service.start()
        return runner

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.service.stop()

    def restart(self) -> None:
        """Stop, then serve a new service loaded from the old one's dump on the same port."""
        port = self.runner.addresses[0][1]
        self.run(self._stop())
        state = json.loads(json.dumps(self.call(self.service.dump)))
        self.service = self._new_service()
        self.service.load(state)
        self.runner = self.run(self._serve(port))

    def close(self) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def emulated() -> Iterator[tuple[InProcessGke, Gke]]:
    RecordingControlPlane.made.clear()
    emulated = InProcessGke()
    client = container_v1.ClusterManagerClient(
        credentials=Credentials(TOKEN),
        transport="rest",
        client_options=ClientOptions(api_endpoint=emulated.endpoint),
    )
    yield emulated, Gke(client, Credentials(TOKEN), emulated.endpoint, PROJECT)
    emulated.close()


def test_the_control_plane_follows_the_cluster_and_its_nodes(emulated):
    emulated, gke = emulated
    cluster = gke.running_cluster(tutorial_cluster(PROJECT))

    (control_plane,) = RecordingControlPlane.made
    assert control_plane.identity == ("saxml", ZONE, cluster.current_master_version)
    assert control_plane.running
    status, body = cluster_get(cluster, "/nodes", TOKEN)
    assert status == 200
    assert len(json.loads(body)) == 4
    assert emulated.call(emulated.service.workload_pools) == {f"{PROJECT}.svc.id.goog"}

    assert not gke.wait(gke.create_pool("saxml", tpu_pool("tpu1"))).error.code
    tpu_nodes = [node for node in control_plane.nodes if node.pool == "tpu1"]
    assert len(tpu_nodes) == 8
    spec = NodeSpec(**dataclasses.asdict(tpu_nodes[0]))  # what the Kubernetes half takes
    assert (spec.tpu_chips, spec.tpu_topology, spec.zone) == (4, "4x8", ZONE)
    assert spec.tpu_accelerator == "tpu-v5-lite-podslice"
    assert spec.labels["cloud.google.com/gke-nodepool"] == "tpu1"
    assert spec.labels["cloud.google.com/gke-tpu-topology"] == "4x8"
    assert {"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"} in spec.taints

    emulated.restart()
    restarted = RecordingControlPlane.made[-1]
    assert restarted is not control_plane and not control_plane.running
    assert restarted.starts == 2  # its state came through the dump
    assert len(restarted.nodes) == 12
    assert cluster_get(cluster, "/nodes", TOKEN)[0] == 200

    assert not gke.wait(gke.client.delete_node_pool(name=gke.pool_path("saxml", "tpu1"))).error.code
    assert len(restarted.nodes) == 4
    assert not gke.wait(gke.client.delete_cluster(name=gke.cluster_path("saxml"))).error.code
    assert not restarted.running
    assert emulated.call(emulated.service.workload_pools) == set()
