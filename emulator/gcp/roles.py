"""The predefined IAM roles the emulator knows, as permission patterns.

A small catalog, not Google's full one: the basic roles and the roles a GKE + TPU + GCS
deployment grants. Permissions are fnmatch patterns (`storage.objects.*`) with exclusions, which
keeps each role one line while still denying what the real role denies (an editor cannot set
IAM policies; a service account admin cannot act as the accounts it manages).
"""

import fnmatch
from dataclasses import dataclass

from emulator.core.errors import invalid_argument


@dataclass(frozen=True)
class Role:
    granted: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    def grants(self, permission: str) -> bool:
        return any(fnmatch.fnmatchcase(permission, p) for p in self.granted) and not any(
            fnmatch.fnmatchcase(permission, p) for p in self.excluded
        )


def _verbs(resource: str, *verbs: str) -> tuple[str, ...]:
    return tuple(f"{resource}.{verb}" for verb in verbs)


_PROJECT_READ = ("resourcemanager.projects.get", "resourcemanager.projects.list")
_WRITE = ("create", "update", "delete")
_KUBERNETES_ADMIN_ONLY = (
    *_verbs("container.clusters", *_WRITE),
    *_verbs("container.clusterRoles", *_WRITE, "bind", "escalate"),
    *_verbs("container.roles", *_WRITE, "bind", "escalate"),
    *_verbs("container.clusterRoleBindings", *_WRITE),
    *_verbs("container.roleBindings", *_WRITE),
    *_verbs("container.customResourceDefinitions", *_WRITE),
    *_verbs("container.mutatingWebhookConfigurations", *_WRITE),
    *_verbs("container.validatingWebhookConfigurations", *_WRITE),
)
_SERVICE_ACCOUNT_IMPERSONATION = _verbs(
    "iam.serviceAccounts",
    "actAs",
    "getAccessToken",
    "getOpenIdToken",
    "signBlob",
    "signJwt",
    "implicitDelegation",
)
_OBJECT_USE = (
    *_verbs("storage.objects", "create", "delete", "get", "list", "restore", "update"),
    "storage.multipartUploads.*",
    "storage.managedFolders.get",
    "storage.managedFolders.list",
)

_LOAD_BALANCING = (
    "compute.addresses.*",
    "compute.forwardingRules.*",
    *_verbs("compute.regionOperations", "get", "list"),
)

ROLES: dict[str, Role] = {
    "roles/owner": Role(("*",)),
    "roles/editor": Role(("*",), ("*.setIamPolicy", "resourcemanager.projects.delete")),
    "roles/viewer": Role(("*.get", "*.list", "*.getIamPolicy"), ("container.secrets.*",)),
    "roles/container.admin": Role(("container.*", *_PROJECT_READ)),
    "roles/container.clusterAdmin": Role(
        (*_verbs("container.clusters", "*"), "container.operations.*", *_PROJECT_READ)
    ),
    "roles/container.developer": Role(("container.*", *_PROJECT_READ), _KUBERNETES_ADMIN_ONLY),
    "roles/container.viewer": Role(
        ("container.*.get", "container.*.list", "container.clusters.getCredentials"),
        ("container.secrets.*",),
    ),
    "roles/container.defaultNodeServiceAccount": Role(
        ("logging.logEntries.create", "monitoring.timeSeries.create", "autoscaling.sites.*")
    ),
    "roles/compute.loadBalancerAdmin": Role(
        (*_LOAD_BALANCING, *_verbs("compute.subnetworks", "get", "list", "use"), *_PROJECT_READ)
    ),
    "roles/compute.networkAdmin": Role(
        (*_LOAD_BALANCING, "compute.networks.*", "compute.subnetworks.*", *_PROJECT_READ),
        ("*.setIamPolicy",),
    ),
    "roles/compute.viewer": Role(("compute.*.get", "compute.*.list")),
    "roles/cloudquotas.viewer": Role(("cloudquotas.quotas.get",)),
    "roles/iam.serviceAccountAdmin": Role(
        ("iam.serviceAccounts.*", *_PROJECT_READ), _SERVICE_ACCOUNT_IMPERSONATION
    ),
    "roles/iam.serviceAccountUser": Role(
        ("iam.serviceAccounts.actAs", "iam.serviceAccounts.get", "iam.serviceAccounts.list")
    ),
    "roles/iam.serviceAccountTokenCreator": Role(
        (*_SERVICE_ACCOUNT_IMPERSONATION, "iam.serviceAccounts.get", "iam.serviceAccounts.list"),
        ("iam.serviceAccounts.actAs",),
    ),
    "roles/iam.workloadIdentityUser": Role(
        ("iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.getOpenIdToken")
    ),
    "roles/resourcemanager.projectIamAdmin": Role(
        ("resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy")
    ),
    "roles/serviceusage.serviceUsageAdmin": Role(("serviceusage.*", *_PROJECT_READ)),
    "roles/serviceusage.serviceUsageConsumer": Role(
        (*_verbs("serviceusage.services", "get", "list", "use"), "serviceusage.quotas.get")
    ),
    "roles/serviceusage.serviceUsageViewer": Role(
        (
            *_verbs("serviceusage.services", "get", "list"),
            "serviceusage.quotas.get",
            *_verbs("serviceusage.operations", "get", "list"),
        )
    ),
    "roles/storage.admin": Role(("storage.*", *_PROJECT_READ)),
    "roles/storage.objectAdmin": Role(
        ("storage.objects.*", "storage.multipartUploads.*", "storage.managedFolders.*")
    ),
    "roles/storage.objectUser": Role(_OBJECT_USE),
    "roles/storage.objectCreator": Role(("storage.objects.create", "storage.multipartUploads.*")),
    "roles/storage.objectViewer": Role(
        ("storage.objects.get", "storage.objects.list", "storage.managedFolders.get")
    ),
    "roles/storage.legacyBucketOwner": Role(
        (
            *_verbs("storage.buckets", "get", "update", "getIamPolicy", "setIamPolicy"),
            *_verbs("storage.objects", "create", "delete", "list"),
        )
    ),
    "roles/storage.legacyBucketWriter": Role(
        ("storage.buckets.get", *_verbs("storage.objects", "create", "delete", "list"))
    ),
    "roles/storage.legacyBucketReader": Role(("storage.buckets.get", "storage.objects.list")),
    "roles/storage.legacyObjectOwner": Role(
        _verbs("storage.objects", "get", "update", "getIamPolicy", "setIamPolicy")
    ),
    "roles/storage.legacyObjectReader": Role(("storage.objects.get",)),
    "roles/logging.logWriter": Role(("logging.logEntries.create", "logging.logEntries.route")),
    "roles/monitoring.metricWriter": Role(
        ("monitoring.timeSeries.create", "monitoring.metricDescriptors.*")
    ),
    "roles/monitoring.viewer": Role(("monitoring.*.get", "monitoring.*.list")),
    "roles/stackdriver.resourceMetadata.writer": Role(("stackdriver.resourceMetadata.write",)),
    "roles/artifactregistry.reader": Role(
        (
            "artifactregistry.*.get",
            "artifactregistry.*.list",
            "artifactregistry.repositories.downloadArtifacts",
        )
    ),
}

# Which roles a policy on each kind of resource accepts (a project accepts every role).
_RESOURCE_ROLE_PREFIXES = {
    "serviceAccount": ("roles/iam.", "roles/owner", "roles/editor", "roles/viewer"),
    "bucket": ("roles/storage.",),
}


def role_grants(role: str, permission: str) -> bool:
    known = ROLES.get(role)
    return known is not None and known.grants(permission)


def check_role_supported(role: str, resource_kind: str) -> None:
    """400 for a role that does not exist or cannot be granted on this kind of resource."""
    prefixes = _RESOURCE_ROLE_PREFIXES.get(resource_kind)
    if role not in ROLES or (prefixes is not None and not role.startswith(prefixes)):
        raise invalid_argument(f"Role {role} is not supported for this resource.")
