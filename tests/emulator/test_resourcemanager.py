"""Cloud Resource Manager v1 and v3: the project and its IAM policy."""

import pytest

from tests.emulator.conftest import api_error as failure
from tests.emulator.conftest import create_cluster_with_workload_identity

pytestmark = pytest.mark.usefixtures("fresh_world")


@pytest.fixture
def v1(api):
    return api("cloudresourcemanager", "v1").projects()


@pytest.fixture
def v3(api):
    return api("cloudresourcemanager", "v3").projects()


def test_get_project_v1_and_v3(emulator, v1, v3):
    project, number = emulator["project_id"], emulator["project_number"]

    by_v1 = v1.get(projectId=project).execute()
    by_id = v3.get(name=f"projects/{project}").execute()
    by_number = v3.get(name=f"projects/{number}").execute()

    assert (by_v1["projectId"], by_v1["projectNumber"]) == (project, number)
    assert by_v1["lifecycleState"] == "ACTIVE"
    assert by_id == by_number
    assert (by_id["name"], by_id["projectId"], by_id["state"]) == (
        f"projects/{number}",
        project,
        "ACTIVE",
    )


def test_a_project_the_caller_cannot_see_is_403(v1, v3):
    assert failure(v1.get(projectId="someone-elses-project"))["code"] == 403
    assert (
        failure(v3.getIamPolicy(resource="projects/someone-elses-project", body={}))["code"] == 403
    )


def test_the_policy_grants_the_operator_its_deployment_roles(emulator, v1):
    policy = v1.getIamPolicy(
        resource=emulator["project_id"], body={"options": {"requestedPolicyVersion": 3}}
    ).execute()

    member = f"serviceAccount:{emulator['service_account_email']}"
    roles = {binding["role"] for binding in policy["bindings"] if member in binding["members"]}
    assert {"roles/container.admin", "roles/storage.admin"} <= roles
    assert "roles/owner" not in roles
    assert policy["etag"]


@pytest.mark.parametrize("version", ["v1", "v3"])
def test_read_modify_write_with_etags(emulator, api, version):
    projects = api("cloudresourcemanager", version).projects()
    resource = emulator["project_id"] if version == "v1" else f"projects/{emulator['project_id']}"
    stale = projects.getIamPolicy(resource=resource, body={}).execute()
    member = f"serviceAccount:{emulator['service_account_email']}"
    viewer = {"role": "roles/viewer", "members": [member]}
    changed = {**stale, "bindings": [*stale["bindings"], viewer]}

    stored = projects.setIamPolicy(resource=resource, body={"policy": changed}).execute()
    conflict = failure(projects.setIamPolicy(resource=resource, body={"policy": stale}))

    assert viewer in stored["bindings"]
    assert stored["etag"] != stale["etag"]
    assert (conflict["code"], conflict["status"]) == (409, "ABORTED")


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ({"role": "roles/no.suchRole", "members": ["user:a@example.com"]}, "not supported"),
        ({"role": "roles/viewer", "members": ["nobody"]}, "Invalid member"),
        ({"role": "roles/viewer", "members": ["projectOwner:x"]}, "Invalid member"),
        ({"role": "roles/viewer", "members": [7]}, "Invalid value"),
        ({"role": "roles/viewer", "memberz": ["user:a@example.com"]}, "Unknown name"),
    ],
)
def test_an_invalid_policy_is_400(emulator, v1, binding, message):
    policy = {"bindings": [binding]}

    error = failure(v1.setIamPolicy(resource=emulator["project_id"], body={"policy": policy}))

    assert error["code"] == 400
    assert message in error["message"]


def test_a_workload_identity_principal_needs_the_pool(emulator, credentials, v1):
    project, number = emulator["project_id"], emulator["project_number"]
    principal = (
        f"principal://iam.googleapis.com/projects/{number}/locations/global/"
        f"workloadIdentityPools/{project}.svc.id.goog/subject/ns/default/sa/sax-sa"
    )

    def grant():
        policy = v1.getIamPolicy(resource=project, body={}).execute()
        binding = {"role": "roles/storage.objectViewer", "members": [principal]}
        return v1.setIamPolicy(
            resource=project,
            body={"policy": {**policy, "bindings": [*policy["bindings"], binding]}},
        )

    assert failure(grant())["code"] == 400
    create_cluster_with_workload_identity(emulator, credentials)
    assert principal in str(grant().execute()["bindings"])


def test_setting_the_policy_needs_the_permission(emulator, api, issue_key):
    viewer = issue_key("project-viewer", ["roles/viewer"])
    projects = api("cloudresourcemanager", "v1", viewer).projects()
    policy = projects.getIamPolicy(resource=emulator["project_id"], body={}).execute()

    assert (
        failure(projects.setIamPolicy(resource=emulator["project_id"], body={"policy": policy}))[
            "code"
        ]
        == 403
    )
