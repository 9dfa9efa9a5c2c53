"""The `compute` service's forwarding rules: real listeners on their own loopback addresses."""

import asyncio
from collections.abc import Awaitable, Callable

from emulator.core.clock import Clock
from emulator.core.world import World
from emulator.gcp.compute import Backend, ComputeService, compute_service

CLUSTER = "projects/proj/locations/us-central1-a/clusters/c1"
PORT = 18081


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


async def upstream() -> tuple[asyncio.Server, Backend]:
    """A backend that answers `pong` and reports its port; the Backend that resolves to it."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"pong\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, lambda service_port: ("127.0.0.1", port) if service_port == PORT else None


async def ping(address: str, port: int = PORT) -> bytes:
    reader, writer = await asyncio.open_connection(address, port)
    writer.write(b"ping\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def unanswered(address: str, port: int = PORT) -> bool:
    """Accepted, then closed (or reset) without a byte of answer."""
    try:
        return await ping(address, port) == b""
    except ConnectionResetError:
        return True


async def refused(address: str, port: int = PORT) -> bool:
    try:
        await ping(address, port)
    except ConnectionRefusedError:
        return True
    return False


async def ensure(compute: ComputeService, name: str, backend: Backend, **changes: object) -> str:
    arguments = {
        "name": name,
        "region": "us-central1",
        "cluster": CLUSTER,
        "service": f"default/{name}",
        "ports": [PORT],
        "scheme": "EXTERNAL",
        "ip": None,
        "backend": backend,
        **changes,
    }
    return (await compute.ensure_rule(**arguments)).address  # type: ignore[arg-type]


def world() -> World:
    return World("proj", "123", Clock(0.001))


def test_each_rule_gets_its_own_address_and_forwards_to_its_backend() -> None:
    async def scenario() -> None:
        compute = compute_service(world())
        server, backend = await upstream()
        first = await ensure(compute, "afirst", backend)
        second = await ensure(compute, "asecond", backend)
        assert first != second
        assert first.startswith("127.") and second.startswith("127.")
        assert await ping(first) == b"pong\n"
        assert await ping(second) == b"pong\n"
        assert await ensure(compute, "afirst", backend) == first  # ensuring again changes nothing

        compute.delete_rule("afirst")
        assert await refused(first)
        assert await ensure(compute, "athird", backend) == first  # a released address is reused
        await compute.stop()
        server.close()

    run(scenario)


def test_a_rule_without_a_ready_backend_closes_connections() -> None:
    async def scenario() -> None:
        compute = compute_service(world())
        address = await ensure(compute, "aempty", lambda port: None)
        assert await unanswered(address)
        await compute.stop()

    run(scenario)


def test_rules_follow_port_changes() -> None:
    async def scenario() -> None:
        compute = compute_service(world())
        server, backend = await upstream()
        address = await ensure(compute, "amoving", backend)
        await ensure(compute, "amoving", backend, ports=[PORT + 1])
        assert await refused(address, PORT)
        assert await unanswered(address, PORT + 1)  # the backend serves only PORT
        await compute.stop()
        server.close()

    run(scenario)


def test_detached_rules_stay_listed_and_saved_but_refuse_connections() -> None:
    async def scenario() -> None:
        emulated = world()
        compute = compute_service(emulated)
        server, backend = await upstream()
        address = await ensure(compute, "aleaked", backend)

        compute.detach(CLUSTER)
        assert await refused(address)
        (resource,) = emulated.resources()
        assert resource.api == "compute"
        assert resource.kind == "ForwardingRule"
        assert resource.name == "projects/proj/regions/us-central1/forwardingRules/aleaked"
        assert resource.labels == {}  # GKE does not label the rules it creates

        restored = ComputeService(emulated)
        restored.load(compute.dump())
        assert restored.rules == compute.rules
        assert await refused(address)
        assert await ensure(restored, "aleaked", backend) == address  # its cluster came back
        assert await ping(address) == b"pong\n"
        await restored.stop()
        server.close()

    run(scenario)


def test_the_service_is_registered_once_per_world() -> None:
    emulated = world()
    assert compute_service(emulated) is compute_service(emulated)
    assert emulated.services["compute"].name == "compute"
