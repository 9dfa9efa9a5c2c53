"""The JobSet manifest is applied only as verified: its sha256, https redirects, and loopback
only when the connection points at the local emulator."""

import hashlib
import http.server
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.operators.jobset import HttpsRedirects, download_verified

MANIFEST = b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: jobset-system\n"
DIGEST = hashlib.sha256(MANIFEST).hexdigest()


class _Release(http.server.BaseHTTPRequestHandler):
    """/manifests.yaml, and /moved, which redirects to it over plain http."""

    requested: list[str] = []

    def do_GET(self) -> None:
        self.requested.append(self.path)
        if self.path == "/moved":
            self.send_response(302)
            self.send_header(
                "Location", f"http://127.0.0.1:{self.server.server_port}/manifests.yaml"
            )
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(MANIFEST)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def release() -> Iterator[str]:
    """The base URL of a release server on loopback."""
    _Release.requested = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Release)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def refusal(*args: object, **kwargs: object) -> DeploymentError:
    with pytest.raises(DeploymentError) as refused:
        download_verified(*args, **kwargs)  # type: ignore[arg-type]
    return refused.value


def test_a_manifest_with_the_expected_digest_is_returned(release: str) -> None:
    assert download_verified(f"{release}/manifests.yaml", DIGEST, local=True) == MANIFEST


@pytest.mark.parametrize("expected", ["0" * 64, ""])
def test_another_digest_applies_nothing(release: str, expected: str) -> None:
    refused = refusal(f"{release}/manifests.yaml", expected, local=True)
    assert refused.kind is ErrorKind.PERMANENT
    assert f"has sha256 {DIGEST}, not the expected" in str(refused)
    assert "nothing was applied" in str(refused)


def test_loopback_is_refused_unless_the_connection_points_at_the_emulator(release: str) -> None:
    refused = refusal(f"{release}/manifests.yaml", DIGEST, local=False)
    assert refused.kind is ErrorKind.PERMANENT
    assert "only when the Google connection points at the local emulator" in str(refused)
    assert _Release.requested == []  # not even asked


def test_a_redirect_to_plain_http_is_refused(release: str) -> None:
    refused = refusal(f"{release}/moved", DIGEST, local=True)
    assert refused.kind is ErrorKind.PERMANENT
    assert "redirects to http://127.0.0.1" in str(refused)
    assert _Release.requested == ["/moved"]


@pytest.mark.parametrize(
    ("target", "local", "followed"),
    [
        ("https://objects.example.com/manifests.yaml", False, True),
        ("https://127.0.0.1:8443/manifests.yaml", True, True),
        ("https://127.0.0.1:8443/manifests.yaml", False, False),
        ("http://objects.example.com/manifests.yaml", False, False),
    ],
)
def test_redirects_go_to_https_and_to_loopback_only_for_the_emulator(
    target: str, local: bool, followed: bool
) -> None:
    request = urllib.request.Request("https://github.com/jobset/manifests.yaml")
    redirects = HttpsRedirects(local)
    if followed:
        assert (
            redirects.redirect_request(request, None, 302, "Found", {}, target).full_url == target
        )
    else:
        with pytest.raises(DeploymentError):
            redirects.redirect_request(request, None, 302, "Found", {}, target)
