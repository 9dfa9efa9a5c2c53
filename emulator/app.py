"""The emulated Google Cloud in one process: builds the world, serves each API on its own port.

Every API listens on its own 127.0.0.1 port (IAM and Resource Manager v1 share URL shapes, so
they cannot share one). The process writes a ready file (readable by its owner only) with the
endpoints, an operator key, the control API's token and an Airflow connection, and with a state
file it saves the world on SIGTERM/SIGINT and restores it, ports and token included, on the next
start, so old keys, connections and control clients keep working.
"""

import asyncio
import copy
import hashlib
import json
import logging
import os
import secrets
import signal
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator import saxml
from emulator.core.clock import Clock
from emulator.core.http import google_api_app
from emulator.core.world import World
from emulator.gcp.auth import AuthService
from emulator.gcp.cloudquotas import CloudQuotasService
from emulator.gcp.compute import ComputeService
from emulator.gcp.control import control_app
from emulator.gcp.gke import GkeService
from emulator.gcp.iam import IamService
from emulator.gcp.keys import PrivateKey
from emulator.gcp.monitoring import MonitoringService
from emulator.gcp.resourcemanager import ResourceManagerService
from emulator.gcp.roles import check_role_supported
from emulator.gcp.serviceusage import ServiceUsageService
from emulator.gcp.storage import StorageService
from emulator.kube import jobset_release
from emulator.kube.cluster import KubeCluster
from emulator.kube.faults import kube_faults

log = logging.getLogger("emulator")

# 4: the control token and the issued access tokens; 3: Compute quota limits and reservations;
# 2: addresses, operations
STATE_FORMAT = 4
OPERATOR_ACCOUNT = "deployer"
# What a deployment needs, and no more: clusters, service accounts, project IAM, buckets, the
# load balancer's static address (reserved, found by label, released with its rules), and the
# reads of its preflight (quotas with Compute, Cloud Quotas and Monitoring, machine and accelerator
# types, reservations, enabled APIs).
OPERATOR_ROLES = (
    "roles/cloudquotas.viewer",
    "roles/compute.loadBalancerAdmin",
    "roles/compute.viewer",
    "roles/container.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/monitoring.viewer",
    "roles/resourcemanager.projectIamAdmin",
    "roles/serviceusage.serviceUsageConsumer",
    "roles/storage.admin",
)
# The APIs a client points at (the connection's `endpoint_overrides`), then the emulator's own.
API_ENDPOINTS = (
    "container",
    "iam",
    "cloudresourcemanager",
    "storage",
    "compute",
    "serviceusage",
    "cloudquotas",
    "monitoring",
)
# JobSet's release manifest, served where the DAG downloads it from (built by the emulator), on
# the `releases` endpoint: public, as GitHub's release downloads are, so the DAG needs no
# emulator credential to fetch it (it holds nothing secret, and the DAG checks its digest).
JOBSET_MANIFEST_PATH = f"/jobset/{jobset_release.RELEASE}/manifests.yaml"


class StateFileError(ValueError):
    """The state file cannot be restored into the world these settings describe."""


@dataclass(frozen=True)
class Settings:
    project_id: str = "saxml-rehearsal"
    project_number: str = ""  # derived from the project id when empty
    time_scale: float = 0.01
    token_lifetime: float = 3600.0
    ready_file: Path | None = None
    state_file: Path | None = None
    jobset_manifest: Path | None = None  # a release file to serve instead of the built one

    def __post_init__(self) -> None:
        if self.time_scale <= 0 or self.token_lifetime < 1:
            raise ValueError("the time scale must be positive and tokens live at least 1 s")


def derived_project_number(project_id: str) -> str:
    """A stable 12-digit number per project id, so restarts and reruns agree."""
    digest = int(hashlib.sha256(project_id.encode()).hexdigest(), 16)
    return str(10**11 + digest % (9 * 10**11))


class Emulator:
    """The world, its services and their servers; also the control API's operator."""

    def __init__(self, settings: Settings, state: dict[str, Any] | None = None) -> None:
        project_id = settings.project_id
        number = settings.project_number or derived_project_number(project_id)
        if state is not None:
            if state.get("format") != STATE_FORMAT or state["project_id"] != project_id:
                raise StateFileError(
                    f"the state file is for project {state.get('project_id')!r} (format "
                    f"{state.get('format')}), not {project_id!r} (format {STATE_FORMAT})"
                )
            number = state["project_number"]
        self.settings = settings
        self.world = World(project_id, number, Clock(settings.time_scale))
        self.iam = IamService(self.world)
        self.resource_manager = ResourceManagerService(self.world)
        self.storage = StorageService(self.world)
        self.auth = AuthService(self.world, self.iam, settings.token_lifetime)
        self.gke = GkeService(self.world, control_plane_factory=partial(KubeCluster, self.world))
        self.compute = ComputeService(self.world)
        self.service_usage = ServiceUsageService(self.world)
        # Stateless views of Compute's quotas: limits (Cloud Quotas) and usage (Monitoring).
        self.cloud_quotas = CloudQuotasService(self.world, self.compute.capacity)
        self.monitoring = MonitoringService(self.world, self.compute.capacity)
        services = (
            self.auth,
            self.iam,
            self.resource_manager,
            self.storage,
            self.gke,
            self.compute,
            self.service_usage,
        )
        for service in services:
            self.world.add_service(service)
        kube_faults(self.world)
        saxml.register_faults(self.world.faults)
        self.world.authorizer = self.auth
        self.world.api_gate = self.service_usage.check_enabled
        self._pristine = {n: copy.deepcopy(s.dump()) for n, s in self.world.services.items()}
        self.ports: dict[str, int] = {}
        self.endpoints: dict[str, str] = {}
        self._runners: list[web.AppRunner] = []
        if state is None:
            operator_email = f"{OPERATOR_ACCOUNT}@{project_id}.iam.gserviceaccount.com"
            self.operator_key = PrivateKey.generate(operator_email)
            self.control_token = secrets.token_urlsafe(32)
            self._add_operator()
        else:
            self.operator_key = PrivateKey.load(state["operator_key"])
            self.control_token = state["control_token"]
            self.ports = dict(state["ports"])
            for name, service in self.world.services.items():
                if name in state["services"]:  # a service newer than the file starts fresh
                    service.load(state["services"][name])

    # -- the control API's operator --------------------------------------------------------

    async def reset(self) -> None:
        """Forget everything: stop what runs (clusters, load balancers), restore, restart."""
        await self.gke.stop()
        await self.compute.stop()
        for name, service in self.world.services.items():
            service.load(copy.deepcopy(self._pristine[name]))
        await self.gke.start()
        self.world.faults.reset()
        self._add_operator()

    def issue_key(self, account_id: str, roles: list[str]) -> dict[str, Any]:
        for role in roles:
            check_role_supported(role, "project")
        email = f"{account_id}@{self.world.project_id}.iam.gserviceaccount.com"
        account = self.iam.accounts.get(email) or self.iam.add_account(
            account_id, display_name=f"{account_id} (issued by the control API)"
        )
        key = PrivateKey.generate(email)
        account.keys[key.key_id] = key.public_key_pem()
        for role in roles:
            self.resource_manager.grant(role, f"serviceAccount:{email}")
        return key.key_file(
            project_id=self.world.project_id, client_id=account.unique_id, token_uri=self.token_uri
        )

    def _add_operator(self) -> None:
        account = self.iam.add_account(OPERATOR_ACCOUNT, display_name="Emulator operator")
        account.keys[self.operator_key.key_id] = self.operator_key.public_key_pem()
        for role in OPERATOR_ROLES:
            self.resource_manager.grant(role, f"serviceAccount:{account.email}")

    # -- serving ---------------------------------------------------------------------------

    @property
    def token_uri(self) -> str:
        return f"{self.endpoints['oauth2']}/token"

    async def start(self) -> None:
        apps = {
            "container": google_api_app(self.world, self.gke.routes()),
            "iam": google_api_app(self.world, self.iam.routes()),
            "cloudresourcemanager": google_api_app(self.world, self.resource_manager.routes()),
            "storage": google_api_app(self.world, self.storage.routes()),
            "compute": google_api_app(self.world, self.compute.routes()),
            "serviceusage": google_api_app(self.world, self.service_usage.routes()),
            "cloudquotas": google_api_app(self.world, self.cloud_quotas.routes()),
            "monitoring": google_api_app(self.world, self.monitoring.routes()),
            "oauth2": google_api_app(self.world, self.auth.routes()),
            "control": control_app(self, self.control_token),
            "releases": web.Application(),
        }
        apps["releases"].add_routes([web.get(JOBSET_MANIFEST_PATH, self._jobset_manifest)])
        for name, app in apps.items():
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.ports.get(name, 0)).start()
            self._runners.append(runner)
            self.ports[name] = runner.addresses[0][1]
            self.endpoints[name] = f"http://127.0.0.1:{self.ports[name]}"
        self.auth.token_uri = self.token_uri
        await self.gke.start()

    async def _jobset_manifest(self, request: web.Request) -> web.Response:
        """JobSet's release, as GitHub serves release assets."""
        try:
            content = self.jobset_manifest()
        except OSError as error:
            raise web.HTTPNotFound(text=f"JobSet manifest unavailable: {error}") from None
        return web.Response(body=content, content_type="application/octet-stream")

    def jobset_manifest(self) -> bytes:
        """The emulator's build of JobSet's release, or the file the settings name (read at each
        request, so it may be edited while the emulator runs)."""
        path = self.settings.jobset_manifest
        return jobset_release.release_yaml().encode() if path is None else path.read_bytes()

    def jobset_manifest_sha256(self) -> str | None:
        """The digest of what `jobset_manifest_url` serves now (None while it serves nothing):
        a client passes it with the URL (the DAG's `jobset_manifest_sha256`), as for any mirror."""
        try:
            return hashlib.sha256(self.jobset_manifest()).hexdigest()
        except OSError:
            return None

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        await self.gke.stop()
        await self.compute.stop()

    def operator_key_file(self) -> dict[str, Any]:
        account = self.iam.accounts[self.operator_key.email]
        return self.operator_key.key_file(
            project_id=self.world.project_id, client_id=account.unique_id, token_uri=self.token_uri
        )

    def ready_info(self, key_path: Path) -> dict[str, Any]:
        return {
            "project_id": self.world.project_id,
            "project_number": self.world.project_number,
            "service_account_email": self.operator_key.email,
            "service_account_key_file": str(key_path),
            "endpoints": self.endpoints,
            "control_token": self.control_token,
            "jobset_manifest_url": self.endpoints["releases"] + JOBSET_MANIFEST_PATH,
            "jobset_manifest_sha256": self.jobset_manifest_sha256(),
            "time_scale": self.world.clock.time_scale,
            "airflow_connection": {
                "conn_type": "google_cloud_platform",
                "extra": {
                    "project": self.world.project_id,
                    "keyfile_dict": self.operator_key_file(),
                    "endpoint_overrides": {name: self.endpoints[name] for name in API_ENDPOINTS},
                },
            },
        }

    def dump(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "project_id": self.world.project_id,
            "project_number": self.world.project_number,
            "ports": self.ports,
            "operator_key": self.operator_key.dump(),
            "control_token": self.control_token,
            "services": {name: s.dump() for name, s in self.world.services.items()},
        }


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT; then stop cleanly and save the state file."""
    state = None
    if settings.state_file is not None and settings.state_file.exists():
        state = json.loads(settings.state_file.read_text())
    emulator = Emulator(settings, state)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await emulator.start()
    with tempfile.TemporaryDirectory(prefix="emulator-") as scratch:
        ready_file = settings.ready_file
        key_path = ready_file.with_suffix(".key.json") if ready_file else Path(scratch) / "key.json"
        _write_private(key_path, emulator.operator_key_file())
        ready = emulator.ready_info(key_path)
        if ready_file is None:
            print(json.dumps(ready), flush=True)
        else:
            _write_private(ready_file, ready)
        log.info("emulator ready: control API at %s", emulator.endpoints["control"])
        try:
            await stopping.wait()
        finally:
            await emulator.stop()
            if settings.state_file is not None:
                _write_private(settings.state_file, emulator.dump())
                log.info("state saved to %s", settings.state_file)
            for path in (ready_file, key_path):
                if path is not None:
                    path.unlink(missing_ok=True)


def _write_private(path: Path, content: dict[str, Any]) -> None:
    """Write atomically (readers never see half a file), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a stale partial file keeps its old mode through O_CREAT
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(content, file, indent=2)
    partial.replace(path)
