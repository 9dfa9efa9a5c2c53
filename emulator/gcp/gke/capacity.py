"""Per-zone capacity of each TPU machine type: unlimited unless a scenario says otherwise.

Two scenarios change it: `tpu-stockout` (node-pool creations that need the type fail, for a
number of attempts, for a modelled time, or until lifted) and `tpu-capacity` (a zone has room
for N more nodes of a type, or, without `nodes`, unlimited room again with every stockout there
lifted). A creation that lacks capacity runs its course and then fails, as GKE's does.
"""

from dataclasses import asdict, dataclass
from typing import Any

from emulator.core.clock import Clock
from emulator.gcp.gke import catalog


@dataclass
class Stockout:
    zone: str | None  # None: every zone
    machine_type: str | None  # None: every TPU machine type
    times: int | None  # failures left before capacity returns; None: until lifted
    until: float | None = None  # the wall-clock instant capacity returns; None: until lifted

    def lifted(self, now: float) -> bool:
        return self.until is not None and now >= self.until

    def matches(self, zone: str, machine_type: str) -> bool:
        return self.zone in (None, zone) and (
            self.machine_type == machine_type
            or (self.machine_type is None and catalog.MACHINE_TYPES[machine_type].tpu is not None)
        )


def _zone_param(params: dict[str, Any]) -> str | None:
    zone = params.get("zone")
    if zone is not None and zone not in catalog.ZONE_TPU_TYPES:
        raise ValueError(
            f"unknown zone {zone!r}; known: {', '.join(sorted(catalog.ZONE_TPU_TYPES))}"
        )
    return zone


def _machine_type_param(params: dict[str, Any]) -> str | None:
    machine_type = params.get("machine_type")
    if machine_type is not None and machine_type not in catalog.MACHINE_TYPES:
        raise ValueError(f"unknown machine type {machine_type!r}")
    return machine_type


def _count_param(params: dict[str, Any], key: str, minimum: int) -> int | None:
    value = params.get(key)
    if value is not None and (not isinstance(value, int) or value < minimum):
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


class Capacity:
    def __init__(self) -> None:
        self._stockouts: list[Stockout] = []
        self._node_limits: dict[tuple[str, str], int] = {}

    def lacks_room(
        self, zone: str, machine_type: str, nodes: int, nodes_in_use: int, now: float
    ) -> bool:
        """Whether `nodes` more nodes cannot be had now; a matching stockout uses up one try."""
        self._stockouts = [s for s in self._stockouts if not s.lifted(now)]
        for stockout in self._stockouts:
            if stockout.matches(zone, machine_type):
                if stockout.times is not None:
                    stockout.times -= 1
                    if stockout.times == 0:
                        self._stockouts.remove(stockout)
                return True
        limit = self._node_limits.get((zone, machine_type))
        return limit is not None and nodes_in_use + nodes > limit

    def stockout(self, params: dict[str, Any], clock: Clock) -> dict[str, Any]:
        """The `tpu-stockout` scenario; `seconds` (modelled) lifts it after that long."""
        seconds = _count_param(params, "seconds", 1)
        stockout = Stockout(
            zone=_zone_param(params),
            machine_type=_machine_type_param(params),
            times=_count_param(params, "times", 1),
            until=None if seconds is None else clock.now() + clock.scaled(seconds),
        )
        self._stockouts.append(stockout)
        return {"stockouts": [asdict(s) for s in self._stockouts]}

    def set_room(self, params: dict[str, Any]) -> dict[str, Any]:
        """The `tpu-capacity` scenario."""
        zone, machine_type = _zone_param(params), _machine_type_param(params)
        nodes = _count_param(params, "nodes", 0)
        zones = [zone] if zone else sorted(catalog.ZONE_TPU_TYPES)
        for each_zone in zones:
            types = [machine_type] if machine_type else sorted(catalog.ZONE_TPU_TYPES[each_zone])
            for each_type in types:
                if nodes is None:
                    self._node_limits.pop((each_zone, each_type), None)
                else:
                    self._node_limits[(each_zone, each_type)] = nodes
        if nodes is None:
            self._stockouts = [
                s
                for s in self._stockouts
                if not (zone in (None, s.zone) and machine_type in (None, s.machine_type))
            ]
        return self.dump()

    def clear(self) -> None:
        """Unlimited capacity everywhere again."""
        self._stockouts.clear()
        self._node_limits.clear()

    def dump(self) -> dict[str, Any]:
        return {
            "stockouts": [asdict(s) for s in self._stockouts],
            "node_limits": [
                {"zone": zone, "machine_type": machine_type, "nodes": nodes}
                for (zone, machine_type), nodes in self._node_limits.items()
            ],
        }

    def load(self, state: dict[str, Any]) -> None:
        self._stockouts = [Stockout(**s) for s in state.get("stockouts", [])]
        self._node_limits = {
            (limit["zone"], limit["machine_type"]): limit["nodes"]
            for limit in state.get("node_limits", [])
        }


def stockout_message(project_id: str, zone: str, machine_type: str, nodes: int) -> str:
    """What GKE reports when Compute Engine cannot supply a TPU slice."""
    return (
        f"Google Compute Engine: The zone 'projects/{project_id}/zones/{zone}' does not have "
        f"enough resources available to fulfill the request. Try a different zone, or try again "
        f"later. (GCE_STOCKOUT: Insufficient capacity/stockout for {machine_type} in zone "
        f"{zone}; {nodes} nodes requested.)"
    )
