"""The control API: its guard (token, Host, JSON bodies), resources, billing, issued tokens,
faults and scenarios, reset, keys."""

import time
from urllib.parse import urlsplit

import pytest
import requests
from google.auth.transport.requests import Request

from tests.emulator.conftest import TIME_SCALE
from tests.emulator.conftest import api_error as failure

pytestmark = pytest.mark.usefixtures("fresh_world")


def _resources(control) -> list[dict]:
    return control.get("/resources").json()["resources"]


def test_resources_lists_what_exists_across_apis(emulator, control, api, gcs):
    project = emulator["project_id"]
    accounts = api("iam", "v1").projects().serviceAccounts()
    created = accounts.create(name=f"projects/{project}", body={"accountId": "sax-iam-sa"})
    account = created.execute()
    bucket = gcs.bucket("labelled-bucket")
    bucket.labels = {"app": "saxml"}
    gcs.create_bucket(bucket, location="us-west4")

    listed = {(r["api"], r["kind"], r["name"]): r for r in _resources(control)}
    assert ("iam", "ServiceAccount", account["email"]) in listed
    assert listed["storage", "Bucket", "labelled-bucket"]["labels"] == {"app": "saxml"}
    assert listed["storage", "Bucket", "labelled-bucket"]["created"].endswith("Z")

    accounts.delete(name=account["name"]).execute()
    gcs.bucket("labelled-bucket").delete()
    assert [r["name"] for r in _resources(control)] == [emulator["service_account_email"]]


def _raw(emulator, method: str, path: str, **kwargs) -> requests.Response:
    """A request to the control API as anyone may send it: no token unless given."""
    url = emulator["endpoints"]["control"] + path
    return requests.request(method, url, timeout=10, **kwargs)


def _bearer(emulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator['control_token']}"}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic x", "Bearer é"])
def test_every_route_needs_the_control_token(emulator, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [("GET", "/resources"), ("GET", "/tokens"), ("POST", "/reset")]:
        refused = _raw(emulator, method, path, headers=headers)
        assert refused.status_code == 401, (method, path)
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "control_token" in refused.json()["error"]["message"]


def test_a_foreign_host_cannot_mint_a_key(emulator, control):
    port = urlsplit(emulator["endpoints"]["control"]).port
    body = {"account_id": "rebound", "roles": ["roles/owner"]}
    for host in (f"attacker.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}"):
        headers = {**_bearer(emulator), "Host": host}
        refused = _raw(emulator, "POST", "/keys", json=body, headers=headers)
        assert refused.status_code == 421, host
        assert "private_key" not in refused.text
    assert "rebound" not in str(_resources(control))
    localhost = {**_bearer(emulator), "Host": f"localhost:{port}"}
    assert _raw(emulator, "GET", "/billing", headers=localhost).status_code == 200


def test_a_cross_origin_text_plain_reset_is_refused(emulator, control, gcs):
    gcs.create_bucket("kept-bucket", location="us-west4")
    # What a web page can send without a CORS preflight: a "simple" POST, text/plain.
    simple = {"Content-Type": "text/plain", "Origin": "https://attacker.example"}
    assert _raw(emulator, "POST", "/reset", data="{}", headers=simple).status_code == 401
    with_token = {**simple, **_bearer(emulator)}
    refused = _raw(emulator, "POST", "/reset", data="{}", headers=with_token)
    assert refused.status_code == 415
    assert "application/json" in refused.json()["error"]["message"]
    form = {**_bearer(emulator), "Content-Type": "application/x-www-form-urlencoded"}
    assert _raw(emulator, "POST", "/faults", data="a=b", headers=form).status_code == 415
    assert "kept-bucket" in [r["name"] for r in _resources(control)]


def test_the_issued_access_tokens_are_listed(control, credentials):
    credentials.refresh(Request())
    listed = control.get("/tokens").json()["tokens"]
    assert {"account": credentials.service_account_email, "access_token": credentials.token} in (
        listed
    )


def test_the_jobset_release_needs_no_token(emulator):
    served = requests.get(emulator["jobset_manifest_url"], timeout=10)
    assert served.status_code == 200
    assert not emulator["jobset_manifest_url"].startswith(emulator["endpoints"]["control"])


def test_billing_is_empty_without_tpu_node_pools(control):
    assert control.get("/billing").json() == {"node_pools": [], "total_chip_seconds": 0}


def test_a_method_fault_fails_the_next_calls_then_is_gone(emulator, control, api):
    fault = {"method": "iam.projects.serviceAccounts.list", "status": 503, "times": 2}
    control.post("/faults", json={**fault, "message": "backend unavailable"}).raise_for_status()
    assert [f["method"] for f in control.get("/faults").json()["faults"]] == [fault["method"]]
    listing = (
        api("iam", "v1")
        .projects()
        .serviceAccounts()
        .list(name=f"projects/{emulator['project_id']}")
    )

    for _ in range(2):
        error = failure(listing)
        assert (error["code"], error["message"]) == (503, "backend unavailable")
    assert listing.execute()["accounts"]
    assert control.get("/faults").json()["faults"] == []


def test_a_fault_pattern_matches_several_methods(emulator, control, api):
    control.post("/faults", json={"method": "cloudresourcemanager.*", "status": 429, "times": 2})
    projects = api("cloudresourcemanager", "v1").projects()

    assert failure(projects.get(projectId=emulator["project_id"]))["code"] == 429
    assert failure(projects.getIamPolicy(resource=emulator["project_id"], body={}))["code"] == 429
    assert projects.get(projectId=emulator["project_id"]).execute()["projectId"]


def test_a_delay_fault_slows_the_call_by_the_scaled_delay(emulator, control, api):
    delay = 250.0  # modelled seconds
    control.post("/faults", json={"method": "cloudresourcemanager.projects.get", "delay": delay})
    get = api("cloudresourcemanager", "v1").projects().get(projectId=emulator["project_id"])

    started = time.monotonic()
    get.execute()

    assert time.monotonic() - started >= delay * TIME_SCALE


@pytest.mark.parametrize(
    "body",
    [
        {"method": "storage.*"},
        {"method": "storage.*", "status": 503, "fraction": 2},
        {"method": "storage.*", "status": 503, "times": 0},
        {"method": "storage.*", "status": 503, "colour": "red"},
        {"scenario": "no-such-scenario"},
        {"scenario": "iam-propagation-delay", "params": {"seconds": -1}},
        {"scenario": "bucket-owned-by-other-project", "params": {"bucket": "Bad Name"}},
    ],
)
def test_an_invalid_fault_is_400(control, body):
    assert control.post("/faults", json=body).status_code == 400


def test_every_scenario_is_listed(control):
    scenarios = set(control.get("/faults").json()["scenarios"])

    assert {
        "iam-propagation-delay",
        "bucket-owned-by-other-project",
        "tpu-stockout",
        "slow-operations",
    } <= scenarios


def test_delete_faults_clears_method_faults_and_resets_scenarios(control, gcs):
    scenario = {"scenario": "bucket-owned-by-other-project", "params": {"bucket": "taken-name"}}
    control.post("/faults", json=scenario).raise_for_status()
    control.post("/faults", json={"method": "no.such.method", "status": 500}).raise_for_status()

    control.delete("/faults").raise_for_status()

    assert control.get("/faults").json()["faults"] == []
    assert gcs.create_bucket("taken-name", location="us-west4").name == "taken-name"


def test_reset_forgets_everything_but_the_operator_key(emulator, control, gcs, issue_key):
    gcs.create_bucket("forgotten-bucket", location="us-west4")
    issue_key("forgotten-account", ["roles/viewer"])

    control.post("/reset").raise_for_status()

    assert [r["name"] for r in _resources(control)] == [emulator["service_account_email"]]
    assert list(gcs.list_buckets()) == []


@pytest.mark.parametrize(
    "body",
    [
        {"account_id": "valid-account", "roles": ["roles/no.suchRole"]},
        {"account_id": "x", "roles": []},
        {"account_id": "valid-account", "roles": "roles/viewer"},
    ],
)
def test_an_invalid_key_request_is_400(control, body):
    assert control.post("/keys", json=body).status_code == 400
