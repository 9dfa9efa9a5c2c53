"""An emulated cluster's Kubernetes API on loopback, for the real `kubernetes` client.

The cluster (a `KubeCluster`: API server, nodes, scheduler, kubelet, controllers) runs on its
own event loop in a thread, as the emulator runs it, while the synchronous `kubernetes` client
calls it over HTTP from the test. Callers authenticate as GKE callers do, through the real
token authorizer of part 1, with access tokens of service accounts holding the roles a test
asks for. Anything a test reads from the cluster in-process goes through `ServedCluster.call`,
on the cluster's own loop.
"""

import asyncio
import hashlib
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web
from kubernetes import client

from emulator.core.clock import Clock
from emulator.core.world import World
from emulator.gcp.auth import AccessToken, AuthService
from emulator.gcp.iam import IamService
from emulator.gcp.resourcemanager import ResourceManagerService
from emulator.kube.cluster import KubeCluster, NodeSpec

PROJECT_ID = "kube-lab"
PROJECT_NUMBER = "123456789012"
CLUSTER_VERSION = "1.31.6-gke.1020000"
ZONE = "us-west4-a"
TIME_SCALE = 0.002
_CALL_TIMEOUT = 30.0
T = TypeVar("T")


def cpu_nodes(pool: str, count: int) -> list[NodeSpec]:
    """e2-standard-4 VMs (4 vCPU, 16 GiB)."""
    return [
        NodeSpec(
            name=f"gke-lab-{pool}-5e6f7a8b-{index:04d}",
            pool=pool,
            machine_type="e2-standard-4",
            zone=ZONE,
            cpu_millis=4000,
            memory_bytes=16 * 2**30,
        )
        for index in range(count)
    ]


class ServedCluster:
    """A cluster serving its Kubernetes API on http://127.0.0.1:<port>, and tokens to call it."""

    def __init__(self, run_loops: bool = True) -> None:
        self.run_loops = run_loops
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.world = World(PROJECT_ID, PROJECT_NUMBER, Clock(TIME_SCALE))
        self.iam = IamService(self.world)
        self.resource_manager = ResourceManagerService(self.world)
        self.auth = AuthService(self.world, self.iam, token_lifetime=3600)
        for service in (self.auth, self.iam, self.resource_manager):
            self.world.add_service(service)
        self.world.authorizer = self.auth
        self.cluster, self._runner, port = self.run(self._start())
        self.host = f"http://127.0.0.1:{port}"
        self._forget_discovery_cache()
        self.admin_token = self.token("kube-admin", ["roles/container.admin"])

    async def _start(self) -> tuple[KubeCluster, web.AppRunner, int]:
        cluster = KubeCluster(self.world, "lab", ZONE, CLUSTER_VERSION)
        if self.run_loops:
            await cluster.start()
        else:
            cluster.api_server.bootstrap()
        app = web.Application(client_max_size=64 * 1024**2)
        app.add_routes(cluster.routes())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return cluster, runner, runner.addresses[0][1]

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(_CALL_TIMEOUT)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run `function` on the cluster's loop (the store is not thread-safe)."""

        async def invoke() -> T:
            return function(*args)

        return self.run(invoke())

    def token(self, account_id: str, roles: list[str]) -> str:
        """An access token of a new service account holding `roles` on the project."""

        def issue() -> str:
            account = self.iam.add_account(account_id, display_name=account_id)
            for role in roles:
                self.resource_manager.grant(role, f"serviceAccount:{account.email}")
            token = "ya29." + secrets.token_urlsafe(32)
            expires = self.world.clock.now() + 3600
            self.auth.tokens[token] = AccessToken(account.email, expires)
            return token

        return self.call(issue)

    def api_client(self, token: str | None = "") -> client.ApiClient:
        """A client as a kubeconfig builds one; `token=None` sends no credentials."""
        configuration = client.Configuration(host=self.host)
        if token is not None:
            configuration.api_key = {"BearerToken": token or self.admin_token}
            configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return client.ApiClient(configuration)

    def add_nodes(self, nodes: list[NodeSpec]) -> None:
        self.call(self.cluster.sync_nodes, nodes)

    def _forget_discovery_cache(self) -> None:
        """The dynamic client caches discovery per host in the temp dir; ports get reused."""
        digest = hashlib.md5(self.host.encode(), usedforsecurity=False).hexdigest()
        path = os.path.join(tempfile.gettempdir(), f"osrcp-{digest}.json")
        if os.path.exists(path):
            os.remove(path)

    def stop(self) -> None:
        async def shutdown() -> None:
            await self._runner.cleanup()
            await self.cluster.stop()

        self.run(shutdown())
        self._forget_discovery_cache()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def widget_crd(open_api_schema: dict[str, Any]) -> dict[str, Any]:
    """A namespaced `widgets.example.com/v1` CRD with the given schema (custom-resource tests)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": open_api_schema},
                }
            ],
        },
    }
