"""Workload Identity as a pod sees it: pods of the Google Cloud CLI image run `gcloud storage`
against a bucket, with the identity their Kubernetes service account gives them, and report
what gcloud would (logs, exit code). Everything is set up with the real clients as the tutorial
does: a GKE cluster with Workload Identity, a bucket, a Google service account, IAM bindings and
the annotated Kubernetes service account."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.cloud import storage
from googleapiclient import discovery
from kubernetes import client

from saxml_gke.bodies import NODE_BUCKET_ROLE
from tests.emulator.cluster_client import kube_client, wait
from tests.emulator.conftest import Control, Ready, discovery_client, storage_client
from tests.emulator.test_gke_support import apply_scenario, connect, tutorial_cluster

CLI_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:stable"
GSA_ID = "sax-iam-sa"
NODE_SA_ID = "sax-node-sa"
OBJECT = "sax-root/hello.txt"
POOL_LABEL = "cloud.google.com/gke-nodepool"


@dataclass
class Setup:
    ready: Ready
    api: client.ApiClient
    gcs: storage.Client
    iam: discovery.Resource
    bucket: str

    @property
    def project(self) -> str:
        return str(self.ready["project_id"])

    @property
    def gsa(self) -> str:
        return f"{GSA_ID}@{self.project}.iam.gserviceaccount.com"

    def ksa_member(self, ksa: str) -> str:
        return f"serviceAccount:{self.project}.svc.id.goog[default/{ksa}]"

    def principal(self, ksa: str) -> str:
        return (
            f"principal://iam.googleapis.com/projects/{self.ready['project_number']}/locations/"
            f"global/workloadIdentityPools/{self.project}.svc.id.goog/subject/ns/default/sa/{ksa}"
        )

    def grant_on_bucket(self, role: str, member: str) -> None:
        bucket = self.gcs.bucket(self.bucket)
        policy = bucket.get_iam_policy(requested_policy_version=3)
        policy.bindings.append({"role": role, "members": {member}})
        bucket.set_iam_policy(policy)

    def allow_impersonation(self, ksa: str) -> None:
        """The tutorial's `roles/iam.workloadIdentityUser` binding on the Google SA."""
        resource = f"projects/{self.project}/serviceAccounts/{self.gsa}"
        accounts = self.iam.projects().serviceAccounts()
        policy = accounts.getIamPolicy(resource=resource).execute()
        policy.setdefault("bindings", []).append(
            {"role": "roles/iam.workloadIdentityUser", "members": [self.ksa_member(ksa)]}
        )
        accounts.setIamPolicy(resource=resource, body={"policy": policy}).execute()

    def service_account(self, name: str, gsa: str | None = None) -> None:
        annotations = {"iam.gke.io/gcp-service-account": gsa} if gsa else None
        body = {"metadata": {"name": name, "annotations": annotations}}
        client.CoreV1Api(self.api).create_namespaced_service_account("default", body)

    def gcloud(
        self,
        name: str,
        ksa: str,
        *command: str,
        restart: str = "Never",
        pool: str | None = None,
        host_network: bool = False,
    ) -> None:
        spec: dict[str, Any] = {
            "serviceAccountName": ksa,
            "restartPolicy": restart,
            "hostNetwork": host_network,
            "containers": [{"name": "gcloud", "image": CLI_IMAGE, "command": ["gcloud", *command]}],
        }
        if pool:
            spec["nodeSelector"] = {POOL_LABEL: pool}
        pod = {"metadata": {"name": name}, "spec": spec}
        client.CoreV1Api(self.api).create_namespaced_pod("default", pod)

    def finished(self, name: str) -> tuple[str, str]:
        """The pod's final phase and log, once it has one."""
        core = client.CoreV1Api(self.api)
        phase = wait(
            lambda: (
                (phase := core.read_namespaced_pod(name, "default").status.phase)
                in ("Succeeded", "Failed")
                and phase
            ),
            what=f"pod {name} to finish",
        )
        return phase, self.log(name)

    def log(self, name: str) -> str:
        core = client.CoreV1Api(self.api)
        response = core.read_namespaced_pod_log(name, "default", _preload_content=False)
        return str(response.data.decode())


@pytest.fixture(scope="module")
def world(
    emulator: Ready, control: Control, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    """One cluster with Workload Identity (its default pool on GKE_METADATA) plus a pool on the
    Compute Engine metadata server and one running as its own node SA, a bucket with one object,
    and the Google SA."""
    control.post("/reset").raise_for_status()
    apply_scenario(control, "iam-propagation-delay", seconds=0)
    gke = connect(emulator)
    iam = discovery_client(emulator, "iam", "v1", gke.credentials)
    iam.projects().serviceAccounts().create(
        name=f"projects/{emulator['project_id']}", body={"accountId": NODE_SA_ID}
    ).execute()
    cluster = gke.running_cluster(
        {
            **tutorial_cluster(emulator["project_id"]),
            "node_pools": [
                {"name": "default-pool", "initial_node_count": 2, "config": {}},
                {
                    "name": "gce-metadata",
                    "initial_node_count": 1,
                    "config": {"workload_metadata_config": {"mode": "GCE_METADATA"}},
                },
                {
                    "name": "own-sa",
                    "initial_node_count": 1,
                    "config": {
                        "service_account": f"{NODE_SA_ID}@{emulator['project_id']}"
                        ".iam.gserviceaccount.com"
                    },
                },
            ],
        }
    )
    gcs = storage_client(emulator, gke.credentials)
    bucket = gcs.create_bucket("sax-wi-bucket", location="us-west4")
    bucket.blob(OBJECT).upload_from_string("hello from the bucket\n")
    other = gcs.create_bucket("sax-wi-other-bucket", location="us-west4")
    other.blob(OBJECT).upload_from_string("someone else's\n")
    iam.projects().serviceAccounts().create(
        name=f"projects/{emulator['project_id']}", body={"accountId": GSA_ID}
    ).execute()
    with kube_client(cluster, gke.credentials, tmp_path_factory.mktemp("kube")) as api:
        setup = Setup(emulator, api, gcs, iam, bucket.name)
        setup.grant_on_bucket("roles/storage.objectViewer", f"serviceAccount:{setup.gsa}")
        yield setup
    control.delete("/faults").raise_for_status()


def test_an_annotated_ksa_bound_to_the_google_sa_reads_the_bucket(world: Setup) -> None:
    world.service_account("sax-sa", world.gsa)
    world.allow_impersonation("sax-sa")
    world.gcloud("who", "sax-sa", "auth", "list")
    world.gcloud("reader", "sax-sa", "storage", "cat", f"gs://{world.bucket}/{OBJECT}")
    world.gcloud("lister", "sax-sa", "storage", "ls", f"gs://{world.bucket}/sax-root/")

    assert f"*       {world.gsa}" in world.finished("who")[1]
    assert world.finished("reader") == ("Succeeded", "hello from the bucket\n")
    assert world.finished("lister") == ("Succeeded", f"gs://{world.bucket}/{OBJECT}\n")


def test_without_the_workload_identity_user_binding_there_is_no_token(world: Setup) -> None:
    world.service_account("unbound-sa", world.gsa)
    world.gcloud("unbound", "unbound-sa", "storage", "cat", f"gs://{world.bucket}/{OBJECT}")
    phase, log = world.finished("unbound")
    assert phase == "Failed"
    assert log.startswith(
        "ERROR: (gcloud.storage.cat) There was a problem refreshing your current auth tokens: "
        "Unable to generate access token; IAM returned 403 Forbidden: Permission "
        "'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
    )


def test_missing_buckets_and_objects_answer_as_gcs_does(world: Setup) -> None:
    world.service_account("writer-sa", world.gsa)
    world.allow_impersonation("writer-sa")
    world.gcloud("other-bucket", "writer-sa", "storage", "ls", "gs://no-such-sax-bucket")
    phase, log = world.finished("other-bucket")
    assert (phase, log) == (
        "Failed",
        "ERROR: (gcloud.storage.ls) HTTPError 404: The specified bucket does not exist.\n",
    )
    world.gcloud("missing", "writer-sa", "storage", "cat", f"gs://{world.bucket}/sax-root/nope")
    assert world.finished("missing") == (
        "Failed",
        "ERROR: (gcloud.storage.cat) The following URLs matched no objects or files:\n"
        f"-gs://{world.bucket}/sax-root/nope\n",
    )


def test_the_direct_principal_form_needs_no_google_sa(world: Setup) -> None:
    world.service_account("direct-sa")
    url = f"gs://{world.bucket}/{OBJECT}"
    world.gcloud("before", "direct-sa", "storage", "cat", url)
    phase, log = world.finished("before")
    assert phase == "Failed"
    assert log == (
        f"ERROR: (gcloud.storage.cat) HTTPError 403: {world.principal('direct-sa')} does not have "
        "storage.objects.get access to the Google Cloud Storage object. Permission "
        "'storage.objects.get' denied on resource (or it may not exist).\n"
    )

    world.grant_on_bucket("roles/storage.objectViewer", world.principal("direct-sa"))
    world.gcloud("after", "direct-sa", "storage", "cat", url)
    assert world.finished("after") == ("Succeeded", "hello from the bucket\n")


def test_a_binding_granted_later_works_from_then_on(world: Setup) -> None:
    """The pod crash-loops (restartPolicy OnFailure) until the binding exists, then succeeds."""
    world.service_account("late-sa", world.gsa)
    world.gcloud(
        "late", "late-sa", "storage", "cat", f"gs://{world.bucket}/{OBJECT}", restart="OnFailure"
    )
    core = client.CoreV1Api(world.api)

    def restarts() -> int:
        statuses = core.read_namespaced_pod("late", "default").status.container_statuses or []
        return statuses[0].restart_count if statuses else 0

    wait(lambda: restarts() >= 1, what="the pod to fail and restart")
    assert core.read_namespaced_pod("late", "default").status.phase != "Succeeded"
    world.allow_impersonation("late-sa")
    phase, log = world.finished("late")
    assert (phase, log) == ("Succeeded", "hello from the bucket\n")
    assert restarts() >= 1


def test_pods_off_the_gke_metadata_server_get_no_workload_identity(world: Setup) -> None:
    world.service_account("node-sa", world.gsa)
    world.allow_impersonation("node-sa")
    url = f"gs://{world.bucket}/{OBJECT}"
    world.gcloud("on-gce", "node-sa", "storage", "cat", url, pool="gce-metadata")
    phase, log = world.finished("on-gce")
    assert phase == "Failed"
    assert "does not run the GKE metadata server" in log
    assert "workloadMetadataConfig.mode is not GKE_METADATA" in log


def test_a_cluster_without_workload_identity_gives_pods_none(
    world: Setup, tmp_path_factory: pytest.TempPathFactory
) -> None:
    gke = connect(world.ready)
    plain = gke.running_cluster(
        {"name": "no-wi", "node_pools": [{"name": "default-pool", "initial_node_count": 1}]}
    )
    with kube_client(plain, gke.credentials, tmp_path_factory.mktemp("plain")) as api:
        other = Setup(world.ready, api, world.gcs, world.iam, world.bucket)
        other.service_account("sax-sa", world.gsa)
        other.gcloud("reader", "sax-sa", "storage", "cat", f"gs://{world.bucket}/{OBJECT}")
        phase, log = other.finished("reader")
    assert phase == "Failed"
    assert "cluster no-wi has no Workload Identity" in log


def test_a_host_network_pod_acts_as_its_nodes_service_account_and_only_that(
    world: Setup,
) -> None:
    """Workload Identity does not apply on the host network: the annotated KSA is ignored, and
    the pod has what the node pool's own service account is granted, the deployment's bucket
    binding, and nothing on another bucket."""
    node_sa = f"{NODE_SA_ID}@{world.project}.iam.gserviceaccount.com"
    world.service_account("host-sa", world.gsa)
    world.allow_impersonation("host-sa")
    url = f"gs://{world.bucket}/{OBJECT}"
    world.gcloud("host-who", "host-sa", "auth", "list", pool="own-sa", host_network=True)
    world.gcloud("host-before", "host-sa", "storage", "cat", url, pool="own-sa",
                 host_network=True)  # fmt: skip
    assert f"*       {node_sa}" in world.finished("host-who")[1]
    phase, log = world.finished("host-before")
    assert phase == "Failed"
    assert f"HTTPError 403: {node_sa} does not have storage.objects.get access" in log

    world.grant_on_bucket(NODE_BUCKET_ROLE, f"serviceAccount:{node_sa}")
    world.gcloud("host-own", "host-sa", "storage", "cat", url, pool="own-sa", host_network=True)
    other = f"gs://sax-wi-other-bucket/{OBJECT}"
    world.gcloud("host-other", "host-sa", "storage", "cat", other, pool="own-sa",
                 host_network=True)  # fmt: skip
    assert world.finished("host-own") == ("Succeeded", "hello from the bucket\n")
    phase, log = world.finished("host-other")
    assert phase == "Failed"
    assert f"HTTPError 403: {node_sa} does not have storage.objects.get access" in log


def test_on_the_default_compute_account_a_host_network_pod_has_its_editor_rights(
    world: Setup,
) -> None:
    """What the tutorial's nodes run as: GCP grants the Compute Engine default account
    roles/editor, so its host-network pods reach every bucket of the project."""
    default = f"{world.ready['project_number']}-compute@developer.gserviceaccount.com"
    other = f"gs://sax-wi-other-bucket/{OBJECT}"
    world.gcloud("default-who", "default", "auth", "list", pool="default-pool",
                 host_network=True)  # fmt: skip
    world.gcloud("default-other", "default", "storage", "cat", other, pool="default-pool",
                 host_network=True)  # fmt: skip
    assert f"*       {default}" in world.finished("default-who")[1]
    assert world.finished("default-other") == ("Succeeded", "someone else's\n")
