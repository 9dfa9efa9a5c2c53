"""saxml_gke_deploy end to end on the emulator: the tutorial, its reruns, and its teardowns."""

from datetime import timedelta

from tests.e2e.conftest import (
    INTERNAL,
    conf,
    deleted,
    gke_operations,
    resources,
    run_dag,
    task_states,
    teardown_states,
    xcom,
)


def test_tutorial_with_teardown_always_serves_then_leaves_nothing(world, control, airflow_db):
    dag_run = run_dag("saxml_gke_deploy", run_conf=conf(world, teardown="always"))

    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert set(states.values()) == {"success"}, states
    report = xcom(dag_run, "report")
    assert report["model"] == "/sax/test/spmd"
    assert report["answer"].strip()
    assert report["steps"]["wait_for_model_loaded"]["loaded_on"]
    assert len(report["steps"]["wait_for_model_loaded"]["loaded_on"]) == 2
    assert report["endpoint"] is None  # by default, nothing outside the cluster reaches it
    assert report["steps"]["ensure_http_address"]["ip"] is None
    assert served_model_events(dag_run.run_id) == [
        {
            "deployment": "saxml",
            "project_id": world.ready["project_id"],
            "zone": "us-west4-a",
            "model": "/sax/test/spmd",
            "model_path": "saxml.server.pax.lm.params.lm_cloud.LmCloudSpmd175B32Test",
            "endpoint": report["endpoint"],
        }
    ]
    assert set(teardown_states(dag_run).values()) == {"success"}
    gone = deleted(dag_run)
    assert gone[:2] == ["model /sax/test/spmd", "Service sax-http-lb"]  # first, as ordered
    assert {"node pool tpu1", "node pool tpu2", "cluster saxml"} <= set(gone)
    assert gone.index("node pool tpu1") < gone.index("cluster saxml")
    assert resources(control) == []
    billing = control.get("/billing").json()
    assert {pool["node_pool"] for pool in billing["node_pools"]} == {"tpu1", "tpu2"}


def test_on_failure_keeps_serving_a_rerun_changes_nothing_and_the_nightly_teardown_removes_it(
    world, control, airflow_db
):
    first = run_dag("saxml_gke_deploy", run_conf=conf(world, **INTERNAL))
    assert first.state == "success", task_states(first)
    assert task_states(first)["decide_teardown"] == "success"
    assert set(teardown_states(first).values()) == {"skipped"}
    assert task_states(first)["verify_teardown"] == "skipped"
    kinds = {r["kind"] for r in resources(control)}
    assert {"Cluster", "NodePool", "Bucket"} <= kinds
    operations_before = _operations(world)

    second = run_dag("saxml_gke_deploy", run_conf=conf(world, **INTERNAL))
    assert second.state == "success", task_states(second)
    assert xcom(second, "publish_model")["action"] == "unchanged"
    assert xcom(second, "ensure_cluster")["created"] is False
    assert xcom(second, "ensure_http_address")["created"] is False
    assert _operations(world) == operations_before

    nightly = run_dag(
        "saxml_gke_teardown",
        run_conf={"project_id": world.ready["project_id"]},
        run_after=first.run_after + timedelta(hours=25),
    )
    assert nightly.state == "success", task_states(nightly)
    assert resources(control) == []


def test_bad_conf_is_rejected_before_anything_is_created(world, control, airflow_db):
    import pytest
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="tpu_slices"):
        run_dag("saxml_gke_deploy", run_conf=conf(world, tpu_slices=0))
    dag_run = run_dag("saxml_gke_deploy", run_conf=conf(world, tpu_topology="4x4"))
    assert dag_run.state == "failed"
    assert task_states(dag_run)["plan"] == "failed"
    assert resources(control) == []


def served_model_events(run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "saxml_gke_served_model")
            .filter(AssetEvent.source_run_id == run_id)
            .all()
        )
        return [event.extra for event in events]


def _operations(world) -> list[str]:
    return sorted(op.name for op in gke_operations(world))


def test_tasks_whose_worker_died_after_their_creates_converge_without_duplicates(
    world, control, airflow_db
):
    """A worker that died right after issuing the cluster and node-pool creations (its waits
    never resumed): the next run adopts what is being created and creates nothing twice."""
    import time
    from datetime import UTC, datetime

    from saxml_gke.bodies import cluster_body, node_pool_body
    from saxml_gke.hooks.gke import GkeHook
    from saxml_gke.spec import build_spec

    run_conf = conf(world, teardown="always")
    spec = build_spec(run_conf, now=datetime.now(UTC))
    gke, where = GkeHook(), {"project_id": spec.project_id, "zone": spec.cluster.zone}
    gke.create_cluster(**where, body=cluster_body(spec))
    deadline = time.monotonic() + 120
    while (gke.get_cluster(**where, name=spec.cluster.name) or {}).get("status") != "RUNNING":
        assert time.monotonic() < deadline, "the cluster did not settle in 120 s"
        time.sleep(0.1)
    for pool in spec.tpu.node_pools:
        gke.create_node_pool(**where, cluster=spec.cluster.name, body=node_pool_body(spec, pool))

    dag_run = run_dag("saxml_gke_deploy", run_conf=run_conf)

    assert dag_run.state == "success", task_states(dag_run)
    assert xcom(dag_run, "ensure_cluster")["created"] is False
    assert sorted(xcom(dag_run, "ensure_tpu_node_pools")["adopted"]) == ["tpu1", "tpu2"]
    creates = [kind for kind in _operation_types(world) if kind.startswith("CREATE")]
    assert sorted(creates) == ["CREATE_CLUSTER", "CREATE_NODE_POOL", "CREATE_NODE_POOL"]
    assert resources(control) == []


def _operation_types(world) -> list[str]:
    from google.cloud import container_v1

    return [container_v1.Operation.Type(op.operation_type).name for op in gke_operations(world)]
