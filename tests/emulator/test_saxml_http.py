"""sax-http v1.2.0 and later: the FastAPI server's shapes, through the service proxy and the
LoadBalancer (the stdlib v1.0.0 shapes are exercised by the tutorial and model tests)."""

from collections.abc import Iterator

import pytest

from tests.emulator.conftest import Control, Ready
from tests.emulator.test_saxml_support import MODEL_KEY, MODEL_PATH, Deployment, fresh_tutorial

IMAGE = "us-docker.pkg.dev/cloud-tpu-images/inference/sax-http:v1.2.0"
LOADED = f"Successfully loaded model for key: {MODEL_KEY}"


@pytest.fixture(scope="module")
def deployment(emulator: Ready, control: Control) -> Iterator[Deployment]:
    with fresh_tutorial(emulator, control, saxml_http_image=IMAGE) as deployed:
        yield deployed


def test_publish_listall_and_listcell(deployment: Deployment) -> None:
    body = {"model": MODEL_KEY, "model_path": MODEL_PATH, "checkpoint": "None", "replicas": "2"}
    published = deployment.proxy("POST", "/publish", body)
    assert published.status_code == 200
    assert published.headers["Content-Type"] == "application/json"
    assert published.json() == {**body, "replicas": 2}  # pydantic converts "2"

    again = deployment.proxy("POST", "/publish", body)
    assert again.status_code == 500
    assert again.json()["detail"].startswith(f"ALREADY_EXISTS: model {MODEL_KEY} already exists")

    listed = deployment.proxy("GET", "/listall", {"sax_cell": "/sax/test"})
    assert listed.json() == [MODEL_KEY]
    cell = deployment.proxy("GET", "/listcell", {"model": MODEL_KEY}).json()
    assert cell["model_path"] == MODEL_PATH
    assert cell["max_replicas"] == 2
    unknown = deployment.proxy("GET", "/listcell", {"model": "/sax/test/other"})
    assert unknown.status_code == 500
    assert unknown.json()["detail"].startswith("NOT_FOUND: model /sax/test/other not found")


def test_bad_requests_get_fastapi_answers(deployment: Deployment) -> None:
    missing = deployment.proxy("POST", "/publish", {"model": MODEL_KEY})
    assert missing.status_code == 422
    assert [(error["type"], error["loc"]) for error in missing.json()["detail"]] == [
        ("missing", ["body", "model_path"]),
        ("missing", ["body", "checkpoint"]),
        ("missing", ["body", "replicas"]),
    ]
    broken = deployment.proxy(
        "POST", "/generate", data=b'{"model": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["type"] == "json_invalid"
    no_body = deployment.proxy("GET", "/listcell")
    assert no_body.json() == {
        "detail": [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
    }
    assert deployment.proxy("GET", "/nowhere").json() == {"detail": "Not Found"}
    wrong_method = deployment.proxy("GET", "/publish")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"


def test_generate_returns_a_bare_list_that_depends_on_the_extra_inputs(
    deployment: Deployment,
) -> None:
    deployment.publish()
    for leader in deployment.leaders():
        deployment.wait_for_log(leader.metadata.name, LOADED)

    def generate(**extra: float) -> list[list[object]]:
        body: dict[str, object] = {"model": MODEL_KEY, "query": "How many days are in a week?"}
        if extra:
            body["extra_inputs"] = extra
        response = deployment.direct("POST", "/generate", body)
        assert response.status_code == 200, response.text
        return list(response.json())

    default = generate()
    assert isinstance(default, list) and isinstance(default[0][0], str)
    assert generate(temperature=0.5) == default  # the defaults sax-http fills in
    cooler = generate(temperature=0.1)
    assert cooler == generate(temperature=0.1)
    assert cooler != default
    shorter = generate(per_example_max_decode_steps=8)
    assert len(shorter[0][0].split()) <= 8
