"""Resource Manager's projects.testIamPermissions: the subset of permissions the caller holds."""

from typing import Any

import pytest

from tests.emulator.conftest import api_error

# What a deployment's steps need, as its preflight would ask.
DEPLOYMENT = [
    "container.clusters.create",
    "container.clusters.get",
    "container.operations.get",
    "iam.serviceAccounts.create",
    "iam.serviceAccounts.actAs",
    "resourcemanager.projects.getIamPolicy",
    "resourcemanager.projects.setIamPolicy",
    "storage.buckets.create",
    "storage.objects.create",
    "compute.addresses.create",
    "compute.forwardingRules.delete",
    "compute.regions.get",
    "compute.machineTypes.list",
    "compute.acceleratorTypes.list",
    "compute.reservations.get",
    "compute.reservations.list",
    "serviceusage.services.list",
    "serviceusage.services.get",
]


def held(projects: Any, resource: str, permissions: list[str]) -> list[str]:
    answer = projects.testIamPermissions(resource=resource, body={"permissions": permissions})
    return answer.execute().get("permissions", [])


@pytest.mark.parametrize("version", ["v1", "v3"])
def test_the_operator_holds_every_permission_a_deployment_needs(api, fresh_world, version):
    projects = api("cloudresourcemanager", version).projects()
    project = fresh_world["project_id"]
    resource = project if version == "v1" else f"projects/{project}"
    assert held(projects, resource, DEPLOYMENT) == DEPLOYMENT
    assert held(projects, resource, ["resourcemanager.projects.delete"]) == []


def test_a_caller_with_fewer_roles_holds_only_what_they_grant(api, issue_key, fresh_world):
    credentials = issue_key("viewer", ["roles/container.viewer", "roles/storage.objectViewer"])
    projects = api("cloudresourcemanager", "v1", credentials).projects()
    assert held(projects, fresh_world["project_id"], DEPLOYMENT) == [
        "container.clusters.get",
        "container.operations.get",
    ]
    both = held(
        projects, fresh_world["project_id"], ["storage.objects.get", "storage.objects.create"]
    )
    assert both == ["storage.objects.get"]


def test_malformed_permissions_and_other_projects_are_refused(api, fresh_world):
    projects = api("cloudresourcemanager", "v1").projects()
    bad = api_error(
        projects.testIamPermissions(
            resource=fresh_world["project_id"], body={"permissions": ["storage.*"]}
        )
    )
    assert (bad["code"], bad["message"]) == (400, "Permission storage.* is not valid.")
    other = api_error(
        projects.testIamPermissions(
            resource="someone-elses-project", body={"permissions": ["storage.buckets.get"]}
        )
    )
    assert other["code"] == 403
