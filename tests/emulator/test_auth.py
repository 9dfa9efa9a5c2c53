"""Authentication and authorization: the token endpoint, bearer tokens, 401 and 403."""

import time

import pytest
import requests
from google.api_core import exceptions
from google.auth import crypt, jwt
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2 import service_account
from googleapiclient.errors import HttpError

from emulator.gcp.keys import PrivateKey
from tests.emulator.conftest import TOKEN_LIFETIME, credentials_for, operator_key, storage_client

pytestmark = pytest.mark.usefixtures("fresh_world")


def _list_accounts(emulator, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{emulator['endpoints']['iam']}/v1/projects/{emulator['project_id']}/serviceAccounts"
    return requests.get(url, headers=headers, timeout=10)


def _forged_key(emulator, *, key_id: str) -> dict:
    """A key file that looks like the operator's but whose private key IAM never saw."""
    real = operator_key(emulator)
    forged = PrivateKey(key_id, real["client_email"], PrivateKey.generate("x").private_key_pem)
    return forged.key_file(
        project_id=real["project_id"], client_id=real["client_id"], token_uri=real["token_uri"]
    )


def test_the_operator_key_gets_a_token_from_the_emulators_token_endpoint(emulator, credentials):
    key = operator_key(emulator)
    assert key["token_uri"] == emulator["endpoints"]["oauth2"] + "/token"

    credentials.refresh(Request())

    assert credentials.token.startswith("ya29.")
    assert _list_accounts(emulator, credentials.token).status_code == 200


def test_a_call_without_a_token_is_401(emulator):
    response = _list_accounts(emulator, None)

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_an_unknown_token_is_401(emulator):
    assert _list_accounts(emulator, "ya29.not-a-token").status_code == 401


def test_an_expired_token_is_401_and_a_refresh_recovers(emulator, credentials, api):
    credentials.refresh(Request())
    stale = credentials.token
    time.sleep(TOKEN_LIFETIME + 0.2)

    assert _list_accounts(emulator, stale).status_code == 401
    accounts = api("iam", "v1").projects().serviceAccounts()
    listed = accounts.list(name=f"projects/{emulator['project_id']}").execute()
    assert credentials.token != stale
    assert [a["email"] for a in listed["accounts"]] == [emulator["service_account_email"]]


def test_a_key_iam_never_issued_is_refused_by_the_token_endpoint(emulator):
    forged = credentials_for(_forged_key(emulator, key_id="0" * 40))

    with pytest.raises(RefreshError, match="invalid_grant"):
        forged.refresh(Request())


def test_a_known_key_id_with_the_wrong_private_key_fails_the_signature_check(emulator):
    key_id = operator_key(emulator)["private_key_id"]
    forged = credentials_for(_forged_key(emulator, key_id=key_id))

    with pytest.raises(RefreshError, match="invalid_grant"):
        forged.refresh(Request())


def test_an_expired_assertion_is_refused(emulator):
    key = operator_key(emulator)
    signer = crypt.RSASigner.from_service_account_info(key)
    now = int(time.time())
    claims = {
        "iss": key["client_email"],
        "aud": key["token_uri"],
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "iat": now - 7200,
        "exp": now - 3600,
    }
    response = requests.post(
        key["token_uri"],
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": jwt.encode(signer, claims).decode(),
        },
        timeout=10,
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_an_unsupported_grant_type_is_refused(emulator):
    key = operator_key(emulator)
    response = requests.post(key["token_uri"], data={"grant_type": "password"}, timeout=10)

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_a_self_signed_jwt_is_accepted_as_bearer_token(emulator, credentials):
    """GAPIC clients send self-signed JWTs instead of fetching a token."""
    self_signed = credentials.with_always_use_jwt_access(True)

    buckets = storage_client(emulator, self_signed).list_buckets()

    assert list(buckets) == []
    assert self_signed.token.count(".") == 2


def test_a_self_signed_jwt_from_a_forged_key_is_401(emulator):
    key_id = operator_key(emulator)["private_key_id"]
    forged = credentials_for(_forged_key(emulator, key_id=key_id)).with_always_use_jwt_access(True)

    with pytest.raises(exceptions.Unauthorized):
        list(storage_client(emulator, forged).list_buckets())


def test_an_identity_without_the_permission_gets_403(emulator, api, issue_key):
    reader = issue_key("object-reader", ["roles/storage.objectViewer"])
    project = emulator["project_id"]

    with pytest.raises(exceptions.Forbidden):
        storage_client(emulator, reader).create_bucket("reader-bucket")
    with pytest.raises(HttpError) as denied:
        api("iam", "v1", reader).projects().serviceAccounts().create(
            name=f"projects/{project}", body={"accountId": "not-allowed"}
        ).execute()
    assert denied.value.status_code == 403


def test_a_deleted_service_accounts_key_and_tokens_stop_working(emulator, api, issue_key):
    doomed = issue_key("doomed-account", ["roles/storage.admin"])
    doomed.refresh(Request())
    token = doomed.token
    assert _list_accounts(emulator, token).status_code == 403  # authenticated, not authorized

    email = f"doomed-account@{emulator['project_id']}.iam.gserviceaccount.com"
    name = f"projects/{emulator['project_id']}/serviceAccounts/{email}"
    api("iam", "v1").projects().serviceAccounts().delete(name=name).execute()

    assert _list_accounts(emulator, token).status_code == 401
    with pytest.raises(RefreshError, match="invalid_grant"):
        doomed.refresh(Request())


def test_keys_from_the_control_api_are_real_service_account_keys(emulator, issue_key):
    credentials = issue_key("bucket-admin", ["roles/storage.admin"])

    assert isinstance(credentials, service_account.Credentials)
    assert credentials.service_account_email.startswith("bucket-admin@")
    assert list(storage_client(emulator, credentials).list_buckets()) == []


def test_google_auth_retries_a_token_endpoint_that_is_briefly_unavailable(control, credentials):
    control.post("/faults", json={"method": "oauth2.token", "status": 503, "times": 2})

    credentials.refresh(Request())

    assert credentials.token.startswith("ya29.")
    assert control.get("/faults").json()["faults"] == []
