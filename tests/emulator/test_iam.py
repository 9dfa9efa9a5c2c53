"""IAM v1 service accounts and their policies, through the discovery client."""

import time

import pytest
from googleapiclient.errors import HttpError

from tests.emulator.conftest import TIME_SCALE, create_cluster_with_workload_identity
from tests.emulator.conftest import api_error as failure

pytestmark = pytest.mark.usefixtures("fresh_world")


@pytest.fixture
def accounts(api):
    return api("iam", "v1").projects().serviceAccounts()


@pytest.fixture
def project(emulator):
    return emulator["project_id"]


def _create(accounts, project, account_id, **details):
    body = {"accountId": account_id, "serviceAccount": details}
    return accounts.create(name=f"projects/{project}", body=body).execute()


def test_create_get_list_delete(accounts, project):
    created = _create(accounts, project, "sax-iam-sa", displayName="Saxml")
    email = f"sax-iam-sa@{project}.iam.gserviceaccount.com"
    assert created["email"] == email
    assert created["name"] == f"projects/{project}/serviceAccounts/{email}"
    assert created["displayName"] == "Saxml"

    assert accounts.get(name=f"projects/-/serviceAccounts/{email}").execute() == created
    by_id = accounts.get(name=f"projects/{project}/serviceAccounts/{created['uniqueId']}")
    assert by_id.execute()["email"] == email
    listed = accounts.list(name=f"projects/{project}").execute()["accounts"]
    assert email in [account["email"] for account in listed]

    assert accounts.delete(name=created["name"]).execute() == {}
    assert failure(accounts.get(name=created["name"]))["code"] == 404


def test_creating_an_existing_account_is_409(accounts, project):
    _create(accounts, project, "sax-iam-sa")

    error = failure(accounts.create(name=f"projects/{project}", body={"accountId": "sax-iam-sa"}))

    assert (error["code"], error["status"]) == (409, "ALREADY_EXISTS")


@pytest.mark.parametrize(
    "body",
    [
        {"accountId": "no"},
        {"accountId": "Upper-Case-Id"},
        {"accountId": "valid-name", "bogus": True},
        {"accountId": "valid-name", "serviceAccount": {"displayName": 7}},
    ],
)
def test_an_invalid_create_body_is_400(accounts, project, body):
    error = failure(accounts.create(name=f"projects/{project}", body=body))

    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")


def test_a_missing_account_is_404(accounts, project):
    name = f"projects/{project}/serviceAccounts/nobody@{project}.iam.gserviceaccount.com"

    assert failure(accounts.get(name=name))["code"] == 404
    assert failure(accounts.delete(name=name))["code"] == 404


def test_list_pages(accounts, project):
    for index in range(3):
        _create(accounts, project, f"paged-account-{index}")

    first = accounts.list(name=f"projects/{project}", pageSize=2).execute()
    second = accounts.list_next(accounts.list(name=f"projects/{project}", pageSize=2), first)

    assert len(first["accounts"]) == 2
    assert len(second.execute()["accounts"]) == 2  # the operator's account is the fourth


def test_service_account_policy_round_trip_with_etag(emulator, accounts, project):
    target = _create(accounts, project, "sax-iam-sa")["name"]
    policy = accounts.getIamPolicy(resource=target).execute()
    member = f"serviceAccount:{emulator['service_account_email']}"
    policy["bindings"] = [{"role": "roles/iam.serviceAccountUser", "members": [member]}]

    stored = accounts.setIamPolicy(resource=target, body={"policy": policy}).execute()

    assert stored["bindings"] == policy["bindings"]
    assert stored["etag"] != policy["etag"]
    assert accounts.getIamPolicy(resource=target).execute() == stored


def test_a_stale_etag_is_409_aborted(emulator, accounts, project):
    target = _create(accounts, project, "sax-iam-sa")["name"]
    stale = accounts.getIamPolicy(resource=target).execute()
    member = f"serviceAccount:{emulator['service_account_email']}"
    fresh = {**stale, "bindings": [{"role": "roles/iam.serviceAccountUser", "members": [member]}]}
    accounts.setIamPolicy(resource=target, body={"policy": fresh}).execute()

    error = failure(accounts.setIamPolicy(resource=target, body={"policy": stale}))

    assert (error["code"], error["status"]) == (409, "ABORTED")


def test_a_role_that_does_not_apply_to_service_accounts_is_400(emulator, accounts, project):
    target = _create(accounts, project, "sax-iam-sa")["name"]
    member = f"serviceAccount:{emulator['service_account_email']}"
    policy = {"bindings": [{"role": "roles/storage.admin", "members": [member]}]}

    assert failure(accounts.setIamPolicy(resource=target, body={"policy": policy}))["code"] == 400


def test_workload_identity_member_needs_a_cluster_with_workload_identity(
    emulator, credentials, accounts, project
):
    target = _create(accounts, project, "sax-iam-sa")["name"]
    binding = {
        "role": "roles/iam.workloadIdentityUser",
        "members": [f"serviceAccount:{project}.svc.id.goog[default/sax-sa]"],
    }
    set_policy = accounts.setIamPolicy(resource=target, body={"policy": {"bindings": [binding]}})

    error = failure(set_policy)
    assert error["code"] == 400
    assert f"Identity Pool does not exist ({project}.svc.id.goog)" in error["message"]

    create_cluster_with_workload_identity(emulator, credentials)

    stored = set_policy.execute()
    assert stored["bindings"] == [binding]


def test_a_new_account_is_not_a_policy_member_until_iam_propagated(control, api, accounts, project):
    delay = 500.0  # modelled seconds
    control.post(
        "/faults", json={"scenario": "iam-propagation-delay", "params": {"seconds": delay}}
    )
    created_at = time.monotonic()
    email = _create(accounts, project, "sax-iam-sa")["email"]
    projects = api("cloudresourcemanager", "v1").projects()

    def grant():
        policy = projects.getIamPolicy(resource=project, body={}).execute()
        member = f"serviceAccount:{email}"
        policy["bindings"].append({"role": "roles/storage.objectAdmin", "members": [member]})
        return projects.setIamPolicy(resource=project, body={"policy": policy})

    error = failure(grant())
    assert (error["code"], error["message"]) == (400, f"Service account {email} does not exist.")

    while True:
        try:
            grant().execute()
            break
        except HttpError as error:
            assert error.status_code == 400
            assert time.monotonic() - created_at < delay * TIME_SCALE + 5
            time.sleep(0.05)
    assert time.monotonic() - created_at >= delay * TIME_SCALE


def test_patch_updates_the_fields_its_mask_names(accounts, project):
    created = _create(accounts, project, "sax-iam-sa", displayName="Saxml", description="old")
    email = created["email"]
    name = f"projects/-/serviceAccounts/{email}"
    body = {"serviceAccount": {"description": "new", "displayName": "ignored"}}

    patched = accounts.patch(name=name, body={**body, "updateMask": "description"}).execute()

    assert (patched["description"], patched["displayName"]) == ("new", "Saxml")
    assert failure(accounts.patch(name=name, body={**body, "updateMask": "email"}))["code"] == 400
