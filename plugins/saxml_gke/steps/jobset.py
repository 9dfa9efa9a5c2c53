"""install_jobset: server-side apply of the pinned JobSet release, then wait until it serves.

In an adopted cluster (adopt_cluster) a JobSet already installed is used as it is: applying the
pinned release over it would change the owner's installation.
"""

import time
import urllib.request
from typing import Any

import yaml

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.steps.base import Result, StepContext, Wait, elapsed_since


def install_jobset(ctx: StepContext) -> Wait:
    spec = ctx.spec
    url = spec.saxml.jobset_manifest_url
    kube = KubeHook(**ctx.cluster_access(), gcp_conn_id=ctx.gcp_conn_id)
    objects: list[dict[str, Any]] = []
    if spec.cluster.adopted and kube.get(*_JOBSET_CRD) is not None:
        ctx.log.info("JobSet is installed in the adopted cluster: using it as it is")
    else:
        objects = [doc for doc in yaml.safe_load_all(_fetch(url)) if doc]
        kube.apply(objects)
        ctx.log.info("Applied %d JobSet %s objects from %s", len(objects),
                     spec.saxml.jobset_version, url)  # fmt: skip
    return Wait(
        probe="jobset_ready",
        arguments=ctx.probe_arguments(cluster=ctx.cluster_access()),
        timeout=spec.waits.pods_timeout,
        description="the JobSet controller and its webhook",
        then="saxml_gke.steps.jobset:jobset_ready",
        carry={"objects": len(objects), "started": time.time()},
    )


_JOBSET_CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "jobsets.jobset.x-k8s.io")


def jobset_ready(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result:
    return {
        "version": ctx.spec.saxml.jobset_version,
        "objects": carry["objects"],
        "wait_seconds": elapsed_since(carry["started"]),
    }


def _fetch(url: str) -> str:
    """The release manifest (https, or a loopback http URL: the spec allows nothing else)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read().decode()
    except OSError as error:
        raise DeploymentError(
            ErrorKind.TRANSIENT, f"cannot download the JobSet manifest {url}: {error}"
        ) from error
