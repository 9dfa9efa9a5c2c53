"""Server-side apply with the real client: the JobSet release manifest, a JobSet, the Saxml
deployment's manifests, field ownership, conflicts and forcing."""

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, dynamic, utils
from kubernetes.client.rest import ApiException
from served_cluster import ServedCluster, cpu_nodes

from emulator.kube.jobset_release import release_objects
from saxml_gke.manifests import render_objects
from saxml_gke.spec import build_spec

JOBSET_GROUP = "jobset.x-k8s.io"
JOBSET_API = f"{JOBSET_GROUP}/v1alpha2"
APPLY = "application/apply-patch+yaml"


def saxml_objects() -> list[dict[str, Any]]:
    spec = build_spec({"project_id": "my-project", "zone": "us-west4-a"}, now=datetime.now(UTC))
    return render_objects(spec)


def install_jobset(api: client.ApiClient, webhooks: bool = True) -> None:
    """As xpk installs JobSet: `kubectl apply --server-side --force-conflicts -f manifests.yaml`.

    Without `webhooks`, the release minus its webhook configurations: on a cluster whose API
    server runs alone no controller pod could ever serve them, and every JobSet write would
    fail closed."""
    objects = [
        obj for obj in release_objects() if webhooks or "WebhookConfiguration" not in obj["kind"]
    ]
    utils.create_from_yaml(
        api, yaml_objects=objects, apply=True, namespace=None, force_conflicts=True
    )


def wait_for_jobset_controller(api: client.ApiClient, timeout: float = 20.0) -> None:
    """Until the controller manager's Deployment is Available: its webhooks answer."""
    apps = client.AppsV1Api(api)
    deadline = time.monotonic() + timeout
    while True:
        status = apps.read_namespaced_deployment_status(
            "jobset-controller-manager", "jobset-system"
        ).status
        if any(c.type == "Available" and c.status == "True" for c in status.conditions or []):
            return
        assert time.monotonic() < deadline, "the JobSet controller did not become Available"
        time.sleep(0.02)


def served_groups(api: client.ApiClient) -> list[str]:
    return [group.name for group in client.ApisApi(api).get_api_versions().groups]


def read(dyn: dynamic.DynamicClient, obj: dict[str, Any]) -> Any:
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    namespace = obj["metadata"].get("namespace") if resource.namespaced else None
    return resource.get(name=obj["metadata"]["name"], namespace=namespace)


def versions(dyn: dynamic.DynamicClient, objects: list[dict[str, Any]]) -> dict[str, str]:
    return {
        f"{obj['kind']}/{obj['metadata']['name']}": read(dyn, obj).metadata.resourceVersion
        for obj in objects
    }


def failure(error: ApiException) -> dict[str, Any]:
    return json.loads(error.body)


def test_jobset_release_applies_server_side_and_its_crd_serves_jobsets(
    api_only: ServedCluster, tmp_path: Path
) -> None:
    with api_only.api_client() as api:
        assert JOBSET_GROUP not in served_groups(api)
        install_jobset(api)
        dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
        manifest = release_objects()
        installed = versions(dyn, manifest)
        assert len(installed) == len(manifest) == 20

        assert JOBSET_GROUP in served_groups(api)
        resources = client.CustomObjectsApi(api).get_api_resources(JOBSET_GROUP, "v1alpha2")
        assert {(r.name, r.kind, r.namespaced) for r in resources.resources} == {
            ("jobsets", "JobSet", True),
            ("jobsets/status", "JobSet", True),
        }
        crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(
            "jobsets.jobset.x-k8s.io"
        )
        assert {(c.type, c.status) for c in crd.status.conditions} == {
            ("NamesAccepted", "True"),
            ("Established", "True"),
        }
        assert [(m.manager, m.operation) for m in crd.metadata.managed_fields] == [
            ("python-client", "Apply")
        ]
        built = next(obj for obj in manifest if obj["kind"] == "CustomResourceDefinition")
        stored = read(dyn, built).to_dict()
        assert stored["spec"]["versions"] == built["spec"]["versions"]  # the schema, whole
        deployment = client.AppsV1Api(api).read_namespaced_deployment(
            "jobset-controller-manager", "jobset-system"
        )
        assert deployment.spec.strategy.type == "RollingUpdate"  # defaulted by the server

        install_jobset(api)  # what a rerun of the install task does
        assert versions(dyn, manifest) == installed


def test_saxml_manifests_apply_twice_without_changes(
    api_only: ServedCluster, tmp_path: Path
) -> None:
    with api_only.api_client() as api:
        install_jobset(api, webhooks=False)
        objects = saxml_objects()
        assert {obj["kind"] for obj in objects} >= {"ServiceAccount", "Deployment", "JobSet"}
        utils.create_from_yaml(api, yaml_objects=objects, apply=True, namespace=None)
        dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
        first = versions(dyn, objects)

        utils.create_from_yaml(api, yaml_objects=objects, apply=True, namespace=None)
        assert versions(dyn, objects) == first

        jobset = client.CustomObjectsApi(api).get_namespaced_custom_object(
            JOBSET_GROUP, "v1alpha2", "default", "jobsets", "sax-model-server-set"
        )
        replicated = jobset["spec"]["replicatedJobs"][0]
        assert replicated["replicas"] == 2
        assert replicated["groupName"] == "default"  # the CRD schema's default
        assert jobset["metadata"]["generation"] == 1
        service = client.CoreV1Api(api).read_namespaced_service("sax-http-lb", "default")
        assert service.spec.cluster_ip.startswith("10.12.")


def test_jobset_kind_is_served_only_while_its_crd_exists(
    api_only: ServedCluster, tmp_path: Path
) -> None:
    with api_only.api_client() as api:
        install_jobset(api, webhooks=False)
        jobset = next(obj for obj in saxml_objects() if obj["kind"] == "JobSet")
        dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
        jobsets = dyn.resources.get(api_version=JOBSET_API, kind="JobSet")
        created = jobsets.server_side_apply(
            body=jobset, namespace="default", field_manager="saxml-gke"
        )
        assert created.metadata.name == "sax-model-server-set"

        extensions = client.ApiextensionsV1Api(api)
        extensions.delete_custom_resource_definition("jobsets.jobset.x-k8s.io")
        assert JOBSET_GROUP not in served_groups(api)
        with pytest.raises(ApiException) as missing:
            client.CustomObjectsApi(api).list_namespaced_custom_object(
                JOBSET_GROUP, "v1alpha2", "default", "jobsets"
            )
        assert missing.value.status == 404
        with pytest.raises(ApiException) as gone_crd:
            extensions.read_custom_resource_definition("jobsets.jobset.x-k8s.io")
        assert gone_crd.value.status == 404

        install_jobset(api, webhooks=False)  # served again, empty: its custom resources went
        listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
            JOBSET_GROUP, "v1alpha2", "default", "jobsets"
        )
        assert listed["items"] == []


def test_reapplying_the_saxml_manifests_leaves_running_workloads_alone(
    kube: ServedCluster,
) -> None:
    kube.add_nodes(cpu_nodes("default-pool", 4))
    with kube.api_client() as api:
        install_jobset(api)
        objects = [obj for obj in saxml_objects() if obj["kind"] != "JobSet"]
        utils.create_from_yaml(api, yaml_objects=objects, apply=True, namespace=None)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        selector = "app in (sax-admin-server,sax-http)"
        deadline = time.monotonic() + 20
        while len(core.list_namespaced_pod("default", label_selector=selector).items) < 2:
            assert time.monotonic() < deadline, "the Deployments did not create their pods"
            time.sleep(0.05)
        pods = {
            p.metadata.uid
            for p in core.list_namespaced_pod("default", label_selector=selector).items
        }
        replica_sets = {
            rs.metadata.name for rs in apps.list_namespaced_replica_set("default").items
        }

        utils.create_from_yaml(api, yaml_objects=objects, apply=True, namespace=None)
        time.sleep(0.2)  # time enough for the controllers to react, were there a change
        deployment = apps.read_namespaced_deployment("sax-http", "default")
        assert deployment.metadata.generation == 1
        assert {rs.metadata.name for rs in apps.list_namespaced_replica_set("default").items} == (
            replica_sets
        )
        after = core.list_namespaced_pod("default", label_selector=selector).items
        assert {p.metadata.uid for p in after} == pods


def apply_config_map(
    core: client.CoreV1Api, manager: str, data: dict[str, str], force: bool | None = None
) -> Any:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"},
        "data": data,
    }
    return core.patch_namespaced_config_map(
        "settings", "default", body, field_manager=manager, force=force, _content_type=APPLY
    )


def owners(obj: Any) -> dict[str, dict[str, Any]]:
    return {entry.manager: entry.fields_v1 for entry in obj.metadata.managed_fields}


def test_apply_conflicts_name_the_managers_and_force_takes_ownership(
    api_only: ServedCluster,
) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map(
            "default",
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"a": "1"}),
        )
        with pytest.raises(ApiException) as conflict:
            apply_config_map(core, "deployer", {"a": "2", "b": "2"})
        assert conflict.value.status == 409
        status = failure(conflict.value)
        assert status["reason"] == "Conflict"
        assert status["message"] == (
            'Apply failed with 1 conflict: conflict with "OpenAPI-Generator" using v1: .data.a'
        )
        assert status["details"]["causes"] == [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "OpenAPI-Generator" using v1',
                "field": ".data.a",
            }
        ]

        shared = apply_config_map(core, "deployer", {"a": "1", "b": "2"})  # same value: shared
        assert owners(shared) == {
            "OpenAPI-Generator": {"f:data": {"f:a": {}}},
            "deployer": {"f:data": {"f:a": {}, "f:b": {}}},
        }

        with pytest.raises(ApiException) as conflicts:
            apply_config_map(core, "operator", {"a": "3", "b": "3"})
        assert failure(conflicts.value)["message"] == (
            "Apply failed with 3 conflicts: "
            'conflicts with "OpenAPI-Generator" using v1:\n- .data.a\n'
            'conflicts with "deployer":\n- .data.a\n- .data.b'
        )

        forced = apply_config_map(core, "operator", {"a": "3", "b": "3"}, force=True)
        assert forced.data == {"a": "3", "b": "3"}
        assert owners(forced) == {"operator": {"f:data": {"f:a": {}, "f:b": {}}}}


def test_apply_removes_only_what_its_manager_alone_stopped_applying(
    api_only: ServedCluster,
) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        apply_config_map(core, "deployer", {"a": "1", "b": "1", "c": "1"})
        apply_config_map(core, "operator", {"b": "1"})
        applied = apply_config_map(core, "deployer", {"a": "1"})
        assert applied.data == {"a": "1", "b": "1"}  # c removed; b still operator's

        unchanged = apply_config_map(core, "deployer", {"a": "1"})
        assert unchanged.metadata.resource_version == applied.metadata.resource_version


def test_apply_needs_a_field_manager_and_can_dry_run(api_only: ServedCluster) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}}
        with pytest.raises(ApiException) as unmanaged:
            core.patch_namespaced_config_map("settings", "default", body, _content_type=APPLY)
        assert unmanaged.value.status == 422
        assert failure(unmanaged.value)["message"] == (
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
            "for apply patch"
        )
        dry = core.patch_namespaced_config_map(
            "settings", "default", body, field_manager="x", dry_run="All", _content_type=APPLY
        )
        assert dry.metadata.name == "settings"
        with pytest.raises(ApiException) as absent:
            core.read_namespaced_config_map("settings", "default")
        assert absent.value.status == 404
