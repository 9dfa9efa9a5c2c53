"""TPU catalog and slice planner for GKE.

Modelled on xpk's system table: a few facts per TPU generation, everything else (valid
topologies, node counts, machine types, HBM, cost) derived by functions. Pure (no I/O, no
Airflow) so the rules are table-tested once and shared by the spec, the manifests and the
emulator.

All four generations expose one JAX device per chip (v4 and v5p run their two TensorCores as one
megacore device), so ``SliceShape.chips`` is also the device count a Saxml serving mesh must match.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

PRICES_AS_OF = "2026-08-24"
"""Date of the list prices below (us-central1 on-demand, Cloud Billing Catalog); estimates."""

HBM_GB_PER_BILLION_PARAMS = 2.0
"""16-bit (bf16/fp16) weights take 2 bytes per parameter, so 2 GB per billion parameters."""

# 20% is the low end of the usual 20-50% rule of thumb for KV cache, activations and runtime.
# Saxml's serving configs use small batches and short contexts, and the tutorial's own sizing
# (175B on 32 v5e chips = 512 GB for 350 GB of weights) only has room for ~46%, so a larger
# default would push the tutorial's model onto a 64-chip slice for no benefit.
HEADROOM = 0.2

GIB_IN_GB = 2**30 / 10**9
"""All HBM figures here are decimal GB (10^9 bytes), the unit of the weight rule above; the TPU
docs give v4 and v5p HBM in GiB, converted with this factor."""

# GKE multi-host TPU VMs carry 4 chips each (xpk compute_chips_per_vm, tpu-provisioner), and
# every pod of a multi-host slice requests all 4.
MULTI_HOST_CHIPS_PER_NODE = 4

# topologies() lists 3D shapes only up to this many chips: v4 and v5p allow thousands of shapes
# (every permutation, for v4) that nobody serves a single model on. slice_shape() still accepts
# any valid topology.
MAX_LISTED_CHIPS = 2048

# xpk generate_tpu_topologies: each dim of a cube-built 3D topology lies in 4..256.
_MAX_3D_DIM = 256

# 2D single-host shapes: the whole slice is one VM whose machine type carries all its chips.
# 2x4 uses the 8-chip VM (ct5lp-hightpu-8t / ct6e-standard-8t), not xpk's two 4-chip VMs: one
# pod per slice needs no multi-host JAX setup, no placement policy and no all-or-nothing
# provisioning of two nodes, which is what serving a model on 8 chips wants.
_SINGLE_HOST_2D = ("1x1", "2x2", "2x4")
_MULTI_HOST_2D = ("4x4", "4x8", "8x8", "8x16", "16x16")

# 3D shapes smaller than one 4x4x4 cube, allowed besides the cube rule (xpk). 2x2x1 is one VM.
_SINGLE_HOST_3D = ("2x2x1",)
_SUB_CUBE_3D = ("2x2x1", "2x2x2", "2x2x4", "2x4x4")

# Strict "AxB" or "AxBxC": positive integers without leading zeros, lower-case x, no spaces.
_TOPOLOGY_RE = re.compile(r"[1-9][0-9]*(?:x[1-9][0-9]*){1,2}")


@dataclass(frozen=True)
class Generation:
    """The few facts per TPU generation that everything else is derived from."""

    name: str
    accelerator: str  # GKE label value of cloud.google.com/gke-tpu-accelerator
    dims: int  # 2 (AxB) or 3 (AxBxC)
    hbm_gb_per_chip: float  # decimal GB
    price_per_chip_hour: float  # USD, on-demand list price as of PRICES_AS_OF
    platform_chip: str  # Saxml model server --platform_chip (an accounting label only)
    machine_type_prefix: str  # GKE machine type without the "-<chips>t" suffix
    chips_per_node_options: tuple[int, ...]  # the "-<chips>t" sizes GKE offers
    cube_limit: int = 0  # 3D only: max (A/4)(B/4)(C/4)
    nondecreasing_dims: bool = False  # 3D only: topology must satisfy A <= B <= C

    def machine_type(self, chips_per_node: int) -> str:
        """The GKE machine type whose VMs carry ``chips_per_node`` chips."""
        if chips_per_node not in self.chips_per_node_options:
            raise ValueError(
                f"TPU {self.name} has no machine type with {chips_per_node} chips per node; "
                f"sizes: {', '.join(map(str, self.chips_per_node_options))}"
            )
        return f"{self.machine_type_prefix}-{chips_per_node}t"

    @property
    def machine_types(self) -> tuple[str, ...]:
        """Every GKE machine type of this generation."""
        return tuple(self.machine_type(n) for n in self.chips_per_node_options)


# platform_chip: Saxml's flag map knows "tpuv4" and "tpuv5e" but neither v5p nor v6e; an unknown
# string only turns the admin's accounting label into UNKNOWN (servability is decided by the real
# JAX devices). We pass the closest known sibling so the label stays a real TPU bucket: v5p ->
# "tpuv4" (same 3D torus, 4-chip VMs, megacore) and v6e -> "tpuv5e" (same 2D single-core "lite"
# line, same VM sizes). Saxml's own GKE sample ran --platform_chip=tpuv4 on v5e the same way.
GENERATIONS: Mapping[str, Generation] = MappingProxyType(
    {
        "v4": Generation(
            name="v4",
            accelerator="tpu-v4-podslice",
            dims=3,
            hbm_gb_per_chip=32 * GIB_IN_GB,
            price_per_chip_hour=3.22,
            platform_chip="tpuv4",
            machine_type_prefix="ct4p-hightpu",
            chips_per_node_options=(4,),
            cube_limit=64,
        ),
        "v5e": Generation(
            name="v5e",
            accelerator="tpu-v5-lite-podslice",
            dims=2,
            hbm_gb_per_chip=16.0,
            price_per_chip_hour=1.20,
            platform_chip="tpuv5e",
            machine_type_prefix="ct5lp-hightpu",
            chips_per_node_options=(1, 4, 8),
        ),
        "v5p": Generation(
            name="v5p",
            accelerator="tpu-v5p-slice",
            dims=3,
            hbm_gb_per_chip=95 * GIB_IN_GB,
            price_per_chip_hour=4.20,
            platform_chip="tpuv4",
            machine_type_prefix="ct5p-hightpu",
            chips_per_node_options=(4,),
            cube_limit=140,
            nondecreasing_dims=True,
        ),
        "v6e": Generation(
            name="v6e",
            accelerator="tpu-v6e-slice",
            dims=2,
            hbm_gb_per_chip=32.0,
            price_per_chip_hour=2.70,
            platform_chip="tpuv5e",
            machine_type_prefix="ct6e-standard",
            chips_per_node_options=(1, 4, 8),
        ),
    }
)


@dataclass(frozen=True)
class SliceShape:
    """One TPU slice as GKE sees it: a node pool's shape, and what each pod on it requests."""

    generation: str
    topology: str  # e.g. "4x8"
    chips: int  # product of the topology dims (= JAX devices)
    nodes: int  # GKE nodes (VMs) in the slice
    chips_per_node: int  # what each pod requests as google.com/tpu
    machine_type: str  # e.g. "ct5lp-hightpu-4t"
    accelerator: str  # e.g. "tpu-v5-lite-podslice"
    multi_host: bool  # placement policy (COMPACT + tpuTopology) only when True
    hbm_gb: float  # chips * HBM per chip, decimal GB
    platform_chip: str  # e.g. "tpuv5e"


def _generation(name: str) -> Generation:
    try:
        return GENERATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown TPU generation {name!r}; known: {', '.join(GENERATIONS)}"
        ) from None


def _parse(topology: object) -> tuple[int, ...] | None:
    if not isinstance(topology, str) or not _TOPOLOGY_RE.fullmatch(topology):
        return None
    return tuple(int(d) for d in topology.split("x"))


def _fits_cube_rule(gen: Generation, dims: tuple[int, ...]) -> bool:
    """xpk's rule for slices of whole 4x4x4 cubes."""
    if any(d % 4 or d > _MAX_3D_DIM for d in dims):
        return False
    if gen.nondecreasing_dims and list(dims) != sorted(dims):
        return False
    return math.prod(d // 4 for d in dims) <= gen.cube_limit


def _is_valid(gen: Generation, topology: str, dims: tuple[int, ...]) -> bool:
    if len(dims) != gen.dims:
        return False
    if gen.dims == 2:
        return topology in _SINGLE_HOST_2D or topology in _MULTI_HOST_2D
    return topology in _SUB_CUBE_3D or _fits_cube_rule(gen, dims)


def _rule(gen: Generation) -> str:
    """The allowed topologies in words, for error messages."""
    if gen.dims == 2:
        return "one of " + ", ".join(_SINGLE_HOST_2D + _MULTI_HOST_2D)
    order = ", with A <= B <= C" if gen.nondecreasing_dims else ""
    return (
        f"one of {', '.join(_SUB_CUBE_3D)}, or AxBxC with every dim a multiple of 4 up to "
        f"{_MAX_3D_DIM} and (A/4)*(B/4)*(C/4) <= {gen.cube_limit}{order}"
    )


def topologies(generation: str) -> tuple[str, ...]:
    """Every valid topology of a generation, ascending by chips (3D listed up to 2048 chips).

    Ties in chip count keep a stable order (by dims), so planning picks the same shape every run.
    """
    gen = _generation(generation)
    if gen.dims == 2:
        return _SINGLE_HOST_2D + _MULTI_HOST_2D
    found = {tuple(int(d) for d in t.split("x")) for t in _SUB_CUBE_3D}
    sides = range(4, _MAX_3D_DIM + 1, 4)
    for a in sides:
        for b in sides:
            for c in sides:
                dims = (a, b, c)
                if a * b * c <= MAX_LISTED_CHIPS and _fits_cube_rule(gen, dims):
                    found.add(dims)
    ordered = sorted(found, key=lambda dims: (math.prod(dims), dims))
    return tuple("x".join(map(str, dims)) for dims in ordered)


def slice_shape(generation: str, topology: str) -> SliceShape:
    """Derive a slice's GKE shape from its generation and topology.

    Single-host shapes are one node carrying every chip; multi-host shapes are 4-chip nodes, and
    only those get a placement policy (single-host pools must not carry a TPU topology).
    """
    gen = _generation(generation)
    dims = _parse(topology)
    if dims is None or not _is_valid(gen, topology, dims):
        raise ValueError(f"TPU {gen.name} topology {topology!r} is not valid; use {_rule(gen)}")
    chips = math.prod(dims)
    multi_host = topology not in _SINGLE_HOST_2D + _SINGLE_HOST_3D
    chips_per_node = MULTI_HOST_CHIPS_PER_NODE if multi_host else chips
    return SliceShape(
        generation=gen.name,
        topology=topology,
        chips=chips,
        nodes=chips // chips_per_node,
        chips_per_node=chips_per_node,
        machine_type=gen.machine_type(chips_per_node),
        accelerator=gen.accelerator,
        multi_host=multi_host,
        hbm_gb=chips * gen.hbm_gb_per_chip,
        platform_chip=gen.platform_chip,
    )


def required_hbm_gb(model_size_b: float) -> float:
    """HBM a model of ``model_size_b`` billion 16-bit parameters needs, headroom included."""
    if (
        isinstance(model_size_b, bool)
        or not isinstance(model_size_b, int | float)
        or not math.isfinite(model_size_b)
        or model_size_b <= 0
    ):
        raise ValueError(f"model size must be a positive number of billions, got {model_size_b!r}")
    # Rounded so 175B shows as 420.0, not 420.00000000000006; a micro-GB never decides a fit.
    return round(model_size_b * HBM_GB_PER_BILLION_PARAMS * (1 + HEADROOM), 6)


def smallest_topology_for(generation: str, model_size_b: float) -> str:
    """The fewest-chips topology whose total HBM holds the model, so the slice costs least."""
    gen = _generation(generation)
    needed = required_hbm_gb(model_size_b)
    candidates = topologies(gen.name)
    for topology in candidates:
        if slice_shape(gen.name, topology).hbm_gb >= needed:
            return topology
    largest = slice_shape(gen.name, candidates[-1])
    raise ValueError(
        f"a {model_size_b:g}B model needs ~{needed:g} GB of HBM ({HEADROOM:.0%} headroom), more "
        f"than the largest TPU {gen.name} slice planned here ({largest.topology}, "
        f"{largest.hbm_gb:g} GB); use a larger generation or a quantized model"
    )


def hourly_cost(shape: SliceShape, slices: int) -> float:
    """On-demand list cost per hour of ``slices`` identical slices, in USD (an estimate).

    GKE bills TPU nodes while they exist, whether or not pods run on them. Rounded to cents.
    """
    if isinstance(slices, bool) or not isinstance(slices, int) or slices < 1:
        raise ValueError(f"slices must be a positive integer, got {slices!r}")
    price = _generation(shape.generation).price_per_chip_hour
    return round(slices * shape.chips * price, 2)


# GKE gives containers the TPU chips they request without privileged mode from 1.28 on; before,
# TPU containers had to run privileged ("Deploy TPU workloads in GKE Standard").
UNPRIVILEGED_TPU_SINCE = (1, 28)
_MINOR_VERSION_RE = re.compile(r"([0-9]+)\.([0-9]+)")


def needs_privileged(gke_version: str) -> bool:
    """Whether TPU containers must run privileged on `gke_version` (`cluster_version`: a
    version, or `latest`, which is far past 1.28)."""
    match = _MINOR_VERSION_RE.match(gke_version)
    return match is not None and (int(match[1]), int(match[2])) < UNPRIVILEGED_TPU_SINCE
