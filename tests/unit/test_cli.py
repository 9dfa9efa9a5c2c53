"""`python -m saxml_gke plan|render` as a user runs it."""

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT

WHERE = ["--param", "project_id=my-project", "--param", "zone=us-west4-a"]


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saxml_gke", *args],
        cwd=ROOT,
        env={"PYTHONPATH": "plugins", "PATH": ""},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_plan_prints_the_plan_as_json() -> None:
    result = run("plan", *WHERE)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["node_pools"] == ["tpu1", "tpu2"]
    assert plan["tpu"]["machine_type"] == "ct5lp-hightpu-4t"
    assert plan["tpu"]["nodes_per_slice"] == 8
    assert plan["tpu"]["total_chips"] == 64
    assert plan["estimated_cost_per_hour_usd"] == 76.8


def test_conf_from_stdin_and_params_that_override_it() -> None:
    conf = {"project_id": "my-project", "zone": "us-west4-a", "tpu_slices": 1}
    result = run(
        "plan",
        "--conf",
        "-",
        "--param",
        "tpu_topology=auto",
        "--param",
        "model_size_b=70",
        "--param",
        "model_path=my.Model",
        stdin=json.dumps(conf),
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["tpu"]["topology"] == "4x4"
    assert plan["node_pools"] == ["tpu1"]


def test_render_prints_a_yaml_stream() -> None:
    result = run("render", *WHERE)
    assert result.returncode == 0, result.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(result.stdout)]
    assert kinds == ["ServiceAccount", "Deployment", "JobSet", "Deployment", "Service", "Service"]


def test_invalid_input_exits_2_with_every_problem_on_stderr_and_nothing_on_stdout() -> None:
    result = run(
        "render",
        "--param",
        "project_id=X",
        "--param",
        "zone=us-west4-a",
        "--param",
        "teardown=sometimes",
        "--param",
        "tpu_slices=0",
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "3 invalid parameter(s)" in result.stderr
    for param in ("project_id='X'", "teardown='sometimes'", "tpu_slices=0"):
        assert param in result.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("--conf", "-"), "{not json", "--conf is not JSON"),
        (("--conf", "no-such-file.json"), "", "--conf no-such-file.json: No such file"),
        (("--param", "no-equals-sign"), "", "--param 'no-equals-sign': expected NAME=VALUE"),
    ],
)
def test_unreadable_input_exits_2_and_says_why(args: tuple[str, ...], stdin: str, message: str):
    result = run("plan", *WHERE, *args, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
