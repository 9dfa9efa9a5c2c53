"""The kubelet's exponential back-off (crash loops and image pulls): 10s doubling to 5m.

As client-go's `flowcontrol.Backoff`: the first failure is retried at once and starts the
delay at 10s; each further failure doubles it up to 300s; an entry untouched for twice the
cap (ten minutes of good behaviour) is forgotten, so the next failure starts over. Delays are
modelled seconds; instants are the clock's wall time.
"""

from dataclasses import dataclass

from emulator.core.clock import Clock

INITIAL_SECONDS = 10.0
MAX_SECONDS = 300.0


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def delay(self, key: str) -> float:
        """The current back-off of `key` in modelled seconds (0 when it has none)."""
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def last_update(self, key: str) -> float:
        """When `key` last failed (0 when it never did)."""
        entry = self._entries.get(key)
        return entry.last_update if entry else 0.0

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """Still waiting out the delay counted from `event_time` (a container's exit)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            return False
        return self.clock.now() - event_time < self.clock.scaled(entry.delay)

    def remaining(self, key: str, event_time: float) -> float:
        """Wall seconds until the delay counted from `event_time` is over."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, event_time + self.clock.scaled(entry.delay) - self.clock.now())

    def next(self, key: str, event_time: float) -> None:
        """Count a failure: start at 10s, or double the delay of a recent entry."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, self.clock.now()):
            self._entries[key] = _Entry(INITIAL_SECONDS, event_time)
        else:
            entry.delay = min(entry.delay * 2, MAX_SECONDS)
            entry.last_update = event_time

    def _expired(self, entry: _Entry, at: float) -> bool:
        return at - entry.last_update > self.clock.scaled(2 * MAX_SECONDS)


def go_duration(seconds: float) -> str:
    """A duration as Go's `time.Duration.String()` prints it: `500ms`, `20s`, `1m20s`, `5m0s`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds > 0 else "0s"
    milliseconds = round(seconds * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    text = f"{whole}.{fraction:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text
