"""A deployment owns exactly what it created: what exists and is not its own is refused before
anything is created, or used without being changed with adopt_cluster; a teardown removes only
what carries the deployment's identity."""

from datetime import UTC, datetime, timedelta
from typing import Any

from saxml_gke.ownership import Owner
from saxml_gke.spec import DeploymentSpec, build_spec
from scripts.run_deploy import Control
from tests.e2e import by_hand
from tests.e2e.conftest import (
    INTERNAL,
    ZONE,
    conf,
    deleted,
    inject,
    resources,
    run_dag,
    task_states,
    xcom,
)


def test_a_hand_made_cluster_is_refused_and_with_adopt_cluster_served_and_left_intact(
    world, control, airflow_db, capfd
):
    by_hand.create_cluster(world, "saxml")
    hand_made = _names(control)

    refused = run_dag("saxml_gke_deploy", run_conf=conf(world, teardown="always"))

    states = task_states(refused)
    assert refused.state == "failed", states
    assert states["check_ownership"] == "failed", states
    assert states["ensure_cluster"] == "upstream_failed", states
    assert _names(control) == hand_made
    logged = _output(capfd)
    assert (
        "cluster saxml in us-west4-a exists but is not this deployment's (no saxml-gke labels"
        in logged
    )
    assert "set adopt_cluster=true" in logged

    adopted = run_dag("saxml_gke_deploy", run_conf=conf(world, adopt_cluster=True))

    assert adopted.state == "success", task_states(adopted)
    assert xcom(adopted, "ensure_cluster")["adopted"] is True
    assert xcom(adopted, "smoke_test")["answer"].strip()
    assert xcom(adopted, "install_jobset")["objects"] == 20
    rerun = run_dag("saxml_gke_deploy", run_conf=conf(world, adopt_cluster=True))
    assert rerun.state == "success", task_states(rerun)
    assert xcom(rerun, "install_jobset")["objects"] == 0  # the installed JobSet, as it is

    nightly = run_dag(
        "saxml_gke_teardown",
        run_conf={"project_id": world.ready["project_id"]},
        run_after=adopted.run_after + timedelta(hours=25),
    )

    assert nightly.state == "success", task_states(nightly)
    deleted = xcom(nightly, "report")["deployments"]["saxml"]
    assert {"node pool tpu1", "node pool tpu2", "JobSet sax-model-server-set"} <= set(deleted)
    assert not any(item.startswith("cluster") for item in deleted), deleted
    assert _names(control) == hand_made


def test_two_deployments_side_by_side_tearing_one_down_leaves_the_other_whole(
    world, control, airflow_db
):
    alpha_conf = conf(world, cluster_name="alpha", **INTERNAL)  # with an address to leave alone
    alpha = run_dag("saxml_gke_deploy", run_conf=alpha_conf)
    assert alpha.state == "success", task_states(alpha)
    alphas = _names(control)

    beta = run_dag("saxml_gke_deploy", run_conf=conf(world, cluster_name="beta", teardown="always"))

    assert beta.state == "success", task_states(beta)
    assert _names(control) == alphas
    spec = build_spec(alpha_conf, now=alpha.run_after)
    kinds = {kind for kind, name in alphas}
    assert {"Cluster", "NodePool", "Bucket", "ServiceAccount", "Address"} <= kinds
    assert ("Bucket", spec.storage.bucket) in alphas
    pods = _pods(alpha, spec)
    assert len(pods) == 2 + spec.tpu.slices * spec.tpu.nodes_per_slice
    assert all(_ready(pod) for pod in pods), [pod["metadata"]["name"] for pod in pods]

    named = run_dag(
        "saxml_gke_teardown",
        run_conf={"project_id": world.ready["project_id"], "cluster_name": "alpha"},
    )
    assert named.state == "success", task_states(named)
    assert resources(control) == []


def test_a_foreign_service_account_and_foreign_or_forged_buckets_are_refused_and_untouched(
    world, control, airflow_db, capfd
):
    spec = build_spec(conf(world), now=datetime.now(UTC))
    by_hand.create_service_account(world, spec.identity.gsa_name, "the data team's pipeline")
    copied = {"managed-by": "saxml-gke", "saxml-gke-deployment": "saxml"}  # no identity
    by_hand.create_bucket(world, spec.storage.bucket, copied)
    by_hand.create_bucket(world, "data-team-bucket", Owner("data-team", ZONE, "saxml").labels())
    inject(control, "bucket-owned-by-other-project", bucket="elsewhere-bucket")
    before = _names(control)

    refused = run_dag("saxml_gke_deploy", run_conf=conf(world))
    assert refused.state == "failed", task_states(refused)
    assert task_states(refused)["check_ownership"] == "failed"
    logged = _output(capfd)
    assert "2 existing resource(s) are not deployment" in logged
    assert (
        f"Google service account {spec.identity.gsa_email} exists but is not this deployment's "
        '(description "the data team\'s pipeline")' in logged
    )
    assert (
        f"bucket gs://{spec.storage.bucket} exists but is not this deployment's (labels "
        "managed-by=saxml-gke, saxml-gke-deployment=saxml)" in logged
    )

    for bucket, expected in (
        ("data-team-bucket", "saxml-gke-id="),
        ("elsewhere-bucket", "this project cannot use it"),
    ):
        other = run_dag(
            "saxml_gke_deploy", run_conf=conf(world, bucket=bucket, gsa_name="sax-own-account")
        )
        assert task_states(other)["check_ownership"] == "failed", task_states(other)
        assert expected in _output(capfd)

    assert _names(control) == before
    assert by_hand.service_account(world, spec.identity.gsa_email)["description"] == (
        "the data team's pipeline"
    )

    shared = conf(world, adopt_bucket=True, gsa_name="sax-own-account", teardown="always")
    used = run_dag("saxml_gke_deploy", run_conf=shared)

    assert used.state == "success", task_states(used)
    assert xcom(used, "ensure_bucket") == {"bucket": spec.storage.bucket, "created": False,
                                           "owned": False}  # fmt: skip
    assert f"binding roles/storage.objectAdmin on gs://{spec.storage.bucket}" in deleted(used)
    assert _names(control) == before  # the adopted bucket stays, with its labels


def _names(control: Control) -> set[tuple[str, str]]:
    return {(r["kind"], r["name"].rsplit("/", 1)[-1]) for r in resources(control)}


def _output(capfd) -> str:
    captured = capfd.readouterr()
    return captured.out + captured.err


def _pods(dag_run: Any, spec: DeploymentSpec) -> list[dict[str, Any]]:
    from saxml_gke.hooks.kube import KubeHook

    cluster = xcom(dag_run, "ensure_cluster")
    kube = KubeHook(endpoint=cluster["endpoint"], ca_certificate=cluster["ca_certificate"])
    return kube.list_objects(
        "v1", "Pod", spec.identity.namespace, label_selector=spec.owner.selector()
    )


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
