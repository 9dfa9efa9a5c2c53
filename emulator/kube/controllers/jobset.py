"""JobSet's controller (kubernetes-sigs/jobset v0.12, pkg/controllers/jobset_controller.go).

A JobSet runs `replicas` child Jobs per replicatedJob, named `<jobset>-<rjob>-<index>`, labelled
and annotated with the JobSet's keys down to their pods, behind a headless Service named after
the subdomain so every pod has a stable DNS name. A failed child Job applies the failure policy:
by default the whole JobSet restarts (every child Job is deleted and recreated with the next
`restart-attempt`) until `maxRestarts` is used up. It runs only while JobSet's controller manager
does: while its Deployment (`jobset-system/jobset-controller-manager`, from the release
manifest) is Available. The manager's pod also serves JobSet's admission webhooks
(`emulator.kube.images.jobset`).
"""

import copy
from typing import Any

from emulator.kube.controllers import jobset_api as api
from emulator.kube.controllers.base import (
    Controller,
    children,
    condition_true,
    controller_ref,
    find_condition,
    parse_timestamp,
)
from emulator.kube.errors import KubeApiError
from emulator.kube.store import Obj


class ChildJobs:
    """A JobSet's Jobs: those of the current restart attempt by outcome, and older ones."""

    def __init__(self, jobs: list[Obj], restarts: int) -> None:
        self.active: list[Obj] = []
        self.succeeded: list[Obj] = []
        self.failed: list[Obj] = []
        self.previous: list[Obj] = []
        for job in jobs:
            attempt = (job["metadata"].get("labels") or {}).get(api.RESTART_ATTEMPT, "")
            if not attempt.isdigit() or int(attempt) < restarts:
                self.previous.append(job)
            elif condition_true(job, "Failed"):
                self.failed.append(job)
            elif condition_true(job, "Complete"):
                self.succeeded.append(job)
            else:
                self.active.append(job)

    def names(self) -> set[str]:
        jobs = self.active + self.succeeded + self.failed + self.previous
        return {job["metadata"]["name"] for job in jobs}


class JobSetController(Controller):
    source = "jobset"

    def active(self) -> bool:
        """Whether JobSet's controller manager runs: its Deployment is Available (and the CRD
        it reconciles is installed)."""
        try:
            self.store.types.by_kind(api.API_VERSION, "JobSet")
        except KubeApiError:
            return False
        manager = self.store.find(
            self.rtype("apps/v1", "Deployment"), api.MANAGER_NAMESPACE, api.MANAGER_DEPLOYMENT
        )
        return manager is not None and condition_true(manager, "Available")

    async def reconcile(self) -> float | None:
        if not self.active():
            return None
        for jobset in self.store.list_objects(self.rtype(api.API_VERSION, "JobSet")):
            managed_by = jobset["spec"].get("managedBy", api.CONTROLLER_NAME)
            if (
                not jobset["metadata"].get("deletionTimestamp")
                and managed_by == api.CONTROLLER_NAME
            ):
                await self._sync(jobset)
        return None

    async def _sync(self, jobset: Obj) -> None:
        status = copy.deepcopy(jobset.get("status") or {})
        status.setdefault("restarts", 0)
        jobs = ChildJobs(children(self, self.rtype("batch/v1", "Job"), jobset), status["restarts"])
        status["replicatedJobsStatus"] = _replicated_jobs_status(jobset, jobs)
        conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
        if _finished(conditions):
            self._delete_jobs(jobs.active)
        else:
            self._delete_jobs(jobs.previous)
            if jobs.failed:
                self._apply_failure_policy(jobset, status, jobs.failed)
            elif not self._apply_success_policy(jobset, status, jobs.succeeded):
                if await self._ensure_headless_service(jobset):
                    await self._create_jobs(jobset, status, jobs)
                self._suspend_or_resume(jobset, status, jobs.active)
        if not conditions:
            del status["conditions"]
        self.write_status(self.rtype(api.API_VERSION, "JobSet"), jobset, status)

    # Outcomes

    def _apply_failure_policy(self, jobset: Obj, status: dict[str, Any], failed: list[Obj]) -> None:
        policy = jobset["spec"].get("failurePolicy")
        first = min(failed, key=_failure_time)
        if policy is None:
            self._fail(
                jobset,
                status,
                "FailedJobs",
                _with_job("jobset failed due to one or more job failures", first),
            )
            return
        action, job = "RestartJobSet", first
        for rule in policy.get("rules") or []:
            matching = [j for j in failed if _rule_applies(rule, j)]
            if matching:
                action, job = rule["action"], min(matching, key=_failure_time)
                break
        if action == "FailJobSet":
            self._fail(
                jobset,
                status,
                "FailJobSetFailurePolicyAction",
                _with_job("applying FailJobSet failure policy action", job),
            )
            return
        counts = not action.endswith("AndIgnoreMaxRestarts")
        if counts and status.get("restartsCountTowardsMax", 0) >= policy.get("maxRestarts", 0):
            self._fail(
                jobset,
                status,
                "ReachedMaxRestarts",
                _with_job("jobset failed due to reaching max number of restarts", job),
            )
            return
        # RestartJob(AndIgnoreMaxRestarts), v0.12's per-Job restart, restarts the whole JobSet here.
        status["restarts"] += 1
        if counts:
            status["restartsCountTowardsMax"] = status.get("restartsCountTowardsMax", 0) + 1
        reason = (
            "RestartJobSetFailurePolicyAction"
            if counts
            else "RestartJobSetAndIgnoreMaxRestartsFailurePolicyAction"
        )
        message = (
            "applying RestartJobSet failure policy action"
            if counts
            else "applying RestartJobSetAndIgnoreMaxRestarts failure policy action"
        )
        self.event(jobset, reason, _with_job(message, job), warning=True)

    def _apply_success_policy(
        self, jobset: Obj, status: dict[str, Any], succeeded: list[Obj]
    ) -> bool:
        policy = jobset["spec"].get("successPolicy") or {}
        targets = policy.get("targetReplicatedJobs") or [
            rjob["name"] for rjob in jobset["spec"]["replicatedJobs"]
        ]
        matching = [j for j in succeeded if _replicated_job(j) in targets]
        if policy.get("operator", "All") == "Any":
            expected = 1
        else:
            expected = sum(
                api.replicas(rjob)
                for rjob in jobset["spec"]["replicatedJobs"]
                if rjob["name"] in targets
            )
        if not succeeded or len(matching) < expected:
            return False
        self._set_condition(
            jobset, status, "Completed", "True", "AllJobsCompleted", "jobset completed successfully"
        )
        status["terminalState"] = "Completed"
        return True

    def _fail(self, jobset: Obj, status: dict[str, Any], reason: str, message: str) -> None:
        self._set_condition(jobset, status, "Failed", "True", reason, message, warning=True)
        status["terminalState"] = "Failed"

    def _set_condition(
        self,
        jobset: Obj,
        status: dict[str, Any],
        kind: str,
        value: str,
        reason: str,
        message: str,
        warning: bool = False,
    ) -> None:
        """updateCondition: a new status replaces the condition (and emits an Event); the same
        status is no change; an absent condition is only added when True."""
        conditions = status["conditions"]
        current = find_condition({"status": status}, kind)
        if current is not None and current["status"] == value:
            return
        if current is None and value != "True":
            return
        condition = {
            "type": kind,
            "status": value,
            "lastTransitionTime": self.now(),
            "reason": reason,
            "message": message,
        }
        if current is None:
            conditions.append(condition)
        else:
            conditions[conditions.index(current)] = condition
        self.event(jobset, reason, message, warning=warning)

    # Children

    def _delete_jobs(self, jobs: list[Obj]) -> None:
        job_type = self.rtype("batch/v1", "Job")
        for job in jobs:
            if not job["metadata"].get("deletionTimestamp"):
                self.store.delete(
                    job_type, job["metadata"]["namespace"], job["metadata"]["name"], "Foreground"
                )

    async def _ensure_headless_service(self, jobset: Obj) -> bool:
        """Whether the pods' DNS names can resolve: the Service exists, or none is needed."""
        if not api.dns_hostnames(jobset):
            return True
        service_type = self.rtype("v1", "Service")
        name = api.subdomain(jobset)
        namespace = jobset["metadata"]["namespace"]
        if self.store.find(service_type, namespace, name) is not None:
            return True
        network = jobset["spec"].get("network") or {}
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "ownerReferences": [controller_ref(jobset)],
            },
            "spec": {
                "clusterIP": "None",
                "selector": {api.JOBSET_NAME: jobset["metadata"]["name"]},
                "publishNotReadyAddresses": network.get("publishNotReadyAddresses", True),
            },
        }
        try:
            await self.create(service_type, service)
        except KubeApiError as error:
            self.failed(jobset, "HeadlessServiceCreationFailed", error.message)
            return False
        return True

    async def _create_jobs(self, jobset: Obj, status: dict[str, Any], jobs: ChildJobs) -> None:
        existing = jobs.names()
        job_type = self.rtype("batch/v1", "Job")
        for rjob in jobset["spec"]["replicatedJobs"]:
            if not _dependencies_reached(jobset, rjob, status["replicatedJobsStatus"]):
                continue
            for index in range(api.replicas(rjob)):
                name = api.job_name(jobset["metadata"]["name"], rjob["name"], index)
                if name in existing:
                    continue
                try:
                    await self.create(job_type, self._job(jobset, status, rjob, index))
                except KubeApiError as error:
                    message = f'job "{name}" creation failed with error: {error.message}'
                    self.failed(jobset, "JobCreationFailed", message)
                    return

    def _job(self, jobset: Obj, status: dict[str, Any], rjob: dict[str, Any], index: int) -> Obj:
        template = copy.deepcopy(rjob["template"])
        metadata = template.get("metadata") or {}
        spec = template["spec"]
        pod_template = spec.setdefault("template", {})
        keys = self._keys(jobset, status, rjob, index)
        annotations = dict(keys)
        topology = (jobset["metadata"].get("annotations") or {}).get(api.EXCLUSIVE_TOPOLOGY)
        topology = (metadata.get("annotations") or {}).get(api.EXCLUSIVE_TOPOLOGY, topology)
        if topology is not None:
            annotations[api.EXCLUSIVE_TOPOLOGY] = topology
        strategy = {
            **(jobset["metadata"].get("annotations") or {}),
            **(metadata.get("annotations") or {}),
        }.get(api.NODE_SELECTOR_STRATEGY)
        if topology is not None and strategy is not None:
            annotations[api.NODE_SELECTOR_STRATEGY] = strategy
        for target in (metadata, pod_template.setdefault("metadata", {})):
            target["labels"] = {**(target.get("labels") or {}), **keys}
            target["annotations"] = {**(target.get("annotations") or {}), **annotations}
        name = api.job_name(jobset["metadata"]["name"], rjob["name"], index)
        pod_spec = pod_template.setdefault("spec", {})
        if api.dns_hostnames(jobset):
            pod_spec["subdomain"] = api.subdomain(jobset)
        if topology is not None and strategy is not None:
            namespaced = f"{jobset['metadata']['namespace']}_{name}"
            pod_spec.setdefault("nodeSelector", {})[api.NAMESPACED_JOB] = namespaced
            pod_spec.setdefault("tolerations", []).append(
                {"key": api.NO_SCHEDULE_TAINT, "operator": "Exists", "effect": "NoSchedule"}
            )
        spec["suspend"] = bool(jobset["spec"].get("suspend"))
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                **metadata,
                "name": name,
                "namespace": jobset["metadata"]["namespace"],
                "ownerReferences": [controller_ref(jobset)],
            },
            "spec": spec,
        }

    def _keys(
        self, jobset: Obj, status: dict[str, Any], rjob: dict[str, Any], index: int
    ) -> dict[str, str]:
        """labelAndAnnotateObject: the labels (also annotations) of a child Job and its pods."""
        name = jobset["metadata"]["name"]
        rjobs = jobset["spec"]["replicatedJobs"]
        position = rjobs.index(rjob)
        group = api.group_name(rjob)
        in_group = [r for r in rjobs if api.group_name(r) == group]
        job = api.job_name(name, rjob["name"], index)
        keys = {
            api.JOBSET_NAME: name,
            api.JOBSET_UID: jobset["metadata"]["uid"],
            api.REPLICATED_JOB_NAME: rjob["name"],
            api.GROUP_NAME: group,
            api.RESTART_ATTEMPT: str(status["restarts"]),
            api.JOB_RESTART_ATTEMPT: "0",
            api.REPLICATED_JOB_REPLICAS: str(api.replicas(rjob)),
            api.GLOBAL_REPLICAS: str(sum(api.replicas(r) for r in rjobs)),
            api.GROUP_REPLICAS: str(sum(api.replicas(r) for r in in_group)),
            api.JOB_INDEX: str(index),
            api.JOB_GLOBAL_INDEX: str(sum(api.replicas(r) for r in rjobs[:position]) + index),
            api.JOB_GROUP_INDEX: str(
                sum(api.replicas(r) for r in in_group[: in_group.index(rjob)]) + index
            ),
            api.JOB_KEY: api.job_key(jobset["metadata"]["namespace"], job),
        }
        coordinator = jobset["spec"].get("coordinator")
        if coordinator:
            leader_job = api.job_name(
                name, coordinator["replicatedJob"], coordinator.get("jobIndex", 0)
            )
            keys[api.COORDINATOR] = (
                f"{leader_job}-{coordinator.get('podIndex', 0)}.{api.subdomain(jobset)}"
            )
        return keys

    def _suspend_or_resume(self, jobset: Obj, status: dict[str, Any], active: list[Obj]) -> None:
        suspend = bool(jobset["spec"].get("suspend"))
        job_type = self.rtype("batch/v1", "Job")
        for job in active:
            if bool(job["spec"].get("suspend")) != suspend:
                self.update(job_type, job, lambda current: current["spec"].update(suspend=suspend))
        if suspend:
            self._set_condition(
                jobset, status, "Suspended", "True", "SuspendedJobs", "jobset is suspended"
            )
        else:
            self._set_condition(
                jobset, status, "Suspended", "False", "ResumeJobs", "jobset is resumed"
            )


def _replicated_jobs_status(jobset: Obj, jobs: ChildJobs) -> list[dict[str, Any]]:
    """Per replicatedJob: ready counts Jobs whose ready and succeeded pods reach
    min(parallelism, completions)."""
    statuses = []
    for rjob in jobset["spec"]["replicatedJobs"]:
        mine = [j for j in jobs.active if _replicated_job(j) == rjob["name"]]
        ready = 0
        for job in mine:
            spec, job_status = job["spec"], job.get("status") or {}
            pods = spec.get("parallelism", 1)
            if spec.get("completions") is not None:
                pods = min(pods, spec["completions"])
            if job_status.get("succeeded", 0) + job_status.get("ready", 0) >= pods:
                ready += 1
        statuses.append(
            {
                "name": rjob["name"],
                "ready": ready,
                "succeeded": sum(1 for j in jobs.succeeded if _replicated_job(j) == rjob["name"]),
                "failed": sum(1 for j in jobs.failed if _replicated_job(j) == rjob["name"]),
                "active": sum(1 for j in mine if (j.get("status") or {}).get("active", 0) > 0),
                "suspended": sum(1 for j in mine if j["spec"].get("suspend")),
            }
        )
    return statuses


def _dependencies_reached(
    jobset: Obj, rjob: dict[str, Any], statuses: list[dict[str, Any]]
) -> bool:
    """dependsOn: a replicatedJob starts once the one it names is Ready or Complete."""
    for dependency in rjob.get("dependsOn") or []:
        needed = next(
            (
                api.replicas(r)
                for r in jobset["spec"]["replicatedJobs"]
                if r["name"] == dependency["name"]
            ),
            0,
        )
        actual = next((s for s in statuses if s["name"] == dependency["name"]), None)
        if actual is None:
            return False
        if dependency["status"] == "Complete" and actual["succeeded"] != needed:
            return False
        if dependency["status"] == "Ready" and (
            actual["ready"] + actual["failed"] + actual["succeeded"] != needed
        ):
            return False
    return True


def _finished(conditions: list[dict[str, Any]]) -> bool:
    return any(c["type"] in ("Completed", "Failed") and c["status"] == "True" for c in conditions)


def _replicated_job(job: Obj) -> str:
    return (job["metadata"].get("labels") or {}).get(api.REPLICATED_JOB_NAME, "")


def _failure_time(job: Obj) -> float:
    condition = find_condition(job, "Failed")
    return parse_timestamp(condition["lastTransitionTime"]) if condition else 0.0


def _rule_applies(rule: dict[str, Any], job: Obj) -> bool:
    reason = (find_condition(job, "Failed") or {}).get("reason")
    reasons = rule.get("onJobFailureReasons") or []
    targets = rule.get("targetReplicatedJobs") or []
    return (not reasons or reason in reasons) and (not targets or _replicated_job(job) in targets)


def _with_job(message: str, job: Obj) -> str:
    return f"{message} (first failed job: {job['metadata']['name']})"
