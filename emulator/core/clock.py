"""Emulated time: wall-clock instants, with every modelled duration multiplied by a time scale."""

import asyncio
import time
from datetime import UTC, datetime


class Clock:
    """Real time passes; modelled durations (operations, pulls, loads) are scaled down for tests."""

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time scale must be positive, got {time_scale}")
        self.time_scale = time_scale

    def now(self) -> float:
        return time.time()

    def scaled(self, seconds: float) -> float:
        """Wall-clock seconds that a modelled duration of `seconds` takes."""
        return seconds * self.time_scale

    async def sleep(self, seconds: float) -> None:
        """Sleep for a modelled duration."""
        await asyncio.sleep(self.scaled(seconds))

    async def sleep_until(self, instant: float) -> None:
        """Sleep until a wall-clock instant (at once if it has passed)."""
        await asyncio.sleep(max(0.0, instant - self.now()))


def rfc3339(instant: float) -> str:
    """An instant as GCP and Kubernetes write timestamps (UTC, `Z` suffix)."""
    return (
        datetime.fromtimestamp(instant, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
