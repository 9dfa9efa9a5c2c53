"""TPU chip-seconds: what a TPU node pool costs while its nodes exist, whether or not Pods run.

Chip-seconds are counted in modelled time (wall time divided by the time scale), so a rehearsal
at any time scale reports what the same run would bill on Google Cloud. A queued pool's nodes
may come and go several times (one booking after another): each run counts.
"""

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class ChipUsage:
    """One TPU node pool, from its creation request until its nodes are gone."""

    uid: str
    project: str
    zone: str
    cluster: str
    node_pool: str
    machine_type: str
    chips: int
    nodes_up: float | None = None  # wall instant the pool's nodes last came up
    nodes_down: float | None = None  # wall instant they were last deleted
    earlier_seconds: float = 0.0  # wall seconds of the runs before the last

    def chip_seconds(self, now: float, time_scale: float) -> float:
        if self.nodes_up is None:
            return 0.0
        end = now if self.nodes_down is None else self.nodes_down
        return self.chips * (self.earlier_seconds + end - self.nodes_up) / time_scale


class ChipLedger:
    """Every TPU node pool ever created, in creation order; entries outlive their pools."""

    def __init__(self) -> None:
        self._entries: dict[str, ChipUsage] = {}

    def open(self, usage: ChipUsage) -> None:
        self._entries[usage.uid] = usage

    def nodes_up(self, uid: str, now: float) -> None:
        usage = self._entries.get(uid)
        if usage is None:
            return
        if usage.nodes_up is not None and usage.nodes_down is not None:
            usage.earlier_seconds += usage.nodes_down - usage.nodes_up
            usage.nodes_down = None
        usage.nodes_up = now

    def nodes_down(self, uid: str, now: float) -> None:
        usage = self._entries.get(uid)
        if usage is not None and usage.nodes_up is not None and usage.nodes_down is None:
            usage.nodes_down = now

    def report(self, now: float, time_scale: float) -> list[dict[str, Any]]:
        return [
            {
                "project": usage.project,
                "zone": usage.zone,
                "cluster": usage.cluster,
                "node_pool": usage.node_pool,
                "machine_type": usage.machine_type,
                "chips": usage.chips,
                "chip_seconds": usage.chip_seconds(now, time_scale),
            }
            for usage in self._entries.values()
        ]

    def dump(self) -> list[dict[str, Any]]:
        return [asdict(usage) for usage in self._entries.values()]

    def load(self, state: list[dict[str, Any]]) -> None:
        self._entries = {entry["uid"]: ChipUsage(**entry) for entry in state}
