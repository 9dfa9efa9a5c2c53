"""The GKE multi-host Saxml tutorial, end to end on the emulator with the real clients.

Cluster and TPU pools through the GKE API, JobSet from its manifest URL, bucket and identities
through IAM and Cloud Storage, the product's rendered manifests through the kubernetes client;
then publish `/sax/test/spmd` (LmCloudSpmd175B32Test, two replicas on two v5e 4x8 slices),
watch both leader pods load it, `listcell`, `generate` through the service proxy and through
the LoadBalancer, and `unpublish`.
"""

from collections.abc import Iterator

import pytest

from tests.emulator.conftest import Ready
from tests.emulator.test_saxml_support import (
    MODEL_KEY,
    MODEL_PATH,
    Deployment,
    tutorial,
    wait_until,
)

LOADED = f"Successfully loaded model for key: {MODEL_KEY}"
QUERY = "How many days are in a week?"


@pytest.fixture
def deployment(fresh_world: Ready) -> Iterator[Deployment]:
    deployed = tutorial(fresh_world)
    yield deployed
    deployed.close()


def test_the_tutorial_serves_the_model_on_both_slices(deployment: Deployment) -> None:
    admin = deployment.pods("app=sax-admin-server")[0].metadata.name
    admin_log = deployment.wait_for_log(admin, "Starting the server on port 10000")
    assert "Loaded manager state" in admin_log
    leaders = deployment.leaders()
    assert len(leaders) == 2
    for leader in leaders:
        log = deployment.wait_for_log(leader.metadata.name, "Joined ")
        assert "JAX process: 0 / 8" in log
        assert "jax.device_count(): 32" in log
        assert f"Servable model {MODEL_PATH}" in log
        assert "Started joining SAX cell /sax/test" in log

    published = deployment.publish()
    assert published.status_code == 200, published.text
    assert published.json() == {
        "model": MODEL_KEY,
        "path": MODEL_PATH,
        "checkpoint": "None",
        "replicas": 2,
    }

    for leader in leaders:
        log = deployment.wait_for_log(leader.metadata.name, LOADED)
        lines = log.splitlines()
        loading = next(
            i for i, line in enumerate(lines) if f"Loading model for key: {MODEL_KEY}" in line
        )
        assert "Ignoring checkpoint_path None in test mode." in lines[loading + 1]
        completed = next(i for i, line in enumerate(lines) if line.endswith("loading completed."))
        assert loading < completed and lines[completed + 1].endswith(LOADED)
    follower = deployment.pods("app=sax-model-server,batch.kubernetes.io/job-completion-index=3")[
        0
    ].metadata.name
    assert f"Received load: {MODEL_KEY}" in deployment.logs(follower)

    listed = deployment.proxy("GET", "/listcell", {"model": MODEL_KEY})
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "model": MODEL_KEY,
        "model_path": MODEL_PATH,
        "checkpoint": "None",
        "max_replicas": 2,
        "active_replicas": 2,
    }

    through_proxy = deployment.proxy("POST", "/generate", {"model": MODEL_KEY, "query": QUERY})
    assert through_proxy.status_code == 200, through_proxy.text
    samples = through_proxy.json()["generate_response"]
    assert samples and all(isinstance(text, str) and score < 0 for text, score in samples)
    assert len(samples[0][0].split()) > 5
    through_lb = deployment.direct("POST", "/generate", {"model": MODEL_KEY, "query": QUERY})
    assert through_lb.status_code == 200
    assert through_lb.json() == through_proxy.json()  # deterministic for (model, query)

    unpublished = deployment.proxy("POST", "/unpublish", {"model": MODEL_KEY})
    assert unpublished.status_code == 200
    assert unpublished.json() == {"model": MODEL_KEY}
    for leader in leaders:
        deployment.wait_for_log(
            leader.metadata.name, f"Successfully unloaded model for key: {MODEL_KEY}"
        )
    gone = deployment.proxy("GET", "/listcell", {"model": MODEL_KEY})
    assert gone.status_code == 400
    assert "NOT_FOUND" in gone.json()["Error"]
    wait_until("the unpublished state saved", lambda: deployment.saved_models() == [])
