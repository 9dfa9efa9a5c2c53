"""The controller manager as the release runs it (config/manager, config/webhook): its namespace,
ServiceAccount, configuration, Deployment, the Services in front of it, and the webhook
configurations that route JobSet and JobSet-pod writes to it.

The Deployment is what the emulator's image model (`emulator.kube.images.jobset`) expects of it:
the image, probes on its probe port, and the webhook server's port behind the webhook Service.
The webhook cert Secret starts empty: the manager's internal cert management fills it.
"""

from typing import Any

import yaml

from emulator.kube.controllers import jobset_api
from emulator.kube.images import jobset as manager_image
from emulator.kube.jobset_release.names import (
    API_VERSION,
    COMMON_LABELS,
    GROUP,
    MANAGER,
    MANAGER_CONFIG,
    MANAGER_NAMESPACE,
    MANAGER_SELECTOR,
    RELEASE,
    WEBHOOK_CERT_SECRET,
    WEBHOOK_SERVICE,
    labels,
)

METRICS_PORT = 8443
_CONFIG_FILE = "controller_manager_config.yaml"
_CONFIG = {
    "apiVersion": "config.jobset.x-k8s.io/v1alpha1",
    "kind": "Configuration",
    "leaderElection": {"leaderElect": True},
    "internalCertManagement": {"enable": True},
}
_JOBSET_RULE = {"apiGroups": [GROUP], "apiVersions": [API_VERSION], "resources": ["jobsets"]}
_POD_RULE = {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
# The pod webhooks see only JobSets' pods.
_JOBSET_PODS = {"matchExpressions": [{"key": jobset_api.JOBSET_NAME, "operator": "Exists"}]}


def namespace() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": MANAGER_NAMESPACE,
            "labels": {**labels("manager"), **MANAGER_SELECTOR},
        },
    }


def service_account() -> dict[str, Any]:
    return _namespaced("v1", "ServiceAccount", MANAGER, labels("rbac"))


def manager_objects() -> list[dict[str, Any]]:
    """The configuration, cert Secret, Services and Deployment, in the release's order."""
    return [
        {
            **_namespaced("v1", "ConfigMap", MANAGER_CONFIG, COMMON_LABELS),
            "data": {_CONFIG_FILE: yaml.safe_dump(_CONFIG, sort_keys=False)},
        },
        _namespaced("v1", "Secret", WEBHOOK_CERT_SECRET, COMMON_LABELS),
        _service(
            "jobset-controller-manager-metrics-service",
            MANAGER_SELECTOR,
            {"name": "https", "port": METRICS_PORT, "targetPort": METRICS_PORT},
        ),
        _service(
            WEBHOOK_SERVICE,
            labels("webhook"),
            {"port": 443, "targetPort": manager_image.WEBHOOK_PORT},
        ),
        _deployment(),
    ]


def webhook_configurations() -> list[dict[str, Any]]:
    """mjobset/mpod and vjobset/vpod, each failing closed while the manager does not answer."""
    mutating = [
        _webhook("mjobset.kb.io", "/mutate-jobset-x-k8s-io-v1alpha2-jobset", _JOBSET_RULE),
        _webhook("mpod.kb.io", "/mutate--v1-pod", _POD_RULE, _JOBSET_PODS),
    ]
    validating = [
        _webhook(
            "vjobset.kb.io",
            "/validate-jobset-x-k8s-io-v1alpha2-jobset",
            _JOBSET_RULE,
            operations=["CREATE", "UPDATE"],
        ),
        _webhook("vpod.kb.io", "/validate--v1-pod", _POD_RULE, _JOBSET_PODS),
    ]
    return [
        _webhook_configuration("MutatingWebhookConfiguration", "mutating", mutating),
        _webhook_configuration("ValidatingWebhookConfiguration", "validating", validating),
    ]


def _namespaced(api_version: str, kind: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    metadata = {"name": name, "namespace": MANAGER_NAMESPACE, "labels": dict(labels)}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def _service(name: str, labels: dict[str, str], port: dict[str, Any]) -> dict[str, Any]:
    spec = {"ports": [{**port, "protocol": "TCP"}], "selector": dict(MANAGER_SELECTOR)}
    return {**_namespaced("v1", "Service", name, labels), "spec": spec}


def _deployment() -> dict[str, Any]:
    container = {
        "name": "manager",
        "image": f"{manager_image.IMAGE}:{RELEASE}",
        "command": ["/manager"],
        "args": [f"--config=/{_CONFIG_FILE}", "--zap-log-level=2"],
        "ports": [
            {"containerPort": METRICS_PORT, "name": "metrics", "protocol": "TCP"},
            {
                "containerPort": manager_image.WEBHOOK_PORT,
                "name": "webhook-server",
                "protocol": "TCP",
            },
        ],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": manager_image.PROBE_PORT},
            "initialDelaySeconds": 15,
            "periodSeconds": 20,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": manager_image.PROBE_PORT},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
        },
        "resources": {"limits": {"memory": "4Gi"}, "requests": {"cpu": "500m", "memory": "128Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
        "volumeMounts": [
            {
                "mountPath": f"/{_CONFIG_FILE}",
                "name": "manager-config",
                "subPath": _CONFIG_FILE,
            },
            {
                "mountPath": "/tmp/k8s-webhook-server/serving-certs",
                "name": "cert",
                "readOnly": True,
            },
        ],
    }
    pod_spec = {
        "containers": [container],
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "serviceAccountName": MANAGER,
        "terminationGracePeriodSeconds": 10,
        "volumes": [
            {"name": "manager-config", "configMap": {"name": MANAGER_CONFIG}},
            {"name": "cert", "secret": {"defaultMode": 420, "secretName": WEBHOOK_CERT_SECRET}},
        ],
    }
    template = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/default-container": "manager"},
            "labels": dict(MANAGER_SELECTOR),
        },
        "spec": pod_spec,
    }
    return {
        **_namespaced("apps/v1", "Deployment", MANAGER, {**labels("manager"), **MANAGER_SELECTOR}),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(MANAGER_SELECTOR)},
            "template": template,
        },
    }


def _webhook(
    name: str,
    path: str,
    rule: dict[str, Any],
    object_selector: dict[str, Any] | None = None,
    operations: list[str] | None = None,
) -> dict[str, Any]:
    service = {"name": WEBHOOK_SERVICE, "namespace": MANAGER_NAMESPACE, "path": path}
    webhook: dict[str, Any] = {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": {"service": service},
        "failurePolicy": "Fail",
        "rules": [{**rule, "operations": operations or ["CREATE"]}],
        "sideEffects": "None",
    }
    if object_selector is not None:
        webhook["objectSelector"] = object_selector
    return webhook


def _webhook_configuration(
    kind: str, purpose: str, webhooks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {
            "name": f"jobset-{purpose}-webhook-configuration",
            "labels": dict(COMMON_LABELS),
        },
        "webhooks": webhooks,
    }
