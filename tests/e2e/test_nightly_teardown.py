"""saxml_gke_teardown on what a person left behind (a cluster deleted before its Service), on
resources it cannot judge, and while GKE cannot reach a location."""

from datetime import timedelta

from saxml_gke.ownership import Owner
from saxml_gke.spec import build_spec
from scripts.run_deploy import Control
from tests.e2e import by_hand
from tests.e2e.conftest import (
    EXTERNAL,
    INTERNAL,
    ZONE,
    conf,
    inject,
    resources,
    run_dag,
    task_states,
    xcom,
)


def test_nightly_teardown_removes_the_load_balancer_a_deleted_cluster_left_behind(
    world, control, airflow_db, caplog
):
    deployed = run_dag("saxml_gke_deploy", run_conf=conf(world, **EXTERNAL))
    assert deployed.state == "success", task_states(deployed)
    reserved = xcom(deployed, "ensure_http_address")
    assert reserved["created"] is True
    assert xcom(deployed, "report")["endpoint"] == f"http://{reserved['ip']}:8888"

    by_hand.delete_cluster(world, "saxml")  # not through the DAG: the Service never went
    left = _names(control)
    assert ("Address", "saxml-sax-http") in left
    assert any(kind == "ForwardingRule" for kind, _ in left), left

    later = deployed.run_after + timedelta(hours=25)
    project = world.ready["project_id"]
    spec = build_spec(conf(world), now=later)
    account, node_account = spec.identity.gsa_email, spec.node_sa_email
    dry_run = {"project_id": project, "dry_run": True}
    dry = run_dag("saxml_gke_teardown", run_conf=dry_run, run_after=later)
    assert dry.state == "success", task_states(dry)
    assert _names(control) == left

    assert xcom(dry, "report") == {"deployments": {}}
    assert "Would tear down saxml (us-west4-a): bucket gs://" in caplog.text
    assert "address saxml-sax-http (used by forwarding rules a" in caplog.text
    assert f"service account {account}" in caplog.text
    assert f"service account {node_account}" in caplog.text  # an orphan of its own

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
    assert f"service account {node_account}" in deleted
    assert f"binding roles/container.defaultNodeServiceAccount on project {project}" in deleted
    assert resources(control) == []


def test_resources_it_cannot_judge_do_not_stop_the_nightly_teardown(
    world, control, airflow_db, capfd
):
    poisoned = {"managed-by": "saxml-gke", "saxml-gke-deployment": "data_team"}
    by_hand.create_bucket(world, "data-team-state", poisoned)
    by_hand.create_cluster(world, "forever", {"managed-by": "saxml-gke", "expires-at": "never"})
    lost = Owner(world.ready["project_id"], "europe-mars1-a", "lost").labels()  # no such zone
    by_hand.create_bucket(world, "lost-state", {**lost, "expires-at": "20260101t000000z"})
    bad = _names(control)
    deployed = run_dag("saxml_gke_deploy", run_conf=conf(world))
    assert deployed.state == "success", task_states(deployed)

    nightly = run_dag(
        "saxml_gke_teardown",
        run_conf={"project_id": world.ready["project_id"]},
        run_after=deployed.run_after + timedelta(hours=25),
    )

    states = task_states(nightly)
    assert nightly.state == "failed", states
    assert states["report"] == "failed", states
    # The expired deployment went, the items that cannot be judged stayed. The expired orphan
    # of a deployment in a zone GKE does not know went too: it carries that deployment's
    # identity, and nothing of it can be running.
    assert _names(control) == bad - {("Bucket", "lost-state")}
    logged = _output(capfd)
    assert "could not handle:" in logged
    assert "bucket gs://data-team-state: carries labels managed-by=saxml-gke, " in logged
    assert "cluster forever in us-west4-a: carries labels expires-at=never" in logged


def test_no_orphan_is_deleted_while_its_location_is_unreachable(world, control, airflow_db, capfd):
    deployed = run_dag("saxml_gke_deploy", run_conf=conf(world))
    assert deployed.state == "success", task_states(deployed)
    serving = _names(control)
    inject(control, "location-unreachable", zone=ZONE)
    later = deployed.run_after + timedelta(hours=25)
    project = {"project_id": world.ready["project_id"]}

    blind = run_dag("saxml_gke_teardown", run_conf=project, run_after=later)

    assert blind.state == "failed", task_states(blind)
    assert _names(control) == serving  # bucket, address and account look orphaned: kept
    assert f"GKE could not list clusters in {ZONE}" in _output(capfd)

    control.delete("/faults").raise_for_status()  # reachable again
    nightly = run_dag(
        "saxml_gke_teardown", run_conf=project, run_after=later + timedelta(minutes=1)
    )
    assert nightly.state == "success", task_states(nightly)
    assert resources(control) == []


def _names(control: Control) -> set[tuple[str, str]]:
    return {(r["kind"], r["name"].rsplit("/", 1)[-1]) for r in resources(control)}


def _output(capfd) -> str:
    captured = capfd.readouterr()
    return captured.out + captured.err


def test_a_rerun_with_another_ttl_moves_the_expiry_the_nightly_honours(world, control, airflow_db):
    first = run_dag("saxml_gke_deploy", run_conf=conf(world, **INTERNAL))
    assert first.state == "success", task_states(first)
    rerun = run_dag("saxml_gke_deploy", run_conf=conf(world, **INTERNAL, ttl_hours=72))
    assert rerun.state == "success", task_states(rerun)
    moved = xcom(rerun, "record_deployment")["expiry_moved_on"]
    assert {"cluster saxml", "node pool tpu1", "node pool tpu2"} <= set(moved), moved
    kinds = {item.split(" ", 1)[0] for item in moved}
    assert {"bucket", "address", "service"} <= kinds, moved  # what outlives a cluster, too
    serving = _names(control)
    project = {"project_id": world.ready["project_id"]}

    early = run_dag(
        "saxml_gke_teardown", run_conf=project, run_after=first.run_after + timedelta(hours=25)
    )

    assert early.state == "success", task_states(early)
    assert _names(control) == serving
    late = run_dag(
        "saxml_gke_teardown", run_conf=project, run_after=rerun.run_after + timedelta(hours=73)
    )
    assert late.state == "success", task_states(late)
    assert resources(control) == []
