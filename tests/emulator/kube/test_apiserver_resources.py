"""Discovery, create/read/update/delete, lists and server-filled fields, with the real client."""

import time
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException
from served_cluster import CLUSTER_VERSION, ServedCluster

from emulator.kube.errors import KubeApiError


def labelled(name: str, **labels: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels))


def deployment(name: str = "web", replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
        },
    }


def test_version_health_and_discovery(kube: ServedCluster, api_client: client.ApiClient) -> None:
    assert client.VersionApi(api_client).get_code().git_version == f"v{CLUSTER_VERSION}"
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name: g for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"apps", "batch", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} <= set(groups)
    assert groups["apps"].preferred_version.group_version == "apps/v1"
    core = {r.name: r for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert core["pods"].short_names == ["po"] and core["pods"].namespaced
    assert core["pods/log"].verbs == ["get"]
    assert core["services/proxy"].kind == "ServiceProxyOptions"
    assert not core["nodes"].namespaced
    apps = {r.name: r for r in client.AppsV1Api(api_client).get_api_resources().resources}
    assert (apps["deployments/scale"].group, apps["deployments/scale"].kind) == (
        "autoscaling",
        "Scale",
    )
    with kube.api_client(None) as anonymous:
        healthz = anonymous.call_api("/healthz", "GET", _preload_content=False)
        assert healthz.data == b"ok"


def test_a_new_cluster_has_the_usual_objects(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    namespaces = {ns.metadata.name: ns for ns in core.list_namespace().items}
    assert set(namespaces) == {"default", "kube-system", "kube-public", "kube-node-lease"}
    assert namespaces["default"].status.phase == "Active"
    assert namespaces["default"].spec.finalizers == ["kubernetes"]
    accounts = core.list_service_account_for_all_namespaces().items
    assert sorted(a.metadata.namespace for a in accounts if a.metadata.name == "default") == [
        "default",
        "kube-node-lease",
        "kube-public",
        "kube-system",
    ]
    kubernetes = core.read_namespaced_service("kubernetes", "default")
    assert kubernetes.spec.cluster_ip == "10.12.0.1"
    assert kubernetes.spec.ports[0].port == 443


def test_namespaces_come_with_a_default_service_account_and_go_with_their_contents(
    api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team")))
    assert core.read_namespaced_service_account("default", "team").metadata.uid
    core.create_namespaced_config_map("team", labelled("settings"))
    core.delete_namespace("team")
    with pytest.raises(ApiException) as gone:
        core.read_namespace("team")
    assert gone.value.status == 404
    with pytest.raises(ApiException) as contents:
        core.read_namespaced_config_map("settings", "team")
    assert contents.value.status == 404


def test_lists_select_by_labels_and_fields_and_page(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db"), ("d", "cache")):
        core.create_namespaced_config_map("default", labelled(name, tier=tier, app="shop"))
    core.create_namespaced_config_map("default", labelled("e"))

    def names(**selectors: Any) -> list[str]:
        return [
            cm.metadata.name for cm in core.list_namespaced_config_map("default", **selectors).items
        ]

    assert names(label_selector="tier=web") == ["a", "b"]
    assert names(label_selector="tier in (db,cache),app") == ["c", "d"]
    assert names(label_selector="tier notin (web),app=shop") == ["c", "d"]
    assert names(label_selector="!tier") == ["e"]
    assert names(field_selector="metadata.name=c") == ["c"]
    assert names(field_selector="metadata.name!=c,metadata.namespace=default") == [
        "a",
        "b",
        "d",
        "e",
    ]

    pages, token = [], None
    while True:
        page = core.list_namespaced_config_map("default", limit=2, _continue=token)
        pages.append([cm.metadata.name for cm in page.items])
        token = page.metadata._continue
        if not token:
            break
    assert pages == [["a", "b"], ["c", "d"], ["e"]]
    everywhere = core.list_config_map_for_all_namespaces(label_selector="app=shop")
    assert len(everywhere.items) == 4


def test_generate_name_dry_run_and_resource_versions(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    generated = core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="job-"))
    )
    assert generated.metadata.name.startswith("job-") and len(generated.metadata.name) == 9
    dry = core.create_namespaced_config_map("default", labelled("dry"), dry_run="All")
    assert dry.metadata.name == "dry" and dry.metadata.uid
    assert [cm.metadata.name for cm in core.list_namespaced_config_map("default").items] == [
        generated.metadata.name
    ]
    generated.data = {"k": "v"}
    updated = core.replace_namespaced_config_map(generated.metadata.name, "default", generated)
    assert int(updated.metadata.resource_version) > int(generated.metadata.resource_version)
    same = core.replace_namespaced_config_map(generated.metadata.name, "default", updated)
    assert same.metadata.resource_version == updated.metadata.resource_version


def test_spec_and_status_are_written_separately(api_only_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(api_only_client)
    created = apps.create_namespaced_deployment("default", deployment())
    assert created.metadata.generation == 1
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.spec.template.spec.dns_policy == "ClusterFirst"
    assert created.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"

    created.status = client.V1DeploymentStatus(replicas=7)
    created.spec.replicas = 3
    updated = apps.replace_namespaced_deployment("web", "default", created)
    assert (updated.spec.replicas, updated.metadata.generation) == (3, 2)
    assert updated.status is None or updated.status.replicas is None  # status ignored

    updated.spec.replicas = 9
    updated.status = client.V1DeploymentStatus(replicas=2, observed_generation=2)
    status = apps.replace_namespaced_deployment_status("web", "default", updated)
    assert (status.spec.replicas, status.status.replicas, status.metadata.generation) == (3, 2, 2)

    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert (scale.spec.replicas, scale.status.replicas, scale.status.selector) == (3, 2, "app=web")
    scaled = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
    assert scaled.spec.replicas == 5
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 5


def test_server_defaults_for_pods_services_and_jobs(api_only_client: client.ApiClient) -> None:
    api_client = api_only_client
    core = client.CoreV1Api(api_client)
    pod = core.create_namespaced_pod(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "tpu"},
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox",
                        "resources": {"limits": {"google.com/tpu": 4}},
                    }
                ]
            },
        },
    )
    assert pod.status.phase == "Pending" and pod.status.qos_class == "BestEffort"
    assert pod.spec.service_account_name == "default"
    assert pod.spec.restart_policy == "Always" and pod.spec.scheduler_name == "default-scheduler"
    assert pod.spec.containers[0].image_pull_policy == "Always"  # no tag
    assert pod.spec.containers[0].resources.requests == {"google.com/tpu": "4"}
    tolerations = {(t.key, t.effect): t for t in pod.spec.tolerations}
    assert tolerations[("google.com/tpu", "NoSchedule")].operator == "Exists"
    assert tolerations[("node.kubernetes.io/not-ready", "NoExecute")].toleration_seconds == 300

    service = core.create_namespaced_service(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "front"},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    port = service.spec.ports[0]
    assert (port.protocol, port.target_port) == ("TCP", 80)
    assert 30000 <= port.node_port <= 32767
    assert service.spec.cluster_ip.startswith("10.12.") and service.spec.cluster_ip != "10.12.0.1"
    assert service.spec.external_traffic_policy == "Cluster"
    port_ip = service.spec.cluster_ip
    service.spec.cluster_ip = None
    service.spec.cluster_i_ps = None
    kept = core.replace_namespaced_service("front", "default", service)
    assert kept.spec.cluster_ip == port_ip  # a PUT without it keeps the allocated address

    job = client.BatchV1Api(api_client).create_namespaced_job(
        "default",
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once"},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "once"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox:1.36"}],
                    },
                }
            },
        },
    )
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels == {
        "app": "once",
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "once",
        "controller-uid": uid,
        "job-name": "once",
    }
    assert job.metadata.labels == {"app": "once"}
    assert (job.spec.completions, job.spec.parallelism, job.spec.backoff_limit) == (1, 1, 6)


def owned_config_map(name: str, owner: Any) -> client.V1ConfigMap:
    reference = client.V1OwnerReference(
        api_version="v1",
        kind="ConfigMap",
        name=owner.metadata.name,
        uid=owner.metadata.uid,
        block_owner_deletion=True,
    )
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, owner_references=[reference]))


def test_deletion_propagates_to_dependents_as_asked(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)

    def names() -> list[str]:
        return [cm.metadata.name for cm in core.list_namespaced_config_map("default").items]

    for policy, survivors in (("Background", []), ("Foreground", []), ("Orphan", ["child"])):
        owner = core.create_namespaced_config_map("default", labelled("owner"))
        core.create_namespaced_config_map("default", owned_config_map("child", owner))
        deleted = core.delete_namespaced_config_map(
            "owner", "default", body=client.V1DeleteOptions(propagation_policy=policy)
        )
        assert deleted.status == "Success"
        assert names() == survivors, policy
    assert core.read_namespaced_config_map("child", "default").metadata.owner_references is None


def test_jobs_keep_their_pods_unless_told_otherwise(api_only_client: client.ApiClient) -> None:
    batch, core = client.BatchV1Api(api_only_client), client.CoreV1Api(api_only_client)
    for name, policy in (("kept", None), ("cleaned", "Background")):
        job = batch.create_namespaced_job(
            "default",
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox:1.36"}],
                        }
                    }
                },
            },
        )
        reference = client.V1OwnerReference(
            api_version="batch/v1", kind="Job", name=name, uid=job.metadata.uid
        )
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=f"{name}-pod", owner_references=[reference]),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]),
        )
        core.create_namespaced_pod("default", pod)
        batch.delete_namespaced_job(name, "default", propagation_policy=policy)
    assert [p.metadata.name for p in core.list_namespaced_pod("default").items] == ["kept-pod"]


def test_pods_on_nodes_go_gracefully(api_only: ServedCluster) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="bound"),
            spec=client.V1PodSpec(
                node_name="gke-lab-pool-0000",
                containers=[client.V1Container(name="c", image="busybox:1.36")],
            ),
        )
        core.create_namespaced_pod("default", pod)
        lingering = core.delete_namespaced_pod("bound", "default")
        assert lingering.metadata.deletion_timestamp is not None
        assert lingering.metadata.deletion_grace_period_seconds == 30
        assert core.read_namespaced_pod("bound", "default").metadata.deletion_timestamp
        gone = core.delete_namespaced_pod("bound", "default", grace_period_seconds=0)
        assert gone.metadata.name == "bound"
        with pytest.raises(ApiException) as absent:
            core.read_namespaced_pod("bound", "default")
        assert absent.value.status == 404


def test_pod_binding_assigns_a_node_once(api_only: ServedCluster) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name="p"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]),
        )
        core.create_namespaced_pod("default", pod)
        binding = client.V1Binding(
            metadata=client.V1ObjectMeta(name="p"),
            target=client.V1ObjectReference(kind="Node", name="node-1"),
        )
        core.create_namespaced_pod_binding("p", "default", binding, _preload_content=False)
        assert core.read_namespaced_pod("p", "default").spec.node_name == "node-1"
        for selector, expected in (
            ("spec.nodeName=node-1", ["p"]),
            ("spec.nodeName=node-2", []),
            ("status.phase=Pending,metadata.namespace=default", ["p"]),
            ("status.phase!=Pending", []),
        ):
            pods = core.list_pod_for_all_namespaces(field_selector=selector).items
            assert [pod.metadata.name for pod in pods] == expected, selector
        with pytest.raises(ApiException) as again:
            core.create_namespaced_pod_binding("p", "default", binding, _preload_content=False)
        assert again.value.status == 409


def test_dynamic_client_sees_every_kind(api_client: client.ApiClient, tmp_path: Any) -> None:
    dyn = dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    roles = dyn.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="ClusterRole")
    roles.create(
        body={
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        }
    )
    assert roles.get(name="system:reader").rules[0].verbs == ["get"]
    started = time.monotonic()
    webhooks = dyn.resources.get(
        api_version="admissionregistration.k8s.io/v1", kind="ValidatingWebhookConfiguration"
    )
    assert webhooks.get().items == []
    assert time.monotonic() - started < 5


def test_admission_hooks_mutate_and_reject_every_create(kube: ServedCluster) -> None:
    async def stamp(operation: str, rtype: Any, obj: dict[str, Any], old: Any) -> dict[str, Any]:
        if rtype.kind != "ConfigMap":
            return obj
        if obj["metadata"]["name"] == "forbidden":
            raise KubeApiError(
                403, "Forbidden", 'admission webhook "cm.lab" denied the request: no'
            )
        obj["metadata"].setdefault("labels", {})["stamped"] = operation.lower()
        return obj

    kube.call(kube.cluster.api_server.admission.append, stamp)
    with kube.api_client() as api:
        core = client.CoreV1Api(api)
        assert core.create_namespaced_config_map("default", labelled("a")).metadata.labels == {
            "stamped": "create"
        }
        with pytest.raises(ApiException) as denied:
            core.create_namespaced_config_map("default", labelled("forbidden"))
        assert denied.value.status == 403
        assert "denied the request" in denied.value.body
    configmaps = kube.call(kube.cluster.store.types.by_kind, "v1", "ConfigMap")
    in_process = kube.run(
        kube.cluster.api_server.create(
            configmaps, {"metadata": {"name": "b", "namespace": "default"}}
        )
    )
    assert in_process["metadata"]["labels"] == {"stamped": "create"}
    assert in_process["metadata"]["managedFields"][0]["manager"] == "kube-controller-manager"
