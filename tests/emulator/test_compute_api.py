"""Compute Engine v1 through google-api-python-client: regional addresses and their operations."""

from typing import Any

import pytest

from tests.emulator.conftest import Control, api_error
from tests.emulator.test_gke_support import apply_scenario

REGION = "us-west4"
SUBNETWORK = f"regions/{REGION}/subnetworks/default"


def finished(compute: Any, project: str, operation: dict[str, Any]) -> dict[str, Any]:
    """The operation once `regionOperations.wait` returns it DONE."""
    operations = compute.regionOperations()
    done = operations.wait(project=project, region=REGION, operation=operation["name"]).execute()
    assert done["status"] == "DONE", done
    return done


def reserve(compute: Any, project: str, body: dict[str, Any]) -> dict[str, Any]:
    """Insert an address, wait for its operation, and return the address."""
    addresses = compute.addresses()
    finished(
        compute, project, addresses.insert(project=project, region=REGION, body=body).execute()
    )
    return addresses.get(project=project, region=REGION, address=body["name"]).execute()


def names(listed: dict[str, Any]) -> list[str]:
    return [item["name"] for item in listed.get("items", [])]


@pytest.fixture
def compute(fresh_world: dict[str, Any], api: Any) -> Any:
    return api("compute", "v1")


@pytest.fixture
def project(fresh_world: dict[str, Any]) -> str:
    return fresh_world["project_id"]


def test_an_address_is_reserved_by_an_operation_and_released_by_another(
    compute: Any, project: str, fresh_world: dict[str, Any], control: Control
) -> None:
    addresses = compute.addresses()
    body = {"name": "sax-http", "description": "sax-http", "labels": {"managed-by": "saxml-gke"}}
    operation = addresses.insert(project=project, region=REGION, body=body).execute()

    assert operation["kind"] == "compute#operation"
    assert operation["name"].startswith("operation-")
    assert operation["operationType"] == "insert"
    assert operation["status"] in ("RUNNING", "DONE")
    assert operation["user"] == fresh_world["service_account_email"]
    link = f"https://www.googleapis.com/compute/v1/projects/{project}/regions/{REGION}"
    assert operation["targetLink"] == f"{link}/addresses/sax-http"
    assert operation["selfLink"] == f"{link}/operations/{operation['name']}"
    done = finished(compute, project, operation)
    assert done["progress"] == 100 and "endTime" in done and "error" not in done
    again = compute.regionOperations().get(project=project, region=REGION, operation=done["name"])
    assert again.execute()["status"] == "DONE"

    address = addresses.get(project=project, region=REGION, address="sax-http").execute()
    assert address["kind"] == "compute#address"
    assert address["address"].startswith("127.0.")
    assert address["id"] == operation["targetId"]
    assert (address["status"], address["addressType"], address["networkTier"]) == (
        "RESERVED",
        "EXTERNAL",
        "PREMIUM",
    )
    assert address["selfLink"] == operation["targetLink"]
    assert address["region"] == link
    assert address["labels"] == {"managed-by": "saxml-gke"}
    assert address["description"] == "sax-http"
    assert address["labelFingerprint"]
    assert "users" not in address and "subnetwork" not in address
    (listed,) = [r for r in control.get("/resources").json()["resources"] if r["api"] == "compute"]
    assert (listed["kind"], listed["name"], listed["labels"]) == (
        "Address",
        f"projects/{project}/regions/{REGION}/addresses/sax-http",
        {"managed-by": "saxml-gke"},
    )

    deletion = addresses.delete(project=project, region=REGION, address="sax-http").execute()
    assert deletion["operationType"] == "delete"
    finished(compute, project, deletion)
    error = api_error(addresses.get(project=project, region=REGION, address="sax-http"))
    assert error == {
        "code": 404,
        "message": f"The resource 'projects/{project}/regions/{REGION}/addresses/sax-http' "
        "was not found",
        "errors": [{"message": error["message"], "domain": "global", "reason": "notFound"}],
    }
    assert not [r for r in control.get("/resources").json()["resources"] if r["api"] == "compute"]


def test_addresses_are_listed_by_label_and_name_filters_and_in_pages(
    compute: Any, project: str
) -> None:
    for name, team in (("alpha", "ml"), ("beta", "ml"), ("gamma", "web")):
        reserve(compute, project, {"name": name, "labels": {"team": team}})
    addresses = compute.addresses()

    def listed(query: str, **extra: Any) -> list[str]:
        response = addresses.list(project=project, region=REGION, filter=query, **extra)
        return names(response.execute())

    assert listed('labels.team = "ml"') == ["alpha", "beta"]
    assert listed('labels.team="web"') == ["gamma"]
    assert listed('name = "beta"') == ["beta"]
    assert listed('(labels.team = "ml") (name != "alpha")') == ["beta"]
    assert listed('labels.team = "ml" AND name = "b*"') == ["beta"]
    assert listed("name eq a.*|g.*") == ["alpha", "gamma"]
    assert listed('labels.owner = "me"') == []

    first = addresses.list(project=project, region=REGION, maxResults=2).execute()
    assert names(first) == ["alpha", "beta"] and first["nextPageToken"]
    second = addresses.list_next(addresses.list(project=project, region=REGION), first)
    assert names(second.execute()) == ["gamma"]

    aggregated = addresses.aggregatedList(project=project, filter='labels.team = "ml"').execute()
    assert aggregated["kind"] == "compute#addressAggregatedList"
    scoped = aggregated["items"][f"regions/{REGION}"]["addresses"]
    assert [a["name"] for a in scoped] == ["alpha", "beta"]
    assert aggregated["items"]["regions/us-central1"]["warning"]["code"] == "NO_RESULTS_ON_PAGE"

    error = api_error(addresses.list(project=project, region=REGION, filter='name = "a" OR b'))
    assert (error["code"], error["errors"][0]["reason"]) == (400, "invalid")
    assert "Invalid list filter expression." in error["message"]


def test_conflicts_and_bad_requests_answer_computes_errors(compute: Any, project: str) -> None:
    addresses = compute.addresses()
    reserve(compute, project, {"name": "taken"})

    error = api_error(addresses.insert(project=project, region=REGION, body={"name": "taken"}))
    assert (error["code"], error["errors"][0]["reason"]) == (409, "alreadyExists")
    assert error["message"] == (
        f"The resource 'projects/{project}/regions/{REGION}/addresses/taken' already exists"
    )
    assert "status" not in error

    bad_name = api_error(addresses.insert(project=project, region=REGION, body={"name": "Bad_1"}))
    assert (bad_name["code"], bad_name["errors"][0]["reason"]) == (400, "invalid")
    assert bad_name["message"].startswith("Invalid value for field 'resource.name': 'Bad_1'.")
    bad_label = api_error(
        addresses.insert(
            project=project, region=REGION, body={"name": "labelled", "labels": {"Team": "ml"}}
        )
    )
    assert "Label key 'Team' violates format constraints." in bad_label["message"]
    unknown_field = api_error(
        addresses.insert(project=project, region=REGION, body={"name": "x", "colour": "red"})
    )
    assert unknown_field["code"] == 400 and "colour" in unknown_field["message"]
    unknown_region = api_error(addresses.list(project=project, region="mars-north1"))
    assert (
        unknown_region["message"]
        == "Invalid value for field 'region': 'mars-north1'. Unknown region."
    )
    missing_rule = api_error(
        compute.forwardingRules().delete(project=project, region=REGION, forwardingRule="nope")
    )
    assert missing_rule["code"] == 404
    assert missing_rule["message"].endswith(f"regions/{REGION}/forwardingRules/nope' was not found")


def test_an_internal_address_needs_the_default_subnetwork_of_its_region(
    compute: Any, project: str
) -> None:
    addresses = compute.addresses()
    full = (
        "https://www.googleapis.com/compute/v1/"
        f"projects/{project}/regions/{REGION}/subnetworks/default"
    )
    for name, subnetwork in (
        ("partial", SUBNETWORK),
        ("project-path", f"projects/{project}/{SUBNETWORK}"),
        ("full-url", full),
    ):
        internal = reserve(
            compute, project, {"name": name, "addressType": "INTERNAL", "subnetwork": subnetwork}
        )
        assert (internal["addressType"], internal["purpose"]) == ("INTERNAL", "GCE_ENDPOINT")
        assert internal["subnetwork"] == full

    def refused(body: dict[str, Any]) -> dict[str, Any]:
        return api_error(addresses.insert(project=project, region=REGION, body=body))

    missing = refused({"name": "no-subnet", "addressType": "INTERNAL"})
    assert (missing["code"], missing["errors"][0]["reason"]) == (400, "required")
    unknown = refused(
        {
            "name": "other",
            "addressType": "INTERNAL",
            "subnetwork": f"regions/{REGION}/subnetworks/x",
        }
    )
    assert unknown["code"] == 404
    assert unknown["message"] == (
        f"The resource 'projects/{project}/regions/{REGION}/subnetworks/x' was not found"
    )
    standard = refused(
        {
            "name": "standard",
            "addressType": "INTERNAL",
            "subnetwork": SUBNETWORK,
            "networkTier": "STANDARD",
        }
    )
    assert standard["code"] == 400
    external = refused({"name": "ext", "subnetwork": SUBNETWORK})
    assert "cannot be specified with external address" in external["message"]


def test_an_explicit_ip_is_reserved_once(compute: Any, project: str) -> None:
    addresses = compute.addresses()
    body = {"name": "pinned", "addressType": "INTERNAL", "subnetwork": SUBNETWORK}
    pinned = reserve(compute, project, {**body, "address": "127.0.42.7"})
    assert pinned["address"] == "127.0.42.7"

    twice = api_error(
        addresses.insert(
            project=project, region=REGION, body={**body, "name": "again", "address": "127.0.42.7"}
        )
    )
    assert twice["code"] == 409 and "IP_IN_USE_BY_ANOTHER_RESOURCE" in twice["message"]
    outside = api_error(
        addresses.insert(
            project=project, region=REGION, body={**body, "name": "far", "address": "10.9.9.9"}
        )
    )
    assert "outside the subnetwork CIDR range" in outside["message"]


def test_permissions_are_computes(compute: Any, project: str, api: Any, issue_key: Any) -> None:
    reserve(compute, project, {"name": "visible"})
    viewer = api("compute", "v1", issue_key("compute-reader", ["roles/compute.viewer"]))
    addresses = viewer.addresses()

    assert names(addresses.list(project=project, region=REGION).execute()) == ["visible"]
    error = api_error(addresses.insert(project=project, region=REGION, body={"name": "mine"}))
    assert error == {
        "code": 403,
        "message": "Required 'compute.addresses.create' permission for "
        f"'projects/{project}/regions/{REGION}/addresses/mine'",
        "errors": [{"message": error["message"], "domain": "global", "reason": "forbidden"}],
    }


def test_without_static_address_quota_the_insert_operation_fails(
    compute: Any, project: str, control: Control
) -> None:
    apply_scenario(control, "static-address-quota")
    addresses = compute.addresses()
    operation = addresses.insert(project=project, region=REGION, body={"name": "over"}).execute()

    done = finished(compute, project, operation)
    assert done["error"]["errors"] == [
        {
            "code": "QUOTA_EXCEEDED",
            "message": f"Quota 'STATIC_ADDRESSES' exceeded.  Limit: 0.0 in region {REGION}.",
        }
    ]
    assert (done["httpErrorStatusCode"], done["httpErrorMessage"]) == (403, "FORBIDDEN")
    assert api_error(addresses.get(project=project, region=REGION, address="over"))["code"] == 404
    internal = {"name": "inside", "addressType": "INTERNAL", "subnetwork": SUBNETWORK}
    assert reserve(compute, project, internal)["status"] == "RESERVED"  # not a static address


def test_set_labels_replaces_the_labels_of_the_fingerprint_it_was_given(
    compute: Any, project: str
) -> None:
    address = reserve(compute, project, {"name": "sax-http", "labels": {"expires-at": "soon"}})
    addresses = compute.addresses()
    body = {"labels": {"expires-at": "later"}, "labelFingerprint": address["labelFingerprint"]}

    operation = addresses.setLabels(
        project=project, region=REGION, resource="sax-http", body=body
    ).execute()

    assert operation["operationType"] == "setLabels"
    finished(compute, project, operation)
    relabelled = addresses.get(project=project, region=REGION, address="sax-http").execute()
    assert relabelled["labels"] == {"expires-at": "later"}
    stale = addresses.setLabels(project=project, region=REGION, resource="sax-http", body=body)
    error = api_error(stale)
    assert error["code"] == 412
    assert error["errors"][0]["reason"] == "conditionNotMet"
