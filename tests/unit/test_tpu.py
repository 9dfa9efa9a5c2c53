"""Table tests for the TPU catalog and slice planner."""

import dataclasses
import math
import re

import pytest

from saxml_gke import tpu

GIB = 2**30 / 10**9


# --- generation facts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gen", "accelerator", "dims", "machine_types", "hbm_per_chip", "price", "platform_chip"),
    [
        ("v4", "tpu-v4-podslice", 3, ("ct4p-hightpu-4t",), 32 * GIB, 3.22, "tpuv4"),
        (
            "v5e",
            "tpu-v5-lite-podslice",
            2,
            ("ct5lp-hightpu-1t", "ct5lp-hightpu-4t", "ct5lp-hightpu-8t"),
            16.0,
            1.20,
            "tpuv5e",
        ),
        ("v5p", "tpu-v5p-slice", 3, ("ct5p-hightpu-4t",), 95 * GIB, 4.20, "tpuv4"),
        (
            "v6e",
            "tpu-v6e-slice",
            2,
            ("ct6e-standard-1t", "ct6e-standard-4t", "ct6e-standard-8t"),
            32.0,
            2.70,
            "tpuv5e",
        ),
    ],
)
def test_generation_facts(
    gen, accelerator, dims, machine_types, hbm_per_chip, price, platform_chip
):
    g = tpu.GENERATIONS[gen]
    assert g.name == gen
    assert g.accelerator == accelerator
    assert g.dims == dims
    assert g.machine_types == machine_types
    assert g.hbm_gb_per_chip == pytest.approx(hbm_per_chip)
    assert g.price_per_chip_hour == price
    assert g.platform_chip == platform_chip


def test_generations_are_exactly_the_four_supported():
    assert set(tpu.GENERATIONS) == {"v4", "v5e", "v5p", "v6e"}


def test_constants():
    assert tpu.PRICES_AS_OF == "2026-08-24"
    assert tpu.HBM_GB_PER_BILLION_PARAMS == 2.0
    assert tpu.HEADROOM == 0.2


def test_generations_mapping_is_read_only():
    with pytest.raises(TypeError):
        tpu.GENERATIONS["tpu7x"] = tpu.GENERATIONS["v4"]  # type: ignore[index]


@pytest.mark.parametrize(("gen", "chips_per_node"), [("v4", 1), ("v4", 8), ("v5p", 2), ("v5e", 2)])
def test_machine_type_rejects_sizes_gke_does_not_offer(gen, chips_per_node):
    with pytest.raises(ValueError, match=f"TPU {gen} has no machine type"):
        tpu.GENERATIONS[gen].machine_type(chips_per_node)


@pytest.mark.parametrize("gen", ["tpu7x", "v5litepod", "V5E", "", "v5"])
def test_unknown_generation(gen):
    with pytest.raises(ValueError, match=r"unknown TPU generation .*known: v4, v5e, v5p, v6e"):
        tpu.slice_shape(gen, "2x2")
    with pytest.raises(ValueError, match="unknown TPU generation"):
        tpu.topologies(gen)
    with pytest.raises(ValueError, match="unknown TPU generation"):
        tpu.smallest_topology_for(gen, 7)


# --- topologies -------------------------------------------------------------------------------

TOPOLOGIES_2D = ("1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16")


@pytest.mark.parametrize("gen", ["v5e", "v6e"])
def test_topologies_2d(gen):
    assert tpu.topologies(gen) == TOPOLOGIES_2D


@pytest.mark.parametrize("gen", ["v4", "v5p"])
def test_topologies_3d_start_with_sub_cube_shapes_and_ascend_by_chips(gen):
    listed = tpu.topologies(gen)
    assert listed[:5] == ("2x2x1", "2x2x2", "2x2x4", "2x4x4", "4x4x4")
    chips = [math.prod(int(d) for d in t.split("x")) for t in listed]
    assert chips == sorted(chips)
    assert max(chips) == tpu.MAX_LISTED_CHIPS
    assert len(set(listed)) == len(listed)


@pytest.mark.parametrize(
    ("gen", "topology", "listed"),
    [
        ("v5p", "4x4x8", True),
        ("v5p", "8x16x16", True),
        ("v5p", "4x8x4", False),  # v5p needs A <= B <= C
        ("v5p", "16x16x24", False),  # valid, but above the listing cap
        ("v4", "4x8x4", True),  # v4 takes any order
        ("v4", "8x4x4", True),
        ("v4", "8x16x16", True),
        ("v4", "16x16x16", False),  # valid (64 cubes), above the listing cap
    ],
)
def test_topologies_3d_membership(gen, topology, listed):
    assert (topology in tpu.topologies(gen)) is listed


def test_topologies_v4_lists_permutations_in_a_stable_order():
    listed = tpu.topologies("v4")
    assert listed[5:8] == ("4x4x8", "4x8x4", "8x4x4")


@pytest.mark.parametrize("gen", ["v4", "v5e", "v5p", "v6e"])
def test_every_listed_topology_has_a_consistent_shape(gen):
    for topology in tpu.topologies(gen):
        shape = tpu.slice_shape(gen, topology)
        assert shape.chips == shape.nodes * shape.chips_per_node
        assert shape.multi_host is (shape.nodes > 1)
        if shape.multi_host:
            assert shape.chips_per_node == 4
        assert shape.machine_type in tpu.GENERATIONS[gen].machine_types


# --- slice shapes (the node-count tables of the facts file) -----------------------------------


@pytest.mark.parametrize(
    ("gen", "topology", "chips", "nodes", "chips_per_node", "machine_type", "multi_host"),
    [
        ("v5e", "1x1", 1, 1, 1, "ct5lp-hightpu-1t", False),
        ("v5e", "2x2", 4, 1, 4, "ct5lp-hightpu-4t", False),
        ("v5e", "2x4", 8, 1, 8, "ct5lp-hightpu-8t", False),
        ("v5e", "4x4", 16, 4, 4, "ct5lp-hightpu-4t", True),
        ("v5e", "4x8", 32, 8, 4, "ct5lp-hightpu-4t", True),
        ("v5e", "8x8", 64, 16, 4, "ct5lp-hightpu-4t", True),
        ("v5e", "8x16", 128, 32, 4, "ct5lp-hightpu-4t", True),
        ("v5e", "16x16", 256, 64, 4, "ct5lp-hightpu-4t", True),
        ("v6e", "1x1", 1, 1, 1, "ct6e-standard-1t", False),
        ("v6e", "2x2", 4, 1, 4, "ct6e-standard-4t", False),
        ("v6e", "2x4", 8, 1, 8, "ct6e-standard-8t", False),
        ("v6e", "4x4", 16, 4, 4, "ct6e-standard-4t", True),
        ("v6e", "4x8", 32, 8, 4, "ct6e-standard-4t", True),
        ("v6e", "8x8", 64, 16, 4, "ct6e-standard-4t", True),
        ("v6e", "8x16", 128, 32, 4, "ct6e-standard-4t", True),
        ("v6e", "16x16", 256, 64, 4, "ct6e-standard-4t", True),
        ("v5p", "2x2x1", 4, 1, 4, "ct5p-hightpu-4t", False),
        ("v5p", "2x2x2", 8, 2, 4, "ct5p-hightpu-4t", True),
        ("v5p", "2x2x4", 16, 4, 4, "ct5p-hightpu-4t", True),
        ("v5p", "2x4x4", 32, 8, 4, "ct5p-hightpu-4t", True),
        ("v5p", "4x4x4", 64, 16, 4, "ct5p-hightpu-4t", True),
        ("v5p", "4x4x8", 128, 32, 4, "ct5p-hightpu-4t", True),
        ("v5p", "4x8x8", 256, 64, 4, "ct5p-hightpu-4t", True),
        ("v5p", "8x8x8", 512, 128, 4, "ct5p-hightpu-4t", True),
        ("v5p", "8x16x16", 2048, 512, 4, "ct5p-hightpu-4t", True),
        ("v5p", "16x16x24", 6144, 1536, 4, "ct5p-hightpu-4t", True),  # largest v5p slice
        ("v4", "2x2x1", 4, 1, 4, "ct4p-hightpu-4t", False),
        ("v4", "2x2x2", 8, 2, 4, "ct4p-hightpu-4t", True),
        ("v4", "2x2x4", 16, 4, 4, "ct4p-hightpu-4t", True),
        ("v4", "2x4x4", 32, 8, 4, "ct4p-hightpu-4t", True),
        ("v4", "4x4x4", 64, 16, 4, "ct4p-hightpu-4t", True),
        ("v4", "8x4x4", 128, 32, 4, "ct4p-hightpu-4t", True),
        ("v4", "16x16x16", 4096, 1024, 4, "ct4p-hightpu-4t", True),  # the whole v4 pod
    ],
)
def test_slice_shape(gen, topology, chips, nodes, chips_per_node, machine_type, multi_host):
    shape = tpu.slice_shape(gen, topology)
    g = tpu.GENERATIONS[gen]
    assert shape == tpu.SliceShape(
        generation=gen,
        topology=topology,
        chips=chips,
        nodes=nodes,
        chips_per_node=chips_per_node,
        machine_type=machine_type,
        accelerator=g.accelerator,
        multi_host=multi_host,
        hbm_gb=chips * g.hbm_gb_per_chip,
        platform_chip=g.platform_chip,
    )


def test_tutorial_slice():
    shape = tpu.slice_shape("v5e", "4x8")
    assert (shape.nodes, shape.chips, shape.chips_per_node) == (8, 32, 4)
    assert shape.machine_type == "ct5lp-hightpu-4t"
    assert shape.accelerator == "tpu-v5-lite-podslice"
    assert shape.multi_host is True
    assert shape.platform_chip == "tpuv5e"
    assert shape.hbm_gb == 512.0


def test_slice_shape_is_frozen():
    shape = tpu.slice_shape("v5e", "4x8")
    with pytest.raises(dataclasses.FrozenInstanceError):
        shape.nodes = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("gen", "topology", "hbm_gb"),
    [
        ("v5e", "2x4", 128.0),
        ("v5e", "4x8", 512.0),
        ("v6e", "2x4", 256.0),
        ("v5p", "2x2x1", 4 * 95 * GIB),  # 380 GiB = 408.02 GB
        ("v4", "2x2x1", 4 * 32 * GIB),  # 128 GiB = 137.44 GB
    ],
)
def test_slice_hbm(gen, topology, hbm_gb):
    assert tpu.slice_shape(gen, topology).hbm_gb == pytest.approx(hbm_gb)


@pytest.mark.parametrize(
    ("gen", "topology"),
    [
        # v5p: dims must not decrease
        ("v5p", "4x8x4"),
        ("v5p", "8x4x4"),
        ("v5p", "24x16x16"),
        # cube limits: v5p 140, v4 64
        ("v5p", "16x24x24"),  # 144 cubes
        ("v5p", "4x4x260"),  # 65 cubes, but a dim above 256
        ("v4", "16x16x24"),  # 96 cubes
        ("v4", "16x16x20"),  # 80 cubes
        ("v4", "8x8x68"),  # 68 cubes
        # dims not multiples of 4, or sub-cube shapes not in the list
        ("v4", "4x4x6"),
        ("v4", "2x2x3"),
        ("v4", "1x2x2"),
        ("v4", "2x1x2"),
        ("v5p", "2x4x2"),
        ("v5p", "1x1x1"),
        # 2D topology for a 3D generation
        ("v4", "4x4"),
        ("v5p", "2x2"),
        # 3D topology for a 2D generation
        ("v5e", "2x2x1"),
        ("v6e", "4x4x4"),
        # 2D shapes GKE does not offer
        ("v5e", "4x2"),
        ("v5e", "2x8"),
        ("v6e", "32x32"),
        ("v6e", "1x2"),
        # garbage
        ("v5e", "4x"),
        ("v5e", "x4"),
        ("v5e", "0x4"),
        ("v5e", "4x0"),
        ("v5e", "04x8"),
        ("v5e", "4x8x"),
        ("v5e", " 4x8"),
        ("v5e", "4x8 "),
        ("v5e", "4x8\n"),
        ("v5e", "4X8"),
        ("v5e", "4*8"),
        ("v5e", "-4x8"),
        ("v5e", "4.0x8"),
        ("v5e", "\uff14x8"),  # full-width digit
        ("v5e", ""),
        ("v5e", "32"),
        ("v4", "2x2x1x1"),
        ("v4", "4x4x4 "),
    ],
)
def test_invalid_topology(gen, topology):
    expected = re.escape(f"TPU {gen} topology {topology!r} is not valid; use one of ")
    with pytest.raises(ValueError, match=expected):
        tpu.slice_shape(gen, topology)


@pytest.mark.parametrize("topology", [None, 48, ("4", "8")])
def test_non_string_topology(topology):
    with pytest.raises(ValueError, match="is not valid"):
        tpu.slice_shape("v5e", topology)  # type: ignore[arg-type]


def test_invalid_2d_topology_message_lists_the_allowed_ones():
    with pytest.raises(ValueError) as err:
        tpu.slice_shape("v5e", "4x2")
    assert "one of 1x1, 2x2, 2x4, 4x4, 4x8, 8x8, 8x16, 16x16" in str(err.value)


@pytest.mark.parametrize(
    ("gen", "fragments", "absent"),
    [
        ("v5p", ["2x2x1, 2x2x2, 2x2x4, 2x4x4", "multiple of 4", "<= 140", "A <= B <= C"], None),
        ("v4", ["2x2x1, 2x2x2, 2x2x4, 2x4x4", "multiple of 4", "<= 64"], "A <= B <= C"),
    ],
)
def test_invalid_3d_topology_message_states_the_rule(gen, fragments, absent):
    with pytest.raises(ValueError) as err:
        tpu.slice_shape(gen, "3x3x3")
    for fragment in fragments:
        assert fragment in str(err.value)
    if absent:
        assert absent not in str(err.value)


# --- HBM sizing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_size_b", "required"),
    [(175, 420.0), (70, 168.0), (2.6, 6.24), (7, 16.8), (1000, 2400.0)],
)
def test_required_hbm_gb(model_size_b, required):
    assert tpu.required_hbm_gb(model_size_b) == pytest.approx(required)


def test_required_hbm_for_the_tutorial_is_weights_plus_headroom():
    weights = 175 * tpu.HBM_GB_PER_BILLION_PARAMS
    assert weights == 350.0
    assert tpu.required_hbm_gb(175) == 420.0


@pytest.mark.parametrize("model_size_b", [0, -1, -0.5, math.nan, math.inf, True, "175", None])
def test_required_hbm_rejects_non_positive_or_non_numbers(model_size_b):
    with pytest.raises(ValueError, match="model size must be a positive number"):
        tpu.required_hbm_gb(model_size_b)


@pytest.mark.parametrize(
    ("gen", "model_size_b", "topology"),
    [
        ("v5e", 175, "4x8"),  # the tutorial: 420 GB > 256 (4x4), <= 512
        ("v5e", 70, "4x4"),  # 168 GB > 128 (2x4), <= 256
        ("v5e", 2, "1x1"),
        ("v5e", 6.6, "1x1"),  # 15.84 GB <= 16
        ("v5e", 6.7, "2x2"),  # 16.08 GB > 16
        ("v5e", 40, "2x4"),  # 96 GB
        ("v5e", 1700, "16x16"),  # 4080 GB <= 4096
        ("v6e", 70, "2x4"),  # 168 GB <= 256
        ("v6e", 175, "4x4"),  # 420 GB <= 512
        ("v5p", 175, "2x2x2"),  # 420 GB > 408.02 (2x2x1)
        ("v5p", 170, "2x2x1"),  # 408 GB <= 408.02
        ("v4", 175, "2x2x4"),  # 420 GB > 274.9 (2x2x2), <= 549.8
        ("v4", 1000, "4x4x8"),  # 2400 GB > 2199.0 (4x4x4), <= 4398.0
    ],
)
def test_smallest_topology_for(gen, model_size_b, topology):
    assert tpu.smallest_topology_for(gen, model_size_b) == topology


@pytest.mark.parametrize(
    ("gen", "model_size_b", "largest"),
    [("v5e", 1710, "16x16"), ("v5e", 2000, "16x16"), ("v6e", 4000, "16x16")],
)
def test_smallest_topology_for_a_model_too_big(gen, model_size_b, largest):
    with pytest.raises(ValueError) as err:
        tpu.smallest_topology_for(gen, model_size_b)
    message = str(err.value)
    assert f"TPU {gen}" in message
    assert largest in message


def test_smallest_topology_for_rejects_a_bad_size():
    with pytest.raises(ValueError, match="model size must be a positive number"):
        tpu.smallest_topology_for("v5e", 0)


# --- cost -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gen", "topology", "slices", "cost"),
    [
        ("v5e", "4x8", 2, 76.80),  # the tutorial: 2 x 32 chips x $1.20
        ("v5e", "4x8", 1, 38.40),
        ("v6e", "2x4", 1, 21.60),
        ("v4", "2x2x1", 1, 12.88),
        ("v5p", "2x2x2", 3, 100.80),
        ("v5e", "1x1", 1, 1.20),
    ],
)
def test_hourly_cost(gen, topology, slices, cost):
    assert tpu.hourly_cost(tpu.slice_shape(gen, topology), slices) == cost


@pytest.mark.parametrize("slices", [0, -1, 1.5, True, "2"])
def test_hourly_cost_rejects_a_bad_slice_count(slices):
    with pytest.raises(ValueError, match="slices must be a positive integer"):
        tpu.hourly_cost(tpu.slice_shape("v5e", "4x8"), slices)
