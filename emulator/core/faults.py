"""Injected faults: the next N calls (or a fraction of calls) of an API method fail or are slow.

Methods are named by their discovery-style ids (`container.projects.locations.clusters.create`),
which are also the aiohttp route names, so a fault matches whatever client makes the call.
Named scenarios (a TPU stockout, an IAM propagation delay, ...) change the state of the emulated
world instead; the services that own that state register them here.
"""

import fnmatch
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Fault:
    method: str
    status: int | None = None
    message: str = "Injected fault"
    times: int | None = 1
    fraction: float | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.status is None and self.delay <= 0:
            raise ValueError("a fault needs a status, a delay, or both")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be at least 1, got {self.times}")


Scenario = Callable[[dict[str, Any]], dict[str, Any]]
ScenarioReset = Callable[[], None]


@dataclass
class Faults:
    """Active method faults, plus the named scenarios the services registered."""

    seed: int = 0
    active: list[Fault] = field(default_factory=list)
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    scenario_resets: dict[str, ScenarioReset] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def add(self, fault: Fault) -> None:
        self.active.append(fault)

    def clear(self) -> None:
        self.active.clear()

    def register_scenario(
        self, name: str, apply: Scenario, reset: ScenarioReset | None = None
    ) -> None:
        """`reset` puts the world back to normal when the operator clears all faults."""
        self.scenarios[name] = apply
        if reset is not None:
            self.scenario_resets[name] = reset

    def reset_scenarios(self) -> None:
        for reset in self.scenario_resets.values():
            reset()

    def reset(self) -> None:
        """No method faults, every scenario undone."""
        self.clear()
        self.reset_scenarios()

    def apply_scenario(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        if name not in self.scenarios:
            known = ", ".join(sorted(self.scenarios))
            raise KeyError(f"unknown scenario {name!r}; known: {known}")
        return self.scenarios[name](params)

    def take(self, method: str) -> Fault | None:
        """The fault that applies to this call of `method`, consuming one of its `times`."""
        for fault in self.active:
            if not fnmatch.fnmatchcase(method, fault.method):
                continue
            if fault.fraction is not None and self._random.random() >= fault.fraction:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times == 0:
                    self.active.remove(fault)
            return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(fault) for fault in self.active]
