"""The `sax-model-server` image: one JAX process of a (possibly multi-host) TPU slice.

The pods of one child Job are one slice, a host per completion index. JAX's TPU runtime starts
once every host runs; each then logs its process index and the slice's device count (the
`google.com/tpu` chips of all its pods). Process 0 is the model server: it lists which
registered models fit that device count (`Servable model ...` or `Skipping unsupported model
..., Unsupported mesh shape: ...`), serves its port and, with `--sax_cell`, joins the admin whose
address it reads from the cell's `location.proto` (rejoining when that changes). The other
hosts follow its loads. When a host goes away the slice's JAX world breaks: after the runtime's
heartbeat timeout every remaining host dies, so the slice holds no model until its JobSet
restarts it.
"""

import asyncio
from collections.abc import Mapping
from typing import Any

from emulator.kube.kubelet.behaviour import ContainerBehaviour, ContainerContext
from emulator.kube.workload_identity import PodStorage
from emulator.saxml import registry
from emulator.saxml.admin import KNOWN_CHIPS
from emulator.saxml.cellfs import NO_SAX_ROOT, CellFiles, Files, LocalFiles, Root
from emulator.saxml.glog import FATAL_EXIT_CODE, PYTHON_THREAD, Glog
from emulator.saxml.images import MODEL_SERVER, image_name, is_release_1
from emulator.saxml.join import JoinFailed, check_cell, keep_joined
from emulator.saxml.model_server import ModelServer
from emulator.saxml.processes import JaxHost, JaxWorld, SaxProcesses, hang_up, unless_stopped
from emulator.saxml.rpc import ServerSpecs

TPU_RESOURCE = "google.com/tpu"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
TPU_RUNTIME_PORT = 8471
HEARTBEAT_TIMEOUT_SECONDS = 100.0  # JAX's coordination service declares a silent task dead
EXIT_ERROR = 1


def tpu_chips(container: Mapping[str, Any]) -> int:
    resources = container.get("resources") or {}
    for kind in ("limits", "requests"):
        value = (resources.get(kind) or {}).get(TPU_RESOURCE)
        if value is not None:
            return int(value)
    return 0


def flag_values(args: list[str]) -> dict[str, str]:
    """absl flags: `--name=value` or `--name value` (a bare `--name` is true)."""
    flags = {}
    for index, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, equals, value = arg[2:].partition("=")
        following = args[index + 1] if index + 1 < len(args) else "--"
        if not equals:
            value = "true" if following.startswith("--") else following
        flags[name] = value
    return flags


class ModelServerImage(ContainerBehaviour):
    image_pull_seconds = 150.0  # the image carries JAX, Pax and the TPU runtime
    image_size_bytes = 9_800_000_000
    start_seconds = 5.0

    def __init__(self, processes: SaxProcesses) -> None:
        self.processes = processes

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return image_name(str(container.get("image", ""))) == MODEL_SERVER

    async def run(self, ctx: ContainerContext) -> int | None:
        log = Glog(ctx, ctx.world.clock.now, PYTHON_THREAD)
        flags = flag_values([*ctx.command, *ctx.args])
        if not flags.get("port"):
            log.raw(
                "FATAL Flags parsing error: flag --port=None: Flag --port must have a value "
                "other than None."
            )
            log.raw("Pass --helpshort or --helpfull to see help on flags.")
            return EXIT_ERROR
        cell = flags.get("sax_cell") or (
            None if is_release_1(str(ctx.container["image"])) else "/sax/cell"
        )
        chip = flags.get("platform_chip", "cpu")
        if cell and chip not in KNOWN_CHIPS:
            log.raw("Traceback (most recent call last):")
            log.raw("ValueError: Chip type unknown")
            return EXIT_ERROR
        await ctx.serve_tcp(TPU_RUNTIME_PORT, hang_up)
        slice_id, size, index = self._slice(ctx)
        host = JaxHost(index, tpu_chips(ctx.container), log)
        world = self.processes.join_world(slice_id, size, host)
        try:
            if not await unless_stopped(ctx, world.formed):
                return 0
            log.info("model_service_main.py:98", f"JAX process: {index} / {size}")
            log.info("model_service_main.py:99", f"JAX devices: {self._devices(ctx, world)}")
            log.info("model_service_main.py:100", f"jax.device_count(): {world.device_count}")
            if index == 0:
                return await self._primary(ctx, log, flags, cell, world)
            return await self._until_broken(ctx, log, world)
        finally:
            world.leave(host)

    async def _primary(
        self,
        ctx: ContainerContext,
        log: Glog,
        flags: dict[str, str],
        cell: str | None,
        world: JaxWorld,
    ) -> int:
        servable = self._servable(log, world.device_count) if cell else []
        port = int(flags["port"])
        files: Files = LocalFiles()
        sax_root = ctx.env.get("SAX_ROOT") or flags.get("sax_root", "")
        if sax_root.startswith("gs://"):
            files = PodStorage(ctx.cluster, ctx.pod)
        server = ModelServer(log, world, files, ctx.world.faults, ctx.sleep)
        await ctx.serve_tcp(port, hang_up)
        address = f"{ctx.pod_ip}:{port}"
        self.processes.serve(address, server)
        joiner = None
        try:
            if cell:
                specs = ServerSpecs(
                    flags.get("platform_chip", "cpu"),
                    flags.get("platform_topology", "1"),
                    tuple(servable),
                )
                if not sax_root:
                    Glog(ctx, ctx.world.clock.now).fatal("cloud.go:84", NO_SAX_ROOT)
                    return FATAL_EXIT_CODE
                cell_files = CellFiles(files, Root(sax_root), cell)
                try:
                    check_cell(cell_files)
                except JoinFailed as error:
                    log.error("model_service_base.py:1480", "location.Join failed")
                    log.raw("Traceback (most recent call last):")
                    log.raw(f"RuntimeError: {error}")
                    return EXIT_ERROR
                log.info("model_service_base.py:1482", f"Started joining SAX cell {cell}")
                joiner = asyncio.create_task(
                    keep_joined(ctx, self.processes, cell_files, address, specs)
                )
            return await self._until_broken(ctx, log, world)
        finally:
            if joiner is not None:
                joiner.cancel()
                await asyncio.gather(joiner, return_exceptions=True)
            self.processes.withdraw(address, server)

    def _servable(self, log: Glog, devices: int) -> list[str]:
        """The registry listing at start: what this slice advertises to the admin."""
        paths = []
        for model in registry.CLASSES:
            if not model.can_serve_on(devices):
                log.info(
                    "model_service_base.py:1445",
                    f"Skipping unsupported model {model.path}, {model.unsupported_reason(devices)}",
                )
                continue
            log.info("model_service_base.py:1447", f"Servable model {model.path}")
            log.info(
                "model_service_base.py:1450", f"Servable model alias {model.alias} for {model.path}"
            )
            paths += [model.path, model.alias]
        return paths

    async def _until_broken(self, ctx: ContainerContext, log: Glog, world: JaxWorld) -> int:
        """Serve until the container stops (0) or the slice loses a host (the runtime's fatal
        error once the heartbeats time out)."""
        if not await unless_stopped(ctx, world.broken):
            return 0
        if not await ctx.sleep(HEARTBEAT_TIMEOUT_SECONDS):
            return 0
        lost = ", ".join(f"/job:jax_worker/replica:0/task:{i}" for i in world.lost)
        log.fatal(
            "client.cc:142",
            "Terminating process because the JAX distributed service detected fatal errors. "
            "This most likely indicates that another task died; see the other task logs for "
            "more details. Status: UNAVAILABLE: The following tasks are unhealthy (stopped "
            f"sending heartbeats): {lost}",
        )
        return FATAL_EXIT_CODE

    def _slice(self, ctx: ContainerContext) -> tuple[str, int, int]:
        """(slice id, hosts, this host's index): the controlling Job's uid, its parallelism and
        the pod's completion index; a pod outside a Job is a slice of its own."""
        metadata = ctx.pod["metadata"]
        owner = next(
            (
                ref
                for ref in metadata.get("ownerReferences") or []
                if ref.get("controller") and ref.get("kind") == "Job"
            ),
            None,
        )
        if owner is None:
            return str(metadata["uid"]), 1, 0
        store = ctx.cluster.store
        job = store.find(store.types.by_kind("batch/v1", "Job"), ctx.namespace, owner["name"])
        size = int(((job or {}).get("spec") or {}).get("parallelism") or 1)
        index = int((metadata.get("annotations") or {}).get(COMPLETION_INDEX, "0"))
        return str(owner["uid"]), size, index

    def _devices(self, ctx: ContainerContext, world: JaxWorld) -> str:
        """jax.devices(): every device of the slice, numbered host by host."""
        hosts = [world.hosts[index] for index in sorted(world.hosts)]
        if not any(host.chips for host in hosts):
            return "[" + ", ".join(f"CpuDevice(id={h.index})" for h in hosts) + "]"
        store = ctx.cluster.store
        node = store.find(store.types.by_kind("v1", "Node"), "", ctx.node_name) or {}
        topology = (node.get("metadata", {}).get("labels") or {}).get(
            "cloud.google.com/gke-tpu-topology", ""
        )
        width = int(topology.split("x")[0]) if topology[:1].isdigit() else world.device_count
        devices, device_id = [], 0
        for host in hosts:
            for _ in range(host.chips):
                x, y = device_id % width, device_id // width
                devices.append(
                    f"TpuDevice(id={device_id}, process_index={host.index}, "
                    f"coords=({x},{y},0), core_on_chip=0)"
                )
                device_id += 1
        return "[" + ", ".join(devices) + "]"
