"""The reserved load balancer address: its request body and when an existing one is adopted."""

from datetime import UTC, datetime

import pytest

from saxml_gke.adoption import check_adoptable
from saxml_gke.bodies import address_body
from saxml_gke.errors import DeploymentError
from saxml_gke.operators.compute import ReserveHttpAddressOperator
from saxml_gke.spec import build_spec

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)


def spec(exposure: str):
    conf = {"project_id": "my-project", "zone": "us-west4-a", "http_exposure": exposure}
    if exposure != "none":
        conf.update(http_source_ranges=["10.0.0.0/8"], allow_public_http=exposure == "external")
    return build_spec(conf, now=NOW)


def test_an_internal_address_lives_in_the_regions_default_subnetwork() -> None:
    body = address_body(spec("internal"))
    assert body == {
        "name": "saxml-sax-http",
        "description": "sax-http load balancer of saxml-gke deployment saxml",
        "addressType": "INTERNAL",
        "labels": spec("internal").labels,
        "subnetwork": "projects/my-project/regions/us-west4/subnetworks/default",
    }


def test_an_external_address_has_no_subnetwork() -> None:
    body = address_body(spec("external"))
    assert body["addressType"] == "EXTERNAL"
    assert "subnetwork" not in body


def test_no_load_balancer_needs_no_address_and_calls_nothing() -> None:
    # No connection exists in this test: any Google API call would fail.
    task = ReserveHttpAddressOperator(
        task_id="ensure_http_address", spec=spec("none").to_dict(), gcp_conn_id="no-such-connection"
    )
    assert task.execute(context={})["ip"] is None


@pytest.mark.parametrize(
    ("labels", "address_type", "message"),
    [
        ({"managed-by": "someone"}, "INTERNAL", "is not this deployment's"),
        (None, "EXTERNAL", "needs INTERNAL: tear the deployment down"),
    ],
)
def test_an_existing_address_is_adopted_only_when_ours_and_of_the_right_type(
    labels: dict[str, str] | None, address_type: str, message: str
) -> None:
    wanted = spec("internal")
    existing = {"labels": labels or wanted.labels, "addressType": address_type, "address": "x"}
    with pytest.raises(DeploymentError, match=message):
        check_adoptable(wanted, existing)
    ours = {"labels": wanted.labels, "addressType": "INTERNAL", "address": "10.0.0.9"}
    assert check_adoptable(wanted, ours) == {
        "address": "saxml-sax-http",
        "ip": "10.0.0.9",
        "address_type": "INTERNAL",
    }
