"""The adoption rules on what exists: ours is reconciled, adopted is used, the rest refused."""

from datetime import UTC, datetime
from typing import Any

import pytest

from saxml_gke.adoption import (
    ABSENT,
    ADOPTED,
    OURS,
    check_address,
    check_bucket,
    check_cluster,
    check_node_pool,
    check_node_service_account,
    check_service_account,
    kept_provisioning_request,
)
from saxml_gke.errors import DeploymentError
from saxml_gke.manifests import render_objects
from saxml_gke.operators.saxml import DeploySaxmlOperator
from saxml_gke.ownership import Owner
from saxml_gke.spec import build_spec

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
CONF = {"project_id": "my-project", "zone": "us-west4-a"}
SPEC = build_spec(CONF, now=NOW)
# An internal load balancer: its address is the deployment's too.
BALANCED = build_spec(
    {**CONF, "http_exposure": "internal", "http_source_ranges": ["10.0.0.0/8"]}, now=NOW
)
ADOPTING = build_spec({**CONF, "adopt_cluster": True, "adopt_bucket": True}, now=NOW)
OTHER = Owner("my-project", "us-west4-b", "saxml").labels()  # same name, another zone


def cluster(labels: dict[str, str], workload_pool: str = "my-project.svc.id.goog") -> dict:
    return {"resourceLabels": labels, "workloadIdentityConfig": {"workloadPool": workload_pool}}


def refusal(check: Any) -> str:
    with pytest.raises(DeploymentError) as raised:
        check()
    return str(raised.value)


def test_a_cluster_is_ours_adopted_or_refused_with_what_to_do() -> None:
    assert check_cluster(SPEC, None) == ABSENT
    assert check_cluster(SPEC, cluster(SPEC.labels)) == OURS
    assert check_cluster(ADOPTING, cluster({})) == ADOPTED
    message = refusal(lambda: check_cluster(SPEC, cluster(OTHER)))
    assert "cluster saxml in us-west4-a exists but is not this deployment's" in message
    assert "saxml-gke-location=us-west4-b" in message and "adopt_cluster=true" in message
    assert "Workload Identity" in refusal(lambda: check_cluster(ADOPTING, cluster({}, "")))
    assert "does not exist" in refusal(lambda: check_cluster(ADOPTING, None))


def test_pools_addresses_and_accounts_are_ours_or_refused() -> None:
    pool = SPEC.tpu.node_pools[0]
    assert check_node_pool(SPEC, pool, None) == ABSENT
    assert check_node_pool(SPEC, pool, {"config": {"resourceLabels": SPEC.labels}}) == OURS
    assert "node pool tpu1" in refusal(lambda: check_node_pool(SPEC, pool, {"config": {}}))
    assert check_address(BALANCED, {"labels": BALANCED.labels}) == OURS
    assert "address saxml-sax-http" in refusal(lambda: check_address(BALANCED, {"labels": OTHER}))
    ours = {"description": SPEC.owner.account_description(SPEC.expires_at)}
    assert check_service_account(SPEC, ours) == OURS
    tutorial = {"description": "managed-by=saxml-gke deployment=saxml"}  # an earlier version's
    assert "never used" in refusal(lambda: check_service_account(SPEC, tutorial))
    assert check_node_service_account(SPEC, None) == ABSENT
    assert check_node_service_account(SPEC, ours) == OURS
    message = refusal(lambda: check_node_service_account(SPEC, tutorial))
    assert f"Google service account {SPEC.node_sa_email} exists" in message


def test_a_bucket_is_ours_adopted_with_adopt_bucket_or_refused() -> None:
    assert check_bucket(SPEC, None) == ABSENT
    assert check_bucket(SPEC, SPEC.labels) == OURS
    assert check_bucket(ADOPTING, {"team": "data"}) == ADOPTED
    copied = {"managed-by": "saxml-gke", "saxml-gke-deployment": "saxml"}
    assert "adopt_bucket=true" in refusal(lambda: check_bucket(SPEC, copied))


# --- flex-start-queued: a ProvisioningRequest's spec cannot change ---------------------------


def queued_objects(**conf: object) -> tuple[Any, list[dict[str, Any]]]:
    spec = build_spec({**CONF, "capacity": "flex-start-queued", **conf}, now=NOW)
    return spec, render_objects(spec)


def the_request(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(obj for obj in objects if obj["kind"] == "ProvisioningRequest")


def test_a_new_or_identical_request_is_applied_as_rendered() -> None:
    _, objects = queued_objects()
    request = the_request(objects)
    assert kept_provisioning_request(request, None) == request
    assert kept_provisioning_request(request, {**request, "status": {"conditions": []}}) == request


def test_a_rerun_with_another_ttl_keeps_the_run_limit_the_request_was_booked_with() -> None:
    _, booked = queued_objects(ttl_hours=24)
    _, rerun = queued_objects(ttl_hours=48)
    kept = kept_provisioning_request(the_request(rerun), the_request(booked))
    assert kept["spec"]["parameters"] == {"maxRunDurationSeconds": "86400"}
    assert kept["metadata"] == the_request(rerun)["metadata"]  # the labels move


def test_a_request_for_other_pods_is_refused_saying_how_to_replace_it() -> None:
    _, booked = queued_objects(tpu_slices=1)
    _, rerun = queued_objects(tpu_slices=2)
    with pytest.raises(DeploymentError, match="exists for other pods") as refused:
        kept_provisioning_request(the_request(rerun), the_request(booked))
    assert "'count': 8" in str(refused.value) and "'count': 16" in str(refused.value)
    assert "kubectl delete provisioningrequest sax-model-server-request -n default" in str(
        refused.value
    )


class FakeKube:
    """The Kubernetes API DeploySaxmlOperator sees: objects by (apiVersion, kind, name, ns)."""

    def __init__(self, objects: dict[tuple[Any, ...], dict[str, Any]]) -> None:
        self.objects, self.applied = objects, []

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return self.objects.get((api_version, kind, name, namespace))

    def apply(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.applied = list(objects)
        return self.applied


def deploy(spec: Any, kube: FakeKube) -> dict[str, Any]:
    task = DeploySaxmlOperator(
        task_id="deploy_saxml", spec=spec.to_dict(), cluster={}, http_address={"ip": None}
    )
    task.__dict__["kube"] = kube  # the cached hook
    return task.execute(context={})


def test_deploying_again_applies_the_request_as_gke_booked_it() -> None:
    spec, rerun = queued_objects(ttl_hours=48)
    _, booked = queued_objects(ttl_hours=24)
    ref = ("autoscaling.x-k8s.io/v1", "ProvisioningRequest", "sax-model-server-request", "default")
    kube = FakeKube({ref: the_request(booked)})
    result = deploy(spec, kube)
    assert result["objects"][2:5] == [
        "PodTemplate/sax-model-server-template",
        "ProvisioningRequest/sax-model-server-request",
        "JobSet/sax-model-server-set",
    ]
    assert the_request(kube.applied)["spec"] == the_request(booked)["spec"]
    assert [obj for obj in kube.applied if obj["kind"] != "ProvisioningRequest"] == [
        obj for obj in rerun if obj["kind"] != "ProvisioningRequest"
    ]
