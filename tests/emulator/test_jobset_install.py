"""JobSet installed as the DAG installs it on GKE: the release manifest downloaded from the URL in
the ready file and applied server-side to a cluster created through the GKE API. Until the
controller manager serves its webhooks, JobSets (and JobSet pods) are refused with the API
server's real error; once its Deployment is Available they are admitted and reconciled."""

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.emulator.cluster_client import kube_client, wait
from tests.emulator.conftest import Ready, RunningEmulator
from tests.emulator.jobset_support import (
    JOBSET,
    install_jobset_from,
    manager_available,
    wait_for_jobset,
)
from tests.emulator.test_gke_support import connect, tutorial_cluster

NOT_SERVING = (
    'Internal error occurred: failed calling webhook "mjobset.kb.io": failed to call webhook: '
    'Post "https://jobset-webhook-service.jobset-system.svc:443/mutate-jobset-x-k8s-io-v1alpha2'
    '-jobset?timeout=10s": no endpoints available for service "jobset-webhook-service"'
)


def batch_jobset(name: str = "batch") -> dict[str, Any]:
    pod = {"containers": [{"name": "main", "image": "busybox:1.36"}]}
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": name},
        "spec": {
            "replicatedJobs": [
                {
                    "name": "workers",
                    "replicas": 2,
                    "template": {"spec": {"parallelism": 1, "template": {"spec": pod}}},
                }
            ]
        },
    }


def status_of(error: ApiException) -> dict[str, Any]:
    return json.loads(error.body)


def test_a_jobset_is_refused_until_the_freshly_installed_controller_serves(
    fresh_world: Ready, tmp_path: Path
) -> None:
    gke = connect(fresh_world)
    cluster = gke.running_cluster(tutorial_cluster(fresh_world["project_id"]))
    with kube_client(cluster, gke.credentials, tmp_path) as api:
        assert install_jobset_from(fresh_world, api) == 20
        custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)

        with pytest.raises(ApiException) as refused:
            custom.create_namespaced_custom_object(*JOBSET, "default", "jobsets", batch_jobset())
        assert refused.value.status == 500
        status = status_of(refused.value)
        assert (status["reason"], status["message"]) == ("InternalError", NOT_SERVING)

        jobset_pod = {
            "metadata": {"name": "stray", "labels": {"jobset.sigs.k8s.io/jobset-name": "x"}},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
        }
        with pytest.raises(ApiException) as pod_refused:
            core.create_namespaced_pod("default", jobset_pod)
        assert 'failed calling webhook "mpod.kb.io"' in status_of(pod_refused.value)["message"]
        plain = {**jobset_pod, "metadata": {"name": "plain"}}
        assert core.create_namespaced_pod("default", plain).metadata.name == "plain"

        wait_for_jobset(api)
        created = custom.create_namespaced_custom_object(
            *JOBSET, "default", "jobsets", batch_jobset()
        )
        job_spec = created["spec"]["replicatedJobs"][0]["template"]["spec"]
        assert job_spec["completionMode"] == "Indexed"  # mjobset.kb.io's defaults
        assert job_spec["template"]["spec"]["restartPolicy"] == "OnFailure"
        jobs = wait(
            lambda: (
                len(items := client.BatchV1Api(api).list_namespaced_job("default").items) == 2
                and items
            ),
            what="the JobSet's child Jobs",
        )
        assert sorted(job.metadata.name for job in jobs) == ["batch-workers-0", "batch-workers-1"]

        (manager,) = core.list_namespaced_pod("jobset-system").items
        log = core.read_namespaced_pod_log(
            manager.metadata.name, "jobset-system", _preload_content=False
        ).data.decode()
        assert '"msg": "Serving webhook server"' in log
        events = core.list_namespaced_event(
            "jobset-system", field_selector=f"involvedObject.name={manager.metadata.name}"
        ).items
        assert any(
            e.reason == "Unhealthy"
            and e.message == "Readiness probe failed: HTTP probe failed with statuscode: 500"
            for e in events
        )


def test_a_rerun_of_the_install_changes_nothing_and_keeps_jobsets_admitted(
    fresh_world: Ready, tmp_path: Path
) -> None:
    gke = connect(fresh_world)
    cluster = gke.running_cluster(tutorial_cluster(fresh_world["project_id"]))
    with kube_client(cluster, gke.credentials, tmp_path) as api:
        install_jobset_from(fresh_world, api)
        wait_for_jobset(api)
        apps = client.AppsV1Api(api)
        before = apps.read_namespaced_deployment("jobset-controller-manager", "jobset-system")

        install_jobset_from(fresh_world, api)
        after = apps.read_namespaced_deployment("jobset-controller-manager", "jobset-system")
        assert after.metadata.resource_version == before.metadata.resource_version
        assert manager_available(api)
        custom = client.CustomObjectsApi(api)
        custom.create_namespaced_custom_object(*JOBSET, "default", "jobsets", batch_jobset())


def test_the_manifest_url_serves_the_release_file(fresh_world: Ready) -> None:
    response = requests.get(fresh_world["jobset_manifest_url"], timeout=10)
    assert response.status_code == 200
    kinds = [doc["kind"] for doc in yaml.safe_load_all(response.text) if doc]
    assert kinds.count("CustomResourceDefinition") == 1
    assert {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} <= set(kinds)
    assert fresh_world["jobset_manifest_url"].endswith("/jobset/v0.12.0/manifests.yaml")
    assert hashlib.sha256(response.content).hexdigest() == fresh_world["jobset_manifest_sha256"]


def test_the_served_manifest_is_read_from_the_configured_file_at_each_request(
    tmp_path: Path,
) -> None:
    release = tmp_path / "manifests.yaml"
    release.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: jobset-system\n")
    running = RunningEmulator(tmp_path / "emulator", "--jobset-manifest", str(release))
    try:
        url = running.ready["jobset_manifest_url"]
        assert requests.get(url, timeout=10).text == release.read_text()
        digest = hashlib.sha256(release.read_bytes()).hexdigest()
        assert running.ready["jobset_manifest_sha256"] == digest
        release.unlink()
        missing = requests.get(url, timeout=10)
        assert missing.status_code == 404
        assert "JobSet manifest unavailable" in missing.text
    finally:
        assert running.stop() == 0
