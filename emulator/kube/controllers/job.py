"""The Job controller (pkg/controller/job, as in Kubernetes 1.31).

Pods carry the `batch.kubernetes.io/job-tracking` finalizer until the controller has counted
them, so every finished pod counts exactly once even when it is deleted right away. Indexed Jobs
give each pod a completion index (name `<job>-<index>-<suffix>`, hostname `<job>-<index>`,
label, annotation and `JOB_COMPLETION_INDEX`). A Job that meets its completions first gets the
interim SuccessCriteriaMet condition and one past its backoffLimit FailureTarget; Complete or
Failed follows once no pod of it is left running.
"""

import copy
from typing import Any

from emulator.kube.controllers import pods
from emulator.kube.controllers.base import (
    Controller,
    children,
    condition_true,
    controller_ref,
    is_true,
    min_requeue,
    omit_empty,
    set_condition,
)
from emulator.kube.errors import KubeApiError
from emulator.kube.store import Obj

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
_MAX_GENERATED_NAME = 58  # 63 minus the 5-character random suffix
_BACKOFF_SECONDS = 10.0  # the pod re-creation back-off doubles from here...
_MAX_BACKOFF_SECONDS = 360.0  # ...up to six minutes


def completion_index(pod: Obj) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(COMPLETION_INDEX)
    return int(value) if value is not None and value.isdigit() else None


def format_indexes(indexes: set[int]) -> str:
    """`completedIndexes` notation: sorted ranges, e.g. `0-2,4`."""
    ranges: list[str] = []
    ordered = sorted(indexes)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = ordered[start], ordered[end]
        ranges.append(str(first) if first == last else f"{first}-{last}")
        start = end + 1
    return ",".join(ranges)


def parse_indexes(text: str) -> set[int]:
    indexes: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        indexes.update(range(int(first), int(last or first) + 1))
    return indexes


def _counts_as_failed(pod: Obj) -> bool:
    """isPodFailed: a pod deleted before it succeeded counts as failed."""
    return pods.phase(pod) == "Failed" or (
        pods.is_terminating(pod) and pods.phase(pod) != "Succeeded"
    )


def _tracked(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or [])


class JobController(Controller):
    source = "job-controller"

    def __init__(self, cluster: Any) -> None:
        super().__init__(cluster)
        # Pod re-creation back-off per Job uid: failures since the last success, and when the
        # last one was counted (wall seconds); in memory, as the controller's podBackoffStore.
        self._backoff: dict[str, tuple[int, float]] = {}

    async def reconcile(self) -> float | None:
        jobs = self.store.list_objects(self.rtype("batch/v1", "Job"))
        requeues = [await self._sync(job) for job in jobs]
        self._release_orphans({job["metadata"]["uid"] for job in jobs})
        return min_requeue(*requeues)

    async def _sync(self, job: Obj) -> float | None:
        owned = children(self, self.rtype("v1", "Pod"), job)
        finished = condition_true(job, "Complete") or condition_true(job, "Failed")
        if finished or job["metadata"].get("deletionTimestamp"):
            self._release(owned)
            return None
        spec = job["spec"]
        status = copy.deepcopy(job.get("status") or {})
        conditions: list[dict[str, Any]] = status.get("conditions") or []
        newly_finished = [
            pod
            for pod in owned
            if _tracked(pod) and (pods.phase(pod) == "Succeeded" or _counts_as_failed(pod))
        ]
        self._count(job, status, newly_finished)
        requeue: float | None = None
        if spec.get("suspend"):
            self._suspend(job, status, conditions, owned)
        else:
            self._resume(job, status, conditions)
            requeue = await self._advance(job, status, conditions, owned)
        owned = children(self, self.rtype("v1", "Pod"), job)
        active = [pod for pod in owned if pods.is_active(pod)]
        status.update(
            {
                "active": len(active),
                "ready": sum(1 for pod in active if pods.is_ready(pod)),
                "terminating": sum(
                    1
                    for pod in owned
                    if pods.is_terminating(pod) and pods.phase(pod) not in pods.TERMINAL_PHASES
                ),
                "uncountedTerminatedPods": {},
            }
        )
        if conditions:
            status["conditions"] = conditions
        self.write_status(
            self.rtype("batch/v1", "Job"),
            job,
            omit_empty(status, "active", "succeeded", "failed", "completedIndexes"),
        )
        self._release(newly_finished)
        return requeue

    def _count(self, job: Obj, status: dict[str, Any], finished: list[Obj]) -> None:
        """Add the pods that finished since the last pass to the Job's counters."""
        indexed = job["spec"].get("completionMode") == "Indexed"
        completions = job["spec"].get("completions")
        completed = parse_indexes(status.get("completedIndexes", ""))
        uid = job["metadata"]["uid"]
        for pod in finished:
            if pods.phase(pod) == "Succeeded":
                index = completion_index(pod)
                if not indexed:
                    status["succeeded"] = status.get("succeeded", 0) + 1
                elif index is not None and completions is not None and index < completions:
                    completed.add(index)
                self._backoff.pop(uid, None)
            else:
                status["failed"] = status.get("failed", 0) + 1
                failures, _ = self._backoff.get(uid, (0, 0.0))
                self._backoff[uid] = (failures + 1, self.clock.now())
        if indexed:
            status["completedIndexes"] = format_indexes(completed)
            status["succeeded"] = len(completed)

    def _suspend(
        self, job: Obj, status: dict[str, Any], conditions: list[dict], owned: list[Obj]
    ) -> None:
        if not is_true(conditions, "Suspended"):
            set_condition(
                conditions, self._condition("Suspended", "True", "JobSuspended", "Job suspended")
            )
            self.event(job, "Suspended", "Job suspended")
        self._delete(job, [pod for pod in owned if pods.is_active(pod)])
        status.pop("startTime", None)

    def _resume(self, job: Obj, status: dict[str, Any], conditions: list[dict]) -> None:
        if is_true(conditions, "Suspended"):
            set_condition(
                conditions, self._condition("Suspended", "False", "JobResumed", "Job resumed")
            )
            self.event(job, "Resumed", "Job resumed")
            status.pop("startTime", None)
        status.setdefault("startTime", self.now())

    async def _advance(
        self, job: Obj, status: dict[str, Any], conditions: list[dict], owned: list[Obj]
    ) -> float | None:
        """Decide the Job's outcome, or create and delete pods towards it."""
        active = [pod for pod in owned if pods.is_active(pod)]
        spec = job["spec"]
        interim = next(
            (
                c
                for c in conditions
                if c["type"] in ("FailureTarget", "SuccessCriteriaMet") and c["status"] == "True"
            ),
            None,
        )
        deadline_left = None
        if interim is None:
            failure = None
            if status.get("failed", 0) > spec.get("backoffLimit", 6) or self._restarts_exceed(
                job, active
            ):
                failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
            elif (deadline := spec.get("activeDeadlineSeconds")) is not None:
                deadline_left = self.modelled_seconds_left(status["startTime"], deadline)
                if deadline_left <= 0:
                    failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
            if failure is not None:
                interim = self._condition("FailureTarget", "True", *failure)
                self.event(job, failure[0], failure[1], warning=True)
            elif self._complete(job, status, active):
                interim = self._condition(
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                )
            if interim is not None:
                set_condition(conditions, interim)
        if interim is not None:
            self._finish(job, status, conditions, interim, owned)
            return None
        return min_requeue(deadline_left, await self._manage_pods(job, status, active))

    def _finish(
        self,
        job: Obj,
        status: dict[str, Any],
        conditions: list[dict],
        interim: dict[str, Any],
        owned: list[Obj],
    ) -> None:
        """Stop what still runs; once nothing does, the terminal condition follows."""
        self._delete(job, [pod for pod in owned if pods.is_active(pod)])
        if any(
            pods.phase(pod) not in pods.TERMINAL_PHASES or _tracked(pod)
            for pod in children(self, self.rtype("v1", "Pod"), job)
            if pods.is_terminating(pod) or pods.is_active(pod)
        ):
            return
        if interim["type"] == "SuccessCriteriaMet":
            set_condition(conditions, {**interim, "type": "Complete"})
            status["completionTime"] = self.now()
            self.event(job, "Completed", "Job completed")
        else:
            set_condition(conditions, {**interim, "type": "Failed"})

    def _complete(self, job: Obj, status: dict[str, Any], active: list[Obj]) -> bool:
        completions = job["spec"].get("completions")
        if completions is None:  # a work queue: done once a pod succeeded and none runs
            return status.get("succeeded", 0) > 0 and not active
        return status.get("succeeded", 0) >= completions

    @staticmethod
    def _restarts_exceed(job: Obj, active: list[Obj]) -> bool:
        """pastBackoffLimitOnFailure: with restartPolicy OnFailure, container restarts count."""
        template_spec = job["spec"]["template"].get("spec") or {}
        if template_spec.get("restartPolicy") != "OnFailure":
            return False
        restarts = sum(pods.restart_count(pod) for pod in active)
        limit = job["spec"].get("backoffLimit", 6)
        return restarts > 0 if limit == 0 else restarts >= limit

    async def _manage_pods(
        self, job: Obj, status: dict[str, Any], active: list[Obj]
    ) -> float | None:
        spec = job["spec"]
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        succeeded = status.get("succeeded", 0)
        if spec.get("completionMode") == "Indexed":
            done = parse_indexes(status.get("completedIndexes", ""))
            running = {completion_index(pod) for pod in active}
            surplus = [
                pod
                for pod in active
                if completion_index(pod) in done or completion_index(pod) is None
            ]
            missing = [i for i in range(completions or 0) if i not in done and i not in running]
            wanted: list[int | None] = missing[: max(parallelism - len(active) + len(surplus), 0)]
        else:
            if completions is None:
                want_active = len(active) if succeeded > 0 else parallelism
            else:
                want_active = max(min(completions - succeeded, parallelism), 0)
            surplus = active[want_active:]
            wanted = [None] * max(want_active - len(active), 0)
        self._delete(job, surplus)
        if not wanted:
            return None
        backoff = self._backoff_left(job)
        if backoff > 0:
            return backoff
        for index in wanted:
            try:
                created = await self.create(self.rtype("v1", "Pod"), self._pod(job, index))
            except KubeApiError as error:
                self.failed(job, "FailedCreate", f"Error creating: {error.message}")
                return None
            self.event(job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        return None

    def _pod(self, job: Obj, index: int | None) -> Obj:
        name = job["metadata"]["name"]
        pod = pods.template_pod(job["spec"]["template"])
        metadata = pod["metadata"]
        metadata["namespace"] = job["metadata"]["namespace"]
        metadata["ownerReferences"] = [controller_ref(job)]
        metadata["finalizers"] = [*metadata.get("finalizers", []), TRACKING_FINALIZER]
        if index is None:
            metadata["generateName"] = f"{name}-"
            return pod
        suffix = f"-{index}-"
        prefix = f"{name}{suffix}"
        if len(prefix) > _MAX_GENERATED_NAME:
            prefix = f"{name[: _MAX_GENERATED_NAME - len(suffix)]}{suffix}"
        metadata["generateName"] = prefix
        metadata.setdefault("labels", {})[COMPLETION_INDEX] = str(index)
        metadata.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        pod["spec"].setdefault("hostname", prefix.rstrip("-"))
        index_env = {
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}},
        }
        for container in pod["spec"].get("initContainers", []) + pod["spec"].get("containers", []):
            env = container.setdefault("env", [])
            if not any(var.get("name") == "JOB_COMPLETION_INDEX" for var in env):
                env.append(index_env)
        return pod

    def _backoff_left(self, job: Obj) -> float:
        """Modelled seconds before a pod may replace a failed one (10 s, doubling, up to 6 min)."""
        failures, last = self._backoff.get(job["metadata"]["uid"], (0, 0.0))
        if failures == 0:
            return 0.0
        delay = min(_BACKOFF_SECONDS * 2 ** (failures - 1), _MAX_BACKOFF_SECONDS)
        return delay - (self.clock.now() - last) / self.clock.time_scale

    def _delete(self, job: Obj, doomed: list[Obj]) -> None:
        pod_type = self.rtype("v1", "Pod")
        for pod in doomed:
            self.store.delete(pod_type, pod["metadata"]["namespace"], pod["metadata"]["name"])
            self.event(job, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")

    def _release(self, counted: list[Obj]) -> None:
        """Drop the tracking finalizer of pods the Job has counted (or no longer needs)."""
        pod_type = self.rtype("v1", "Pod")
        for pod in counted:
            if _tracked(pod) and self.store.find(
                pod_type, pod["metadata"]["namespace"], pod["metadata"]["name"]
            ):
                self.update(pod_type, pod, _drop_tracking)

    def _release_orphans(self, job_uids: set[str]) -> None:
        """Pods whose Job is gone keep no tracking finalizer (orphan pods are not counted)."""

        def orphan(pod: Obj) -> bool:
            return _tracked(pod) and not any(
                ref.get("controller") and ref.get("uid") in job_uids
                for ref in pod["metadata"].get("ownerReferences") or []
            )

        self._release(self.store.list_objects(self.rtype("v1", "Pod"), None, orphan))

    def _condition(self, kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        now = self.now()
        return {
            "type": kind,
            "status": status,
            "lastProbeTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }


def _drop_tracking(pod: Obj) -> None:
    pod["metadata"]["finalizers"] = [
        f for f in pod["metadata"].get("finalizers", []) if f != TRACKING_FINALIZER
    ]
    if not pod["metadata"]["finalizers"]:
        del pod["metadata"]["finalizers"]
