"""A restart with a state file: clusters serve again on the same port with the same CA, and
operations that were running finish on their timeline."""

from google.cloud import container_v1

from tests.emulator.conftest import Control, RunningEmulator
from tests.emulator.test_gke_support import (
    access_token,
    apply_scenario,
    cluster_get,
    connect,
    tpu_pool,
    tutorial_cluster,
)


def test_a_restart_keeps_clusters_serving_and_operations_running(tmp_path):
    state_file = str(tmp_path / "state.json")
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()

    first = RunningEmulator(tmp_path / "first", "--state-file", state_file)
    try:
        gke = connect(first.ready)
        cluster = gke.running_cluster(tutorial_cluster(gke.project))
        apply_scenario(Control(first.ready), "slow-operations", factor=5)
        pending = gke.create_pool("saxml", tpu_pool("tpu1"))
        assert gke.operation(pending).status != container_v1.Operation.Status.DONE
    finally:
        assert first.stop() == 0

    second = RunningEmulator(tmp_path / "second", "--state-file", state_file)
    try:
        gke = connect(second.ready)
        restored = gke.client.get_cluster(name=gke.cluster_path("saxml"))
        assert restored.status == container_v1.Cluster.Status.RUNNING
        assert restored.endpoint == cluster.endpoint
        assert restored.master_auth == cluster.master_auth
        assert cluster_get(restored, "/healthz", access_token(gke.credentials)) == (200, "ok")

        assert not gke.wait(gke.operation(pending)).error.code
        pool = gke.client.get_node_pool(name=gke.pool_path("saxml", "tpu1"))
        assert pool.status == container_v1.NodePool.Status.RUNNING
    finally:
        assert second.stop() == 0
