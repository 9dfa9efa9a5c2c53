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
)
from saxml_gke.errors import DeploymentError
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
