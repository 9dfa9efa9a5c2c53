"""Saxml's client library as a pod embeds it (sax-http): `sax.Publish`, `sax.ListDetail`,
`sax.Model(id).LM().Generate` and friends.

It finds a cell's admin through `location.proto` under `SAX_ROOT`, read with the pod's own
storage access. Like the Go client it retries, with exponential back-off and no time limit,
whatever says "try again" (an unreachable admin or model server, a model no server has loaded
yet), so such calls block; here they give up after `wait_limit` (modelled seconds), which the
caller turns into what a client's own timeout would see.
"""

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from emulator.core.clock import Clock
from emulator.kube.workload_identity import BucketAccessError
from emulator.saxml.cellfs import CellFiles, Files, Root, go_storage_error
from emulator.saxml.processes import SaxProcesses
from emulator.saxml.rpc import AdminApi, ModelServerApi, ModelSpec, PublishedModel, Samples
from emulator.saxml.status import (
    ADMIN_RETRY_CODES,
    SERVER_RETRY_CODES,
    SaxError,
    check_cell,
    split_model_id,
)

FIRST_RETRY_SECONDS = 0.01
MAX_RETRY_SECONDS = 20.0
WATCH_SECONDS = 1.0  # how soon WatchLoc tells the client about a newly loaded replica
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[bool]]


class GaveUp(Exception):
    """The call was still retrying when the wait limit passed."""


class SaxClient:
    def __init__(
        self,
        processes: SaxProcesses,
        files: Files,
        sax_root: str,
        clock: Clock,
        sleep: Sleep,
        wait_limit: float,
    ) -> None:
        self.processes = processes
        self.files = files
        self.root = Root(sax_root)
        self.clock = clock
        self.sleep = sleep
        self.wait_limit = wait_limit

    async def publish(self, model_id: str, model_path: str, checkpoint: str, replicas: int) -> None:
        model = ModelSpec(model_id, model_path, checkpoint, replicas)
        await self._on_admin(split_model_id(model_id)[0], lambda admin: admin.publish(model))

    async def update(self, model_id: str, model_path: str, checkpoint: str, replicas: int) -> None:
        """Re-reads the model to keep its overrides, then asks for the change."""
        current = await self.list_detail(model_id)
        model = ModelSpec(model_id, model_path, checkpoint, replicas, current.model.overrides)
        await self._on_admin(split_model_id(model_id)[0], lambda admin: admin.update(model))

    async def unpublish(self, model_id: str) -> None:
        await self._on_admin(split_model_id(model_id)[0], lambda admin: admin.unpublish(model_id))

    async def list_detail(self, model_id: str) -> PublishedModel:
        return await self._on_admin(
            split_model_id(model_id)[0], lambda admin: admin.list_model(model_id)
        )

    async def list_all(self, cell: str) -> list[str]:
        check_cell(cell)
        published = await self._on_admin(cell, lambda admin: admin.list_all())
        return [model.model.model_id for model in published]

    async def generate(self, model_id: str, query: str, extra: dict[str, float]) -> Samples:
        """LM.Generate: on a server that has loaded the model, waiting until one has."""
        cell = split_model_id(model_id)[0]
        deadline, delay = self._deadline(), FIRST_RETRY_SECONDS
        while True:
            addresses = await self._on_admin(cell, lambda admin: admin.serving_addresses(model_id))
            if addresses:
                chosen = addresses[_hash(query) % len(addresses)]
                try:
                    server = self.processes.dial(chosen, ModelServerApi)
                    return await server.generate(model_id, query, extra)
                except SaxError as error:
                    if error.code not in SERVER_RETRY_CODES:
                        raise
            wait = delay if addresses else WATCH_SECONDS
            if self.clock.now() > deadline or not await self.sleep(wait):
                raise GaveUp(f"lm.Generate {model_id}")
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    async def _on_admin(self, cell: str, call: Callable[[AdminApi], T]) -> T:
        """Call the cell's admin, retrying while it is unreachable or busy."""
        deadline, delay = self._deadline(), FIRST_RETRY_SECONDS
        while True:
            try:
                return call(self._admin(cell))
            except SaxError as error:
                if error.code not in ADMIN_RETRY_CODES:
                    raise
            if self.clock.now() > deadline or not await self.sleep(delay):
                raise GaveUp(f"admin of {cell}")
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _deadline(self) -> float:
        return self.clock.now() + self.clock.scaled(self.wait_limit)

    def _admin(self, cell: str) -> AdminApi:
        files = CellFiles(self.files, self.root, cell)
        try:
            files.require()
            address = files.admin_address()
        except BucketAccessError as error:
            raise SaxError("Unknown", go_storage_error(error)) from None
        return self.processes.dial(address, AdminApi)


def _hash(text: str) -> int:
    """Consistent hashing of requests over the replicas."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
