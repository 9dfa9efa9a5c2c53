"""Names and labels the release's objects share (kustomize's `jobset-` prefix and labels)."""

from emulator.kube.controllers import jobset_api

RELEASE = "v0.12.0"  # the tag: the manager's image and the release's download path
GROUP, API_VERSION = jobset_api.API_VERSION.split("/")
MANAGER_NAMESPACE = jobset_api.MANAGER_NAMESPACE
MANAGER = jobset_api.MANAGER_DEPLOYMENT  # also its ServiceAccount's name
WEBHOOK_SERVICE = "jobset-webhook-service"
WEBHOOK_CERT_SECRET = "jobset-webhook-server-cert"
MANAGER_CONFIG = "jobset-manager-config"
# config/default's commonLabels, on every object.
COMMON_LABELS = {
    "app.kubernetes.io/instance": "jobset",
    "app.kubernetes.io/managed-by": "kustomize",
    "app.kubernetes.io/name": "jobset",
}
# The manager's pods: what its Deployment and both Services select.
MANAGER_SELECTOR = {**COMMON_LABELS, "control-plane": "controller-manager"}


def labels(component: str) -> dict[str, str]:
    """The labels of an object of one part of the release (`manager`, `rbac`, `webhook`)."""
    return {
        **COMMON_LABELS,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/created-by": "jobset",
        "app.kubernetes.io/part-of": "jobset",
    }
