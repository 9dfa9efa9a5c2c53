"""Every error the API server answers, as the real client sees it: code, Status reason, message."""

import json
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from served_cluster import ServedCluster, widget_crd

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        },
    },
}


def config_map(name: str = "settings", **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data)


def status_of(error: ApiException) -> dict[str, Any]:
    body = json.loads(error.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == error.status
    return body


def fails(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as raised:
        call(*args, **kwargs)
    return status_of(raised.value)


def test_401_without_a_valid_token(kube: ServedCluster) -> None:
    for token in (None, "ya29.not-a-token"):
        with kube.api_client(token) as api:
            status = fails(client.CoreV1Api(api).list_namespaced_pod, "default")
        assert (status["code"], status["reason"], status["message"]) == (
            401,
            "Unauthorized",
            "Unauthorized",
        )


def test_403_without_the_gke_permission(kube: ServedCluster) -> None:
    viewer = kube.token("kube-viewer", ["roles/container.viewer"])
    developer = kube.token("kube-developer", ["roles/container.developer"])
    with kube.api_client(viewer) as api:
        core = client.CoreV1Api(api)
        assert core.list_namespaced_config_map("default").items == []
        status = fails(core.create_namespaced_config_map, "default", config_map())
        assert status["reason"] == "Forbidden"
        assert status["message"] == (
            'configmaps is forbidden: User "kube-viewer@kube-lab.iam.gserviceaccount.com" '
            'cannot create resource "configmaps" in API group "" in the namespace "default": '
            'requires one of ["container.configMaps.create"] permission(s).'
        )
        assert status["details"] == {"kind": "configmaps"}
        secrets = fails(core.read_namespaced_secret, "token", "default")
        assert 'requires one of ["container.secrets.get"]' in secrets["message"]
    with kube.api_client(developer) as api:
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
        }
        status = fails(client.ApiextensionsV1Api(api).create_custom_resource_definition, crd)
        assert status["code"] == 403
        assert "container.customResourceDefinitions.create" in status["message"]
        assert "at the cluster scope" in status["message"]


def test_404_for_missing_objects_namespaces_and_resources(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    missing = fails(core.read_namespaced_config_map, "absent", "default")
    assert (missing["code"], missing["reason"]) == (404, "NotFound")
    assert missing["message"] == 'configmaps "absent" not found'
    assert missing["details"] == {"name": "absent", "kind": "configmaps"}
    no_namespace = fails(core.create_namespaced_config_map, "nowhere", config_map())
    assert no_namespace["message"] == 'namespaces "nowhere" not found'
    custom = client.CustomObjectsApi(api_client)
    unknown = fails(custom.list_namespaced_custom_object, "example.com", "v1", "default", "widgets")
    assert unknown["code"] == 404


def test_409_already_exists_and_stale_resource_version(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map("default", config_map(a="1"))
    exists = fails(core.create_namespaced_config_map, "default", config_map())
    assert (exists["code"], exists["reason"]) == (409, "AlreadyExists")
    assert exists["message"] == 'configmaps "settings" already exists'
    assert exists["details"] == {"name": "settings", "kind": "configmaps"}

    stale_version = created.metadata.resource_version
    created.data = {"a": "2"}
    core.replace_namespaced_config_map("settings", "default", created)  # a new version
    created.data, created.metadata.resource_version = {"a": "3"}, stale_version
    stale = fails(core.replace_namespaced_config_map, "settings", "default", created)
    assert (stale["code"], stale["reason"]) == (409, "Conflict")
    assert stale["message"] == (
        'Operation cannot be fulfilled on configmaps "settings": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    deployment = client.AppsV1Api(api_client).create_namespaced_deployment("default", DEPLOYMENT)
    wrong_uid = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid"))
    precondition = fails(
        client.AppsV1Api(api_client).delete_namespaced_deployment, "web", "default", body=wrong_uid
    )
    assert precondition["reason"] == "Conflict"
    assert precondition["message"] == (
        'Operation cannot be fulfilled on deployments.apps "web": Precondition failed: UID in '
        f"precondition: not-the-uid, UID in object meta: {deployment.metadata.uid}"
    )


def test_410_for_a_watch_or_continue_older_than_the_history(
    kube: ServedCluster, api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", config_map("a"))
    core.create_namespaced_config_map("default", config_map("b"))
    page = core.list_namespaced_config_map("default", limit=1)
    assert page.metadata._continue and page.metadata.remaining_item_count == 1
    old = page.metadata.resource_version
    configmaps = kube.call(kube.cluster.store.types.by_kind, "v1", "ConfigMap")

    def churn() -> None:  # more writes than the watch history keeps
        store = kube.cluster.store
        for index in range(20001):
            store.replace(
                configmaps,
                {"metadata": {"name": "a", "namespace": "default"}, "data": {"n": str(index)}},
            )

    kube.call(churn)
    expired = fails(
        core.list_namespaced_config_map, "default", limit=1, _continue=page.metadata._continue
    )
    assert (expired["code"], expired["reason"]) == (410, "Expired")
    assert expired["message"].startswith("The provided continue parameter is too old")
    with pytest.raises(ApiException) as too_old:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=5
        ):
            pass
    assert too_old.value.status == 410
    assert "too old resource version" in too_old.value.reason


def test_422_invalid_with_one_cause_per_field(api_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(api_client)
    broken = json.loads(json.dumps(DEPLOYMENT))
    broken["metadata"]["name"] = "Web_Server"
    broken["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    del broken["spec"]["template"]["spec"]["containers"][0]["image"]
    status = fails(apps.create_namespaced_deployment, "default", broken)
    assert (status["code"], status["reason"]) == (422, "Invalid")
    assert status["details"]["kind"] == "Deployment"
    assert status["details"]["group"] == "apps"
    assert status["details"]["name"] == "Web_Server"
    causes = {cause["field"]: cause for cause in status["details"]["causes"]}
    assert set(causes) == {
        "metadata.name",
        "spec.template.spec.containers[0].image",
        "spec.template.metadata.labels",
    }
    assert causes["spec.template.spec.containers[0].image"] == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.template.spec.containers[0].image",
    }
    assert causes["metadata.name"]["reason"] == "FieldValueInvalid"
    assert causes["metadata.name"]["message"].startswith(
        'Invalid value: "Web_Server": a lowercase RFC 1123 subdomain must consist of'
    )
    assert causes["spec.template.metadata.labels"]["message"] == (
        'Invalid value: map[string]string{"app":"other"}: `selector` does not match template '
        "`labels`"
    )
    assert status["message"].startswith('Deployment.apps "Web_Server" is invalid: [')

    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }
    restart = fails(client.BatchV1Api(api_client).create_namespaced_job, "default", job)
    assert restart["message"] == (
        'Job.batch "once" is invalid: spec.template.spec.restartPolicy: Unsupported value: '
        '"Always": supported values: "OnFailure", "Never"'
    )


def test_422_for_custom_resources_against_their_crd_schema(api_client: client.ApiClient) -> None:
    crd = widget_crd(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1},
                        "color": {"type": "string", "enum": ["red", "blue"]},
                    },
                }
            },
        }
    )
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
    custom = client.CustomObjectsApi(api_client)
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": "big", "color": "green"},
    }
    status = fails(
        custom.create_namespaced_custom_object, "example.com", "v1", "default", "widgets", widget
    )
    assert status["code"] == 422
    assert status["details"]["group"] == "example.com"
    assert sorted(status["details"]["causes"], key=lambda c: c["field"]) == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "green": supported values: "red", "blue"',
            "field": "spec.color",
        },
        {
            "reason": "FieldValueTypeInvalid",
            "message": (
                'Invalid value: "string": spec.size in body must be of type integer: "string"'
            ),
            "field": "spec.size",
        },
    ]
    assert status["message"].startswith('Widget.example.com "w" is invalid: [')
    widget["spec"] = {"size": 2, "shape": "round"}
    unknown = fails(
        custom.create_namespaced_custom_object, "example.com", "v1", "default", "widgets", widget
    )
    assert (unknown["code"], unknown["reason"]) == (400, "BadRequest")
    assert unknown["message"] == 'strict decoding error: unknown field "spec.shape"'
    merged = fails(
        custom.patch_namespaced_custom_object,
        "example.com",
        "v1",
        "default",
        "widgets",
        "w",
        {"spec": {"size": 3}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert (merged["code"], merged["reason"]) == (415, "UnsupportedMediaType")


def test_400_for_requests_the_server_cannot_decode(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "imagePullPolicy": "Always", "cpus": 2}
            ]
        },
    }
    unknown = fails(core.create_namespaced_pod, "default", pod)
    assert (unknown["code"], unknown["reason"]) == (400, "BadRequest")
    assert unknown["message"] == 'strict decoding error: unknown field "spec.containers[0].cpus"'
    pod["spec"]["containers"][0].pop("cpus")
    pod["spec"]["terminationGracePeriodSeconds"] = "thirty"
    wrong_type = fails(core.create_namespaced_pod, "default", pod)
    assert wrong_type["message"].startswith(
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string'
    )
    selector = fails(core.list_namespaced_pod, "default", label_selector="app in (a")
    assert selector["code"] == 400
    field = fails(core.list_namespaced_pod, "default", field_selector="spec.containers=x")
    assert field["message"] == "field label not supported: spec.containers"
    other_namespace = fails(
        core.create_namespaced_config_map,
        "default",
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x", namespace="kube-system")),
    )
    assert other_namespace["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )
    wrong_kind = fails(
        core.create_namespaced_config_map,
        "default",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}},
    )
    assert wrong_kind["code"] == 400


def test_400_for_a_malformed_grace_period_and_the_object_stays(
    api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", config_map("kept"))
    in_query = fails(
        core.delete_namespaced_config_map, "kept", "default", grace_period_seconds="soon"
    )
    assert (in_query["code"], in_query["reason"]) == (400, "BadRequest")
    assert in_query["message"] == "invalid gracePeriodSeconds: 'soon'"
    in_body = fails(
        core.delete_namespaced_config_map,
        "kept",
        "default",
        body={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": [30]},
    )
    assert (in_body["code"], in_body["reason"]) == (400, "BadRequest")
    assert in_body["message"] == "invalid gracePeriodSeconds: [30]"
    assert core.read_namespaced_config_map("kept", "default").metadata.name == "kept"
