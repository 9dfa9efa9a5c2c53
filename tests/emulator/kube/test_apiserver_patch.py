"""PATCH with the real client: strategic merge (by list merge keys), JSON merge, JSON patch."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from served_cluster import ServedCluster

MERGE_PATCH = "application/merge-patch+json"


@pytest.fixture
def apps(api_only: ServedCluster) -> Iterator[client.AppsV1Api]:
    """A Deployment with two containers, env, ports, volumes and tolerations, and nobody
    else writing to it."""
    with api_only.api_client() as api:
        apps = client.AppsV1Api(api)
        apps.create_namespaced_deployment(
            "default",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "web",
                                    "image": "nginx:1.27",
                                    "env": [
                                        {"name": "A", "value": "1"},
                                        {"name": "B", "value": "2"},
                                    ],
                                    "ports": [{"containerPort": 80}, {"containerPort": 443}],
                                    "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                                },
                                {"name": "sidecar", "image": "busybox:1.36"},
                            ],
                            "volumes": [{"name": "cache", "emptyDir": {}}],
                            "tolerations": [{"key": "a", "operator": "Exists"}],
                        },
                    },
                },
            },
        )
        yield apps


def pod_spec(deployment: Any) -> dict[str, Any]:
    return client.ApiClient().sanitize_for_serialization(deployment.spec.template.spec)


def test_strategic_merge_patch_merges_lists_by_their_keys(apps: client.AppsV1Api) -> None:
    patched = apps.patch_namespaced_deployment(
        "web",
        "default",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": "nginx:1.28",
                                "env": [{"name": "B", "value": "two"}, {"name": "C", "value": "3"}],
                                "ports": [{"containerPort": 8080}],
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            }
                        ],
                        "volumes": [{"name": "data", "emptyDir": {}}],
                        "tolerations": [{"key": "b", "operator": "Exists"}],
                    }
                }
            }
        },
    )
    spec = pod_spec(patched)
    web, sidecar = spec["containers"]
    assert sidecar["name"] == "sidecar"
    assert web["image"] == "nginx:1.28"
    assert [(e["name"], e["value"]) for e in web["env"]] == [("A", "1"), ("B", "two"), ("C", "3")]
    assert [p["containerPort"] for p in web["ports"]] == [80, 443, 8080]
    assert [m["mountPath"] for m in web["volumeMounts"]] == ["/cache", "/data"]
    assert [v["name"] for v in spec["volumes"]] == ["cache", "data"]
    assert spec["tolerations"] == [{"key": "b", "operator": "Exists"}]  # atomic: replaced
    assert patched.metadata.generation == 2


def test_strategic_merge_patch_directives(apps: client.AppsV1Api) -> None:
    patched = apps.patch_namespaced_deployment(
        "web",
        "default",
        {
            "metadata": {"labels": {"app": None, "tier": "front"}},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "sidecar", "$patch": "delete"},
                            {
                                "name": "web",
                                "env": [{"name": "A", "$patch": "delete"}],
                                "$deleteFromPrimitiveList/args": [],
                            },
                        ],
                        "volumes": [{"$patch": "replace"}, {"name": "tmp", "emptyDir": {}}],
                    }
                }
            },
        },
    )
    spec = pod_spec(patched)
    assert [c["name"] for c in spec["containers"]] == ["web"]
    assert [e["name"] for e in spec["containers"][0]["env"]] == ["B"]
    assert [v["name"] for v in spec["volumes"]] == ["tmp"]
    assert patched.metadata.labels == {"tier": "front"}


def test_json_merge_patch_and_json_patch(apps: client.AppsV1Api) -> None:
    merged = apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "busybox:1"}]}}}},
        _content_type=MERGE_PATCH,
    )
    assert [c.name for c in merged.spec.template.spec.containers] == ["only"]  # lists replace

    patched = apps.patch_namespaced_deployment(
        "web",
        "default",
        [
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
            {"op": "test", "path": "/metadata/labels/app", "value": "web"},
        ],
    )
    assert patched.spec.replicas == 4
    assert patched.metadata.labels == {"app": "web", "tier": "front"}

    with pytest.raises(ApiException) as failed:
        apps.patch_namespaced_deployment(
            "web", "default", [{"op": "test", "path": "/spec/replicas", "value": 1}]
        )
    status = json.loads(failed.value.body)
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["reason"] == "UnexpectedServerResponse"


def test_a_patch_may_carry_a_resource_version_precondition(apps: client.AppsV1Api) -> None:
    current = apps.read_namespaced_deployment("web", "default").metadata.resource_version
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 2}})
    with pytest.raises(ApiException) as stale:
        apps.patch_namespaced_deployment(
            "web",
            "default",
            {"metadata": {"resourceVersion": current}, "spec": {"replicas": 3}},
            _content_type=MERGE_PATCH,
        )
    assert stale.value.status == 409
    patch_of_nothing = apps.patch_namespaced_deployment("web", "default", {})
    assert patch_of_nothing.spec.replicas == 2


def test_patches_are_validated_like_updates(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as invalid:
        apps.patch_namespaced_deployment(
            "web", "default", {"spec": {"selector": {"matchLabels": {"app": "other"}}}}
        )
    status = json.loads(invalid.value.body)
    assert status["code"] == 422
    assert {c["field"] for c in status["details"]["causes"]} == {
        "spec.selector",
        "spec.template.metadata.labels",
    }
    with pytest.raises(ApiException) as forced:
        apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 1}}, force=True)
    assert json.loads(forced.value.body)["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for '
        "non-apply patch"
    )
