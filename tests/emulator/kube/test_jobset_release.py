"""JobSet's release as the emulator builds it: upstream's objects, valid for the cluster's
Kubernetes version, wired to what the manager's image model serves, and a CRD whose structural
schema holds JobSets to that version's job and pod template."""

import copy
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest
import requests
import yaml
from kubernetes_validate.utils import ValidationError

from emulator.core.clock import Clock
from emulator.kube.apiserver import schemas
from emulator.kube.controllers.jobset_webhooks import JobSetWebhooks
from emulator.kube.crd_schema import crd_version_schema, validation_errors
from emulator.kube.images import jobset as manager_image
from emulator.kube.jobset_release import (
    DEFAULT_KUBERNETES_VERSION,
    RELEASE,
    release_objects,
    release_yaml,
)
from emulator.kube.store import Store
from saxml_gke.manifests import render_objects
from saxml_gke.spec import build_spec
from tests.emulator.conftest import Ready

RELEASE_OBJECTS = [
    ("Namespace", "jobset-system"),
    ("CustomResourceDefinition", "jobsets.jobset.x-k8s.io"),
    ("ServiceAccount", "jobset-controller-manager"),
    ("Role", "jobset-leader-election-role"),
    ("Role", "jobset-manager-secrets-role"),
    ("ClusterRole", "jobset-manager-role"),
    ("ClusterRole", "jobset-metrics-reader"),
    ("ClusterRole", "jobset-proxy-role"),
    ("RoleBinding", "jobset-leader-election-rolebinding"),
    ("RoleBinding", "jobset-manager-secrets-rolebinding"),
    ("ClusterRoleBinding", "jobset-manager-rolebinding"),
    ("ClusterRoleBinding", "jobset-metrics-reader-rolebinding"),
    ("ClusterRoleBinding", "jobset-proxy-rolebinding"),
    ("ConfigMap", "jobset-manager-config"),
    ("Secret", "jobset-webhook-server-cert"),
    ("Service", "jobset-controller-manager-metrics-service"),
    ("Service", "jobset-webhook-service"),
    ("Deployment", "jobset-controller-manager"),
    ("MutatingWebhookConfiguration", "jobset-mutating-webhook-configuration"),
    ("ValidatingWebhookConfiguration", "jobset-validating-webhook-configuration"),
]
NEWER = "1.36.0"  # the Kubernetes release upstream's v0.12.0 CRD was generated from


def one(kind: str, objects: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    (found,) = [obj for obj in objects or release_objects() if obj["kind"] == kind]
    return found


def crd_schema(kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> dict[str, Any]:
    crd = one("CustomResourceDefinition", release_objects(kubernetes_version))
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def pod_template(schema: dict[str, Any]) -> dict[str, Any]:
    """spec.replicatedJobs[].template.spec.template: the pod template of a replicated job."""
    replicated_job = schema["properties"]["spec"]["properties"]["replicatedJobs"]["items"]
    return replicated_job["properties"]["template"]["properties"]["spec"]["properties"]["template"]


def tutorial_jobset() -> dict[str, Any]:
    spec = build_spec({"project_id": "my-project", "zone": "us-west4-a"}, now=datetime.now(UTC))
    return one("JobSet", render_objects(spec))


def kubernetes_validate_definition(kubernetes_version: str, name: str) -> dict[str, Any]:
    return schemas.definitions(schemas.schema_directory(kubernetes_version))[name]


def test_the_release_holds_upstreams_objects_in_apply_order() -> None:
    objects = release_objects()
    assert [(obj["kind"], obj["metadata"]["name"]) for obj in objects] == RELEASE_OBJECTS
    namespaced = [obj for obj in objects if "namespace" in obj["metadata"]]
    assert {obj["metadata"]["namespace"] for obj in namespaced} == {"jobset-system"}
    unchanged = copy.deepcopy(objects)
    pod_template(objects[1]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]).clear()
    objects[1]["spec"]["versions"][0]["additionalPrinterColumns"].pop()
    assert release_objects() == unchanged  # what a client does to its copy stays there


def test_every_object_is_valid_for_the_clusters_kubernetes_version() -> None:
    for obj in release_objects():
        kubernetes_validate.validate(obj, DEFAULT_KUBERNETES_VERSION, strict=True)
    deployment = one("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["bogus"] = True
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(deployment, DEFAULT_KUBERNETES_VERSION, strict=True)


def test_the_manager_is_wired_as_its_image_model_serves() -> None:
    """Webhooks call paths the manager handles, through a Service onto its webhook port; its
    readiness probe is the port the image answers; its volumes and RBAC name the release's own
    ConfigMap, Secret and ServiceAccount."""
    objects = release_objects()
    deployment = one("Deployment", objects)
    pod = deployment["spec"]["template"]
    (manager,) = pod["spec"]["containers"]
    assert (
        manager["image"]
        == f"{manager_image.IMAGE}:{RELEASE}"
        == ("registry.k8s.io/jobset/jobset:v0.12.0")
    )
    assert manager["readinessProbe"]["httpGet"] == {
        "path": "/readyz",
        "port": manager_image.PROBE_PORT,
    }
    assert manager["livenessProbe"]["httpGet"]["port"] == manager_image.PROBE_PORT
    assert {
        "containerPort": manager_image.WEBHOOK_PORT,
        "name": "webhook-server",
        "protocol": "TCP",
    } in manager["ports"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    )

    services = {s["metadata"]["name"]: s for s in objects if s["kind"] == "Service"}
    for service in services.values():
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (webhook_port,) = services["jobset-webhook-service"]["spec"]["ports"]
    assert (webhook_port["port"], webhook_port["targetPort"]) == (443, manager_image.WEBHOOK_PORT)

    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    assert (
        volumes["manager-config"]["configMap"]["name"]
        == one("ConfigMap", objects)["metadata"]["name"]
    )
    assert volumes["cert"]["secret"]["secretName"] == one("Secret", objects)["metadata"]["name"]
    config = yaml.safe_load(one("ConfigMap", objects)["data"]["controller_manager_config.yaml"])
    assert config["internalCertManagement"] == {"enable": True}

    account = pod["spec"]["serviceAccountName"]
    bindings = [obj for obj in objects if obj["kind"].endswith("Binding")]
    assert len(bindings) == 5
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account, "namespace": "jobset-system"}
        ]
        (role,) = [
            obj
            for obj in objects
            if obj["kind"] == binding["roleRef"]["kind"]
            and obj["metadata"]["name"] == binding["roleRef"]["name"]
        ]
        assert role["metadata"].get("namespace") == binding["metadata"].get("namespace")


def test_the_webhooks_select_and_call_as_upstreams() -> None:
    served = set(JobSetWebhooks(Store(Clock(1.0))).handlers())
    webhooks = {
        webhook["name"]: webhook
        for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
        for webhook in one(kind)["webhooks"]
    }
    assert sorted(webhooks) == ["mjobset.kb.io", "mpod.kb.io", "vjobset.kb.io", "vpod.kb.io"]
    assert {w["clientConfig"]["service"]["path"] for w in webhooks.values()} == served
    for name, webhook in webhooks.items():
        assert webhook["failurePolicy"] == "Fail" and webhook["sideEffects"] == "None"
        assert webhook["clientConfig"]["service"]["name"] == "jobset-webhook-service"
        (rule,) = webhook["rules"]
        if name.endswith("pod.kb.io"):
            assert (rule["resources"], rule["operations"]) == (["pods"], ["CREATE"])
            assert webhook["objectSelector"] == {
                "matchExpressions": [
                    {"key": "jobset.sigs.k8s.io/jobset-name", "operator": "Exists"}
                ]
            }
        else:
            assert rule["apiGroups"] == ["jobset.x-k8s.io"] and "objectSelector" not in webhook
    assert webhooks["vjobset.kb.io"]["rules"][0]["operations"] == ["CREATE", "UPDATE"]
    assert webhooks["mjobset.kb.io"]["rules"][0]["operations"] == ["CREATE"]


def test_the_crd_serves_v1alpha2_with_status_and_printer_columns() -> None:
    spec = one("CustomResourceDefinition")["spec"]
    assert (spec["group"], spec["scope"], spec["names"]["kind"]) == (
        "jobset.x-k8s.io",
        "Namespaced",
        "JobSet",
    )
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha2", True, True)
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "TerminalState",
        "Restarts",
        "Completed",
        "Suspended",
        "Age",
    ]
    properties = version["schema"]["openAPIV3Schema"]["properties"]
    assert set(properties["spec"]["properties"]) == {
        "replicatedJobs",
        "network",
        "successPolicy",
        "failurePolicy",
        "startupPolicy",
        "suspend",
        "coordinator",
        "managedBy",
        "ttlSecondsAfterFinished",
        "volumeClaimPolicies",
    }
    assert set(properties["status"]["properties"]) == {
        "conditions",
        "restarts",
        "restartsCountTowardsMax",
        "currentInPlaceRestartAttempt",
        "previousInPlaceRestartAttempt",
        "terminalState",
        "replicatedJobsStatus",
    }


def structural_violations(schema: dict[str, Any], path: str = "") -> list[str]:
    """What the API server refuses in a CRD's schema, for the rules a derived schema could break."""
    found = []
    int_or_string = schema.get("x-kubernetes-int-or-string")
    if "$ref" in schema:
        found.append(f"{path}: $ref")
    if not int_or_string and not isinstance(schema.get("type"), str):
        found.append(f"{path}: type {schema.get('type')!r}")
    if "additionalProperties" in schema and (
        "properties" in schema or not isinstance(schema["additionalProperties"], dict)
    ):
        found.append(f"{path}: additionalProperties")
    if any(key.startswith("x-kubernetes-patch") for key in schema):
        found.append(f"{path}: strategic merge patch extension")
    items = schema.get("items") or {}
    for key in schema.get("x-kubernetes-list-map-keys") or []:
        key_schema = (items.get("properties") or {}).get(key, {})
        if key not in (items.get("required") or []) and "default" not in key_schema:
            found.append(f"{path}: list map key {key} neither required nor defaulted")
    for name, sub in (schema.get("properties") or {}).items():
        found += structural_violations(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += structural_violations(schema[key], f"{path}[]")
    return found


@pytest.mark.parametrize("kubernetes_version", [DEFAULT_KUBERNETES_VERSION, NEWER])
def test_the_crd_schema_is_structural(kubernetes_version: str) -> None:
    schema = crd_schema(kubernetes_version)
    assert structural_violations(schema) == []
    pod_spec = pod_template(schema)["properties"]["spec"]
    ports = pod_spec["properties"]["containers"]["items"]["properties"]["ports"]
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert ports["items"]["properties"]["protocol"]["default"] == "TCP"
    limits = pod_spec["properties"]["containers"]["items"]["properties"]["resources"]
    quantity = limits["properties"]["limits"]["additionalProperties"]
    assert quantity["x-kubernetes-int-or-string"] is True and "pattern" in quantity


@pytest.mark.parametrize(
    "definition, where",
    [
        ("io.k8s.api.batch.v1.JobSpec", ()),
        ("io.k8s.api.core.v1.PodSpec", ("template", "spec")),
        ("io.k8s.api.core.v1.Container", ("template", "spec", "containers", "items")),
        (
            "io.k8s.api.core.v1.ResourceRequirements",
            ("template", "spec", "containers", "items", "resources"),
        ),
        ("io.k8s.api.core.v1.Toleration", ("template", "spec", "tolerations", "items")),
    ],
)
@pytest.mark.parametrize("kubernetes_version", [DEFAULT_KUBERNETES_VERSION, NEWER])
def test_the_job_template_is_kubernetes_validates_for_the_version(
    kubernetes_version: str, definition: str, where: tuple[str, ...]
) -> None:
    replicated_job = crd_schema(kubernetes_version)["properties"]["spec"]["properties"][
        "replicatedJobs"
    ]["items"]
    node = replicated_job["properties"]["template"]["properties"]["spec"]
    for step in where:
        node = node["items"] if step == "items" else node["properties"][step]
    expected = kubernetes_validate_definition(kubernetes_version, definition)
    assert set(node["properties"]) == set(expected["properties"])
    assert set(node.get("required", [])) == set(expected.get("required", []))


def test_the_pod_template_follows_the_kubernetes_version() -> None:
    current = pod_template(crd_schema())["properties"]["spec"]["properties"]
    newer = pod_template(crd_schema(NEWER))["properties"]["spec"]["properties"]
    for field in ("containers", "hostNetwork", "tolerations", "nodeSelector", "volumes"):
        assert field in current and field in newer
    assert "hostnameOverride" not in current and "hostnameOverride" in newer  # Kubernetes 1.34
    assert current["hostNetwork"] == {
        "type": "boolean",
        "description": kubernetes_validate_definition(
            DEFAULT_KUBERNETES_VERSION, "io.k8s.api.core.v1.PodSpec"
        )["properties"]["hostNetwork"]["description"],
    }
    metadata = pod_template(crd_schema())["properties"]["metadata"]["properties"]
    assert set(metadata) == {"annotations", "finalizers", "labels", "name", "namespace"}


def test_the_crd_schema_accepts_the_tutorials_jobset() -> None:
    crd = one("CustomResourceDefinition")
    jobset = tutorial_jobset()
    assert validation_errors(crd_version_schema(crd, "v1alpha2"), jobset) == []
    jobset["status"] = {
        "restarts": 1,
        "terminalState": "",
        "conditions": [
            {
                "type": "RestartingJobSet",
                "status": "True",
                "reason": "Restarting",
                "message": "restarting",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "replicatedJobsStatus": [
            {
                "name": "sax-model-server",
                "ready": 2,
                "succeeded": 0,
                "failed": 0,
                "active": 2,
                "suspended": 0,
                "jobRestarts": [1, 0],
            }
        ],
    }
    assert validation_errors(crd_version_schema(crd, "v1alpha2"), jobset) == []


CONTAINER = ("spec", "replicatedJobs", 0, "template", "spec", "template", "spec", "containers", 0)


@pytest.mark.parametrize(
    "where, value, error",
    [
        (("spec", "bogus"), 1, "spec: Additional properties are not allowed ('bogus'"),
        (
            ("spec", "replicatedJobs", 0, "bogus"),
            1,
            "spec.replicatedJobs.0: Additional properties are not allowed ('bogus'",
        ),
        (
            (*CONTAINER, "bogus"),
            1,
            "spec.replicatedJobs.0.template.spec.template.spec.containers.0: Additional "
            "properties are not allowed ('bogus'",
        ),
        (
            ("spec", "replicatedJobs", 0, "replicas"),
            "two",
            "spec.replicatedJobs.0.replicas: 'two' is not of type 'integer'",
        ),
        (
            ("spec", "replicatedJobs", 0, "template", "spec", "template", "spec", "hostNetwork"),
            "yes",
            "spec.replicatedJobs.0.template.spec.template.spec.hostNetwork: 'yes' is not of "
            "type 'boolean'",
        ),
        (
            (*CONTAINER, "ports", 0, "containerPort"),
            "10001",
            "spec.replicatedJobs.0.template.spec.template.spec.containers.0.ports.0."
            "containerPort: '10001' is not of type 'integer'",
        ),
        (
            (*CONTAINER, "resources", "limits", "google.com/tpu"),
            "four",
            "spec.replicatedJobs.0.template.spec.template.spec.containers.0.resources.limits."
            "google.com/tpu: 'four' does not match",
        ),
        (
            ("spec", "failurePolicy", "restartStrategy"),
            "Sometimes",
            "spec.failurePolicy.restartStrategy: 'Sometimes' is not one of",
        ),
    ],
)
def test_the_crd_schema_refuses_unknown_fields_and_wrong_types_at_any_depth(
    where: tuple[str | int, ...], value: Any, error: str
) -> None:
    jobset = tutorial_jobset()
    node: Any = jobset
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    errors = validation_errors(
        crd_version_schema(one("CustomResourceDefinition"), "v1alpha2"), jobset
    )
    assert len(errors) == 1 and errors[0].startswith(error), errors


def test_the_yaml_stream_round_trips_to_the_same_objects() -> None:
    text = release_yaml()
    assert text.count("\n---\n") == len(RELEASE_OBJECTS) - 1
    assert list(yaml.safe_load_all(text)) == release_objects()
    assert release_yaml(NEWER) != text


def test_the_emulator_serves_the_built_release(emulator: Ready) -> None:
    response = requests.get(emulator["jobset_manifest_url"], timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.text == release_yaml()
    assert emulator["jobset_manifest_url"].endswith(f"/jobset/{RELEASE}/manifests.yaml")
