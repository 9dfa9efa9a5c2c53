"""The connection's `endpoint_overrides`: https, or plain http to loopback only, since the
clients send bearer tokens there."""

import json

import pytest

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.google import GoogleApiHook


def hook(monkeypatch: pytest.MonkeyPatch, overrides: object) -> GoogleApiHook:
    connection = {"conn_type": "google_cloud_platform", "extra": {"endpoint_overrides": overrides}}
    monkeypatch.setenv("AIRFLOW_CONN_OVERRIDDEN", json.dumps(connection))
    return GoogleApiHook(gcp_conn_id="overridden")


@pytest.mark.parametrize(
    "url",
    [
        "https://container.example.com",
        "https://10.0.0.5:8443",
        "http://127.0.0.1:8080",
        "http://127.0.0.2",
        "http://localhost:9000",
        "http://[::1]:8080",
    ],
)
def test_https_and_loopback_http_are_used(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    assert hook(monkeypatch, {"container": url}).endpoint_override("container") == url


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8080",
        "http://container.example.com",
        "http://127.0.0.1.nip.io",
        "http://localhost.example.com",
        "ftp://127.0.0.1",
        "https://",
        "container.example.com",
    ],
)
def test_a_cleartext_override_is_refused_naming_key_and_url(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    overridden = hook(monkeypatch, {"container": "https://container.example.com", "storage": url})
    with pytest.raises(DeploymentError) as refused:
        overridden.endpoint_override("container")  # any API: the connection is wrong
    assert refused.value.kind is ErrorKind.PERMANENT
    assert f"endpoint_overrides.storage = {url!r}" in str(refused.value)
    assert "'overridden'" in str(refused.value)
    assert "clear text" in str(refused.value)


def test_overrides_may_be_a_json_string(monkeypatch: pytest.MonkeyPatch) -> None:
    overridden = hook(monkeypatch, json.dumps({"iam": "http://127.0.0.1:1"}))
    assert overridden.endpoint_override("iam") == "http://127.0.0.1:1"
    assert overridden.endpoint_override("storage") is None


@pytest.mark.parametrize(
    ("overrides", "local"),
    [
        ({"container": "http://127.0.0.1:1", "iam": "http://localhost:2"}, True),
        ({"container": "http://127.0.0.1:1", "iam": "https://iam.example.com"}, False),
        ({"container": "https://127.0.0.1.nip.io"}, False),
        ({}, False),
    ],
)
def test_the_connection_points_at_the_emulator_when_every_override_is_on_loopback(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str], local: bool
) -> None:
    assert hook(monkeypatch, overrides).points_at_loopback() is local
