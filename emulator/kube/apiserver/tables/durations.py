"""Ages as the API server prints them: apimachinery's `HumanDuration`, which keeps two units
while they still say something (`3m20s`, `5h2m`, `2d3h`) and one afterwards."""

from collections.abc import Mapping
from typing import Any

from emulator.kube.apiserver.timestamps import parse_rfc3339


def human_duration(seconds: float) -> str:
    """`90s`, `3m20s`, `15m`, `5h2m`, `10h`, `2d3h`, `20d`, `2y10d`, `9y`."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes, hours = whole // 60, whole // 3600
    days, years = hours // 24, hours // (24 * 365)
    steps: list[tuple[bool, int, str, int, str]] = [
        # (applies, major, unit, minor, unit): the minor part is shown when not zero
        (minutes < 10, minutes, "m", whole % 60, "s"),
        (minutes < 180, minutes, "m", 0, ""),
        (hours < 8, hours, "h", minutes % 60, "m"),
        (hours < 48, hours, "h", 0, ""),
        (hours < 24 * 8, days, "d", hours % 24, "h"),
        (hours < 24 * 365 * 2, days, "d", 0, ""),
        (hours < 24 * 365 * 8, years, "y", days % 365, "d"),
    ]
    for applies, major, unit, minor, minor_unit in steps:
        if applies:
            return f"{major}{unit}{minor}{minor_unit}" if minor else f"{major}{unit}"
    return f"{years}y"


def since(timestamp: str | None, now: float) -> str:
    """How long ago a timestamp was; `<unknown>` without one, as for a zero time."""
    if not timestamp:
        return "<unknown>"
    return human_duration(now - parse_rfc3339(timestamp))


def age(obj: Mapping[str, Any], now: float) -> str:
    return since(obj["metadata"].get("creationTimestamp"), now)
