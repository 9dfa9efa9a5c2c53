"""The real kubectl on an emulated GKE cluster, with the kubeconfig `python -m emulator kubeconfig`
writes: what a user does by hand to look around a deployment.

kubectl reads the API server's OpenAPI before it writes (to leave field validation to the
server, to compute client-side apply patches, to explain fields), authenticates through the
kubeconfig's exec plugin (a fresh access token per run: the test emulator's tokens live two
seconds), and discovers a CRD's kinds as they appear. Outcomes are read back through the API.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from google.cloud import container_v1
from kubernetes import client
from kubernetes.client.rest import ApiException
from served_cluster import widget_crd

from tests.emulator.cluster_client import kube_client, wait
from tests.emulator.conftest import ROOT, TOKEN_LIFETIME, Control, Ready
from tests.emulator.test_gke_support import ZONE, connect, tutorial_cluster

CLUSTER = "kubectl-lab"
PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
EXEC_CREDENTIAL = ("ExecCredential", "client.authentication.k8s.io/v1")


def emulator_command(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m emulator ARGS`, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Kubectl:
    """kubectl with the lab's kubeconfig and a cache directory of its own."""

    env: dict[str, str]
    workdir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str) -> str:
        """stdout of a run that must succeed."""
        done = self.run(*args)
        assert done.returncode == 0, f"kubectl {' '.join(args)} failed:\n{done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def file(self, name: str, *objects: dict[str, Any]) -> str:
        """A manifest file of `objects`, as a user writes one for `kubectl apply -f`."""
        path = self.workdir / name
        path.write_text(yaml.safe_dump_all(objects))
        return str(path)


@dataclass
class Lab:
    """A running cluster, its kubeconfig, kubectl on it, and an API client to check outcomes."""

    ready: Ready
    ready_file: Path
    cluster: container_v1.Cluster
    kubeconfig: Path
    ca_file: Path
    kubectl: Kubectl
    api: client.ApiClient

    def raw(self, path: str, token: str, **headers: str) -> requests.Response:
        """A GET on the cluster endpoint as kubectl sends it, without following redirects."""
        return requests.get(
            f"https://{self.cluster.endpoint}{path}",
            headers={"Authorization": f"Bearer {token}", **headers},
            verify=str(self.ca_file),
            allow_redirects=False,
            timeout=30,
        )


@pytest.fixture(scope="module")
def lab(
    emulator: Ready, control: Control, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lab]:
    if shutil.which("kubectl") is None:
        pytest.fail("these tests drive the real kubectl: kubectl is needed on PATH", pytrace=False)
    control.post("/reset").raise_for_status()
    gke = connect(emulator)
    cluster = gke.running_cluster(tutorial_cluster(emulator["project_id"], CLUSTER))
    workdir = tmp_path_factory.mktemp("kubectl")
    ready_file = workdir / "ready.json"  # the session emulator's ready file, as it wrote it
    ready_file.write_text(json.dumps(emulator))
    kubeconfig = workdir / "kubeconfig"
    written = emulator_command(
        "kubeconfig", CLUSTER, "--ready-file", str(ready_file), "-o", str(kubeconfig)
    )
    assert written.returncode == 0, written.stderr
    ca_file = workdir / "ca.pem"
    ca_file.write_bytes(base64.b64decode(cluster.master_auth.cluster_ca_certificate))
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(workdir / "cache")}
    kubectl = Kubectl(env, workdir)
    with kube_client(cluster, gke.credentials, workdir) as api:
        yield Lab(emulator, ready_file, cluster, kubeconfig, ca_file, kubectl, api)


def exec_credential(lab: Lab) -> dict[str, Any]:
    """What the kubeconfig's exec plugin hands kubectl now."""
    printed = emulator_command("token", "--ready-file", str(lab.ready_file))
    assert printed.returncode == 0, printed.stderr
    credential: dict[str, Any] = json.loads(printed.stdout)
    assert (credential["kind"], credential["apiVersion"]) == EXEC_CREDENTIAL
    return credential


def install_jobset(lab: Lab) -> tuple[int, str, str]:
    """The DAG's install, by hand: the release from `jobset_manifest_url` applied server-side,
    then a wait for the controller; the number of objects and both commands' outputs."""
    response = requests.get(lab.ready["jobset_manifest_url"], timeout=10)
    response.raise_for_status()
    release = lab.kubectl.workdir / "jobset-release.yaml"
    release.write_bytes(response.content)
    count = sum(1 for doc in yaml.safe_load_all(response.text) if doc)
    applied = lab.kubectl.ok("apply", "--server-side", "-f", str(release))
    waited = lab.kubectl.ok(
        "wait",
        "--for=condition=Available",
        "deployment/jobset-controller-manager",
        "-n",
        "jobset-system",
        "--timeout=60s",
    )
    return count, applied, waited


def openapi_v3_index(lab: Lab) -> dict[str, str]:
    """Group version -> document URL, as `kubectl get --raw` reads the index."""
    paths = json.loads(lab.kubectl.ok("get", "--raw", "/openapi/v3"))["paths"]
    return {group_version: entry["serverRelativeURL"] for group_version, entry in paths.items()}


def flat(text: str) -> str:
    """Text with its line wrapping undone, to find a description kubectl wrapped."""
    return " ".join(text.split())


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def deployment(name: str, ns: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": list(containers)},
            },
            **spec,
        },
    }


def busybox(name: str, tag: str = "1.36") -> dict[str, Any]:
    return {"name": name, "image": f"busybox:{tag}"}


def printed_table(text: str) -> list[dict[str, str]]:
    """The rows of what `kubectl get` printed, by column: kubectl left-aligns each column
    under its header, so a cell is the text from its header's start to the next one's."""
    header, *lines = text.splitlines()
    columns = list(re.finditer(r"\S+(?: \S+)*", header))  # headers such as "NOMINATED NODE"
    ends = [column.start() for column in columns[1:]] + [None]
    return [
        {
            column.group(): line[column.start() : end].strip()
            for column, end in zip(columns, ends, strict=True)
        }
        for line in lines
    ]


def test_the_kubeconfig_reaches_the_cluster_with_a_fresh_token_per_run(lab: Lab) -> None:
    assert lab.kubeconfig.stat().st_mode & 0o777 == 0o600
    config = lab.kubectl.json("config", "view", "--raw")
    (entry,) = config["clusters"]
    assert entry["cluster"]["server"] == f"https://{lab.cluster.endpoint}"
    assert (
        entry["cluster"]["certificate-authority-data"]
        == lab.cluster.master_auth.cluster_ca_certificate
    )
    assert config["current-context"] == f"gke_{lab.ready['project_id']}_{ZONE}_{CLUSTER}"
    plugin = config["users"][0]["user"]["exec"]
    assert plugin["command"] == sys.executable
    ready_file = str(lab.ready_file.resolve())
    assert plugin["args"] == ["-m", "emulator", "token", "--ready-file", ready_file]
    printed = emulator_command("kubeconfig", CLUSTER, "--ready-file", str(lab.ready_file))
    assert yaml.safe_load(printed.stdout) == yaml.safe_load(lab.kubeconfig.read_text())

    credential = exec_credential(lab)
    expires = datetime.fromisoformat(credential["status"]["expirationTimestamp"])
    assert datetime.now(UTC) < expires
    time.sleep(TOKEN_LIFETIME + 0.5)
    assert lab.raw("/api", credential["status"]["token"]).status_code == 401  # expired
    listed = lab.kubectl.json("get", "nodes")  # its plugin minted a new one
    nodes = client.CoreV1Api(lab.api).list_node().items
    assert len(nodes) == 4
    assert sorted(n["metadata"]["name"] for n in listed["items"]) == sorted(
        n.metadata.name for n in nodes
    )


def test_the_kubeconfig_command_says_what_it_cannot_find(lab: Lab, tmp_path: Path) -> None:
    unknown = emulator_command("kubeconfig", "nope", "--ready-file", str(lab.ready_file))
    assert unknown.returncode == 1 and not unknown.stdout
    assert f"no cluster named nope in project {lab.ready['project_id']}" in unknown.stderr
    elsewhere = emulator_command(
        "kubeconfig", CLUSTER, "--ready-file", str(lab.ready_file), "--location", "us-east1-b"
    )
    assert elsewhere.returncode == 1 and CLUSTER in elsewhere.stderr
    missing = emulator_command("token", "--ready-file", str(tmp_path / "gone.json"))
    assert missing.returncode == 1 and not missing.stdout
    assert f"no ready file at {tmp_path / 'gone.json'}" in missing.stderr


def test_client_side_apply_patches_by_merge_key_and_leaves_validation_to_the_server(
    lab: Lab,
) -> None:
    kubectl, apps = lab.kubectl, client.AppsV1Api(lab.api)
    first = kubectl.file(
        "web.yaml",
        namespace("csa"),
        deployment("web", "csa", busybox("main"), busybox("sidecar")),
    )
    assert kubectl.ok("apply", "-f", first).split("\n")[:2] == [
        "namespace/csa created",
        "deployment.apps/web created",
    ]
    created = apps.read_namespaced_deployment("web", "csa")
    assert "kubectl.kubernetes.io/last-applied-configuration" in created.metadata.annotations

    # Client-side apply's three-way strategic merge: `sidecar` is deleted by its merge key,
    # `main` gets the new image, and what kubectl never applied stays.
    apps.patch_namespaced_deployment("web", "csa", {"metadata": {"labels": {"owner": "ops"}}})
    second = kubectl.file(
        "web.yaml", namespace("csa"), deployment("web", "csa", busybox("main", "1.37"))
    )
    assert "deployment.apps/web configured" in kubectl.ok("apply", "-f", second)
    patched = apps.read_namespaced_deployment("web", "csa")
    containers = patched.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("main", "busybox:1.37")]
    assert patched.metadata.labels == {"app": "web", "owner": "ops"}

    typo = deployment("typo", "csa", busybox("main"), replicaz=3)
    refused = kubectl.run("apply", "-f", kubectl.file("typo.yaml", typo))
    assert refused.returncode == 1
    # The server refused it (kubectl's own validation would say "error validating data").
    assert "Error from server (BadRequest)" in refused.stderr
    assert 'strict decoding error: unknown field "spec.replicaz"' in refused.stderr
    with pytest.raises(ApiException) as absent:
        apps.read_namespaced_deployment("typo", "csa")
    assert absent.value.status == 404

    ignored = kubectl.ok("apply", "--validate=false", "-f", kubectl.file("typo.yaml", typo))
    assert ignored.strip() == "deployment.apps/typo created"
    assert apps.read_namespaced_deployment("typo", "csa").spec.replicas == 2  # field dropped


def test_server_side_apply_installs_the_jobset_release_and_wait_sees_it_available(
    lab: Lab,
) -> None:
    count, applied, waited = install_jobset(lab)
    lines = applied.splitlines()
    assert len(lines) == count and all(line.endswith(" serverside-applied") for line in lines)
    assert "deployment.apps/jobset-controller-manager serverside-applied" in lines
    assert waited.strip() == "deployment.apps/jobset-controller-manager condition met"

    apps = client.AppsV1Api(lab.api)
    manager = apps.read_namespaced_deployment("jobset-controller-manager", "jobset-system")
    assert any(c.type == "Available" and c.status == "True" for c in manager.status.conditions)
    assert {(f.manager, f.operation) for f in manager.metadata.managed_fields} >= {
        ("kubectl", "Apply")
    }
    install_jobset(lab)  # a rerun changes nothing
    again = apps.read_namespaced_deployment("jobset-controller-manager", "jobset-system")
    assert again.metadata.resource_version == manager.metadata.resource_version


def test_get_describe_logs_and_delete_show_what_the_cluster_holds(lab: Lab) -> None:
    kubectl, core = lab.kubectl, client.CoreV1Api(lab.api)
    hello = deployment("hello", "look", busybox("main"))
    kubectl.ok("apply", "-f", kubectl.file("hello.yaml", namespace("look"), hello))
    kubectl.ok("wait", "--for=condition=Available", "deployment/hello", "-n", "look")

    table = kubectl.ok("get", "deployments", "-n", "look").splitlines()
    assert table[0].split()[0] == "NAME" and [row.split()[0] for row in table[1:]] == ["hello"]
    shown = kubectl.json("get", "deployment", "hello", "-n", "look")
    stored = client.AppsV1Api(lab.api).read_namespaced_deployment("hello", "look")
    assert shown["metadata"]["uid"] == stored.metadata.uid
    assert shown["spec"]["replicas"] == 2
    described = kubectl.ok("describe", "deployment", "hello", "-n", "look")
    assert re.search(r"^Name:\s+hello$", described, re.MULTILINE)
    assert re.search(r"^Replicas:\s+2 desired", described, re.MULTILINE)

    pods = core.list_namespaced_pod("look", label_selector="app=hello").items
    assert len(pods) == 2
    pod = pods[0]
    pod_description = kubectl.ok("describe", "pod", pod.metadata.name, "-n", "look")
    assert re.search(rf"^Node:\s+{pod.spec.node_name}/", pod_description, re.MULTILINE)
    assert re.search(r"^Status:\s+Running$", pod_description, re.MULTILINE)
    log = kubectl.ok("logs", pod.metadata.name, "-n", "look")
    assert "Started main (busybox:1.36)" in log

    deleted = kubectl.ok("delete", "deployment", "hello", "-n", "look")
    assert deleted.strip() == 'deployment.apps "hello" deleted'
    gone = kubectl.run("get", "deployment", "hello", "-n", "look")
    assert gone.returncode == 1
    assert 'deployments.apps "hello" not found' in gone.stderr
    wait(
        lambda: not core.list_namespaced_pod("look", label_selector="app=hello").items,
        what="the Deployment's pods to be garbage-collected",
    )


def test_explain_prints_the_field_docs_of_the_crd_schema(lab: Lab) -> None:
    install_jobset(lab)
    crd = client.ApiextensionsV1Api(lab.api).read_custom_resource_definition(
        "jobsets.jobset.x-k8s.io"
    )
    (version,) = [v for v in crd.spec.versions if v.name == "v1alpha2"]
    schema = lab.api.sanitize_for_serialization(version.schema)["openAPIV3Schema"]
    field = schema["properties"]["spec"]["properties"]["replicatedJobs"]
    item = field["items"]

    explained = lab.kubectl.ok("explain", "jobset.spec.replicatedJobs")
    assert re.search(r"^GROUP:\s+jobset\.x-k8s\.io$", explained, re.MULTILINE)
    assert re.search(r"^KIND:\s+JobSet$", explained, re.MULTILINE)
    assert "FIELD: replicatedJobs <[]Object>" in explained
    assert flat(field["description"]) in flat(explained)
    for name, property_schema in item["properties"].items():
        required = " -required-" if name in item.get("required", []) else ""
        assert re.search(rf"^  {name}\t<[^>]+>{required}$", explained, re.MULTILINE), name
        assert flat(property_schema.get("description", "")) in flat(explained)

    # The same docs through v2, which kubectl downloads as protobuf.
    legacy = lab.kubectl.ok("explain", "jobset.spec.replicatedJobs", "--output=plaintext-openapiv2")
    assert "RESOURCE: replicatedJobs <[]Object>" in legacy
    for name in item["properties"]:
        assert re.search(rf"^   {name}\t<", legacy, re.MULTILINE), name


def test_a_crd_created_later_is_documented_validated_and_removed_with_it(lab: Lab) -> None:
    kubectl = lab.kubectl
    assert "apis/example.com/v1" not in openapi_v3_index(lab)
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "description": "What the widget should be.",
                "required": ["size"],
                "properties": {"size": {"type": "integer", "description": "Widget size in cm."}},
            }
        },
    }
    kubectl.ok("apply", "-f", kubectl.file("crd.yaml", widget_crd(schema)))

    url = wait(lambda: openapi_v3_index(lab).get("apis/example.com/v1"), what="the v3 index")
    document = json.loads(kubectl.ok("get", "--raw", url))
    widget = document["components"]["schemas"]["com.example.v1.Widget"]
    assert widget["x-kubernetes-group-version-kind"] == [
        {"group": "example.com", "kind": "Widget", "version": "v1"}
    ]
    (patch,) = [item["patch"] for item in document["paths"].values() if "patch" in item]
    assert "fieldValidation" in {parameter["name"] for parameter in patch["parameters"]}
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    explained = kubectl.ok("explain", "widgets.spec.size")
    assert "FIELD: size <integer>" in explained and "Widget size in cm." in explained

    def widget_object(**spec: Any) -> dict[str, Any]:
        return {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default"},
            "spec": spec,
        }

    refused = kubectl.run("apply", "-f", kubectl.file("w.yaml", widget_object(size=1, colour="r")))
    assert refused.returncode == 1
    assert 'unknown field "spec.colour"' in refused.stderr
    assert "widget.example.com/w created" in kubectl.ok(
        "apply", "-f", kubectl.file("w.yaml", widget_object(size=1))
    )
    # An update: a JSON merge patch, as the PATCH operation in v2 consumes no strategic one.
    assert "widget.example.com/w configured" in kubectl.ok(
        "apply", "-f", kubectl.file("w.yaml", widget_object(size=2))
    )
    custom = client.CustomObjectsApi(lab.api)
    assert custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")[
        "spec"
    ] == {"size": 2}

    kubectl.ok("delete", "crd", "widgets.example.com")
    wait(lambda: "apis/example.com/v1" not in openapi_v3_index(lab), what="the CRD to go")


def test_documents_are_cached_as_the_real_server_caches_them(lab: Lab) -> None:
    token = exec_credential(lab)["status"]["token"]
    index = json.loads(lab.raw("/openapi/v3", token).content)["paths"]
    url = index["apis/apps/v1"]["serverRelativeURL"]
    current = lab.raw(url, token)
    assert current.status_code == 200
    assert current.headers["Cache-Control"] == "public, immutable"
    assert current.headers["ETag"] == f'"{url.split("hash=")[1]}"'
    stale = lab.raw("/openapi/v3/apis/apps/v1?hash=0123", token)
    assert (stale.status_code, stale.headers["Location"]) == (301, url)

    v2 = lab.raw("/openapi/v2", token, Accept=PROTOBUF_V2)
    assert v2.status_code == 200
    assert v2.headers["Content-Type"].startswith("application/com.github.proto-openapi.spec.v2")
    assert json.loads(lab.raw("/openapi/v2", token).content)["swagger"] == "2.0"
    unchanged = lab.raw("/openapi/v2", token, **{"If-None-Match": v2.headers["ETag"]})
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert lab.raw("/openapi/v2", "not-a-token").status_code == 401


def test_get_prints_the_columns_the_server_serves_for_pods_and_deployments(
    lab: Lab, control: Control
) -> None:
    kubectl, core = lab.kubectl, client.CoreV1Api(lab.api)
    hello = deployment("hello", "cols", busybox("main"))
    kubectl.ok("apply", "-f", kubectl.file("cols.yaml", namespace("cols"), hello))
    kubectl.ok("wait", "--for=condition=Available", "deployment/hello", "-n", "cols")

    pods = {p.metadata.name: p for p in core.list_namespaced_pod("cols").items}
    printed = kubectl.ok("get", "pods", "-n", "cols")
    assert printed.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = printed_table(printed)
    assert {row["NAME"] for row in rows} == set(pods)
    assert {(row["READY"], row["STATUS"], row["RESTARTS"]) for row in rows} == {
        ("1/1", "Running", "0")
    }
    assert all(re.fullmatch(r"\d+s", row["AGE"]) for row in rows)

    wide = printed_table(kubectl.ok("get", "pods", "-n", "cols", "-o", "wide"))
    assert list(wide[0]) == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
        "READINESS GATES",
    ]  # fmt: skip
    for row in wide:
        pod = pods[row["NAME"]]
        assert (row["IP"], row["NODE"]) == (pod.status.pod_ip, pod.spec.node_name)
        assert (row["NOMINATED NODE"], row["READINESS GATES"]) == ("<none>", "<none>")

    victim = sorted(pods)[0]
    killed = control.post(
        "/faults",
        json={"scenario": "kill-pod", "params": {"namespace": "cols", "name": victim}},
    )
    assert killed.json()["result"] == {"killed": [f"cols/{victim}"]}
    wait(
        lambda: core.read_namespaced_pod(victim, "cols").status.container_statuses[0].ready,
        what="the killed container to run again",
    )
    (restarted,) = [
        r for r in printed_table(kubectl.ok("get", "pods", "-n", "cols")) if r["NAME"] == victim
    ]
    assert re.fullmatch(r"1 \(\d+s ago\)", restarted["RESTARTS"]), restarted
    assert restarted["STATUS"] == "Running"

    (shown,) = printed_table(kubectl.ok("get", "deployment", "hello", "-n", "cols", "-o", "wide"))
    assert {k: v for k, v in shown.items() if k != "AGE"} == {
        "NAME": "hello",
        "READY": "2/2",
        "UP-TO-DATE": "2",
        "AVAILABLE": "2",
        "CONTAINERS": "main",
        "IMAGES": "busybox:1.36",
        "SELECTOR": "app=hello",
    }
    (replica_set,) = printed_table(kubectl.ok("get", "replicasets", "-n", "cols"))
    assert (replica_set["DESIRED"], replica_set["CURRENT"], replica_set["READY"]) == ("2", "2", "2")
    # --sort-by asks for whole objects in the rows (includeObject=Object) and sorts by them.
    by_name = kubectl.ok("get", "pods", "-n", "cols", "--sort-by=.metadata.name", "--no-headers")
    assert [line.split()[0] for line in by_name.splitlines()] == sorted(pods)


def test_get_prints_services_and_nodes_as_the_real_server(lab: Lab) -> None:
    kubectl, core = lab.kubectl, client.CoreV1Api(lab.api)
    kubernetes = core.read_namespaced_service("kubernetes", "default")
    (service,) = printed_table(kubectl.ok("get", "services", "-n", "default", "-o", "wide"))
    assert {k: v for k, v in service.items() if k != "AGE"} == {
        "NAME": "kubernetes",
        "TYPE": "ClusterIP",
        "CLUSTER-IP": kubernetes.spec.cluster_ip,
        "EXTERNAL-IP": "<none>",
        "PORT(S)": "443/TCP",
        "SELECTOR": "<none>",
    }

    nodes = {n.metadata.name: n for n in core.list_node().items}
    printed = kubectl.ok("get", "nodes", "-o", "wide")
    assert printed.splitlines()[0].split() == [
        "NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
        "KERNEL-VERSION", "CONTAINER-RUNTIME",
    ]  # fmt: skip
    rows = printed_table(printed)
    assert {row["NAME"] for row in rows} == set(nodes)
    for row in rows:
        node = nodes[row["NAME"]]
        addresses = {a.type: a.address for a in node.status.addresses}
        info = node.status.node_info
        assert (row["STATUS"], row["ROLES"]) == ("Ready", "<none>")
        assert row["VERSION"] == info.kubelet_version
        assert row["INTERNAL-IP"] == addresses["InternalIP"]
        assert row["EXTERNAL-IP"] == addresses.get("ExternalIP", "<none>")
        assert (row["OS-IMAGE"], row["KERNEL-VERSION"], row["CONTAINER-RUNTIME"]) == (
            info.os_image,
            info.kernel_version,
            info.container_runtime_version,
        )


def test_get_prints_the_printer_columns_of_the_jobset_crd(lab: Lab) -> None:
    install_jobset(lab)
    kubectl = lab.kubectl
    job_template = {
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [busybox("main")]}}}
    }
    jobset = {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": "paused", "namespace": "default"},
        "spec": {
            "suspend": True,
            "replicatedJobs": [{"name": "workers", "replicas": 1, "template": job_template}],
        },
    }
    kubectl.ok("apply", "-f", kubectl.file("jobset.yaml", jobset))
    printed = kubectl.ok("get", "jobsets", "-n", "default")
    assert printed.splitlines()[0].split() == [
        "NAME", "TERMINALSTATE", "RESTARTS", "COMPLETED", "SUSPENDED", "AGE",
    ]  # fmt: skip
    (row,) = printed_table(printed)
    stored = client.CustomObjectsApi(lab.api).get_namespaced_custom_object(
        "jobset.x-k8s.io", "v1alpha2", "default", "jobsets", "paused"
    )
    status = stored.get("status", {})
    completed = [c["status"] for c in status.get("conditions", []) if c["type"] == "Completed"]
    # A path that finds nothing is a null cell, which kubectl leaves blank.
    assert row == {
        "NAME": "paused",
        "TERMINALSTATE": status.get("terminalState", ""),
        "RESTARTS": str(status.get("restarts", "")),
        "COMPLETED": completed[0] if completed else "",
        "SUSPENDED": "true",
        "AGE": row["AGE"],
    }
    assert re.fullmatch(r"\d+s", row["AGE"])
    kubectl.ok("delete", "jobset", "paused", "-n", "default")


def test_get_watch_prints_a_row_per_change(lab: Lab) -> None:
    kubectl, core = lab.kubectl, client.CoreV1Api(lab.api)
    kubectl.ok("create", "namespace", "watched")
    kubectl.ok("create", "configmap", "first", "-n", "watched", "--from-literal=a=1")
    command = ["kubectl", "get", "configmaps", "-n", "watched", "--watch"]
    with subprocess.Popen(
        command, env=kubectl.env, cwd=kubectl.workdir, stdout=subprocess.PIPE, text=True
    ) as watching:
        assert watching.stdout is not None
        guard = threading.Timer(60, watching.kill)  # a watch that never prints fails, not hangs
        guard.start()
        lines = [watching.stdout.readline(), watching.stdout.readline()]
        core.create_namespaced_config_map(
            "watched", {"metadata": {"name": "second"}, "data": {"a": "1", "b": "2"}}
        )
        lines.append(watching.stdout.readline())  # the watch's row, under the same columns
        watching.terminate()
        guard.cancel()
    rows = printed_table("".join(lines))
    assert [(row["NAME"], row["DATA"]) for row in rows] == [("first", "1"), ("second", "2")]
