"""JobSet: server-side apply of the pinned release, verified, then wait until its controller and
webhook serve.

Tutorial: "Install JobSet". The manifest is applied cluster-wide, so it is applied only when its
sha256 is the spec's (pinned for the official release, or given with its URL), it is fetched
over https (or from loopback, only when the connection points at the local emulator), and a
redirect elsewhere than to https is refused. In an adopted cluster (adopt_cluster) a JobSet
already installed is used as it is: applying the pinned release over it would change the
owner's installation.
"""

import hashlib
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.manifests import load_documents
from saxml_gke.operators.base import APPLY, KubeOperator, fails_fast, kubernetes_permissions
from saxml_gke.urls import is_loopback_url

_JOBSET_CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "jobsets.jobset.x-k8s.io")


class InstallJobSetOperator(KubeOperator):
    # The release's kinds, the wait on its controller, and the dry-run JobSet its webhook admits.
    required_permissions = (
        kubernetes_permissions(
            APPLY,
            "namespaces",
            "customResourceDefinitions",
            "clusterRoles",
            "clusterRoleBindings",
            "roles",
            "roleBindings",
            "serviceAccounts",
            "configMaps",
            "secrets",
            "services",
            "deployments",
            "mutatingWebhookConfigurations",
            "validatingWebhookConfigurations",
        )
        | kubernetes_permissions(("bind", "escalate"), "clusterRoles", "roles")
        | kubernetes_permissions(("get",), "customResourceDefinitions", "deployments")
        | kubernetes_permissions(("list",), "pods")
        | kubernetes_permissions(("create",), "thirdPartyObjects")
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        from saxml_gke.triggers.kubernetes import JobSetReadyTrigger

        spec = self.deployment
        url = spec.saxml.jobset_manifest_url
        objects: list[dict[str, Any]] = []
        if spec.cluster.adopted and self.kube.get(*_JOBSET_CRD) is not None:
            self.log.info("JobSet is installed in the adopted cluster: using it as it is")
        else:
            from saxml_gke.hooks.google import GoogleApiHook

            local = GoogleApiHook(gcp_conn_id=self.gcp_conn_id).points_at_loopback()
            manifest = download_verified(url, spec.saxml.jobset_manifest_sha256, local=local)
            objects = load_documents(manifest)
            self.kube.apply(objects)
            self.log.info("Applied %d JobSet %s objects from %s (sha256 %s, as expected)",
                          len(objects), spec.saxml.jobset_version, url,
                          spec.saxml.jobset_manifest_sha256)  # fmt: skip
        return self.wait_for(
            JobSetReadyTrigger(
                cluster=self.cluster,
                waiting=self.waiting(
                    "the JobSet controller and its webhook",
                    spec.waits.pods_timeout,
                    version=spec.saxml.jobset_version,
                    objects=len(objects),
                ),
            )
        )


def download_verified(url: str, sha256: str, *, local: bool) -> bytes:
    """The file at `url` (https, or a loopback http URL: the spec allows nothing else), only if
    its sha256 is `sha256`. `local`: the connection points at the local emulator, so the file
    may come from loopback."""
    _check_source(url, local)
    opener = urllib.request.build_opener(HttpsRedirects(local))
    try:
        with opener.open(url, timeout=60) as response:
            content: bytes = response.read()
    except OSError as error:
        raise DeploymentError(
            ErrorKind.TRANSIENT, f"cannot download the JobSet manifest {url}: {error}"
        ) from error
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"the JobSet manifest {url} has sha256 {digest}, not the expected "
            f"{sha256 or '(none recorded)'}: nothing was applied",
        )
    return content


class HttpsRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to https (GitHub's release downloads redirect to its object
    store), and to loopback only where the file itself may come from there."""

    def __init__(self, local: bool) -> None:
        super().__init__()
        self.local = local

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if urlsplit(newurl).scheme != "https":
            raise DeploymentError(
                ErrorKind.PERMANENT,
                f"the JobSet manifest {req.full_url} redirects to {newurl}: only redirects to "
                "https are followed",
            )
        _check_source(newurl, self.local)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _check_source(url: str, local: bool) -> None:
    """A loopback URL reaches services on the worker's own host: only the emulator's is meant."""
    if is_loopback_url(url) and not local:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"the JobSet manifest URL {url} is on loopback, which is allowed only when the Google "
            "connection points at the local emulator (every endpoint_overrides URL on loopback)",
        )
