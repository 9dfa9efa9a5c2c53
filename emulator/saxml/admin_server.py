"""The `sax-admin-server` image: its entrypoint runs `admin_config`, then `admin_server`.

`admin_config` creates the cell's directory in the sax root and writes `config.proto`;
`admin_server` listens on its port, loads the config, creates its directory in the fs root,
writes `location.proto` (its pod's `IP:port`), restores the published models from
`state.proto`, then refreshes every 10 s and saves the state after each refresh. Every storage
access is the pod's own, through Workload Identity: without access both programs die with the
storage error (the script does not stop after the first), the container exits 255, and the pod
crash-loops.
"""

import secrets
from collections.abc import Mapping
from typing import Any

from emulator.kube.kubelet.behaviour import ContainerBehaviour, ContainerContext
from emulator.kube.workload_identity import BucketAccessError, PodStorage
from emulator.saxml.admin import REFRESH_SECONDS, AdminManager
from emulator.saxml.cellfs import (
    CONFIG_FILE,
    LOCATION_FILE,
    NO_SAX_ROOT,
    STATE_FILE,
    CellFiles,
    Files,
    LocalFiles,
    Root,
    go_storage_error,
)
from emulator.saxml.glog import FATAL_EXIT_CODE, Glog
from emulator.saxml.images import ADMIN_SERVER, AdminSettings, admin_settings, image_name
from emulator.saxml.processes import SaxProcesses, hang_up
from emulator.saxml.rpc import ModelSpec
from emulator.saxml.status import SaxError, check_cell


class AdminStartError(Exception):
    """Why a program of the entrypoint ends with a fatal log line."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.message = message


class AdminServerImage(ContainerBehaviour):
    image_pull_seconds = 8.0
    image_size_bytes = 120_000_000

    def __init__(self, processes: SaxProcesses) -> None:
        self.processes = processes

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return image_name(str(container.get("image", ""))) == ADMIN_SERVER

    async def run(self, ctx: ContainerContext) -> int | None:
        log = Glog(ctx, ctx.world.clock.now)
        settings = admin_settings(str(ctx.container.get("image", "")), ctx.env)
        files: Files = LocalFiles()
        if settings.sax_root.startswith("gs://") or settings.fs_root.startswith("gs://"):
            files = PodStorage(ctx.cluster, ctx.pod)
        config_failed = False
        try:
            self._configure(settings, files)
        except AdminStartError as error:
            log.fatal(error.source, error.message)
            config_failed = True
        log.info("admin_server.go:41", "Starting the server")
        try:
            manager, state = await self._start(ctx, log, settings, files)
        except AdminStartError as error:
            log.fatal(error.source, f"Failed to start server: {error.message}")
            return FATAL_EXIT_CODE
        try:
            await self._refresh_until_stopped(ctx, log, settings, manager, state)
        finally:
            self.processes.withdraw(f"{ctx.pod_ip}:{settings.port}", manager)
            await manager.close()
        return FATAL_EXIT_CODE if config_failed else 0

    def _configure(self, settings: AdminSettings, files: Files) -> None:
        """admin_config: the cell's directory and config.proto under the sax root."""
        if not settings.fs_root or not settings.sax_root:
            raise AdminStartError(
                "admin_config.go:38",
                "Usage: admin_config --sax_cell=/sax/<cell> --sax_root=... --fs_root=...",
            )
        try:
            check_cell(settings.cell)
        except SaxError as error:
            raise AdminStartError(
                "admin_config.go:41", f"Invalid sax_cell flag {settings.cell}: {error.message}"
            ) from None
        cell = CellFiles(files, Root(settings.sax_root), settings.cell)
        try:
            exists = cell.exists()
        except BucketAccessError as error:
            raise AdminStartError(
                "admin_config.go:50",
                f"Failed to check path {cell.path} existence: {go_storage_error(error)}",
            ) from None
        try:
            if not exists:
                cell.create()
            cell.write_json(CONFIG_FILE, {"fs_root": settings.fs_root})
        except BucketAccessError as error:
            raise AdminStartError(
                "admin_config.go:60", f"Failed to create config: {go_storage_error(error)}"
            ) from None

    async def _start(
        self, ctx: ContainerContext, log: Glog, settings: AdminSettings, files: Files
    ) -> tuple[AdminManager, CellFiles]:
        """admin.Server.Start: listen, load the config, publish the address, restore state."""
        if not settings.sax_root:
            raise AdminStartError("cloud.go:84", NO_SAX_ROOT)
        await ctx.serve_tcp(settings.port, hang_up)
        cell = CellFiles(files, Root(settings.sax_root), settings.cell)
        try:
            config = cell.read_json(CONFIG_FILE) or {}
        except BucketAccessError as error:
            log.info("admin.go:244", "Loaded config: ")
            raise AdminStartError(
                "admin_server.go:57", f"config.Load error: {go_storage_error(error)}"
            ) from None
        log.info("admin.go:244", f'Loaded config: fs_root:"{config.get("fs_root", "")}"')
        if not config.get("fs_root"):
            raise AdminStartError("admin_server.go:57", "no fs_root specified")
        state = CellFiles(files, Root(config["fs_root"]), settings.cell)
        try:
            state.create()
            restored = state.read_json(STATE_FILE) or {"models": []}
            manager = AdminManager(
                settings.cell,
                self.processes,
                log,
                ctx.world.clock,
                settings.verbosity,
                [ModelSpec.from_json(model) for model in restored["models"]],
            )
            address = f"{ctx.pod_ip}:{settings.port}"
            cell.write_json(LOCATION_FILE, {"location": address, "server_id": secrets.token_hex(8)})
        except BucketAccessError as error:
            raise AdminStartError("admin_server.go:57", go_storage_error(error)) from None
        self.processes.serve(address, manager)
        log.info("mgr.go:733", "Loaded manager state")
        log.info("mgr.go:736", f"Refreshing manager state every {REFRESH_SECONDS:.0f}s")
        log.info("admin.go:296", f"Starting the server on port {settings.port}")
        return manager, state

    async def _refresh_until_stopped(
        self,
        ctx: ContainerContext,
        log: Glog,
        settings: AdminSettings,
        manager: AdminManager,
        state: CellFiles,
    ) -> None:
        """The ticker: refresh, then save state.proto, every 10 s until the container stops."""
        while await ctx.sleep(REFRESH_SECONDS):
            manager.refresh()
            try:
                state.write_json(STATE_FILE, {"models": [m.to_json() for m in manager.snapshot()]})
            except BucketAccessError as error:
                message = f"Failed to save manager state: {go_storage_error(error)}"
                if settings.verbosity:  # HEAD's manager treats a failed save as fatal
                    log.fatal("mgr.go:750", message)
                    ctx.exit(FATAL_EXIT_CODE)
                log.error("mgr.go:750", message)
