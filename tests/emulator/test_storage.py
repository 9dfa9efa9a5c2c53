"""Cloud Storage through google-cloud-storage and Airflow's GCSHook."""

import json

import pytest
import requests
from google.api_core import exceptions
from google.auth.transport.requests import AuthorizedSession
from google.cloud import storage

from tests.emulator.conftest import storage_client

pytestmark = pytest.mark.usefixtures("fresh_world")

BUCKET = "saxml-admin-bucket"


@pytest.fixture
def bucket(gcs) -> storage.Bucket:
    created = gcs.bucket(BUCKET)
    created.iam_configuration.uniform_bucket_level_access_enabled = True
    return gcs.create_bucket(created, location="us-west4")


def _grant_on_bucket(bucket: storage.Bucket, role: str, member: str) -> None:
    policy = bucket.get_iam_policy(requested_policy_version=3)
    policy.bindings.append({"role": role, "members": {member}})
    bucket.set_iam_policy(policy)


def test_bucket_create_get_list_patch_delete(gcs):
    created = gcs.bucket(BUCKET)
    created.labels = {"app": "saxml", "stage": "rehearsal"}
    created = gcs.create_bucket(created, location="us-west4")

    fetched = gcs.get_bucket(BUCKET)
    assert (fetched.location, fetched.location_type) == ("US-WEST4", "region")
    assert fetched.labels == {"app": "saxml", "stage": "rehearsal"}
    assert [b.name for b in gcs.list_buckets()] == [BUCKET]

    fetched.labels = {"app": "saxml", "owner": "deployer"}
    fetched.patch()
    assert gcs.get_bucket(BUCKET).labels == {"app": "saxml", "owner": "deployer"}
    assert gcs.get_bucket(BUCKET).metageneration == 2

    fetched.delete()
    with pytest.raises(exceptions.NotFound):
        gcs.get_bucket(BUCKET)


def test_creating_an_existing_bucket_is_409(gcs, bucket):
    with pytest.raises(exceptions.Conflict):
        gcs.create_bucket(BUCKET, location="us-west4")


def test_a_missing_bucket_is_404(gcs):
    with pytest.raises(exceptions.NotFound):
        gcs.get_bucket("no-such-bucket")
    with pytest.raises(exceptions.NotFound):
        gcs.bucket("no-such-bucket").delete()


def test_a_name_owned_by_another_project_is_409_on_create_and_403_on_get(gcs, control):
    control.post(
        "/faults", json={"scenario": "bucket-owned-by-other-project", "params": {"bucket": BUCKET}}
    ).raise_for_status()

    with pytest.raises(exceptions.Conflict, match="not available"):
        gcs.create_bucket(BUCKET, location="us-west4")
    with pytest.raises(exceptions.Forbidden):
        gcs.get_bucket(BUCKET)


@pytest.mark.parametrize(
    ("name", "location", "storage_class", "labels"),
    [
        ("Not_A_Valid_Name", "us-west4", "STANDARD", {}),
        ("goog-reserved", "us-west4", "STANDARD", {}),
        ("regional-bucket", "us-west4", "MULTI_REGIONAL", {}),
        ("labelled-bucket", "us-west4", "STANDARD", {"App": "saxml"}),
        ("labelled-bucket", "us-west4", "STANDARD", {"app": "sax.ml"}),
        ("labelled-bucket", "us-west4", "STANDARD", {f"k{i}": "v" for i in range(65)}),
    ],
)
def test_an_invalid_bucket_is_400(gcs, name, location, storage_class, labels):
    invalid = gcs.bucket(name)
    invalid.storage_class = storage_class
    invalid.labels = labels

    with pytest.raises(exceptions.BadRequest):
        gcs.create_bucket(invalid, location=location)


def test_deleting_a_bucket_with_objects_is_409(bucket):
    bucket.blob("sax-root/cell").upload_from_string(b"x")

    with pytest.raises(exceptions.Conflict):
        bucket.delete()
    bucket.delete(force=True)


def test_bucket_policy_round_trip_at_version_3_with_etag(emulator, bucket):
    stale = bucket.get_iam_policy(requested_policy_version=3)
    member = f"serviceAccount:{emulator['service_account_email']}"

    _grant_on_bucket(bucket, "roles/storage.objectAdmin", member)

    policy = bucket.get_iam_policy(requested_policy_version=3)
    assert {"role": "roles/storage.objectAdmin", "members": {member}} in policy.bindings
    assert policy.etag != stale.etag
    with pytest.raises(exceptions.PreconditionFailed):
        bucket.set_iam_policy(stale)


def test_bucket_policy_rejects_roles_and_members_that_cannot_apply(emulator, bucket, control):
    member = f"serviceAccount:{emulator['service_account_email']}"
    with pytest.raises(exceptions.BadRequest, match="not supported"):
        _grant_on_bucket(bucket, "roles/container.admin", member)
    with pytest.raises(exceptions.BadRequest, match="Identity Pool does not exist"):
        workload = f"serviceAccount:{emulator['project_id']}.svc.id.goog[default/sax-sa]"
        _grant_on_bucket(bucket, "roles/storage.objectUser", workload)


def test_a_bucket_policy_grants_access_to_that_bucket_only(emulator, gcs, bucket, issue_key):
    bucket.blob("model/config").upload_from_string(b"weights")
    gcs.create_bucket("other-bucket", location="us-west4")
    reader = issue_key("model-reader", [])
    email = reader.service_account_email
    _grant_on_bucket(bucket, "roles/storage.objectViewer", f"serviceAccount:{email}")
    as_reader = storage_client(emulator, reader)

    assert as_reader.bucket(BUCKET).blob("model/config").download_as_bytes() == b"weights"
    with pytest.raises(exceptions.Forbidden):
        as_reader.bucket(BUCKET).blob("model/other").upload_from_string(b"x")
    with pytest.raises(exceptions.Forbidden):
        list(as_reader.list_blobs("other-bucket"))


def test_test_iam_permissions_answers_what_the_caller_holds(emulator, bucket, issue_key):
    reader = issue_key("model-reader", [])
    _grant_on_bucket(
        bucket, "roles/storage.objectViewer", f"serviceAccount:{reader.service_account_email}"
    )
    asked = ["storage.objects.get", "storage.objects.list", "storage.objects.create"]

    held = storage_client(emulator, reader).bucket(BUCKET).test_iam_permissions(asked)

    assert held == ["storage.objects.get", "storage.objects.list"]


def test_an_object_creator_cannot_overwrite(emulator, bucket, issue_key):
    creator = issue_key("object-creator", [])
    member = f"serviceAccount:{creator.service_account_email}"
    _grant_on_bucket(bucket, "roles/storage.objectCreator", member)
    blob = storage_client(emulator, creator).bucket(BUCKET).blob("once")

    blob.upload_from_string(b"first")
    with pytest.raises(exceptions.Forbidden):
        blob.upload_from_string(b"second")


def test_multipart_and_resumable_uploads_round_trip(bucket):
    small = bucket.blob("sax-root/small.txt")
    small.upload_from_string(b"hello", content_type="text/plain")
    large_data = bytes(range(256)) * 3000  # 768000 bytes, three resumable chunks
    large = bucket.blob("sax-root/large.bin", chunk_size=256 * 1024)
    large.upload_from_string(large_data)

    assert small.download_as_bytes() == b"hello"
    assert large.download_as_bytes() == large_data
    assert large.download_as_bytes(start=10, end=19) == large_data[10:20]
    small.reload()
    assert (small.size, small.content_type) == (5, "text/plain")
    large.reload()
    assert large.size == len(large_data)
    assert large.crc32c and large.md5_hash


def test_media_upload(emulator, bucket, credentials):
    session = AuthorizedSession(credentials)
    url = f"{emulator['endpoints']['storage']}/upload/storage/v1/b/{BUCKET}/o"

    response = session.post(
        url,
        params={"uploadType": "media", "name": "raw/data.json"},
        data=b'{"a": 1}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 200
    assert response.json()["size"] == "8"
    assert bucket.blob("raw/data.json").download_as_bytes() == b'{"a": 1}'


def multipart_upload(emulator, credentials, metadata: str) -> requests.Response:
    boundary = "bOuNdArY"
    body = (
        f"--{boundary}\r\ncontent-type: application/json\r\n\r\n{metadata}\r\n"
        f"--{boundary}\r\ncontent-type: text/plain\r\n\r\npayload\r\n--{boundary}--"
    ).encode()
    return AuthorizedSession(credentials).post(
        f"{emulator['endpoints']['storage']}/upload/storage/v1/b/{BUCKET}/o",
        params={"uploadType": "multipart"},
        data=body,
        headers={"Content-Type": f"multipart/related; boundary={boundary}"},
    )


def test_a_checksum_mismatch_is_400(emulator, bucket, credentials):
    metadata = json.dumps({"name": "corrupt", "md5Hash": "AAAAAAAAAAAAAAAAAAAAAA=="})
    response = multipart_upload(emulator, credentials, metadata)

    assert response.status_code == 400
    assert "MD5" in response.json()["error"]["message"]
    assert bucket.get_blob("corrupt") is None


def test_upload_metadata_that_is_not_an_object_is_400(emulator, bucket, credentials):
    response = multipart_upload(emulator, credentials, '["corrupt"]')

    assert response.status_code == 400
    assert "must be a JSON object" in response.json()["error"]["message"]


def test_list_with_prefix_and_delimiter(gcs, bucket):
    for name in ("sax-root/a/1", "sax-root/a/2", "sax-root/b/1", "sax-root/top", "other"):
        bucket.blob(name).upload_from_string(b".")

    under_root = gcs.list_blobs(BUCKET, prefix="sax-root/", delimiter="/")
    names = [blob.name for blob in under_root]

    assert names == ["sax-root/top"]
    assert under_root.prefixes == {"sax-root/a/", "sax-root/b/"}
    assert [b.name for b in gcs.list_blobs(BUCKET, prefix="sax-root/a/")] == [
        "sax-root/a/1",
        "sax-root/a/2",
    ]
    assert len(list(gcs.list_blobs(BUCKET, max_results=2, page_size=2))) == 2
    assert len(list(gcs.list_blobs(BUCKET, page_size=2))) == 5


def test_delete_object_and_404(bucket):
    blob = bucket.blob("gone")
    blob.upload_from_string(b"x")

    blob.delete()

    with pytest.raises(exceptions.NotFound):
        blob.download_as_bytes()
    with pytest.raises(exceptions.NotFound):
        blob.delete()


def test_generation_preconditions(bucket):
    blob = bucket.blob("guarded")
    blob.upload_from_string(b"v1", if_generation_match=0)

    with pytest.raises(exceptions.PreconditionFailed):
        blob.upload_from_string(b"v2", if_generation_match=0)
    blob.reload()
    blob.upload_from_string(b"v2", if_generation_match=blob.generation)
    assert blob.download_as_bytes() == b"v2"


def test_airflow_gcs_hook_with_the_ready_files_connection(emulator, control, monkeypatch):
    """GCSHook honours STORAGE_EMULATOR_HOST and takes the key from the connection."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    connection = json.dumps(emulator["airflow_connection"])
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", connection)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator["endpoints"]["storage"])
    hook = GCSHook()

    hook.create_bucket(
        bucket_name=BUCKET,
        storage_class="STANDARD",
        location="us-west4",
        project_id=emulator["project_id"],
        labels={"app": "saxml"},
    )
    hook.upload(bucket_name=BUCKET, object_name="sax-root/cell", data="cell")
    assert hook.exists(bucket_name=BUCKET, object_name="sax-root/cell")
    assert hook.list(bucket_name=BUCKET, prefix="sax-root/") == ["sax-root/cell"]
    member = f"serviceAccount:{emulator['service_account_email']}"
    hook.add_bucket_iam_binding(BUCKET, "roles/storage.objectAdmin", member)
    policy = hook.get_conn().bucket(BUCKET).get_iam_policy(requested_policy_version=3)
    assert {"role": "roles/storage.objectAdmin", "members": {member}} in policy.bindings
    hook.delete_bucket(bucket_name=BUCKET, force=True)

    kinds = {resource["kind"] for resource in control.get("/resources").json()["resources"]}
    assert "Bucket" not in kinds
