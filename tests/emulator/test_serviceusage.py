"""Service Usage v1: enabled APIs, and Google's SERVICE_DISABLED refusal of a disabled one."""

from typing import Any

import pytest

from tests.emulator.conftest import api_error
from tests.emulator.test_gke_support import apply_scenario

SERVED = {
    "cloudquotas.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "compute.googleapis.com",
    "container.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
}


@pytest.fixture
def services(fresh_world: dict[str, Any], api: Any) -> Any:
    return api("serviceusage", "v1").services()


@pytest.fixture
def parent(fresh_world: dict[str, Any]) -> str:
    return f"projects/{fresh_world['project_id']}"


def enabled(services: Any, parent: str) -> set[str]:
    listed = services.list(parent=parent, filter="state:ENABLED").execute()
    return {service["config"]["name"] for service in listed["services"]}


def test_every_served_api_is_enabled_and_others_are_not(services, parent, fresh_world):
    assert enabled(services, parent) == SERVED
    compute = services.get(name=f"{parent}/services/compute.googleapis.com").execute()
    number = fresh_world["project_number"]
    assert compute == {
        "name": f"projects/{number}/services/compute.googleapis.com",
        "config": {"name": "compute.googleapis.com", "title": "Compute Engine API"},
        "state": "ENABLED",
        "parent": f"projects/{number}",
    }
    tpu = services.get(name=f"{parent}/services/tpu.googleapis.com").execute()
    assert tpu["state"] == "DISABLED"
    disabled = services.list(parent=parent, filter="state:DISABLED").execute()["services"]
    assert "tpu.googleapis.com" in {s["config"]["name"] for s in disabled}


def test_a_disabled_api_refuses_its_calls_until_enabled_again(
    services, parent, api, issue_key, fresh_world
):
    """The operator may list services; enabling and disabling needs Service Usage Admin."""
    admin = api(
        "serviceusage", "v1", issue_key("su-admin", ["roles/serviceusage.serviceUsageAdmin"])
    )
    compute = api("compute", "v1")
    project, number = fresh_world["project_id"], fresh_world["project_number"]
    operation = admin.services().disable(name=f"{parent}/services/compute.googleapis.com", body={})
    done = operation.execute()
    assert done["done"] is True
    assert done["response"]["service"]["state"] == "DISABLED"
    assert "compute.googleapis.com" not in enabled(services, parent)

    error = api_error(compute.regions().get(project=project, region="us-west4"))
    url = f"https://console.developers.google.com/apis/api/compute.googleapis.com/overview?project={number}"
    assert error["code"] == 403 and error["status"] == "PERMISSION_DENIED"
    assert error["message"].startswith(
        f"Compute Engine API has not been used in project {number} before or it is disabled. "
        f"Enable it by visiting {url} then retry."
    )
    info = error["details"][0]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert (info["reason"], info["domain"]) == ("SERVICE_DISABLED", "googleapis.com")
    assert info["metadata"]["service"] == "compute.googleapis.com"
    assert info["metadata"]["consumer"] == f"projects/{number}"
    assert info["metadata"]["activationUrl"] == url
    assert error["errors"][0]["reason"] == "accessNotConfigured"
    # Other APIs are unaffected.
    assert api("iam", "v1").projects().serviceAccounts().list(name=parent).execute() is not None

    admin.services().enable(name=f"{parent}/services/compute.googleapis.com", body={}).execute()
    assert compute.regions().get(project=project, region="us-west4").execute()["name"] == "us-west4"


def test_the_scenario_disables_an_api_and_clearing_faults_enables_it(
    services, parent, control, gcs
):
    result = apply_scenario(control, "service-disabled", service="storage.googleapis.com")
    assert "storage.googleapis.com" not in result["enabled"]
    with pytest.raises(Exception, match="Cloud Storage API has not been used in project"):
        list(gcs.list_buckets())
    control.delete("/faults").raise_for_status()
    assert enabled(services, parent) == SERVED
    assert list(gcs.list_buckets()) == []


def test_listing_services_needs_a_service_usage_role(api, issue_key, parent):
    reader = api("serviceusage", "v1", issue_key("bucket-reader", ["roles/storage.objectViewer"]))
    assert api_error(reader.services().list(parent=parent))["code"] == 403
    viewer = api(
        "serviceusage", "v1", issue_key("su-viewer", ["roles/serviceusage.serviceUsageViewer"])
    )
    assert enabled(viewer.services(), parent) == SERVED
    refused = api_error(
        viewer.services().disable(name=f"{parent}/services/iam.googleapis.com", body={})
    )
    assert refused["code"] == 403
