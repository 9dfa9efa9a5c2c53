"""Saxml without the storage access Workload Identity should give it, as a user sees it on GKE.

The module's deployment follows the tutorial but leaves out the Google service account's binding
on the bucket, so the admin server cannot reach its sax root.
"""

from collections.abc import Iterator

import pytest

from tests.emulator.conftest import Control, Ready
from tests.emulator.test_saxml_support import Deployment, wait_until

ADMIN = "app=sax-admin-server"
HTTP = "app=sax-http"


@pytest.fixture(scope="module")
def deployment(emulator: Ready, control: Control) -> Iterator[Deployment]:
    control.post("/reset").raise_for_status()
    deployed = Deployment(emulator)
    deployed.create_cluster()
    objects = deployed.render()
    deployed.create_bucket_and_identity(bind_bucket=False)
    deployed.install_jobset()
    deployed.apply(objects)
    yield deployed
    deployed.close()


def last_exit(pod: object) -> int:
    status = pod.status.container_statuses[0]  # type: ignore[attr-defined]
    return int(status.last_state.terminated.exit_code)


def test_the_admin_crash_loops_with_the_storage_error_until_the_bucket_is_granted(
    deployment: Deployment,
) -> None:
    pod = deployment.crash_looping(ADMIN)
    assert last_exit(pod) == 255
    log = deployment.logs(pod.metadata.name, previous=True)
    root = f"/gcs/{deployment.bucket}/sax-root/sax/test"
    assert (
        f"Failed to check path {root} existence: googleapi: Error 403: "
        f"{deployment.gsa_email} does not have storage.objects.list access"
    ) in log
    assert "Failed to start server: config.Load error: googleapi: Error 403" in log
    bucket = deployment.storage().bucket(deployment.bucket)
    assert [blob.name for blob in bucket.list_blobs(prefix="sax-root/")] == []

    deployment.bind_bucket()  # granted later, it works later: at the next restart
    (admin,) = deployment.running(ADMIN, 1)
    deployment.wait_for_log(admin.metadata.name, "Starting the server on port 10000")
    names = {blob.name for blob in bucket.list_blobs(prefix="sax-root/")}
    assert names == {
        "sax-root/sax/test/METADATA",
        "sax-root/sax/test/config.proto",
        "sax-root/sax/test/location.proto",
    }
    location = bucket.blob("sax-root/sax/test/location.proto").download_as_text()
    assert f'"location": "{admin.status.pod_ip}:10000"' in location


def test_the_admin_crash_loops_when_its_bucket_does_not_exist(deployment: Deployment) -> None:
    deployment.set_env("sax-admin-server", "GSBUCKET", "no-such-saxml-bucket")
    try:
        pod = deployment.crash_looping(ADMIN)
        log = deployment.logs(pod.metadata.name, previous=True)
        assert (
            "Failed to check path /gcs/no-such-saxml-bucket/sax-root/sax/test existence: "
            "storage: bucket doesn't exist"
        ) in log
    finally:
        deployment.set_env("sax-admin-server", "GSBUCKET", deployment.bucket)


def test_sax_http_without_sax_root_dies_on_its_first_call(deployment: Deployment) -> None:
    deployment.set_env("sax-http", "SAX_ROOT", None)

    def rolled_out() -> object:
        pods = deployment.running(HTTP, 1)
        env = pods[0].spec.containers[0].env or []
        return None if any(var.name == "SAX_ROOT" for var in env) else pods[0]

    pod = wait_until("sax-http without SAX_ROOT", rolled_out)
    root = deployment.proxy("GET", "/")
    assert root.status_code == 200
    assert root.json() == {"message": "HTTP Server for SAX Client"}

    call = deployment.proxy("GET", "/listcell", {"model": "/sax/test/spmd"})
    assert call.status_code == 503  # the API server's proxy: the connection dropped unanswered

    def restarted() -> object:
        current = deployment.core.read_namespaced_pod(pod.metadata.name, "default")
        status = current.status.container_statuses[0]
        return current if status.restart_count == 1 else None

    assert last_exit(wait_until("sax-http to restart", restarted)) == 255
    log = deployment.logs(pod.metadata.name, previous=True, container="sax-http").splitlines()
    assert log[-1].startswith("F")
    assert log[-1].endswith(
        "cloud.go:84] Neither the sax_root flag nor the SAX_ROOT environment variable is set"
    )
