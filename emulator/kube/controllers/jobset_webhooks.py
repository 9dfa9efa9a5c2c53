"""JobSet's admission webhooks, which its controller manager serves (pkg/webhooks).

- `mjobset.kb.io` defaults a new JobSet: Indexed child Jobs, pod restartPolicy OnFailure, DNS
  hostnames on, publishNotReadyAddresses, successPolicy All, startupPolicy AnyOrder.
- `vjobset.kb.io` rejects JobSets whose Job or pod names would not be DNS-1035 labels, and
  changes to replicatedJobs.
- `mpod.kb.io` and `vpod.kb.io` implement exclusive placement
  (`alpha.jobset.sigs.k8s.io/exclusive-topology: <node label>`): the leader pod (completion
  index 0) gets a required pod affinity to its own Job's pods and an anti-affinity to other
  Jobs' pods of the same priority on that topology key, so the scheduler gives each Job a whole
  topology domain (a node pool: a TPU slice); a follower pod is admitted only once its leader is
  scheduled, with a nodeSelector pinning it to the leader's domain. Until then its creation is
  rejected, and the Job controller retries.

JobSet's controller manager serves them (`emulator.kube.images.jobset`), under the paths its
webhook configurations name; the API server calls them as it calls any webhook
(`emulator.kube.webhooks`), so they answer only while a manager pod serves them.
"""

import copy
import re

from emulator.kube.controllers import jobset_api as api
from emulator.kube.controllers.job import COMPLETION_INDEX
from emulator.kube.resources import ResourceType
from emulator.kube.store import Obj, Store
from emulator.kube.webhooks import AdmissionDenied, AdmissionHandler

_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_FORMAT = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def default_jobset(jobset: Obj) -> Obj:
    jobset = copy.deepcopy(jobset)
    spec = jobset.setdefault("spec", {})
    spec.setdefault("successPolicy", {"operator": "All"})
    spec.setdefault("startupPolicy", {"startupPolicyOrder": "AnyOrder"})
    for rjob in spec.get("replicatedJobs") or []:
        job_spec = rjob.setdefault("template", {}).setdefault("spec", {})
        job_spec.setdefault("completionMode", "Indexed")
        pod_spec = job_spec.setdefault("template", {}).setdefault("spec", {})
        if not pod_spec.get("restartPolicy"):
            pod_spec["restartPolicy"] = "OnFailure"
    network = spec.setdefault("network", {})
    network.setdefault("enableDNSHostnames", True)
    network.setdefault("publishNotReadyAddresses", True)
    for index, rule in enumerate((spec.get("failurePolicy") or {}).get("rules") or []):
        rule.setdefault("name", f"failurePolicyRule{index}")
    return jobset


def jobset_errors(jobset: Obj, old: Obj | None) -> list[str]:
    name = jobset["metadata"]["name"]
    errors = []
    for rjob in jobset["spec"].get("replicatedJobs") or []:
        longest_job = api.job_name(name, rjob["name"], api.replicas(rjob) - 1)
        errors += _dns_1035_errors(
            longest_job,
            "JobSet name is too long, job names generated for this JobSet will exceed 63 "
            "characters",
        )
        job_spec = rjob.get("template", {}).get("spec", {})
        if job_spec.get("completionMode") == "Indexed" and job_spec.get("completions"):
            longest_pod = f"{longest_job}-{job_spec['completions'] - 1}-abcde"
            errors += _dns_1035_errors(
                longest_pod,
                "JobSet name is too long, pod names generated for this JobSet will exceed 63 "
                "characters",
            )
    suspended = jobset["spec"].get("suspend") or (old and old["spec"].get("suspend"))
    # Compared with defaults applied: a re-applied manifest omits what mjobset defaulted.
    replicated_jobs = default_jobset(jobset)["spec"].get("replicatedJobs")
    if old is not None and not suspended and replicated_jobs != old["spec"].get("replicatedJobs"):
        errors.append("spec.replicatedJobs: Invalid value: field is immutable")
    return errors


def _dns_1035_errors(value: str, too_long: str) -> list[str]:
    errors = [too_long] if len(value) > 63 else []
    if not _DNS_1035.match(value):
        errors.append(_DNS_1035_FORMAT)
    return errors


class JobSetWebhooks:
    """The manager's webhook handlers, by the path each webhook configuration calls."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def handlers(self) -> dict[str, AdmissionHandler]:
        return {
            "/mutate-jobset-x-k8s-io-v1alpha2-jobset": self.mutate_jobset,
            "/validate-jobset-x-k8s-io-v1alpha2-jobset": self.validate_jobset,
            "/mutate--v1-pod": self.mutate_pod,
            "/validate--v1-pod": self.validate_pod,
        }

    async def mutate_jobset(
        self, operation: str, rtype: ResourceType, obj: Obj, old: Obj | None
    ) -> Obj:
        return default_jobset(obj) if operation == "CREATE" else obj

    async def validate_jobset(
        self, operation: str, rtype: ResourceType, obj: Obj, old: Obj | None
    ) -> Obj:
        if errors := jobset_errors(obj, old):
            raise AdmissionDenied("\n".join(errors))
        return obj

    async def mutate_pod(
        self, operation: str, rtype: ResourceType, obj: Obj, old: Obj | None
    ) -> Obj:
        return self._mutate_pod(obj)

    async def validate_pod(
        self, operation: str, rtype: ResourceType, obj: Obj, old: Obj | None
    ) -> Obj:
        self._validate_pod(obj)
        return obj

    def _mutate_pod(self, pod: Obj) -> Obj:
        annotations = pod["metadata"].get("annotations") or {}
        if api.JOBSET_NAME not in annotations or api.NODE_SELECTOR_STRATEGY in annotations:
            return pod
        pod = copy.deepcopy(pod)
        # The Priority admission plugin, which runs before webhooks, sets spec.priority (0 by
        # default); exclusive placement only competes within one priority.
        priority = str(pod["spec"].get("priority", 0))
        pod["metadata"].setdefault("labels", {})[api.PRIORITY] = priority
        topology = annotations.get(api.EXCLUSIVE_TOPOLOGY)
        if topology is None:
            return pod
        if annotations.get(COMPLETION_INDEX) == "0":
            _set_exclusive_affinities(pod, topology, priority)
        else:
            leader = self._leader(pod)
            if leader is not None and leader["spec"].get("nodeName"):
                domain = self._domain(leader, topology)
                pod["spec"].setdefault("nodeSelector", {})[topology] = domain
        return pod

    def _validate_pod(self, pod: Obj) -> None:
        annotations = pod["metadata"].get("annotations") or {}
        topology = annotations.get(api.EXCLUSIVE_TOPOLOGY)
        if (
            api.JOBSET_NAME not in annotations
            or api.NODE_SELECTOR_STRATEGY in annotations
            or topology is None
            or annotations.get(COMPLETION_INDEX) == "0"
        ):
            return
        selector = pod["spec"].get("nodeSelector")
        if not selector:
            raise AdmissionDenied("follower pod node selector not set")
        if topology not in selector:
            raise AdmissionDenied(
                "follower pod node selector for topology domain not found. missing selector: "
                f"{topology}"
            )
        leader = self._leader(pod)
        if leader is None or not leader["spec"].get("nodeName"):
            raise AdmissionDenied(
                "leader pod not yet scheduled, not creating follower pod. this is an expected, "
                "transient error"
            )

    def _leader(self, pod: Obj) -> Obj | None:
        """The live pod of completion index 0 of the same Job (same owner uid), if exactly one."""
        labels = pod["metadata"].get("labels") or {}

        def leads(other: Obj) -> bool:
            return (
                not other["metadata"].get("deletionTimestamp")
                and (other["metadata"].get("annotations") or {}).get(COMPLETION_INDEX) == "0"
                and all(
                    (other["metadata"].get("labels") or {}).get(key) == labels.get(key)
                    for key in (api.JOBSET_NAME, api.REPLICATED_JOB_NAME, api.JOB_INDEX)
                )
            )

        candidates = self.store.list_objects(
            self.store.types.by_kind("v1", "Pod"), pod["metadata"].get("namespace"), leads
        )
        if len(candidates) != 1 or _owner_uid(candidates[0]) != _owner_uid(pod):
            return None
        return candidates[0]

    def _domain(self, leader: Obj, topology: str) -> str:
        node = self.store.get(
            self.store.types.by_kind("v1", "Node"), "", leader["spec"]["nodeName"]
        )
        domain = (node["metadata"].get("labels") or {}).get(topology)
        if domain is None:
            raise AdmissionDenied(f"node does not have topology label: {topology}")
        return domain


def _owner_uid(pod: Obj) -> str | None:
    for ref in pod["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _set_exclusive_affinities(pod: Obj, topology: str, priority: str) -> None:
    key = pod["metadata"]["labels"][api.JOB_KEY]
    affinity = pod["spec"].setdefault("affinity", {})
    affinity.setdefault("podAffinity", {}).setdefault(
        "requiredDuringSchedulingIgnoredDuringExecution", []
    ).append(
        {
            "labelSelector": {
                "matchExpressions": [{"key": api.JOB_KEY, "operator": "In", "values": [key]}]
            },
            "topologyKey": topology,
            "namespaceSelector": {},
        }
    )
    affinity.setdefault("podAntiAffinity", {}).setdefault(
        "requiredDuringSchedulingIgnoredDuringExecution", []
    ).append(
        {
            "labelSelector": {
                "matchExpressions": [
                    {"key": api.JOB_KEY, "operator": "Exists"},
                    {"key": api.JOB_KEY, "operator": "NotIn", "values": [key]},
                    {"key": api.PRIORITY, "operator": "In", "values": [priority]},
                ]
            },
            "topologyKey": topology,
            "namespaceSelector": {},
        }
    )
