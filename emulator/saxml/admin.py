"""The admin server's state manager (saxml/admin/mgr.go): published models, joined model
servers and the assignment of one to the other.

Every refresh (10 s) it asks each joined server for its status, prunes servers silent for 25 s,
gives each published model as many idle servers advertising its path as it wants replicas (one
model per server; a server stays busy with a model even when its load failed), unloads what was
unpublished or is no longer wanted, and reloads a wanted model that a server lost (it restarted
at the same address). Load and Unload calls run in the background, as goroutines do.
"""

import asyncio
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from emulator.core.clock import Clock
from emulator.saxml.glog import Glog
from emulator.saxml.processes import SaxProcesses
from emulator.saxml.rpc import (
    FAILED,
    LOADED,
    LOADING,
    AdminApi,
    ModelServerApi,
    ModelSpec,
    ModelStatus,
    PublishedModel,
    ServerSpecs,
)
from emulator.saxml.status import SaxError, canonical, split_model_id, wrapped

REFRESH_SECONDS = 10.0
PING_TIMEOUT_SECONDS = 25.0
# --platform_chip values Saxml maps to a chip type; any other is UNKNOWN, which Join rejects.
KNOWN_CHIPS = frozenset(
    {"tpuv2", "tpuv3", "tpuv4", "tpuv4i", "tpuv5e", "p100", "v100", "t4", "l4", "a100", "h100"}
).union({"cpu"})
_MODEL_PATH = re.compile(r"^[a-zA-Z]+[a-zA-Z0-9_.-]*$")
_CHECKPOINT = re.compile(r"^(/|\d|\w|_|\.|-|%|:|=|\||\+)+$")


@dataclass
class JoinedServer:
    """A model server the admin knows: what it can serve, wants on it and last saw on it."""

    address: str
    specs: ServerSpecs
    last_ping: float
    wanted: set[str] = field(default_factory=set)
    seen: dict[str, ModelStatus] = field(default_factory=dict)
    calls: set[str] = field(default_factory=set)  # models with a Load or Unload in flight


Rpc = Callable[[JoinedServer, str], Coroutine[Any, Any, None]]


@dataclass
class Published:
    spec: ModelSpec


class AdminManager(AdminApi):
    def __init__(
        self,
        cell: str,
        processes: SaxProcesses,
        log: Glog,
        clock: Clock,
        verbosity: int,
        models: list[ModelSpec],
    ) -> None:
        self.cell = cell
        self.processes = processes
        self.log = log
        self.clock = clock
        self.verbosity = verbosity
        self.models = {model.model_id: Published(model) for model in models}
        self.servers: dict[str, JoinedServer] = {}
        self.assignment: dict[str, list[str]] = {}
        self.pending_unpublished: set[str] = set()
        self._calls: set[asyncio.Task[None]] = set()

    # Client RPCs

    def publish(self, model: ModelSpec) -> None:
        self._validate(model)
        if model.model_id in self.models:
            raise wrapped("AlreadyExists", f"model {model.model_id} already exists")
        if model.model_id in self.pending_unpublished:
            raise wrapped(
                "AlreadyExists", f"model {model.model_id} is being unpublished, please retry later"
            )
        self.models[model.model_id] = Published(model)
        if self.verbosity:
            overrides = " ".join(f"{k}:{v}" for k, v in sorted(model.overrides.items()))
            self._info(f"Published model {model.model_id} with overrides: map[{overrides}]")

    def update(self, model: ModelSpec) -> None:
        self._validate(model)
        existing = self._published(model.model_id)
        for what, before, after in (
            ("model path", existing.spec.model_path, model.model_path),
            ("checkpoint path", existing.spec.checkpoint_path, model.checkpoint_path),
        ):
            if before != after:
                reason = f"{what} can't be changed: {canonical('InvalidArgument')}"
                raise SaxError("InvalidArgument", f"invalid model update: {reason}")
        existing.spec = ModelSpec(
            model.model_id,
            model.model_path,
            model.checkpoint_path,
            model.requested_num_replicas,
            existing.spec.overrides,
        )

    def unpublish(self, model_id: str) -> None:
        self._check_in_cell(model_id)
        self._published(model_id)
        self.pending_unpublished.add(model_id)
        del self.models[model_id]

    def list_model(self, model_id: str) -> PublishedModel:
        self._check_in_cell(model_id)
        return self._describe(model_id, self._published(model_id))

    def list_all(self) -> list[PublishedModel]:
        return [self._describe(model_id, self.models[model_id]) for model_id in sorted(self.models)]

    def serving_addresses(self, model_id: str) -> list[str]:
        """Joined servers that are meant to serve the model and were last seen with it loaded."""
        self._published(model_id)
        return sorted(
            address
            for address, server in self.servers.items()
            if model_id in server.wanted and _loaded(server.seen.get(model_id))
        )

    # Model server RPCs

    async def join(self, address: str, specs: ServerSpecs) -> None:
        if specs.chip_type not in KNOWN_CHIPS:
            raise wrapped("InvalidArgument", "Modelet.chip_type cannot be unknown")
        known = self.servers.get(address)
        if known is not None and known.specs == specs:
            return  # a heartbeat
        try:
            seen = self.processes.dial(address, ModelServerApi).get_status()
        except SaxError as error:
            raise SaxError(
                error.code, f"Failed to start a connection with {address}: {error.message}"
            ) from None
        server = JoinedServer(address, specs, self.clock.now(), set(seen), dict(seen))
        self.servers[address] = server

    # The refresh loop's work

    def refresh(self) -> None:
        """Ping, prune, reassign, then start the loads and unloads that follow."""
        self._ping()
        self._prune()
        loads, unloads = self._assign()
        for address, model_id in unloads:
            self._call(self.servers[address], model_id, self._unload)
        for address, model_id in loads:
            self._call(self.servers[address], model_id, self._load)
        for server in self.servers.values():
            for model_id in sorted(server.wanted - set(server.seen) - server.calls):
                self._call(server, model_id, self._load)
        self.pending_unpublished.clear()

    def snapshot(self) -> list[ModelSpec]:
        """What Save writes to state.proto."""
        return [self.models[model_id].spec for model_id in sorted(self.models)]

    async def close(self) -> None:
        for task in list(self._calls):
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)

    def _ping(self) -> None:
        for server in self.servers.values():
            try:
                server.seen = self.processes.dial(server.address, ModelServerApi).get_status()
            except SaxError:
                continue
            server.last_ping = self.clock.now()

    def _prune(self) -> None:
        cutoff = self.clock.now() - self.clock.scaled(PING_TIMEOUT_SECONDS)
        for address in [a for a, s in self.servers.items() if s.last_ping < cutoff]:
            del self.servers[address]
            if self.verbosity >= 2:
                self._info(f"Pruned modelet {address}")

    def _assign(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """ComputeAssignment: (loads, unloads) as (address, model id) pairs."""
        assignment: dict[str, list[str]] = {model_id: [] for model_id in self.models}
        unloads: list[tuple[str, str]] = []
        loads: list[tuple[str, str]] = []
        busy: set[str] = set()
        for address in sorted(self.servers):
            for model_id in sorted(self.servers[address].wanted):
                if model_id in self.models:
                    assignment[model_id].append(address)
                    busy.add(address)
                else:
                    unloads.append((address, model_id))
        for model_id in sorted(self.models):
            spec, addresses = self.models[model_id].spec, assignment[model_id]
            addresses.sort(key=lambda a: self.servers[a].seen.get(model_id) != ModelStatus(LOADED))
            while len(addresses) > spec.requested_num_replicas:
                unloads.append((addresses.pop(), model_id))
            for address in sorted(self.servers):
                if len(addresses) >= spec.requested_num_replicas:
                    break
                if (
                    address not in busy
                    and spec.model_path in self.servers[address].specs.servable_model_paths
                ):
                    addresses.append(address)
                    busy.add(address)
                    loads.append((address, model_id))
        self.assignment = assignment
        for address, model_id in unloads:
            self.servers[address].wanted.discard(model_id)
        for address, model_id in loads:
            self.servers[address].wanted.add(model_id)
        return loads, unloads

    def _call(self, server: JoinedServer, model_id: str, rpc: Rpc) -> None:
        """Start a Load or Unload in the background, as mgr.go's goroutines."""
        server.calls.add(model_id)
        task = asyncio.create_task(rpc(server, model_id))
        self._calls.add(task)

        def done(finished: "asyncio.Task[None]") -> None:
            self._calls.discard(finished)
            server.calls.discard(model_id)

        task.add_done_callback(done)

    async def _load(self, server: JoinedServer, model_id: str) -> None:
        published = self.models.get(model_id)
        if published is None:
            return
        spec, address = published.spec, server.address
        if self.verbosity:
            self._info(f"Loading model {model_id} onto server {address} with overrides map[]")
        server.seen[model_id] = ModelStatus(LOADING)
        try:
            target = self.processes.dial(address, ModelServerApi)
            await target.load(model_id, spec.model_path, spec.checkpoint_path)
        except SaxError as error:
            server.seen[model_id] = ModelStatus(FAILED, error.message)
            self.log.error(
                "mgr.go:590",
                f"Failed to load model {model_id} onto model server {address}: {error.message}",
            )
            return
        server.seen[model_id] = ModelStatus(LOADED)
        if self.verbosity >= 2:
            self._info(f"Loaded model {model_id} onto model server {address}")

    async def _unload(self, server: JoinedServer, model_id: str) -> None:
        try:
            await self.processes.dial(server.address, ModelServerApi).unload(model_id)
        except SaxError as error:
            self.log.error(
                "mgr.go:622",
                f"Failed to unload model {model_id} from model server {server.address}: "
                f"{error.message}",
            )
        else:
            server.seen.pop(model_id, None)

    # Validation (validator.go)

    def _validate(self, model: ModelSpec) -> None:
        self._check_in_cell(model.model_id)
        if not _MODEL_PATH.match(model.model_path):
            raise wrapped(
                "InvalidArgument",
                f'model path "{model.model_path}" must match "{_MODEL_PATH.pattern}"',
            )
        if not _CHECKPOINT.match(model.checkpoint_path):
            raise wrapped(
                "InvalidArgument",
                f'checkpoint path "{model.checkpoint_path}" must match "{_CHECKPOINT.pattern}"',
            )
        if model.requested_num_replicas < 0:
            raise wrapped(
                "InvalidArgument",
                f"number of replicas {model.requested_num_replicas} must be non-negative",
            )

    def _check_in_cell(self, model_id: str) -> None:
        cell, _ = split_model_id(model_id)
        if cell != self.cell:
            raise wrapped(
                "InvalidArgument", f'model {model_id} must be within SAX cell "{self.cell}"'
            )

    def _published(self, model_id: str) -> Published:
        published = self.models.get(model_id)
        if published is None:
            raise wrapped("NotFound", f"model {model_id} not found")
        return published

    def _describe(self, model_id: str, published: Published) -> PublishedModel:
        return PublishedModel(published.spec, tuple(self.assignment.get(model_id, [])))

    def _info(self, message: str) -> None:
        self.log.info("mgr.go:300", message)


def _loaded(status: ModelStatus | None) -> bool:
    return status is not None and status.status == LOADED
