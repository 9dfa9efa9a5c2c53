"""Model-load log scanning and the two sax-http response shapes."""

import pytest

from saxml_gke.sax_http import (
    error_message,
    parse_generate,
    parse_listcell,
    publish_body,
)
from saxml_gke.saxml_logs import LoadState, scan

KEY = "/sax/test/spmd"
PATH = "saxml.server.pax.lm.params.lm_cloud.LmCloudSpmd175B32Test"
MESH = f"E1124 Skipping unsupported model {PATH}, Unsupported mesh shape: (1, 1, 32)"
INVALID = f"Invalid load request. model_key: {KEY}, model_path: x, error: Could not find"
INTERNAL = f"Internal error during loading. model_key: {KEY}, model_path: {PATH}, error: OOM"
LOADED = f"Successfully loaded model for key: {KEY}"


@pytest.mark.parametrize(
    ("lines", "state"),
    [
        ([], LoadState(False, None)),
        (["Joined 10.0.0.5:10000", f"Loading model for key: {KEY}"], LoadState(False, None)),
        (["loading completed.", LOADED], LoadState(True, None)),
        ([f"{LOADED}2"], LoadState(False, None)),
        ([MESH], LoadState(False, MESH)),
        ([INVALID], LoadState(False, INVALID)),
        ([LOADED, INTERNAL], LoadState(False, INTERNAL)),
    ],
)  # fmt: skip
def test_scan(lines: list[str], state: LoadState) -> None:
    assert scan(lines, KEY, PATH) == state


def test_publish_body_has_exactly_the_four_keys_v1_0_0_accepts() -> None:
    assert sorted(publish_body(KEY, PATH, "None", 2)) == [
        "checkpoint",
        "model",
        "model_path",
        "replicas",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"generate_response": [["Seven days.", -0.5], ["7", -1.0]]},
        [["Seven days.", -0.5], ["7", -1.0]],
    ],
)
def test_generate_responses_of_both_server_versions(body: object) -> None:
    assert parse_generate(body) == [("Seven days.", -0.5), ("7", -1.0)]


def test_listcell_of_both_versions() -> None:
    old = parse_listcell({"model": KEY, "path": PATH, "checkpoint": "None", "max_replicas": 2,
                          "active_replicas": 1})  # fmt: skip
    new = parse_listcell({"model": KEY, "model_path": PATH, "checkpoint": "None",
                          "max_replicas": 2, "active_replicas": 1})  # fmt: skip
    assert old == new
    assert old.model_path == PATH


def test_error_messages_of_both_versions() -> None:
    assert error_message({"Error": "model already exists"}) == "model already exists"
    assert error_message({"detail": "NotFound"}) == "NotFound"
