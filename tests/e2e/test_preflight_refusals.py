"""The preflight on the emulator: what a deployment would meet (a machine type the zone lacks, a
version no channel offers, too little TPU quota, missing permissions, a disabled API, a missing
or too small reservation) fails its first minute, each problem named at once, before any create
call: GKE has no operation, nothing exists that did not, nothing bills."""

import json
from typing import Any

import pytest

from emulator.app import OPERATOR_ROLES
from tests.e2e.by_hand import create_v6e_cluster
from tests.e2e.conftest import conf, gke_operations, inject, resources, run_dag, task_states

CREATES = ("ensure_cluster", "ensure_bucket", "ensure_http_address", "ensure_tpu_node_pools")


def refused(world, control, capfd, **overrides: Any) -> str:
    """Run the deploy DAG; assert the preflight failed it before anything was created, and
    return what the run logged."""
    before = resources(control), gke_operations(world), billed_pools(control)
    dag_run = run_dag("saxml_gke_deploy", run_conf=conf(world, **overrides))
    states = task_states(dag_run)
    assert dag_run.state == "failed", states
    assert states["preflight"] == "failed", states
    assert {states[task] for task in ("check_ownership", *CREATES)} == {"upstream_failed"}
    assert (resources(control), gke_operations(world), billed_pools(control)) == before
    captured = capfd.readouterr()
    return captured.out + captured.err


def billed_pools(control) -> list[tuple[str, str]]:
    """The TPU node pools the emulator has ever billed, by cluster."""
    billed = control.get("/billing").json()["node_pools"]
    return [(entry["cluster"], entry["node_pool"]) for entry in billed]


def test_a_machine_type_the_zone_lacks_and_a_version_no_channel_offers_are_reported_together(
    world, control, airflow_db, capfd
):
    """With the Cloud Quotas API disabled, the v6e chip quota is said to be not checked."""
    inject(control, "service-disabled", service="cloudquotas.googleapis.com")
    logged = refused(world, control, capfd, tpu_generation="v6e", cluster_version="1.29")
    assert "preflight found 2 problem(s); nothing was created" in logged
    assert (
        "Not checked: the TPU chip quotas' limits (cloudquotas.googleapis.com is disabled)"
        in logged
    )
    assert (
        "machine type ct6e-standard-4t in us-west4-a: the zone does not offer it. set zone to "
        "one that offers it (" in logged
    )
    assert "us-east5-b" in logged.split("machine type ct6e-standard-4t", 1)[1].split("\n", 1)[0]
    assert (
        "GKE version 1.29 on the REGULAR channel: REGULAR offers 1.32.6-gke.1096000, "
        "1.31.9-gke.1044000. set cluster_version to latest or one of those" in logged
    )


def test_a_quota_that_covers_one_slice_of_two_names_the_metric_and_what_would_fit(
    world, control, airflow_db, capfd
):
    inject(control, "quota", metric="TPU_LITE_PODSLICE_V5", limit=32, region="us-west4")
    logged = refused(world, control, capfd)
    assert (
        "64 v5e chips in us-west4 for 2 on-demand slice(s) of 32: TPU_LITE_PODSLICE_V5 has 32 "
        "of 32 free (0 in use): room for 1 of 2 slice(s). try capacity=spot "
        "(PREEMPTIBLE_TPU_LITE_PODSLICE_V5 has 1536 of 1536 free (0 in use))" in logged
    )
    assert "or tpu_slices=1; or a quota increase for TPU_LITE_PODSLICE_V5 in us-west4" in logged


def test_v6e_chips_in_use_by_another_cluster_leave_room_for_one_slice_of_two(
    world, control, airflow_db, capfd
):
    """v6e chips count in quotas `regions.get` does not report: the limit comes from the Cloud
    Quotas API, what another team's v6e slice in the region uses from Cloud Monitoring."""
    inject(
        control, "quota", metric="TPUS-PER-TPU-FAMILY-per-project-region", limit=80,
        region="us-east5",
    )  # fmt: skip
    inject(control, "quota", metric="PREEMPTIBLE-TPU-V6E-per-project-region", limit=0)
    create_v6e_cluster(world, "other-team", "us-east5-b")

    logged = refused(world, control, capfd, tpu_generation="v6e", zone="us-east5-b")

    assert "preflight found 1 problem(s); nothing was created" in logged
    assert (
        "64 v6e chips in us-east5 for 2 on-demand slice(s) of 32: TPUS-PER-TPU-FAMILY-per-"
        "project-region (tpu_family=CT6E) has 48 of 80 free (32 in use): room for 1 of 2 "
        "slice(s). try tpu_slices=1; or a quota increase for TPUS-PER-TPU-FAMILY-per-project-"
        "region (tpu_family=CT6E) in us-east5" in logged
    )


def test_missing_permissions_and_a_disabled_api_are_reported_with_what_to_grant_and_enable(
    world, control, airflow_db, capfd, monkeypatch
):
    lacking = {"roles/storage.admin", "roles/compute.viewer"}
    roles = [role for role in OPERATOR_ROLES if role not in lacking]
    key = control.post("/keys", json={"account_id": "preflight-user", "roles": roles})
    key.raise_for_status()
    connection = json.loads(json.dumps(world.ready["airflow_connection"]))
    connection["extra"]["keyfile_dict"] = key.json()
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(connection))
    inject(control, "service-disabled", service="iam.googleapis.com")

    logged = refused(world, control, capfd)

    project = world.ready["project_id"]
    assert "preflight found 3 problem(s); nothing was created" in logged
    assert (
        f"API iam.googleapis.com in project {project}: it is disabled. enable it: gcloud "
        f"services enable iam.googleapis.com --project {project}" in logged
    )
    assert (
        "the caller lacks compute.machineTypes.list (preflight), compute.regions.get "
        "(preflight), compute.reservations.list (preflight). grant roles/compute.viewer" in logged
    )
    assert "storage.buckets.create (ensure_bucket)" in logged
    assert "grant roles/storage.admin on the project to the connection's identity" in logged
    # What those permissions would have read is not judged: no quota or machine type verdict.
    assert "Not checked: the region's quotas (the caller lacks compute.regions.get)" in logged


@pytest.mark.parametrize(
    ("reservation", "expected"),
    [
        (
            "tpus",
            "16 ct5lp-hightpu-4t nodes of reservation tpus in us-west4-a for 2 slice(s) of 8: "
            "tpus: 12 of 12 ct5lp-hightpu-4t VMs free: room for 1 of 2 slice(s). try a larger "
            "reservation; or tpu_slices=1",
        ),
        (
            "elsewhere",
            "reservation elsewhere in us-west4-a: it does not exist (the zone's reservations: "
            "tpus: 12 of 12 ct5lp-hightpu-4t VMs free)",
        ),
    ],
    ids=["too-small", "missing"],
)
def test_a_reservation_too_small_or_missing_is_reported(
    world, control, airflow_db, capfd, reservation, expected
):
    inject(
        control, "reservation", name="tpus", zone="us-west4-a", machine_type="ct5lp-hightpu-4t",
        count=12,
    )  # fmt: skip
    logged = refused(world, control, capfd, capacity="reservation", reservation=reservation)
    assert "preflight found 1 problem(s)" in logged
    assert expected in logged
