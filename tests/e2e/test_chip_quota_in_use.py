"""v5p and v6e chips count in quotas `regions.get` does not report: the preflight reads their
limits from Cloud Quotas and what is in use from Cloud Monitoring. A v6e deployment that fits
beside another team's v6e slice is served."""

from tests.e2e.by_hand import create_v6e_cluster
from tests.e2e.conftest import conf, inject, resources, run_dag, task_states, xcom
from tests.e2e.test_deploy_failures import output


def test_a_v6e_deployment_that_fits_beside_another_teams_slice_is_served(
    world, control, airflow_db, capfd
):
    inject(
        control, "quota", metric="TPUS-PER-TPU-FAMILY-per-project-region", limit=96,
        region="us-east5",
    )  # fmt: skip
    create_v6e_cluster(world, "other-team", "us-east5-b")
    before = resources(control)

    run_conf = conf(world, tpu_generation="v6e", zone="us-east5-b", teardown="always")
    dag_run = run_dag("saxml_gke_deploy", run_conf=run_conf)

    assert dag_run.state == "success", task_states(dag_run)
    assert (
        "Checked: 64 v6e chips fit in us-east5: TPUS-PER-TPU-FAMILY-per-project-region "
        "(tpu_family=CT6E) has 64 of 96 free (32 in use)" in output(capfd)
    )
    assert xcom(dag_run, "smoke_test")["answer"]
    assert resources(control) == before  # the other team's cluster, untouched
