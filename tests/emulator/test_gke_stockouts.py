"""A TPU stockout that clears: after a number of failed creations, or after a modelled time."""

import time

import pytest

from tests.emulator.conftest import TIME_SCALE
from tests.emulator.test_gke_support import (
    ZONE,
    apply_scenario,
    connect,
    tpu_pool,
    tutorial_cluster,
)

RESOURCE_EXHAUSTED = 8


@pytest.fixture
def gke(fresh_world):
    gke = connect(fresh_world)
    gke.running_cluster(tutorial_cluster(gke.project))
    return gke


def attempt(gke, name: str) -> int:
    """Create a v5e 4x8 pool and wait; the operation's error code (0: created). A failed pool is
    deleted, as a retrying pipeline does before its next try."""
    code = gke.wait(gke.create_pool("saxml", tpu_pool(name))).error.code
    if code:
        gke.wait(gke.client.delete_node_pool(name=gke.pool_path("saxml", name)))
    return code


def test_a_stockout_that_clears_after_two_tries(gke, control):
    result = apply_scenario(
        control, "tpu-stockout", zone=ZONE, machine_type="ct5lp-hightpu-4t", times=2
    )
    assert result["stockouts"][0]["times"] == 2
    assert [attempt(gke, "tpu1"), attempt(gke, "tpu1"), attempt(gke, "tpu1")] == [
        RESOURCE_EXHAUSTED,
        RESOURCE_EXHAUSTED,
        0,
    ]


def test_a_stockout_that_clears_after_a_modelled_time(gke, control):
    seconds = 2000  # 4 s of wall time: the first try fails well before it lifts
    apply_scenario(control, "tpu-stockout", zone=ZONE, seconds=seconds)
    assert attempt(gke, "tpu1") == RESOURCE_EXHAUSTED
    time.sleep(seconds * TIME_SCALE)
    assert attempt(gke, "tpu1") == 0
