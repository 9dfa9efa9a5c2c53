"""What GKE offers where: zones, machine types and the TPU slice shapes each type can form.

A few facts per TPU generation (accelerator label, topology dimensions, largest slice); slice
shapes, node counts and single-host rules are derived from them, as xpk's system table does. This
catalog models GKE's own rules and deliberately shares no code with the product under test.
"""

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class TpuGeneration:
    name: str
    accelerator: str  # the `cloud.google.com/gke-tpu-accelerator` node label value
    dimensions: int  # 2 (AxB) or 3 (AxBxC)
    cube_limit: int = 0  # 3D only: the largest (A/4)(B/4)(C/4) a slice may have
    sorted_dims: bool = False  # 3D only: whether A <= B <= C is required


@dataclass(frozen=True)
class MachineType:
    name: str
    cpus: int
    memory_gib: int
    tpu: TpuGeneration | None = None
    chips: int = 0  # TPU chips per VM (the node's `google.com/tpu` capacity)

    @property
    def single_host_topology(self) -> str:
        """The topology of one VM of this type, as its node label shows it."""
        if self.tpu is None:
            raise ValueError(f"{self.name} is not a TPU machine type")
        if self.tpu.dimensions == 3:
            return "2x2x1"
        return {1: "1x1", 4: "2x2", 8: "2x4"}[self.chips]


V4 = TpuGeneration("v4", "tpu-v4-podslice", dimensions=3, cube_limit=64)
V5E = TpuGeneration("v5e", "tpu-v5-lite-podslice", dimensions=2)
V5P = TpuGeneration("v5p", "tpu-v5p-slice", dimensions=3, cube_limit=140, sorted_dims=True)
V6E = TpuGeneration("v6e", "tpu-v6e-slice", dimensions=2)

_SHAPES_2D = frozenset({(1, 1), (2, 2), (2, 4), (4, 4), (4, 8), (8, 8), (8, 16), (16, 16)})
_SMALL_SHAPES_3D = ((2, 2, 1), (2, 2, 2), (2, 2, 4), (2, 4, 4))


@functools.cache
def slice_shapes(generation: TpuGeneration) -> frozenset[tuple[int, ...]]:
    """Every topology GKE accepts for a generation (single-host shapes included)."""
    if generation.dimensions == 2:
        return _SHAPES_2D
    sides = range(4, 4 * generation.cube_limit + 1, 4)
    cubes = {
        (a, b, c)
        for a in sides
        for b in sides
        if a * b // 16 <= generation.cube_limit
        for c in sides
        if a * b * c // 64 <= generation.cube_limit and (not generation.sorted_dims or a <= b <= c)
    }
    return frozenset(_SMALL_SHAPES_3D) | frozenset(cubes)


MACHINE_TYPES: dict[str, MachineType] = {
    m.name: m
    for m in (
        MachineType("e2-medium", 2, 4),
        MachineType("e2-standard-2", 2, 8),
        MachineType("e2-standard-4", 4, 16),
        MachineType("e2-standard-8", 8, 32),
        MachineType("n2-standard-4", 4, 16),
        MachineType("n2-standard-8", 8, 32),
        MachineType("ct4p-hightpu-4t", 240, 407, V4, 4),
        MachineType("ct5lp-hightpu-1t", 24, 48, V5E, 1),
        MachineType("ct5lp-hightpu-4t", 112, 192, V5E, 4),
        MachineType("ct5lp-hightpu-8t", 224, 384, V5E, 8),
        MachineType("ct5p-hightpu-4t", 208, 448, V5P, 4),
        MachineType("ct6e-standard-1t", 44, 176, V6E, 1),
        MachineType("ct6e-standard-4t", 180, 720, V6E, 4),
        MachineType("ct6e-standard-8t", 180, 1440, V6E, 8),
    )
}

DEFAULT_MACHINE_TYPE = "e2-medium"
GENERAL_PURPOSE = frozenset(name for name, m in MACHINE_TYPES.items() if m.tpu is None)
_V5E = frozenset({"ct5lp-hightpu-1t", "ct5lp-hightpu-4t", "ct5lp-hightpu-8t"})
_V6E = frozenset({"ct6e-standard-1t", "ct6e-standard-4t", "ct6e-standard-8t"})

# Which TPU machine types each zone offers (a realistic subset; general-purpose types everywhere).
ZONE_TPU_TYPES: dict[str, frozenset[str]] = {
    "us-west4-a": _V5E,
    "us-east5-b": _V5E | _V6E,
    "us-central2-b": frozenset({"ct4p-hightpu-4t"}),
    "us-east1-c": _V5E,
    "europe-west4-a": _V5E | _V6E,
    "europe-west4-b": _V5E | {"ct5p-hightpu-4t"},
    "us-central1-a": _V5E | {"ct5p-hightpu-4t"},
    "us-south1-a": _V6E | {"ct5p-hightpu-4t"},
}


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def machine_type_in_zone(name: str, zone: str) -> MachineType | None:
    """The machine type if `zone` offers it, else None."""
    if name in GENERAL_PURPOSE or name in ZONE_TPU_TYPES.get(zone, ()):
        return MACHINE_TYPES[name]
    return None


def parse_topology(text: str) -> tuple[int, ...] | None:
    """`4x8` -> (4, 8); None when the text is not a product of positive integers."""
    parts = text.split("x")
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        return None
    return tuple(int(part) for part in parts)
