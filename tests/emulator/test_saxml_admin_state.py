"""The admin's view of which model servers serve a model follows what they report."""

import asyncio
from typing import Any, cast

from emulator.core.clock import Clock
from emulator.saxml.admin import AdminManager
from emulator.saxml.glog import Glog
from emulator.saxml.processes import SaxProcesses
from emulator.saxml.rpc import LOADED, ModelServerApi, ModelSpec, ModelStatus, Samples, ServerSpecs

MODEL = "/sax/test/lm"
ADDRESS = "10.0.0.7:10001"


class _ModelServer(ModelServerApi):
    """Reports `status`; a Load never finishes, so only what the server reports is seen."""

    def __init__(self) -> None:
        self.status: dict[str, ModelStatus] = {}

    def get_status(self) -> dict[str, ModelStatus]:
        return dict(self.status)

    async def load(self, model_key: str, model_path: str, checkpoint: str) -> None:
        await asyncio.Event().wait()

    async def unload(self, model_key: str) -> None:
        self.status.pop(model_key, None)

    async def generate(self, model_key: str, query: str, extra: dict[str, float]) -> Samples:
        raise NotImplementedError


class _Processes:
    def __init__(self, server: _ModelServer) -> None:
        self.server = server

    def dial(self, address: str, kind: type[Any]) -> Any:
        assert address == ADDRESS
        return self.server


def _manager(server: _ModelServer) -> AdminManager:
    return AdminManager(
        "/sax/test",
        cast(SaxProcesses, _Processes(server)),
        Glog(lambda line: None, Clock().now),
        Clock(),
        verbosity=0,
        models=[ModelSpec(MODEL, "saxml.server.lm.Test", "None", 1)],
    )


def test_a_restarted_server_that_lost_the_model_no_longer_serves_it() -> None:
    server = _ModelServer()
    server.status = {MODEL: ModelStatus(LOADED)}
    manager = _manager(server)

    async def scenario() -> tuple[list[str], list[str]]:
        await manager.join(ADDRESS, ServerSpecs("cpu", "1", ("saxml.server.lm.Test",)))
        before = manager.serving_addresses(MODEL)
        server.status = {}  # restarted at the same address, without the model
        manager.refresh()
        after = manager.serving_addresses(MODEL)
        await manager.close()
        return before, after

    before, after = asyncio.run(scenario())
    assert before == [ADDRESS]
    assert after == []
