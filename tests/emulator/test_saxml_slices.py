"""A TPU slice that loses a pod loses its model until its JobSet restarts it and reloads it."""

from collections.abc import Iterator

import pytest

from tests.emulator.conftest import Ready
from tests.emulator.test_saxml_support import (
    LEADERS,
    MODEL_KEY,
    Deployment,
    tutorial,
    wait_until,
)

LOADED = f"Successfully loaded model for key: {MODEL_KEY}"
RESTART_ATTEMPT = "jobset.sigs.k8s.io/restart-attempt"


@pytest.fixture
def deployment(fresh_world: Ready) -> Iterator[Deployment]:
    deployed = tutorial(fresh_world)
    yield deployed
    deployed.close()


def test_a_killed_slice_pod_drops_the_model_until_the_jobset_restarts_and_reloads_it(
    deployment: Deployment,
) -> None:
    assert deployment.publish().status_code == 200
    before = deployment.leaders()
    for leader in before:
        deployment.wait_for_log(leader.metadata.name, LOADED)
    assert {leader.metadata.labels[RESTART_ATTEMPT] for leader in before} == {"0"}

    victim = deployment.pods("app=sax-model-server,batch.kubernetes.io/job-completion-index=5")
    deployment.core.delete_namespaced_pod(victim[0].metadata.name, "default")

    def restarted() -> list[object] | None:
        leaders = deployment.pods(LEADERS)  # polled: the old leaders may still be going
        attempts = {leader.metadata.labels[RESTART_ATTEMPT] for leader in leaders}
        return leaders if len(leaders) == 2 and attempts == {"1"} else None

    after = wait_until("the JobSet to restart the slices", restarted)
    assert not {p.metadata.uid for p in after} & {p.metadata.uid for p in before}
    for leader in after:
        deployment.wait_for_log(leader.metadata.name, LOADED)
    listed = deployment.proxy("GET", "/listcell", {"model": MODEL_KEY}).json()
    assert listed["active_replicas"] == 2
    answer = deployment.direct("POST", "/generate", {"model": MODEL_KEY, "query": "hello"})
    assert answer.status_code == 200
