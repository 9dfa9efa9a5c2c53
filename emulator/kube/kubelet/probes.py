"""Readiness and liveness probes: tcpSocket, httpGet, grpc and exec, as the kubelet runs them.

Socket probes really connect: pod IP:port resolves (through the cluster network) to the
loopback server a container's behaviour started, so a container is ready when it really
serves its port. Exec probes ask the behaviour. Periods and delays are modelled seconds.
"""

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from emulator.kube.kubelet.behaviour import ContainerBehaviour, ContainerContext

if TYPE_CHECKING:
    from emulator.kube.kubelet.kubelet import Kubelet

MIN_WALL_PERIOD = 0.01  # tiny time scales must not turn probes into a busy loop


@dataclass(frozen=True)
class ProbeSettings:
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int

    @classmethod
    def of(cls, probe: Mapping[str, Any]) -> "ProbeSettings":
        return cls(
            initial_delay=probe.get("initialDelaySeconds", 0),
            period=probe.get("periodSeconds", 10),
            timeout=probe.get("timeoutSeconds", 1),
            success_threshold=probe.get("successThreshold", 1),
            failure_threshold=probe.get("failureThreshold", 3),
        )


class Prober:
    """One probe of one running container instance."""

    def __init__(
        self,
        kubelet: "Kubelet",
        ctx: ContainerContext,
        behaviour: ContainerBehaviour,
        probe: Mapping[str, Any],
    ) -> None:
        self.kubelet = kubelet
        self.ctx = ctx
        self.behaviour = behaviour
        self.probe = probe
        self.settings = ProbeSettings.of(probe)

    async def watch(
        self,
        healthy: bool,
        on_change: Callable[[bool], None],
        on_failure: Callable[[str], None],
    ) -> None:
        """Probe every period: `on_failure` for each failed probe, `on_change` when the
        success or failure threshold flips the result."""
        clock = self.ctx.world.clock
        await asyncio.sleep(clock.scaled(self.settings.initial_delay))
        successes = failures = 0
        while True:
            failure = await self.check()
            if failure is None:
                successes, failures = successes + 1, 0
                if not healthy and successes >= self.settings.success_threshold:
                    healthy = True
                    on_change(True)
            else:
                successes, failures = 0, failures + 1
                on_failure(failure)
                if healthy and failures >= self.settings.failure_threshold:
                    healthy = False
                    on_change(False)
            await asyncio.sleep(max(clock.scaled(self.settings.period), MIN_WALL_PERIOD))

    async def check(self) -> str | None:
        """None when the probe succeeds, else the kubelet's failure output."""
        probe = self.probe
        if "exec" in probe:
            command = list(probe["exec"].get("command") or [])
            code, output = await self.behaviour.exec(self.ctx, command)
            return None if code == 0 else output
        if "httpGet" in probe:
            return await self._http(probe["httpGet"])
        if "tcpSocket" in probe:
            return await self._tcp(
                probe["tcpSocket"], "dial tcp {address}: connect: connection refused"
            )
        if "grpc" in probe:
            timeout = f"{self.settings.timeout}s"
            return await self._tcp(
                probe["grpc"],
                f'timeout: failed to connect service "{{address}}" within {timeout}',
            )
        return None

    async def _tcp(self, action: Mapping[str, Any], refused: str) -> str | None:
        host, port = self._target(action)
        real = self.kubelet.cluster.network.resolve(host, port)
        if real is None:
            return refused.format(address=f"{host}:{port}")
        try:
            async with asyncio.timeout(1):  # not wait_for: in 3.11 it can swallow a cancel
                _, writer = await asyncio.open_connection(*real)
        except (OSError, TimeoutError):
            return refused.format(address=f"{host}:{port}")
        writer.close()
        return None

    async def _http(self, action: Mapping[str, Any]) -> str | None:
        host, port = self._target(action)
        scheme = action.get("scheme", "HTTP").lower()
        path = action.get("path", "/")
        url = f"{scheme}://{host}:{port}{path}"
        real = self.kubelet.cluster.network.resolve(host, port)
        refused = f'Get "{url}": dial tcp {host}:{port}: connect: connection refused'
        if real is None:
            return refused
        headers = {header["name"]: header["value"] for header in action.get("httpHeaders") or []}
        headers.setdefault("User-Agent", f"kube-probe/{self.kubelet.cluster.version.split('-')[0]}")
        try:
            async with self.kubelet.http().get(
                f"{scheme}://{real[0]}:{real[1]}{path}",
                headers=headers,
                ssl=False,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=max(self.settings.timeout, 1)),
            ) as response:
                if 200 <= response.status < 400:
                    return None
                return f"HTTP probe failed with statuscode: {response.status}"
        except (aiohttp.ClientError, OSError, TimeoutError):
            return refused

    def _target(self, action: Mapping[str, Any]) -> tuple[str, int]:
        port = action["port"]
        if isinstance(port, str) and not port.isdigit():
            named = {
                p.get("name"): p["containerPort"] for p in self.ctx.container.get("ports") or []
            }
            port = named.get(port, 0)
        return action.get("host") or self.ctx.pod_ip, int(port)
