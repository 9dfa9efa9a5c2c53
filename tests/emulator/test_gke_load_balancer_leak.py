"""A LoadBalancer Service's address outlives a cluster deleted through the GKE API first."""

from pathlib import Path

from kubernetes import client

from tests.emulator.cluster_client import kube_client, wait
from tests.emulator.test_gke_support import connect, tutorial_cluster


def test_a_load_balancer_is_leaked_when_its_cluster_is_deleted_before_its_service(
    fresh_world, control, credentials, tmp_path: Path
) -> None:
    gke = connect(fresh_world)
    cluster = gke.running_cluster(tutorial_cluster(fresh_world["project_id"]))
    core = client.CoreV1Api(kube_client(cluster, credentials, tmp_path))
    core.create_namespaced_service(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "sax-http-lb", "labels": {"managed-by": "saxml-gke"}},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": "sax-http"},
                "ports": [{"port": 8888, "targetPort": 8888}],
            },
        },
    )

    def ingress() -> object:
        service = core.read_namespaced_service("sax-http-lb", "default")
        return (service.status.load_balancer.ingress or [None])[0]

    address = wait(ingress, what="the load balancer address")
    assert address.ip.startswith("127.") and address.ip != "127.0.0.1"

    gke.wait(gke.client.delete_cluster(name=gke.cluster_path(cluster.name)))

    left = control.get("/resources").json()["resources"]
    kinds = {resource["kind"] for resource in left}
    assert "Cluster" not in kinds
    rules = [r for r in left if r["api"] == "compute"]
    assert len(rules) == 1
    assert rules[0]["kind"] == "ForwardingRule"
    assert rules[0]["labels"] == {}  # GKE does not label the rules it creates
