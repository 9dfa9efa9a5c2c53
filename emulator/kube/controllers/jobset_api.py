"""JobSet's API (`jobset.x-k8s.io/v1alpha2`, v0.12): names, labels and spec readers that its
controller and its webhooks share (api/jobset/v1alpha2/jobset_types.go, pkg/constants)."""

import hashlib
from collections.abc import Mapping
from typing import Any

API_VERSION = "jobset.x-k8s.io/v1alpha2"
CRD_NAME = "jobsets.jobset.x-k8s.io"
CONTROLLER_NAME = "jobset.sigs.k8s.io/jobset-controller"  # the built-in spec.managedBy
# The release manifest's controller manager (its Deployment and the namespace it runs in).
MANAGER_NAMESPACE = "jobset-system"
MANAGER_DEPLOYMENT = "jobset-controller-manager"

JOBSET_NAME = "jobset.sigs.k8s.io/jobset-name"
JOBSET_UID = "jobset.sigs.k8s.io/jobset-uid"
REPLICATED_JOB_NAME = "jobset.sigs.k8s.io/replicatedjob-name"
REPLICATED_JOB_REPLICAS = "jobset.sigs.k8s.io/replicatedjob-replicas"
GLOBAL_REPLICAS = "jobset.sigs.k8s.io/global-replicas"
JOB_INDEX = "jobset.sigs.k8s.io/job-index"
JOB_GLOBAL_INDEX = "jobset.sigs.k8s.io/job-global-index"
JOB_KEY = "jobset.sigs.k8s.io/job-key"
RESTART_ATTEMPT = "jobset.sigs.k8s.io/restart-attempt"
JOB_RESTART_ATTEMPT = "jobset.sigs.k8s.io/job-restart-attempt"
GROUP_NAME = "jobset.sigs.k8s.io/group-name"
GROUP_REPLICAS = "jobset.sigs.k8s.io/group-replicas"
JOB_GROUP_INDEX = "jobset.sigs.k8s.io/job-group-index"
COORDINATOR = "jobset.sigs.k8s.io/coordinator"
PRIORITY = "jobset.sigs.k8s.io/priority"
EXCLUSIVE_TOPOLOGY = "alpha.jobset.sigs.k8s.io/exclusive-topology"
NODE_SELECTOR_STRATEGY = "alpha.jobset.sigs.k8s.io/node-selector"
NAMESPACED_JOB = "alpha.jobset.sigs.k8s.io/namespaced-job"
NO_SCHEDULE_TAINT = "alpha.jobset.sigs.k8s.io/no-schedule"


def replicas(rjob: Mapping[str, Any]) -> int:
    return rjob.get("replicas", 1)  # the CRD's default


def group_name(rjob: Mapping[str, Any]) -> str:
    return rjob.get("groupName") or "default"  # the CRD's default


def job_name(jobset: str, rjob: str, index: int | str) -> str:
    """placement.GenJobName: `<jobset>-<replicatedJob>-<jobIndex>`."""
    return f"{jobset}-{rjob}-{index}"


def job_key(namespace: str, name: str) -> str:
    """The `job-key` label: SHA-1 of `<namespace>/<job>` (jobHashKey)."""
    return hashlib.sha1(f"{namespace}/{name}".encode()).hexdigest()


def subdomain(jobset: Mapping[str, Any]) -> str:
    return (jobset["spec"].get("network") or {}).get("subdomain") or jobset["metadata"]["name"]


def dns_hostnames(jobset: Mapping[str, Any]) -> bool:
    return bool((jobset["spec"].get("network") or {}).get("enableDNSHostnames"))
