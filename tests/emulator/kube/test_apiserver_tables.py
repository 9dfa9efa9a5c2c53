"""Server-side Tables: each kind's columns and cells as the real API server prints them
(`pkg/printers/internalversion`, apiextensions' printer columns, the default convertor), and
how a request asks for them (`Accept: ...;as=Table`, `includeObject`), through HTTP too."""

import json
from typing import Any

import pytest
import requests
from served_cluster import ServedCluster

from emulator.kube.apiserver.tables import TableBuilder, TableRequest, printer_for, table_request
from emulator.kube.apiserver.tables.durations import human_duration
from emulator.kube.errors import KubeApiError
from emulator.kube.jobset_release.crd import jobset_crd
from emulator.kube.resources import ResourceType, ResourceTypes
from emulator.kube.store import kube_timestamp

NOW = 1_750_000_000.0
KUBECTL_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
TYPES = ResourceTypes()


def ago(seconds: float) -> str:
    return kube_timestamp(NOW - seconds)


def meta(name: str = "x", age: float = 300, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(age), **extra}


def cells(api_version: str, kind: str, obj: dict[str, Any]) -> list[Any]:
    return printer_for(TYPES.by_kind(api_version, kind), None).cells(obj, NOW)


def headers(api_version: str, kind: str) -> list[tuple[str, int]]:
    columns = printer_for(TYPES.by_kind(api_version, kind), None).columns
    return [(column.name, column.priority) for column in columns]


@pytest.mark.parametrize(
    ("seconds", "printed"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600, "3h"),
        (5 * 3600 + 120, "5h2m"),
        (47 * 3600 + 3599, "47h"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (20 * 86400, "20d"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_read_as_apimachinery_prints_durations(seconds: float, printed: str) -> None:
    assert human_duration(seconds) == printed


# Pods


def container(name: str = "main", ready: bool = False, restarts: int = 0, **state: Any) -> Any:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state}


def pod(
    phase: str = "Running",
    statuses: list[dict[str, Any]] | None = None,
    containers: int = 1,
    **more: Any,
) -> dict[str, Any]:
    status = {"phase": phase, "containerStatuses": statuses or [], **more.pop("status", {})}
    spec = {"containers": [{"name": f"c{i}"} for i in range(containers)], **more.pop("spec", {})}
    return {"metadata": meta("p", **more), "spec": spec, "status": status}


def pod_row(obj: dict[str, Any]) -> tuple[str, str, str]:
    name, ready, status, restarts, *_ = cells("v1", "Pod", obj)
    assert name == "p"
    return ready, status, restarts


RUNNING = {"running": {"startedAt": ago(60)}}
CRASHED = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(30)}}


@pytest.mark.parametrize(
    ("obj", "shown"),
    [
        (pod("Pending"), ("0/1", "Pending", "0")),
        (
            pod("Pending", [container(waiting={"reason": "ContainerCreating"})]),
            ("0/1", "ContainerCreating", "0"),
        ),
        (pod("Running", [container(ready=True, **RUNNING)]), ("1/1", "Running", "0")),
        (
            pod("Running", [container(ready=True, **RUNNING), container("b", **RUNNING)], 2),
            ("1/2", "Running", "0"),
        ),
        (
            pod(
                "Succeeded",
                [container(terminated={"exitCode": 0, "reason": "Completed"})],
            ),
            ("0/1", "Completed", "0"),
        ),
        (
            pod(
                "Running",
                [
                    container(restarts=3, waiting={"reason": "CrashLoopBackOff"})
                    | {"lastState": CRASHED}
                ],
            ),
            ("0/1", "CrashLoopBackOff", "3 (30s ago)"),
        ),
        (
            pod("Pending", [container(waiting={"reason": "ImagePullBackOff"})]),
            ("0/1", "ImagePullBackOff", "0"),
        ),
        (pod("Running", [container(terminated={"exitCode": 2})]), ("0/1", "ExitCode:2", "0")),
        (
            pod("Running", [container(terminated={"exitCode": 0, "signal": 9})]),
            ("0/1", "Signal:9", "0"),
        ),
        (
            pod("Running", [container(ready=True, **RUNNING)], deletionTimestamp=ago(1)),
            ("1/1", "Terminating", "0"),
        ),
        (
            pod("Running", [], deletionTimestamp=ago(1), status={"reason": "NodeLost"}),
            ("0/1", "Unknown", "0"),
        ),
        (pod("Failed", [], status={"reason": "Evicted"}), ("0/1", "Evicted", "0")),
        (
            pod(
                "Pending",
                status={
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                    ]
                },
            ),
            ("0/1", "SchedulingGated", "0"),
        ),
    ],
    ids=[
        "unscheduled",
        "creating",
        "running",
        "one-of-two-ready",
        "completed",
        "crash-loop",
        "image-pull",
        "exit-code",
        "signal",
        "terminating",
        "node-lost",
        "evicted",
        "gated",
    ],
)
def test_pod_ready_status_and_restarts(obj: dict[str, Any], shown: tuple[str, str, str]) -> None:
    assert pod_row(obj) == shown


def init_pod(*statuses: dict[str, Any], initialized: bool = False, **spec: Any) -> Any:
    inits = [{"name": s["name"], **spec.get(s["name"], {})} for s in statuses]
    conditions = [{"type": "Initialized", "status": "True" if initialized else "False"}]
    main = [container(waiting={"reason": "PodInitializing"})]
    return pod(
        "Pending",
        main,
        spec={"initContainers": inits},
        status={"initContainerStatuses": list(statuses), "conditions": conditions},
    )


@pytest.mark.parametrize(
    ("obj", "shown"),
    [
        (
            init_pod(
                container("a", waiting={"reason": "PodInitializing"}),
                container("b", waiting={"reason": "PodInitializing"}),
            ),
            ("0/1", "Init:0/2", "0"),
        ),
        (
            init_pod(
                container("a", terminated={"exitCode": 0, "reason": "Completed"}),
                container("b", **RUNNING),
            ),
            ("0/1", "Init:1/2", "0"),
        ),
        (
            init_pod(container("a", restarts=2, terminated={"exitCode": 1, "reason": "Error"})),
            ("0/1", "Init:Error", "2"),
        ),
        (init_pod(container("a", terminated={"exitCode": 3})), ("0/1", "Init:ExitCode:3", "0")),
        (
            init_pod(container("a", waiting={"reason": "CrashLoopBackOff"})),
            ("0/1", "Init:CrashLoopBackOff", "0"),
        ),
    ],
    ids=["waiting", "second", "failed", "exit-code", "crash-loop"],
)
def test_pod_status_while_init_containers_run(obj: dict[str, Any], shown: Any) -> None:
    assert pod_row(obj) == shown


def test_a_sidecar_counts_as_a_container_once_started() -> None:
    sidecar = container("proxy", ready=True, **RUNNING) | {"started": True}
    obj = init_pod(sidecar, initialized=True, proxy={"restartPolicy": "Always"})
    obj["status"]["containerStatuses"] = [container("main", ready=True, **RUNNING)]
    obj["status"]["phase"] = "Running"
    assert pod_row(obj) == ("2/2", "Running", "0")


def test_a_completed_pod_with_a_container_still_running_is_running_or_not_ready() -> None:
    statuses = [
        container("a", terminated={"exitCode": 0, "reason": "Completed"}),
        container("b", ready=True, **RUNNING),
    ]
    ready = [{"type": "Ready", "status": "True"}]
    obj = pod("Running", statuses, 2)
    assert pod_row(obj)[1] == "NotReady"
    assert pod_row(pod("Running", statuses, 2, status={"conditions": ready}))[1] == "Running"


def test_pod_wide_cells_and_the_completed_row_condition() -> None:
    assert headers("v1", "Pod") == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    placed = pod(
        "Running",
        [container(ready=True, **RUNNING)],
        spec={"nodeName": "n1", "readinessGates": [{"conditionType": "example.com/lb"}]},
        status={
            "podIPs": [{"ip": "10.4.0.7"}],
            "conditions": [{"type": "example.com/lb", "status": "True"}],
        },
    )
    assert cells("v1", "Pod", placed)[4:] == ["5m", "10.4.0.7", "n1", "<none>", "1/1"]
    assert cells("v1", "Pod", pod("Pending"))[5:] == ["<none>"] * 4
    printer = printer_for(TYPES.by_kind("v1", "Pod"), None)
    assert printer.conditions(placed) == []
    assert printer.conditions(pod("Succeeded")) == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]


# Workloads


def template(*containers: tuple[str, str]) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": n, "image": i} for n, i in containers]}}


SELECTOR = {
    "matchLabels": {"app": "web"},
    "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["b", "a"]},
        {"key": "legacy", "operator": "DoesNotExist"},
        {"key": "env", "operator": "Exists"},
    ],
}
WIDE = ["main,sidecar", "busybox:1.36,envoy:1", "app=web,env,!legacy,tier in (a,b)"]
TEMPLATE = template(("main", "busybox:1.36"), ("sidecar", "envoy:1"))


def test_deployment_and_replica_set_rows() -> None:
    assert [name for name, _ in headers("apps/v1", "Deployment")] == [
        "Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector",
    ]  # fmt: skip
    deployment = {
        "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 1},
    }
    assert cells("apps/v1", "Deployment", deployment) == ["web", "2/3", 3, 1, "5m", *WIDE]
    replica_set = {
        "metadata": meta("web-1"),
        "spec": {"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
        "status": {"replicas": 2},
    }
    assert cells("apps/v1", "ReplicaSet", replica_set) == ["web-1", 3, 2, 0, "5m", *WIDE]


def job(status: dict[str, Any], deleting: bool = False, **spec: Any) -> dict[str, Any]:
    extra = {"deletionTimestamp": ago(1)} if deleting else {}
    return {
        "metadata": meta("j", **extra),
        "spec": {"template": TEMPLATE, "selector": {"matchLabels": {"app": "web"}}, **spec},
        "status": status,
    }


def condition(kind: str, status: str = "True") -> dict[str, Any]:
    return {"type": kind, "status": status}


@pytest.mark.parametrize(
    ("obj", "shown"),
    [
        (job({}, completions=1), ["Running", "0/1", ""]),
        (
            job({"startTime": ago(90), "active": 2}, completions=4, parallelism=2),
            ["Running", "0/4", "90s"],
        ),
        (job({"succeeded": 1}, parallelism=3), ["Running", "1/1 of 3", ""]),
        (
            job(
                {
                    "startTime": ago(400),
                    "completionTime": ago(100),
                    "succeeded": 1,
                    "conditions": [condition("SuccessCriteriaMet"), condition("Complete")],
                },
                completions=1,
            ),
            ["Complete", "1/1", "5m"],
        ),
        (
            job({"conditions": [condition("FailureTarget"), condition("Failed")]}, completions=1),
            ["Failed", "0/1", ""],
        ),
        (job({"conditions": [condition("Suspended")]}, completions=1), ["Suspended", "0/1", ""]),
        (job({"conditions": [condition("Suspended", "False")]}, True), ["Terminating", "0/1", ""]),
    ],
    ids=["new", "running", "parallel", "complete", "failed", "suspended", "terminating"],
)
def test_job_status_completions_and_duration(obj: dict[str, Any], shown: list[str]) -> None:
    row = cells("batch/v1", "Job", obj)
    assert row[0] == "j" and row[1:4] == shown and row[4] == "5m"
    assert row[5:] == [*WIDE[:2], "app=web"]


# Core kinds


def service(kind: str, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": meta("svc"), "spec": {"type": kind, **spec}, "status": status or {}}


PORTS = [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP", "nodePort": 30053}]


@pytest.mark.parametrize(
    ("obj", "shown"),
    [
        (
            service("ClusterIP", clusterIPs=["10.8.0.10"], ports=PORTS[:1]),
            ["ClusterIP", "10.8.0.10", "<none>", "80/TCP"],
        ),
        (
            service("NodePort", clusterIPs=["10.8.0.11"], ports=PORTS, externalIPs=["1.2.3.4"]),
            ["NodePort", "10.8.0.11", "1.2.3.4", "80/TCP,53:30053/UDP"],
        ),
        (
            service("LoadBalancer", clusterIPs=["None"]),
            ["LoadBalancer", "None", "<pending>", "<none>"],
        ),
        (
            service(
                "LoadBalancer",
                {"loadBalancer": {"ingress": [{"ip": "34.1.2.3"}, {"hostname": "lb.example"}]}},
                clusterIPs=["10.8.0.12"],
                externalIPs=["5.6.7.8"],
            ),
            ["LoadBalancer", "10.8.0.12", "34.1.2.3,lb.example,5.6.7.8", "<none>"],
        ),
        (
            service("ExternalName", externalName="db.example.com"),
            ["ExternalName", "<none>", "db.example.com", "<none>"],
        ),
    ],
    ids=["cluster-ip", "node-port", "lb-pending", "lb-assigned", "external-name"],
)
def test_service_rows(obj: dict[str, Any], shown: list[str]) -> None:
    assert cells("v1", "Service", obj) == ["svc", *shown, "5m", "<none>"]
    obj["spec"]["selector"] = {"b": "2", "a": "1"}
    assert cells("v1", "Service", obj)[-1] == "a=1,b=2"


def node(ready: str | None, unschedulable: bool = False, **labels: str) -> dict[str, Any]:
    conditions = [condition("MemoryPressure", "False")]
    if ready is not None:
        conditions.append(condition("Ready", ready))
    return {
        "metadata": {"name": "n", "creationTimestamp": ago(7200), "labels": labels},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "10.128.0.2"},
                {"type": "Hostname", "address": "n"},
            ],
            "nodeInfo": {"kubeletVersion": "v1.31.6-gke.1020000", "osImage": "COS"},
        },
    }


def test_node_rows() -> None:
    assert cells("v1", "Node", node("True")) == [
        "n", "Ready", "<none>", "120m", "v1.31.6-gke.1020000",
        "10.128.0.2", "<none>", "COS", "<unknown>", "<unknown>",
    ]  # fmt: skip
    roles = {"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "gpu"}
    assert cells("v1", "Node", node("Unknown", True, **roles))[1:3] == [
        "NotReady,SchedulingDisabled",
        "gpu,worker",
    ]
    assert cells("v1", "Node", node(None))[1] == "Unknown"


def test_namespace_account_config_map_and_secret_rows() -> None:
    namespace = {"metadata": meta("ns"), "status": {"phase": "Terminating"}}
    assert cells("v1", "Namespace", namespace) == ["ns", "Terminating", "5m"]
    account = {"metadata": meta("sa"), "secrets": [{"name": "t"}]}
    assert cells("v1", "ServiceAccount", account) == ["sa", 1, "5m"]
    config = {"metadata": meta("cm"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}
    assert cells("v1", "ConfigMap", config) == ["cm", 3, "5m"]
    secret = {"metadata": meta("s"), "type": "Opaque", "data": {"k": "dg=="}}
    assert cells("v1", "Secret", secret) == ["s", "Opaque", 1, "5m"]
    assert [name for name, _ in headers("v1", "Secret")] == ["Name", "Type", "Data", "Age"]


def test_event_rows_name_the_object_and_the_source() -> None:
    assert headers("v1", "Event") == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1),
        ("Source", 1), ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1),
    ]  # fmt: skip
    event = {
        "metadata": meta("p.1"),
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{main}"},
        "reason": "Pulled",
        "type": "Normal",
        "message": "Successfully pulled image \n",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": ago(600),
        "lastTimestamp": ago(30),
        "count": 4,
    }
    assert cells("v1", "Event", event) == [
        "30s", "Normal", "Pulled", "pod/p", "spec.containers{main}", "kubelet, n1",
        "Successfully pulled image", "10m", 4, "p.1",
    ]  # fmt: skip
    new_api = {
        "metadata": meta("e"),
        "involvedObject": {"kind": "Node"},
        "eventTime": "2025-06-15T15:06:40.123456Z",
        "reportingComponent": "scheduler",
    }
    row = cells("v1", "Event", new_api)
    assert (row[0], row[3], row[5], row[8]) == (row[7], "node", "scheduler", 1)


def test_endpoints_show_three_addresses_then_how_many_more() -> None:
    subsets = [
        {
            "addresses": [{"ip": "10.4.0.1"}, {"ip": "10.4.0.2"}],
            "ports": [{"port": 80}, {"port": 443}],
        },
        {"addresses": [{"ip": "fd00::1"}]},
    ]
    endpoints = {"metadata": meta("web"), "subsets": subsets}
    assert cells("v1", "Endpoints", endpoints)[1] == (
        "10.4.0.1:80,10.4.0.2:80,10.4.0.1:443 + 2 more..."
    )
    endpoints["subsets"] = [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]}]
    assert cells("v1", "Endpoints", endpoints)[1] == "[fd00::1]:8080"
    assert cells("v1", "Endpoints", {"metadata": meta("web")})[1] == "<none>"


def test_access_kinds_and_the_default_table() -> None:
    binding = {
        "metadata": meta("b"),
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "ann"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
            {"kind": "User", "name": "bob"},
        ],
    }
    rbac = "rbac.authorization.k8s.io/v1"
    assert cells(rbac, "RoleBinding", binding) == [
        "b", "ClusterRole/view", "5m", "ann, bob", "devs", "tools:ci",
    ]  # fmt: skip
    webhooks = {"metadata": meta("w"), "webhooks": [{}, {}]}
    assert cells("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", webhooks) == [
        "w",
        2,
        "5m",
    ]
    crd = {"metadata": {"name": "jobsets.jobset.x-k8s.io", "creationTimestamp": ago(0)}}
    crds = "apiextensions.k8s.io/v1"
    assert headers(crds, "CustomResourceDefinition") == [("Name", 0), ("Created At", 0)]
    assert cells(crds, "CustomResourceDefinition", crd) == [
        "jobsets.jobset.x-k8s.io",
        "2025-06-15T15:06:40Z",
    ]
    assert cells(rbac, "ClusterRole", {"metadata": meta("view")})[1] == ago(300)


# Custom resources


def test_custom_resources_print_the_crd_columns() -> None:
    crd = jobset_crd("1.31")
    rtype = ResourceType(
        "jobset.x-k8s.io", "v1alpha2", "JobSet", "jobsets", True, crd="jobsets.jobset.x-k8s.io"
    )
    printer = printer_for(rtype, crd)
    assert [(c.name, c.type) for c in printer.columns] == [
        ("Name", "string"),
        ("TerminalState", "string"),
        ("Restarts", "string"),
        ("Completed", "string"),
        ("Suspended", "string"),
        ("Age", "date"),
    ]
    assert printer.columns[3].description == (
        "Custom resource definition column (in JSONPath format): "
        '.status.conditions[?(@.type=="Completed")].status'
    )
    fresh = {"metadata": meta("js"), "spec": {"suspend": False}}
    assert printer.cells(fresh, NOW) == ["js", None, None, None, "false", "5m"]
    done = {
        "metadata": meta("js"),
        "spec": {"suspend": False},
        "status": {
            "terminalState": "Completed",
            "restarts": 2,
            "conditions": [condition("StartupPolicyCompleted"), condition("Completed")],
        },
    }
    assert printer.cells(done, NOW) == ["js", "Completed", "2", "True", "false", "5m"]


def test_typed_custom_columns_and_a_crd_without_columns() -> None:
    columns = [
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
        {"name": "On", "type": "boolean", "jsonPath": ".spec.on", "priority": 1},
        {"name": "First", "type": "string", "jsonPath": ".spec.items[0].name"},
        {"name": "All", "type": "string", "jsonPath": ".spec.items[*].name"},
        {"name": "Seen", "type": "date", "jsonPath": ".status.seen"},
    ]
    crd = {"spec": {"versions": [{"name": "v1", "additionalPrinterColumns": columns}]}}
    rtype = ResourceType("example.com", "v1", "Widget", "widgets", True, crd="widgets.example.com")
    printer = printer_for(rtype, crd)
    assert printer.columns[3].priority == 1
    widget = {
        "metadata": meta("w"),
        "spec": {"replicas": 3.0, "ratio": 2, "on": "yes", "items": [{"name": "a"}, {"name": "b"}]},
        "status": {"seen": "not a time"},
    }
    assert printer.cells(widget, NOW) == ["w", 3, 2.0, None, "a", "a", "<invalid>"]
    bare = printer_for(rtype, {"spec": {"versions": [{"name": "v1"}]}})
    assert [c.name for c in bare.columns] == ["Name", "Age"]
    assert bare.cells(widget, NOW) == ["w", "5m"]


# The Table itself


def test_table_requests_follow_the_accept_header_and_include_object() -> None:
    assert table_request(KUBECTL_ACCEPT, {}) == TableRequest("meta.k8s.io/v1", "Metadata")
    beta = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"
    assert table_request(beta, {"includeObject": "Object"}) == TableRequest(
        "meta.k8s.io/v1beta1", "Object"
    )
    assert table_request("application/json", {}) is None
    assert table_request("", {}) is None
    assert (
        table_request(
            "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", {}
        )
        is None
    )
    protobuf = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"
    assert table_request(f"{protobuf},{KUBECTL_ACCEPT}", {}) == TableRequest("meta.k8s.io/v1")
    with pytest.raises(KubeApiError) as refused:
        table_request(KUBECTL_ACCEPT, {"includeObject": "Everything"})
    assert refused.value.code == 400
    assert refused.value.status()["message"] == 'unrecognized includeObject value: "Everything"'


def test_rows_carry_metadata_the_object_or_nothing() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cm", resourceVersion="7")}
    printer = printer_for(TYPES.by_kind("v1", "ConfigMap"), None)
    listed = {"items": [config], "metadata": {"resourceVersion": "9", "continue": "abc"}}

    def build(include: str) -> dict[str, Any]:
        return TableBuilder(TableRequest("meta.k8s.io/v1", include), printer, lambda: NOW).of_list(
            listed
        )

    table = build("Metadata")
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert table["metadata"] == {"resourceVersion": "9", "continue": "abc"}
    assert table["columnDefinitions"][1] == {
        "name": "Data",
        "type": "integer",
        "format": "",
        "description": "Number of entries in data and binaryData.",
        "priority": 0,
    }
    assert table["rows"] == [
        {
            "cells": ["cm", 0, "5m"],
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": config["metadata"],
            },
        }
    ]
    assert build("Object")["rows"][0]["object"] == config
    assert "object" not in build("None")["rows"][0]
    single = TableBuilder(TableRequest("meta.k8s.io/v1"), printer, lambda: NOW).of_object(
        config, headers=False
    )
    assert single["metadata"] == {"resourceVersion": "7"} and single["columnDefinitions"] == []


# Through HTTP


def test_the_server_answers_tables_for_get_list_and_watch(api_only: ServedCluster) -> None:
    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {api_only.admin_token}", "Accept": KUBECTL_ACCEPT}
    )
    base = f"{api_only.host}/api/v1/namespaces/default/configmaps"
    session.post(base, json={"metadata": {"name": "a"}, "data": {"k": "v"}}).raise_for_status()
    session.post(base, json={"metadata": {"name": "b"}}).raise_for_status()

    page = session.get(base, params={"limit": 1}).json()
    assert page["kind"] == "Table" and [r["cells"][:2] for r in page["rows"]] == [["a", 1]]
    assert page["metadata"]["continue"] and page["metadata"]["remainingItemCount"] == 1
    rest = session.get(base, params={"continue": page["metadata"]["continue"]}).json()
    assert [r["cells"][:2] for r in rest["rows"]] == [["b", 0]]
    one = session.get(f"{base}/a", params={"includeObject": "Object"}).json()
    assert one["rows"][0]["object"]["data"] == {"k": "v"}
    assert (
        one["metadata"]["resourceVersion"]
        == one["rows"][0]["object"]["metadata"]["resourceVersion"]
    )
    plain = session.get(f"{base}/a", headers={"Accept": "application/json"}).json()
    assert plain["kind"] == "ConfigMap"
    assert session.get(base, params={"includeObject": "All"}).status_code == 400

    watch = {"watch": "true", "timeoutSeconds": "1", "allowWatchBookmarks": "true"}
    with session.get(base, params=watch, stream=True, timeout=10) as watched:
        events = [json.loads(line) for line in watched.iter_lines() if line]
    added = [event["object"] for event in events if event["type"] == "ADDED"]
    assert [table["rows"][0]["cells"][0] for table in added] == ["a", "b"]
    assert [c["name"] for c in added[0]["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert added[1]["columnDefinitions"] == []
    bookmarks = [event["object"] for event in events if event["type"] == "BOOKMARK"]
    assert bookmarks and all(b["kind"] == "Table" and b["rows"] == [] for b in bookmarks)
    assert all(b["metadata"]["resourceVersion"] for b in bookmarks)
