"""JobSet: server-side apply of the pinned release, then wait until its controller and webhook
serve.

Tutorial: "Install JobSet". In an adopted cluster (adopt_cluster) a JobSet already installed is
used as it is: applying the pinned release over it would change the owner's installation.
"""

import urllib.request
from typing import Any

import yaml

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.operators.base import KubeOperator, fails_fast

_JOBSET_CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "jobsets.jobset.x-k8s.io")


class InstallJobSetOperator(KubeOperator):
    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        from saxml_gke.triggers.kubernetes import JobSetReadyTrigger

        spec = self.deployment
        url = spec.saxml.jobset_manifest_url
        objects: list[dict[str, Any]] = []
        if spec.cluster.adopted and self.kube.get(*_JOBSET_CRD) is not None:
            self.log.info("JobSet is installed in the adopted cluster: using it as it is")
        else:
            objects = [doc for doc in yaml.safe_load_all(_fetch(url)) if doc]
            self.kube.apply(objects)
            self.log.info("Applied %d JobSet %s objects from %s", len(objects),
                          spec.saxml.jobset_version, url)  # fmt: skip
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


def _fetch(url: str) -> str:
    """The release manifest (https, or a loopback http URL: the spec allows nothing else)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read().decode()
    except OSError as error:
        raise DeploymentError(
            ErrorKind.TRANSIENT, f"cannot download the JobSet manifest {url}: {error}"
        ) from error
