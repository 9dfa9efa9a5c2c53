"""Time in pod logs: the kubelet's nanosecond timestamps, and `sinceTime` (objects use whole
seconds: `emulator.kube.store.kube_timestamp`)."""

from datetime import UTC, datetime


def rfc3339_nano(instant: float) -> str:
    """Go's RFC3339Nano, as the kubelet stamps log lines (trailing zeros of the fraction cut)."""
    moment = datetime.fromtimestamp(instant, UTC)
    fraction = f"{moment.microsecond:06d}000".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def parse_rfc3339(text: str) -> float:
    """An instant from `2024-05-01T10:00:00Z` (or with a fraction or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
