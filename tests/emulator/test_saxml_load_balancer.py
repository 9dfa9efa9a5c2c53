"""sax-http's load balancer: it admits only its source ranges, and passes only inference.

The deployment's internal load balancer admits 127.0.0.2/32; the clients of these tests bind
other loopback addresses to stand for other hosts, as a firewall tells them apart by their
source address. The model is managed through the API server's service proxy, as the DAG does.
"""

from collections.abc import Iterator

import pytest
import requests

from tests.emulator.conftest import Control, Ready
from tests.emulator.test_saxml_support import MODEL_KEY, Deployment, fresh_tutorial

INSIDE, OUTSIDE = "127.0.0.2", "127.0.0.3"
LOADED = f"Successfully loaded model for key: {MODEL_KEY}"
ADMIN_CALLS = [
    ("POST", "/publish", {"model": "/sax/test/other", "model_path": "x", "checkpoint": "None",
                          "replicas": 1}),
    ("PUT", "/update", {"model": MODEL_KEY, "model_path": "x", "checkpoint": "None",
                        "replicas": 1}),
    ("POST", "/unpublish", {"model": MODEL_KEY}),
    ("POST", "//unpublish", {"model": MODEL_KEY}),
    ("POST", "/%75npublish", {"model": MODEL_KEY}),
    ("POST", "/generate/../unpublish", {"model": MODEL_KEY}),
    ("GET", "/listcell", {"model": MODEL_KEY}),
]  # fmt: skip


@pytest.fixture(scope="module")
def deployment(emulator: Ready, control: Control) -> Iterator[Deployment]:
    with fresh_tutorial(emulator, control, http_source_ranges=[f"{INSIDE}/32"]) as deployed:
        assert deployed.publish().status_code == 200
        for leader in deployed.leaders():
            deployed.wait_for_log(leader.metadata.name, LOADED)
        yield deployed


def test_a_client_inside_the_source_ranges_reaches_generate(deployment: Deployment) -> None:
    body = {"model": MODEL_KEY, "query": "How many days are in a week?"}
    answer = deployment.direct("POST", "/generate", body, source=INSIDE)
    assert answer.status_code == 200, answer.text
    assert answer.json()


@pytest.mark.parametrize("source", [OUTSIDE, "127.0.0.1"])
def test_a_client_outside_the_source_ranges_is_refused(deployment: Deployment, source: str) -> None:
    body = {"model": MODEL_KEY, "query": "hello"}
    with pytest.raises(requests.ConnectionError):
        deployment.direct("POST", "/generate", body, source=source)
    with pytest.raises(requests.ConnectionError):
        deployment.direct("POST", "/unpublish", {"model": MODEL_KEY}, source=source)


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_no_admin_call_passes_the_load_balancer(
    deployment: Deployment, method: str, path: str, body: dict[str, object]
) -> None:
    refused = deployment.direct(method, path, body, source=INSIDE)
    assert (refused.status_code, refused.text, refused.headers["server"]) == (404, "", "envoy")
    listed = deployment.proxy("GET", "/listcell", {"model": MODEL_KEY})
    assert listed.status_code == 200 and listed.json()["max_replicas"] == 2


def test_the_model_is_still_managed_through_the_api_server(deployment: Deployment) -> None:
    assert deployment.proxy("POST", "/unpublish", {"model": MODEL_KEY}).status_code == 200
    assert deployment.publish().status_code == 200
