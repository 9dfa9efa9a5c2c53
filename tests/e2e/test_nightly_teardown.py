"""saxml_gke_teardown on what a person left behind: a cluster deleted before its Service."""

import time
from datetime import timedelta

from tests.e2e.conftest import conf, resources, run_dag, task_states, xcom


def test_nightly_teardown_removes_the_load_balancer_a_deleted_cluster_left_behind(
    world, control, airflow_db, caplog
):
    deployed = run_dag("saxml_gke_deploy", run_conf=conf(world, http_exposure="external"))
    assert deployed.state == "success", task_states(deployed)
    reserved = xcom(deployed, "ensure_http_address")
    assert reserved["created"] is True
    assert xcom(deployed, "report")["endpoint"] == f"http://{reserved['ip']}:8888"

    _delete_cluster_through_gke(world, "saxml")  # not through the DAG: the Service never went
    left = {(r["kind"], r["name"].rsplit("/", 1)[-1]) for r in resources(control)}
    assert ("Address", "saxml-sax-http") in left
    assert any(kind == "ForwardingRule" for kind, _ in left), left

    later = deployed.run_after + timedelta(hours=25)
    project = world.ready["project_id"]
    account = f"sax-iam-sa@{project}.iam.gserviceaccount.com"
    dry_run = {"project_id": project, "dry_run": True}
    dry = run_dag("saxml_gke_teardown", run_conf=dry_run, run_after=later)
    assert dry.state == "success", task_states(dry)
    assert {(r["kind"], r["name"].rsplit("/", 1)[-1]) for r in resources(control)} == left

    assert xcom(dry, "report") == {"deployments": {}, "service_accounts": [account]}
    assert "Would tear down saxml (us-west4-a): bucket gs://" in caplog.text
    assert "address saxml-sax-http (used by forwarding rules a" in caplog.text

    nightly = run_dag(  # a minute later: another run id
        "saxml_gke_teardown",
        run_conf={"project_id": project},
        run_after=later + timedelta(minutes=1),
    )
    assert nightly.state == "success", task_states(nightly)
    deleted = " ".join(xcom(nightly, "report")["deployments"]["saxml"])
    assert "forwarding rule a" in deleted
    assert "address saxml-sax-http" in deleted
    assert f"service account {account}" in deleted
    assert resources(control) == []


def _delete_cluster_through_gke(world, name: str) -> None:
    from google.api_core import exceptions
    from google.cloud import container_v1

    from tests.emulator.conftest import credentials_for, operator_key

    client = container_v1.ClusterManagerClient(
        credentials=credentials_for(operator_key(world.ready)),
        transport="rest",
        client_options={"api_endpoint": world.ready["endpoints"]["container"]},
    )
    path = f"projects/{world.ready['project_id']}/locations/us-west4-a/clusters/{name}"
    client.delete_cluster(name=path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            client.get_cluster(name=path)
        except exceptions.NotFound:
            return
        time.sleep(0.2)
    raise AssertionError(f"cluster {name} was not deleted in 120 s")
