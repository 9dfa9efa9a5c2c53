"""Publishing models that cannot be served, and what a user sees of it on GKE.

One tutorial deployment serves every test of the module; each test leaves the cell without a
published model. Signals are those a user has: sax-http's answers (`listcell`, errors), the
model-server and admin pod logs, and the bucket's state.
"""

import re
from collections.abc import Iterator

import pytest

from tests.emulator.conftest import Control, Ready
from tests.emulator.test_saxml_support import (
    MODEL_KEY,
    MODEL_PATH,
    Deployment,
    fresh_tutorial,
    refresh_periods,
    wait_until,
)

ROOT = "saxml.server.pax.lm.params."
LOADING = f"Loading model for key: {MODEL_KEY}"
LOADED = f"Successfully loaded model for key: {MODEL_KEY}"
ERROR_LINE = re.compile(r"^[EF]\d{4} ", re.MULTILINE)  # glog's error and fatal lines


@pytest.fixture(scope="module")
def deployment(emulator: Ready, control: Control) -> Iterator[Deployment]:
    with fresh_tutorial(emulator, control) as deployed:
        yield deployed


@pytest.fixture(autouse=True)
def empty_cell(deployment: Deployment, control: Control) -> Iterator[None]:
    yield
    control.delete("/faults").raise_for_status()
    deployment.proxy("POST", "/unpublish", {"model": MODEL_KEY})


def listcell(deployment: Deployment) -> dict[str, object]:
    response = deployment.proxy("GET", "/listcell", {"model": MODEL_KEY})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_model_whose_mesh_does_not_fit_the_slice_stays_at_zero_replicas(
    deployment: Deployment,
) -> None:
    model = ROOT + "lm_cloud.LmCloudSpmd175BTest"  # a 16-device mesh on 32 devices
    leaders = deployment.leaders()
    marks = deployment.log_marks(leaders)
    for leader in leaders:
        assert (
            f"Skipping unsupported model {model}, Unsupported mesh shape: Number of devices 32 "
            "must equal the product of mesh_shape [1, 1, 16]"
        ) in deployment.logs(leader.metadata.name)

    published = deployment.publish(model)
    assert published.status_code == 200, published.text
    refresh_periods(5)
    assert listcell(deployment)["active_replicas"] == 0
    for leader in leaders:
        assert LOADING not in deployment.logs(leader.metadata.name)[marks[leader.metadata.name] :]
    admin = deployment.pods("app=sax-admin-server")[0].metadata.name
    assert not ERROR_LINE.search(deployment.logs(admin))  # and no error anywhere else

    # generate waits for a replica that never comes; the load balancer's filter (Envoy) gives
    # up after its route timeout (300 s), before sax-http's own cap
    waited = deployment.direct("POST", "/generate", {"model": MODEL_KEY, "query": "hello"})
    assert (waited.status_code, waited.text) == (504, "upstream request timeout")


def test_a_path_outside_the_registry_is_never_assigned(deployment: Deployment) -> None:
    malformed = deployment.publish("lm_cloud/LmCloudSpmd175B32Test")
    assert malformed.status_code == 400
    assert "must match" in malformed.json()["Error"]
    assert malformed.json()["Error"].startswith("INVALID_ARGUMENT: model path")

    leaders = deployment.leaders()
    marks = deployment.log_marks(leaders)
    unknown = deployment.publish(ROOT + "lm_cloud.LmCloudSpmd175B32")
    assert unknown.status_code == 200
    refresh_periods(3)
    assert listcell(deployment)["active_replicas"] == 0
    for leader in leaders:
        assert LOADING not in deployment.logs(leader.metadata.name)[marks[leader.metadata.name] :]


@pytest.mark.parametrize(
    ("checkpoint", "error"),
    [
        ("None", "Invalid checkpoint path None. Must be a directory."),
        (
            "gs://weights/llama70b",
            "Invalid checkpoint path gs://weights/llama70b. Expected a step directory, e.g., "
            "/some/path/checkpoint_00100000",
        ),
    ],
)
def test_a_checkpoint_a_real_model_cannot_use_is_an_invalid_load_request(
    deployment: Deployment, checkpoint: str, error: str
) -> None:
    model = ROOT + "lm_cloud.LLaMA70BFP16TPUv5e32"  # 32 devices, not a test-mode class
    leaders = deployment.leaders()
    marks = deployment.log_marks(leaders)
    assert deployment.publish(model, checkpoint).status_code == 200
    line = f"Invalid load request. model_key: {MODEL_KEY}, model_path: {model}, error: {error}"
    for leader in leaders:
        deployment.wait_for_log(leader.metadata.name, line, marks[leader.metadata.name])
    admin = deployment.pods("app=sax-admin-server")[0].metadata.name
    deployment.wait_for_log(admin, f"Failed to load model {MODEL_KEY} onto model server")
    # both servers stay assigned, failed: active_replicas is not proof of a load
    assert listcell(deployment)["active_replicas"] == 2


def test_a_load_failure_keeps_the_servers_failed_until_the_model_is_unpublished(
    deployment: Deployment, control: Control
) -> None:
    scenario = {"scenario": "model-load-failure", "params": {"model": MODEL_KEY}}
    control.post("/faults", json=scenario).raise_for_status()
    leaders = deployment.leaders()
    follower = deployment.pods("app=sax-model-server,batch.kubernetes.io/job-completion-index=1")[
        0
    ].metadata.name
    marks = deployment.log_marks([*leaders, *deployment.pods("app=sax-model-server")])
    assert deployment.publish().status_code == 200
    for leader in leaders:
        text = deployment.wait_for_log(
            leader.metadata.name, "Internal error during loading.", marks[leader.metadata.name]
        )
        assert (
            f"Internal error during loading. model_key: {MODEL_KEY}, model_path: {MODEL_PATH}, "
            "error: RESOURCE_EXHAUSTED"
        ) in text
    assert (
        f"Error occurred during loading: {MODEL_KEY}, error: RESOURCE_EXHAUSTED"
        in (deployment.logs(follower)[marks[follower] :])
    )
    assert listcell(deployment)["active_replicas"] == 2

    control.delete("/faults").raise_for_status()
    refresh_periods(3)  # the admin does not retry a failed load
    for leader in leaders:
        assert LOADED not in deployment.logs(leader.metadata.name)[marks[leader.metadata.name] :]

    assert deployment.proxy("POST", "/unpublish", {"model": MODEL_KEY}).status_code == 200
    marks = deployment.log_marks(leaders)
    assert deployment.publish().status_code == 200
    for leader in leaders:
        deployment.wait_for_log(leader.metadata.name, LOADED, marks[leader.metadata.name])


def test_a_restarted_admin_restores_the_published_models(deployment: Deployment) -> None:
    assert deployment.publish().status_code == 200
    for leader in deployment.leaders():
        deployment.wait_for_log(leader.metadata.name, LOADED)
    old = deployment.pods("app=sax-admin-server")[0].metadata.name
    deployment.core.delete_namespaced_pod(old, "default")
    new = wait_until(
        "a new admin",
        lambda: [
            pod.metadata.name
            for pod in deployment.running("app=sax-admin-server", 1)
            if pod.metadata.name != old
        ],
    )[0]
    deployment.wait_for_log(new, "Starting the server on port 10000")

    assert wait_until(
        "the model servers to rejoin", lambda: listcell(deployment)["active_replicas"] == 2
    )
    again = deployment.publish()
    assert again.status_code == 400
    assert f"model {MODEL_KEY} already exists" in again.json()["Error"]
    assert deployment.saved_models() == [MODEL_KEY]


def test_the_stdlib_server_answers_in_its_own_shape(deployment: Deployment) -> None:
    with_extra = deployment.proxy(
        "POST", "/generate", {"model": MODEL_KEY, "query": "hi", "extra_inputs": {}}
    )
    assert with_extra.status_code == 400
    assert with_extra.json() == {"Error": "Provide model and query for generate"}
    assert deployment.proxy("GET", "/listall", {"sax_cell": "/sax/test"}).json() == {
        "message": "Invalid Request"
    }
    missing = deployment.proxy("GET", "/listcell", {"model": MODEL_KEY})
    assert missing.status_code == 400
    assert missing.json()["Error"].startswith(f"NOT_FOUND: model {MODEL_KEY} not found")
    assert deployment.publish().status_code == 200
    moved = deployment.proxy(
        "PUT",
        "/update",
        {
            "model": MODEL_KEY,
            "model_path": ROOT + "lm_cloud.LmCloudSpmd2B32Test",
            "checkpoint": "None",
            "replicas": 2,
        },
    )
    assert moved.status_code == 400
    assert "invalid model update: model path can't be changed" in moved.json()["Error"]
    shrunk = deployment.proxy(
        "PUT",
        "/update",
        {"model": MODEL_KEY, "model_path": MODEL_PATH, "checkpoint": "None", "replicas": 1},
    )
    assert shrunk.json() == {
        "model": MODEL_KEY,
        "path": MODEL_PATH,
        "checkpoint": "None",
        "replicas": 1,
    }
    assert wait_until("one replica", lambda: listcell(deployment)["max_replicas"] == 1)
