"""The triggers: the poll loop, serialization, and what each look fetches.

Only the remote side is faked (the Kubernetes API behind `trigger.kube`); the loop and the
triggers' looks run as they do in the triggerer.
"""

import asyncio
import importlib
import inspect
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent
from airflow.utils.state import TaskInstanceState

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.probes import CRASH_RESTARTS, UNSCHEDULABLE_LOOKS, Look
from saxml_gke.saxml_logs import loaded_line
from saxml_gke.triggers import compute, gke, kubernetes
from saxml_gke.triggers.base import Waiting, WaitTrigger, resume_outcome
from saxml_gke.triggers.kubernetes import (
    JobSetReadyTrigger,
    ModelLoadedTrigger,
    PodsReadyTrigger,
)

FAST = 0.001  # seconds between looks


def waiting(
    description: str = "3 Saxml pods Ready", timeout: float = 60, **known: Any
) -> dict[str, Any]:
    """A trigger's `waiting` argument, as the operators build it (a dict once serialized)."""
    w = Waiting.lasting(
        description,
        gcp_conn_id="google_cloud_default",
        poll_seconds=FAST,
        timeout=timeout,
        known=known,
    )
    return asdict(w)


def run(trigger: WaitTrigger) -> list[TriggerEvent]:
    """Drive `trigger.run()` to its end, as the triggerer does."""

    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


# --- the poll loop, with scripted looks ------------------------------------------------------


class ScriptedTrigger(WaitTrigger):
    """Each look is the next step of the script: a `Look` to return or an exception to raise.
    An exhausted script keeps returning "not yet"."""

    def __init__(self, script: list[Look | Exception], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = list(script)
        self.states_seen: list[dict[str, Any]] = []
        self.closed = 0

    def arguments(self) -> dict[str, Any]:
        return {}

    async def look(self, state: dict[str, Any]) -> Look:
        self.states_seen.append(dict(state))
        step = self.script.pop(0) if self.script else Look(progress="still waiting")
        if isinstance(step, Exception):
            raise step
        return step

    async def close(self) -> None:
        self.closed += 1


def the_only(events: list[TriggerEvent], kind: type) -> Any:
    assert len(events) == 1, events
    assert isinstance(events[0], kind), events[0]
    return events[0]


def test_done_look_ends_the_task_with_known_found_and_wait_seconds() -> None:
    trigger = ScriptedTrigger(
        [Look(progress="1/2"), Look(done=True, progress="2/2", result={"pods": ["a", "b"]})],
        waiting=waiting(cluster="saxml", expected=2),
    )
    event = the_only(run(trigger), TaskSuccessEvent)
    result = event.payload["result"]
    assert result == {
        "cluster": "saxml",
        "expected": 2,
        "pods": ["a", "b"],
        "wait_seconds": result["wait_seconds"],
    }
    assert 0 <= result["wait_seconds"] < 60
    assert event.task_instance_state == TaskInstanceState.SUCCESS
    assert event.payload == {"result": result}
    assert len(trigger.states_seen) == 2
    assert trigger.closed == 1


def test_what_the_look_found_overrides_what_was_known() -> None:
    trigger = ScriptedTrigger(
        [Look(done=True, result={"address": "1.2.3.4"})], waiting=waiting(address=None, n=1)
    )
    result = the_only(run(trigger), TaskSuccessEvent).payload["result"]
    assert (result["address"], result["n"]) == ("1.2.3.4", 1)


def test_done_look_without_a_dict_result_keeps_what_was_known() -> None:
    trigger = ScriptedTrigger([Look(done=True, result=None)], waiting=waiting(n=1))
    result = the_only(run(trigger), TaskSuccessEvent).payload["result"]
    assert set(result) == {"n", "wait_seconds"}


def test_failed_look_fails_the_task_naming_the_description() -> None:
    trigger = ScriptedTrigger(
        [Look(progress="0/3"), Look(failure="sax-server-0: ErrImagePull: not found")],
        waiting=waiting("3 Saxml pods Ready"),
    )
    event = the_only(run(trigger), TaskFailedEvent)
    assert event.task_instance_state == TaskInstanceState.FAILED
    assert event.payload == {"failure": "3 Saxml pods Ready: sax-server-0: ErrImagePull: not found"}
    assert trigger.closed == 1


def test_deadline_fails_with_the_last_progress_seen() -> None:
    trigger = ScriptedTrigger(
        [Look(progress="1/3 pods Ready"), Look()], waiting=waiting("3 Saxml pods Ready", timeout=0)
    )
    event = the_only(run(trigger), TaskFailedEvent)
    assert event.payload == {
        "failure": "timed out waiting for 3 Saxml pods Ready; last seen: 1/3 pods Ready"
    }
    assert len(trigger.states_seen) == 1
    assert trigger.closed == 1


def test_deadline_is_checked_between_looks() -> None:
    trigger = ScriptedTrigger([], waiting=waiting(timeout=0.05))
    event = the_only(run(trigger), TaskFailedEvent)
    assert event.payload["failure"].startswith("timed out waiting for 3 Saxml pods Ready")
    assert len(trigger.states_seen) > 1


def test_transient_error_is_looked_past() -> None:
    trigger = ScriptedTrigger(
        [
            Look(progress="1/2", state={"unschedulable_looks": 1}),
            DeploymentError(ErrorKind.TRANSIENT, "list pods: 503 unavailable"),
            Look(done=True, result={"pods": ["a"]}),
        ],
        waiting=waiting(),
    )
    event = the_only(run(trigger), TaskSuccessEvent)
    assert event.payload["result"]["pods"] == ["a"]
    # the look after the error starts from the state before it
    assert trigger.states_seen == [{}, {"unschedulable_looks": 1}, {"unschedulable_looks": 1}]


def test_transient_errors_until_the_deadline_time_out_with_last_progress() -> None:
    trigger = ScriptedTrigger(
        [Look(progress="1/2")] + [DeploymentError(ErrorKind.TRANSIENT, "503")] * 1000,
        waiting=waiting("pods", timeout=0.05),
    )
    event = the_only(run(trigger), TaskFailedEvent)
    assert event.payload == {"failure": "timed out waiting for pods; last seen: 1/2"}


@pytest.mark.parametrize("kind", [ErrorKind.PERMANENT, ErrorKind.CAPACITY])
def test_permanent_error_fails_at_once(kind: ErrorKind) -> None:
    trigger = ScriptedTrigger(
        [DeploymentError(kind, "list pods: 403 forbidden"), Look(done=True)], waiting=waiting()
    )
    event = the_only(run(trigger), TaskFailedEvent)
    assert event.payload == {"failure": "3 Saxml pods Ready: list pods: 403 forbidden"}
    assert len(trigger.states_seen) == 1
    assert trigger.closed == 1


def test_unexpected_exception_fails_with_its_type_name() -> None:
    trigger = ScriptedTrigger([KeyError("endpoint")], waiting=waiting())
    event = the_only(run(trigger), TaskFailedEvent)
    assert event.payload == {"failure": "KeyError: 'endpoint'"}
    assert trigger.closed == 1


def test_close_is_called_when_the_triggerer_cancels_the_wait() -> None:
    trigger = ScriptedTrigger([], waiting=waiting(timeout=3600))

    async def cancelled() -> None:
        async def consume() -> None:
            async for _ in trigger.run():
                pass

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(consume(), timeout=0.05)

    asyncio.run(cancelled())
    assert trigger.closed == 1


def test_each_look_gets_the_state_the_previous_look_left() -> None:
    trigger = ScriptedTrigger(
        [
            Look(state={"n": 1}),
            Look(state={"n": 2}),
            Look(),  # no state: the previous one carries on
            Look(done=True),
        ],
        waiting=waiting(),
        state={"n": 0},
    )
    run(trigger)
    assert trigger.states_seen == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 2}]


def test_run_does_not_change_the_trigger_state() -> None:
    trigger = ScriptedTrigger([Look(state={"n": 1}), Look(done=True)], waiting=waiting())
    run(trigger)
    assert trigger.state == {}


# --- resume_outcome --------------------------------------------------------------------------


def test_resume_outcome_returns_the_result() -> None:
    assert resume_outcome({"result": {"pods": ["a"]}}) == {"pods": ["a"]}


def test_resume_outcome_raises_the_failure() -> None:
    with pytest.raises(AirflowFailException, match="3 Saxml pods Ready: boom"):
        resume_outcome({"failure": "3 Saxml pods Ready: boom"})


def test_resume_outcome_reads_the_events_run_ends_with() -> None:
    done = the_only(run(ScriptedTrigger([Look(done=True)], waiting=waiting())), TaskSuccessEvent)
    assert resume_outcome(done.payload) == done.payload["result"]
    failed = the_only(
        run(ScriptedTrigger([Look(failure="boom")], waiting=waiting("x"))), TaskFailedEvent
    )
    with pytest.raises(AirflowFailException, match=r"^x: boom$"):
        resume_outcome(failed.payload)


# --- serialization ---------------------------------------------------------------------------

CLUSTER = {"endpoint": "34.1.2.3", "ca_certificate": "LS0tLS1CRUdJTg=="}
GKE = {"project_id": "my-project", "zone": "us-west4-a", "cluster": "saxml"}
REGION = {"project_id": "my-project", "region": "us-west4"}
SPOT = {"zone": "us-west4-a", "machine_type": "ct5lp-hightpu-4t", "capacity": "spot", "chips": 8}
# Plausible arguments (besides `waiting` and `state`) of every concrete trigger class.
ARGUMENTS: dict[str, dict[str, Any]] = {
    "ClusterRunningTrigger": GKE,
    "ClusterGoneTrigger": GKE,
    "NodePoolsCreatedTrigger": {**GKE, "bodies": {"tpu-0": {"name": "tpu-0"}}, "request": SPOT},
    "NodePoolsDeletedTrigger": {**GKE, "pools": ["tpu-0"]},
    "ComputeOperationsTrigger": {**REGION, "operations": ["operation-1", "operation-2"]},
    "AddressReservedTrigger": {**REGION, "name": "sax-http", "operation": "operation-1"},
    "JobSetReadyTrigger": {"cluster": CLUSTER},
    "PodsReadyTrigger": {
        "cluster": CLUSTER,
        "namespace": "saxml",
        "label_selector": "app.kubernetes.io/managed-by=saxml-gke",
        "expected": 4,
        "queued": True,
        "provisioning_request": {"name": "sax-model-server-request", "capacity": SPOT},
    },
    "ModelLoadedTrigger": {
        "cluster": CLUSTER,
        "namespace": "saxml",
        "leader_selector": "jobset.sigs.k8s.io/job-index=0",
        "wanted": {"model_key": "/sax/test/lm", "model_path": "a.B", "replicas": 2},
    },
    "ServiceAddressTrigger": {"cluster": CLUSTER, "namespace": "saxml", "name": "sax-http"},
    "ObjectGoneTrigger": {"cluster": CLUSTER, "path": "/api/v1/namespaces/saxml/services/x"},
}


def concrete_triggers() -> list[type[WaitTrigger]]:
    return [
        cls
        for module in (gke, compute, kubernetes)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, WaitTrigger)
        and cls.__module__ == module.__name__
        and not inspect.isabstract(cls)
    ]


def test_every_concrete_trigger_has_serialization_arguments() -> None:
    assert sorted(cls.__name__ for cls in concrete_triggers()) == sorted(ARGUMENTS)


@pytest.mark.parametrize("cls", concrete_triggers(), ids=lambda cls: cls.__name__)
def test_serialize_round_trips(cls: type[WaitTrigger]) -> None:
    trigger = cls(
        **ARGUMENTS[cls.__name__], waiting=waiting(nodes=4), state={"unschedulable_looks": 2}
    )
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name) is cls
    kwargs = json.loads(json.dumps(kwargs))  # stored as JSON by the triggerer
    assert cls(**kwargs).serialize() == (path, kwargs)
    assert kwargs["state"] == {"unschedulable_looks": 2}
    assert kwargs["waiting"]["known"] == {"nodes": 4}


# --- the Kubernetes triggers' looks, with a fake API -----------------------------------------


class FakeKube:
    """The Kubernetes API the triggers see through `AsyncKubeHook`: canned JSON per path,
    logs per (pod, previous container), every call recorded."""

    def __init__(
        self,
        *,
        objects: dict[str, Any] | None = None,
        lists: dict[str, list[dict[str, Any]]] | None = None,
        logs: dict[tuple[str, bool], list[tuple[str, str]]] | None = None,
        dry_run_error: str | None = None,
    ) -> None:
        self.objects = objects or {}
        self.lists = lists or {}
        self.logs = logs or {}
        self.dry_run_error = dry_run_error
        self.calls: list[tuple[Any, ...]] = []
        self.closed = False

    async def get(self, path: str) -> dict[str, Any] | None:
        self.calls.append(("get", path))
        return self.objects.get(path)

    async def get_custom_object(
        self, *, group: str, version: str, plural: str, namespace: str, name: str
    ) -> dict[str, Any] | None:
        path = f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}"
        self.calls.append(("get_custom_object", path))
        return self.objects.get(path)

    async def list_items(self, path: str, label_selector: str = "") -> list[dict[str, Any]]:
        self.calls.append(("list", path, label_selector))
        return self.lists.get(path, [])

    async def read_log(
        self,
        namespace: str,
        pod: str,
        *,
        since_time: str | None = None,
        tail_lines: int | None = None,
        previous: bool = False,
    ) -> list[tuple[str, str]]:
        self.calls.append(("read_log", namespace, pod, since_time, tail_lines, previous))
        lines = [
            line for line in self.logs.get((pod, previous), []) if line[0] >= (since_time or "")
        ]
        return lines[-tail_lines:] if tail_lines else lines

    async def dry_run_create(self, path: str, body: dict[str, Any]) -> str | None:
        self.calls.append(("dry_run_create", path, body["kind"]))
        return self.dry_run_error

    async def close(self) -> None:
        self.closed = True

    def kinds(self) -> list[str]:
        return [call[0] for call in self.calls]


def with_fake(trigger: WaitTrigger, kube: FakeKube) -> Any:
    trigger.kube = kube  # type: ignore[attr-defined]
    return trigger


def look(trigger: WaitTrigger, state: dict[str, Any] | None = None) -> Look:
    return asyncio.run(trigger.look(state or {}))


def pod(
    name: str,
    *,
    ready: bool = False,
    waiting: str | None = None,
    restarts: int = 0,
    exit_code: int | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    """A Pod as the Kubernetes API returns it (only the fields the waits read)."""
    conditions = [{"type": "Ready", "status": str(ready)}]
    status: dict[str, Any] = {"phase": "Running", "conditions": conditions}
    if unschedulable:
        status["phase"] = "Pending"
        scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
        conditions.append({**scheduled, "message": "0/4 nodes are available: 4 Insufficient tpu"})
    else:
        state = {"waiting": {"reason": waiting, "message": "back-off"}} if waiting else {}
        container: dict[str, Any] = {"name": "c", "restartCount": restarts, "state": state}
        if exit_code is not None:
            container["lastState"] = {"terminated": {"exitCode": exit_code}}
        status["containerStatuses"] = [container]
    return {"metadata": {"name": name, "namespace": "saxml"}, "status": status}


def pod_event(pod_name: str, reason: str, message: str, kind: str = "Warning") -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Pod", "name": pod_name},
        "type": kind,
        "reason": reason,
        "message": message,
    }


PODS = "/api/v1/namespaces/saxml/pods"
EVENTS = "/api/v1/namespaces/saxml/events"
SELECTOR = "app.kubernetes.io/managed-by=saxml-gke"


def pods_trigger(expected: int, **kwargs: Any) -> PodsReadyTrigger:
    return PodsReadyTrigger(
        cluster=CLUSTER,
        namespace="saxml",
        label_selector=SELECTOR,
        expected=expected,
        waiting=waiting(f"{expected} Saxml pods Ready", **kwargs),
    )


@pytest.mark.parametrize("count", [3, 40])
def test_pods_look_lists_once_however_many_pods(count: int) -> None:
    pods = [pod(f"sax-server-{n}", waiting="ContainerCreating") for n in range(count)]
    kube = FakeKube(lists={PODS: pods})
    result = look(with_fake(pods_trigger(count), kube))
    assert (result.done, result.failure) == (False, None)
    assert kube.calls == [("list", PODS, SELECTOR)]


def test_pods_look_done_when_all_ready() -> None:
    kube = FakeKube(lists={PODS: [pod("a", ready=True), pod("b", ready=True)]})
    result = look(with_fake(pods_trigger(2), kube))
    assert result.done and result.result == {"pods": ["a", "b"]}
    assert kube.kinds() == ["list"]


def test_pods_failure_carries_warning_events_and_previous_last_log_lines() -> None:
    pods = [
        pod("sax-admin", ready=True),
        pod("sax-server-0", waiting="CrashLoopBackOff", restarts=CRASH_RESTARTS, exit_code=1),
        pod("sax-server-1", waiting="ContainerCreating"),
    ]
    events = [
        pod_event("sax-server-0", "Pulled", "image pulled", kind="Normal"),
        pod_event("sax-server-0", "BackOff", "Back-off restarting failed container"),
        pod_event("sax-admin", "Unhealthy", "Readiness probe failed"),
    ]
    crash_log = [(f"2024-05-01T10:00:{n:02d}.000000001Z", f"line {n}") for n in range(15)]
    crash_log[-1] = ("2024-05-01T10:00:14.000000001Z", "RuntimeError: TPU not found")
    kube = FakeKube(
        lists={PODS: pods, EVENTS: events},
        logs={("sax-server-0", True): crash_log, ("sax-server-0", False): [("t", "current")]},
    )
    result = look(with_fake(pods_trigger(3), kube))
    assert result.failure is not None
    assert result.failure.startswith(
        f"sax-server-0: CrashLoopBackOff after {CRASH_RESTARTS} restarts (last exit code 1)"
    )
    assert "sax-server-0: BackOff: Back-off restarting failed container" in result.failure
    assert "image pulled" not in result.failure
    assert "Readiness probe failed" not in result.failure
    assert result.failure.endswith(
        "\nlast log lines of sax-server-0:\n"
        + "\n".join(f"line {n}" for n in range(5, 14))
        + "\nRuntimeError: TPU not found"
    )
    assert "current" not in result.failure
    assert kube.calls == [
        ("list", PODS, SELECTOR),
        ("list", EVENTS, ""),
        ("read_log", "saxml", "sax-server-0", None, 10, True),
    ]


def test_pods_image_error_reads_events_once_for_all_pods() -> None:
    pods = [pod(f"sax-server-{n}", waiting="ImagePullBackOff") for n in range(5)]
    events = [pod_event(f"sax-server-{n}", "Failed", f"pull of image {n} failed") for n in range(5)]
    kube = FakeKube(lists={PODS: pods, EVENTS: events})
    result = look(with_fake(pods_trigger(5), kube))
    assert result.failure is not None
    for n in range(5):
        assert f"sax-server-{n}: Failed: pull of image {n} failed" in result.failure
    assert kube.kinds().count("list") == 2


def test_pods_unschedulable_streak_across_the_loop_fails_with_the_scheduler_events() -> None:
    kube = FakeKube(
        lists={
            PODS: [pod("sax-admin", ready=True), pod("sax-server-0", unschedulable=True)],
            EVENTS: [pod_event("sax-server-0", "FailedScheduling", "0/4 nodes are available")],
        }
    )
    trigger = with_fake(pods_trigger(2), kube)
    event = the_only(run(trigger), TaskFailedEvent)
    failure = event.payload["failure"]
    assert failure.startswith("2 Saxml pods Ready: pods cannot be scheduled: sax-server-0: ")
    assert "sax-server-0: FailedScheduling: 0/4 nodes are available" in failure
    pod_lists = [call for call in kube.calls if call == ("list", PODS, SELECTOR)]
    assert len(pod_lists) == UNSCHEDULABLE_LOOKS
    assert kube.closed


# PodsReadyTrigger with flex-start-queued: the ProvisioningRequest the nodes come from

REQUEST = "/apis/autoscaling.x-k8s.io/v1/namespaces/saxml/provisioningrequests/sax-request"
QUEUED = {"zone": "us-west4-a", "machine_type": "ct5lp-hightpu-4t",
          "capacity": "flex-start-queued", "chips": 64}  # fmt: skip


def queued_trigger(expected: int) -> PodsReadyTrigger:
    return PodsReadyTrigger(
        cluster=CLUSTER,
        namespace="saxml",
        label_selector=SELECTOR,
        expected=expected,
        queued=True,
        provisioning_request={"name": "sax-request", "capacity": QUEUED},
        waiting=waiting(f"{expected} Saxml pods Ready"),
    )


def provisioning_request(*conditions: tuple[str, str, str]) -> dict[str, Any]:
    """A ProvisioningRequest with (type, status, reason) conditions, the reason as message."""
    found = [{"type": t, "status": s, "reason": r, "message": r.lower()} for t, s, r in conditions]
    return {"metadata": {"name": "sax-request"}, "status": {"conditions": found}}


def test_pods_waiting_for_queued_nodes_log_what_their_request_says() -> None:
    kube = FakeKube(
        lists={PODS: [pod("sax-admin", ready=True), pod("sax-server-0", unschedulable=True)]},
        objects={REQUEST: provisioning_request(("Accepted", "True", "SuccessfullyQueued"),
                                               ("Provisioned", "False", "WaitingForCapacity"))},
    )  # fmt: skip
    result = look(with_fake(queued_trigger(2), kube), {"unschedulable_looks": 0})
    assert (result.done, result.failure) == (False, None)
    assert result.progress == (
        "1/2 pods Ready (2 exist), 1 waiting for their flex-start nodes; ProvisioningRequest "
        "sax-request: Provisioned=False (WaitingForCapacity: waitingforcapacity)"
    )
    assert kube.calls == [("list", PODS, SELECTOR), ("get_custom_object", REQUEST)]


@pytest.mark.parametrize("condition", ["Failed", "BookingExpired", "CapacityRevoked"])
def test_a_request_that_brings_no_nodes_fails_the_wait_at_once(condition: str) -> None:
    kube = FakeKube(
        lists={PODS: [pod("sax-admin", ready=True), pod("sax-server-0", unschedulable=True)]},
        objects={REQUEST: provisioning_request(("Accepted", "True", "SuccessfullyQueued"),
                                               (condition, "True", "Reason"))},
    )  # fmt: skip
    event = the_only(run(with_fake(queued_trigger(2), kube)), TaskFailedEvent)
    failure = event.payload["failure"]
    assert failure.startswith(
        f"2 Saxml pods Ready: ProvisioningRequest sax-request: {condition}=True (Reason: reason): "
    )
    assert "No capacity for ct5lp-hightpu-4t in us-west4-a (flex-start-queued)" in failure
    assert kube.kinds() == ["list", "get_custom_object"]  # the first look, no pod diagnostics
    assert kube.closed


def test_ready_pods_end_the_wait_without_reading_the_request() -> None:
    kube = FakeKube(lists={PODS: [pod("sax-admin", ready=True), pod("sax-server-0", ready=True)]})
    assert look(with_fake(queued_trigger(2), kube)).done
    assert kube.kinds() == ["list"]


def test_the_queued_wait_runs_until_the_request_brings_the_nodes() -> None:
    waiting_pods = [pod("sax-admin", ready=True), pod("sax-server-0", unschedulable=True)]
    kube = FakeKube(
        lists={PODS: waiting_pods},
        objects={REQUEST: provisioning_request(("Accepted", "True", "SuccessfullyQueued"))},
    )
    trigger = with_fake(queued_trigger(2), kube)
    looks = 0

    async def pods_come_up(path: str, label_selector: str = "") -> list[dict[str, Any]]:
        nonlocal looks
        looks += 1
        kube.calls.append(("list", path, label_selector))
        if looks > UNSCHEDULABLE_LOOKS + 2:  # longer than an unqueued wait would last
            return [pod("sax-admin", ready=True), pod("sax-server-0", ready=True)]
        return waiting_pods

    kube.list_items = pods_come_up  # type: ignore[method-assign]
    event = the_only(run(trigger), TaskSuccessEvent)
    assert event.payload["result"]["pods"] == ["sax-admin", "sax-server-0"]
    assert kube.kinds().count("get_custom_object") == UNSCHEDULABLE_LOOKS + 2


# ModelLoadedTrigger

KEY = "/sax/test/lm"
LEADERS = "jobset.sigs.k8s.io/job-index=0"
LOADED = f"I0501 servable_model.py:1] {loaded_line(KEY)}"


def at(second: int) -> str:
    return f"2024-05-01T10:00:{second:02d}.123456789Z"


def leader(name: str, phase: str = "Running") -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"phase": phase}}


def model_trigger(replicas: int = 2) -> ModelLoadedTrigger:
    return ModelLoadedTrigger(
        cluster=CLUSTER,
        namespace="saxml",
        leader_selector=LEADERS,
        wanted={"model_key": KEY, "model_path": "a.B", "replicas": replicas},
        waiting=waiting(f"{KEY} loaded"),
    )


def test_model_look_reads_each_running_leader_from_its_cursor() -> None:
    kube = FakeKube(
        lists={PODS: [leader("leader-0"), leader("leader-1"), leader("leader-2", "Pending")]},
        logs={
            ("leader-0", False): [(at(1), "starting"), (at(3), "loading")],
            ("leader-1", False): [(at(2), "starting")],
        },
    )
    trigger = with_fake(model_trigger(), kube)
    first = look(trigger)
    assert first.state["cursors"] == {"leader-0": at(3), "leader-1": at(2)}
    assert kube.calls == [
        ("list", PODS, LEADERS),
        ("read_log", "saxml", "leader-0", None, None, False),
        ("read_log", "saxml", "leader-1", None, None, False),
    ]

    kube.logs[("leader-0", False)].append((at(4), LOADED))
    kube.calls.clear()
    second = look(trigger, first.state)
    assert kube.calls == [
        ("list", PODS, LEADERS),
        ("read_log", "saxml", "leader-0", at(3), None, False),
        ("read_log", "saxml", "leader-1", at(2), None, False),
    ]
    assert second.state == {
        "cursors": {"leader-0": at(4), "leader-1": at(2)},
        "loaded": ["leader-0"],
    }
    assert not second.done

    kube.logs[("leader-1", False)].append((at(5), LOADED))
    kube.calls.clear()
    third = look(trigger, second.state)
    assert kube.calls == [  # a leader seen loading is not read again
        ("list", PODS, LEADERS),
        ("read_log", "saxml", "leader-1", at(2), None, False),
    ]
    assert third.done and third.result == {"loaded_on": ["leader-0", "leader-1"]}


def test_model_loaded_trigger_runs_until_every_replica_loaded() -> None:
    """Through the loop: each look's state reaches the next, so the log grows and is read from
    the cursor; the loaded line written during the wait ends it."""
    kube = FakeKube(lists={PODS: [leader("leader-0")]}, logs={("leader-0", False): []})
    reads = 0
    original_read = kube.read_log

    async def growing_log(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        nonlocal reads
        reads += 1
        kube.logs[("leader-0", False)].append((at(reads), LOADED if reads == 3 else "loading"))
        return await original_read(*args, **kwargs)

    kube.read_log = growing_log  # type: ignore[method-assign]
    trigger = with_fake(model_trigger(replicas=1), kube)
    event = the_only(run(trigger), TaskSuccessEvent)
    assert event.payload["result"]["loaded_on"] == ["leader-0"]
    since = [call[3] for call in kube.calls if call[0] == "read_log"]
    assert since == [None, at(1), at(2)]
    assert kube.closed


def test_model_failure_line_fails_naming_the_leader() -> None:
    failure = f"E0501 x.py:1] Invalid load request. model_key: {KEY}, mesh mismatch"
    kube = FakeKube(
        lists={PODS: [leader("leader-0")]}, logs={("leader-0", False): [(at(1), failure)]}
    )
    result = look(with_fake(model_trigger(), kube))
    assert result.failure == f"leader-0: {failure}"


# JobSetReadyTrigger

CONTROLLER = "/apis/apps/v1/namespaces/jobset-system/deployments/jobset-controller-manager"
CONTROLLER_PODS = "/api/v1/namespaces/jobset-system/pods"
JOBSETS = "/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets"


def controller(available: bool) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": "Available", "status": str(available)}]}}


def jobset_trigger() -> JobSetReadyTrigger:
    return JobSetReadyTrigger(cluster=CLUSTER, waiting=waiting("JobSet"))


def test_jobset_controller_not_created_yet_reads_only_the_deployment() -> None:
    kube = FakeKube()
    result = look(with_fake(jobset_trigger(), kube))
    assert (result.done, result.failure) == (False, None)
    assert result.progress == "controller Deployment not created yet"
    assert kube.calls == [("get", CONTROLLER)]


def test_jobset_controller_not_available_fails_fast_on_a_broken_pod() -> None:
    kube = FakeKube(
        objects={CONTROLLER: controller(False)},
        lists={CONTROLLER_PODS: [pod("jobset-controller-manager-x", waiting="ImagePullBackOff")]},
    )
    result = look(with_fake(jobset_trigger(), kube))
    assert result.failure == "jobset-controller-manager-x: ImagePullBackOff: back-off"
    assert kube.calls == [
        ("get", CONTROLLER),
        ("list", CONTROLLER_PODS, "control-plane=controller-manager"),
    ]


def test_jobset_controller_starting_keeps_the_unschedulable_streak() -> None:
    kube = FakeKube(
        objects={CONTROLLER: controller(False)},
        lists={CONTROLLER_PODS: [pod("jobset-controller-manager-x", unschedulable=True)]},
    )
    trigger = with_fake(jobset_trigger(), kube)
    result = look(trigger, {"unschedulable_looks": 2})
    assert (result.done, result.failure) == (False, None)
    assert result.progress == "controller Deployment not Available yet"
    assert result.state == {"unschedulable_looks": 3}
    stuck = look(trigger, {"unschedulable_looks": UNSCHEDULABLE_LOOKS - 1})
    assert stuck.failure is not None and "cannot be scheduled" in stuck.failure


def test_jobset_webhook_not_answering_yet() -> None:
    kube = FakeKube(objects={CONTROLLER: controller(True)}, dry_run_error="connection refused")
    result = look(with_fake(jobset_trigger(), kube))
    assert not result.done and result.progress == "webhook not answering yet: connection refused"
    assert kube.calls == [("get", CONTROLLER), ("dry_run_create", JOBSETS, "JobSet")]


def test_jobset_ready_when_the_webhook_admits_a_jobset() -> None:
    kube = FakeKube(objects={CONTROLLER: controller(True)})
    assert look(with_fake(jobset_trigger(), kube)).done


# Service address and object gone, through the same fake


def test_service_address_trigger_reads_the_service() -> None:
    path = "/api/v1/namespaces/saxml/services/sax-http"
    kube = FakeKube(objects={path: {"status": {"loadBalancer": {"ingress": [{"ip": "35.1.2.3"}]}}}})
    trigger = kubernetes.ServiceAddressTrigger(
        cluster=CLUSTER, namespace="saxml", name="sax-http", waiting=waiting("address")
    )
    result = look(with_fake(trigger, kube))
    assert result.done and result.result["endpoint"] == "http://35.1.2.3:8888"
    assert kube.calls == [("get", path)]


@pytest.mark.parametrize(("exists", "done"), [(True, False), (False, True)])
def test_object_gone_trigger(exists: bool, done: bool) -> None:
    path = "/api/v1/namespaces/saxml/services/sax-http"
    kube = FakeKube(objects={path: {"metadata": {"name": "sax-http"}}} if exists else {})
    trigger = kubernetes.ObjectGoneTrigger(cluster=CLUSTER, path=path, waiting=waiting("gone"))
    assert look(with_fake(trigger, kube)).done is done


# --- the GKE triggers' looks, with a fake REST hook ------------------------------------------


class FakeGke:
    def __init__(self, cluster: dict[str, Any] | None) -> None:
        self.cluster = cluster
        self.calls: list[dict[str, Any]] = []

    def get_cluster(self, **where: Any) -> dict[str, Any] | None:
        self.calls.append(where)
        return self.cluster


def gke_trigger(cls: Callable[..., Any], **kwargs: Any) -> Any:
    return cls(**GKE, **kwargs, waiting=waiting("GKE"))


class FakePoolsGke(FakeGke):
    """GKE that admits `admits` more operations, then answers 429 as its quota does."""

    def __init__(self, cluster: dict[str, Any], admits: int) -> None:
        super().__init__(cluster)
        self.admits = admits
        self.created: list[str] = []
        self.deleted: list[str] = []

    def create_node_pool(self, *, body: dict[str, Any], attempts: int, **where: Any) -> str:
        self.admit(attempts)
        self.created.append(body["name"])
        return f"operation-{body['name']}"

    def delete_node_pool(self, *, name: str, attempts: int, **where: Any) -> str:
        self.admit(attempts)
        self.deleted.append(name)
        return f"operation-delete-{name}"

    def admit(self, attempts: int) -> None:
        assert attempts == 1  # a refusal goes back to the trigger, which asks at its next look
        if len(self.created) + len(self.deleted) == self.admits:
            raise DeploymentError(ErrorKind.TRANSIENT, "Too many operations")


def test_node_pools_are_deleted_until_gke_refuses_more_and_waited_on_with_one_read() -> None:
    pools = [{"name": name, "status": "RUNNING"} for name in ("tpu-0", "tpu-1", "tpu-2")]
    fake = FakePoolsGke({"nodePools": [*pools, {"name": "other", "status": "RUNNING"}]}, 2)
    trigger = gke_trigger(gke.NodePoolsDeletedTrigger, pools=["tpu-0", "tpu-1", "tpu-2", "tpu-3"])
    trigger.gke = fake
    result = look(trigger)
    assert fake.deleted == ["tpu-0", "tpu-1"]  # tpu-2 at the next look; tpu-3 is gone
    assert result.progress == "still there: node pool tpu-0, node pool tpu-1, node pool tpu-2"
    assert fake.calls == [{"project_id": "my-project", "zone": "us-west4-a", "name": "saxml"}]


def pools_trigger(*names: str, wait_seconds: float = 0) -> Any:
    request = {**SPOT, "wait_seconds": wait_seconds, "first_backoff_seconds": 5}
    bodies = {name: {"name": name} for name in names}
    return gke_trigger(gke.NodePoolsCreatedTrigger, bodies=bodies, request=request)


def test_node_pools_are_created_until_gke_refuses_more_and_the_rest_wait() -> None:
    trigger = pools_trigger("tpu-0", "tpu-1", "tpu-2")
    trigger.gke = FakePoolsGke({"nodePools": []}, admits=2)
    result = look(trigger)
    assert trigger.gke.created == ["tpu-0", "tpu-1"]
    assert not result.done and result.failure is None
    assert result.state["tries"] == {"tpu-0": 1, "tpu-1": 1}  # tpu-2 was not admitted
    assert result.progress == (
        "tpu-0 missing, tpu-1 missing, tpu-2 missing; creating tpu-0, tpu-1; "
        "tpu-2 when GKE admits another operation on the cluster"
    )


def test_a_stockout_within_the_capacity_wait_deletes_the_pool() -> None:
    stockout = {"name": "tpu-0", "status": "ERROR", "statusMessage": "GCE_STOCKOUT"}
    trigger = pools_trigger("tpu-0", wait_seconds=600)
    trigger.gke = FakePoolsGke({"nodePools": [stockout]}, admits=5)
    result = look(trigger, {"tries": {"tpu-0": 1}})
    assert trigger.gke.deleted == ["tpu-0"] and trigger.gke.created == []
    assert result.failure is None and result.state["stockout_since"] is not None


def test_cluster_gone_trigger() -> None:
    trigger = gke_trigger(gke.ClusterGoneTrigger)
    trigger.gke = FakeGke({"status": "STOPPING"})
    assert look(trigger).progress == "still there: cluster saxml STOPPING"
    trigger.gke = FakeGke(None)
    assert look(trigger).done


def test_cluster_running_trigger_returns_how_to_reach_it() -> None:
    trigger = gke_trigger(gke.ClusterRunningTrigger)
    trigger.gke = FakeGke(
        {
            "status": "RUNNING",
            "endpoint": "34.1.2.3",
            "masterAuth": {"clusterCaCertificate": "Q0E="},
            "currentMasterVersion": "1.30",
        }
    )
    assert look(trigger).result["endpoint"] == "34.1.2.3"


# --- the Compute Engine triggers' looks, with a fake discovery hook --------------------------


class FakeCompute:
    def __init__(self, operations: dict[str, dict[str, Any]], address: dict[str, Any] | None):
        self.operations, self.address = operations, address
        self.calls: list[tuple[str, str]] = []

    def get_region_operation(self, *, project_id: str, region: str, name: str) -> dict[str, Any]:
        self.calls.append(("operation", name))
        return self.operations[name]

    def get_address(self, *, project_id: str, region: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("address", name))
        return self.address


def address_trigger(fake: FakeCompute) -> Any:
    trigger = compute.AddressReservedTrigger(
        **REGION, name="sax-http", operation="operation-1", waiting=waiting("address")
    )
    trigger.compute = fake
    return trigger


def test_address_not_read_while_its_operation_runs() -> None:
    fake = FakeCompute({"operation-1": {"status": "RUNNING", "operationType": "insert"}}, None)
    result = look(address_trigger(fake))
    assert not result.done and result.failure is None
    assert fake.calls == [("operation", "operation-1")]


def test_address_reserved_ends_with_its_ip() -> None:
    fake = FakeCompute(
        {"operation-1": {"status": "DONE"}}, {"address": "35.1.2.3", "addressType": "EXTERNAL"}
    )
    result = look(address_trigger(fake))
    assert result.done
    assert result.result == {"address": "sax-http", "ip": "35.1.2.3", "address_type": "EXTERNAL"}


def test_address_vanished_after_its_operation_fails() -> None:
    fake = FakeCompute({"operation-1": {"status": "DONE"}}, None)
    assert look(address_trigger(fake)).failure == "address sax-http vanished after it was reserved"


def test_compute_operations_are_all_read_each_look() -> None:
    fake = FakeCompute({"op-1": {"status": "DONE"}, "op-2": {"status": "DONE"}}, None)
    trigger = compute.ComputeOperationsTrigger(
        **REGION, operations=["op-1", "op-2"], waiting=waiting("released")
    )
    trigger.compute = fake
    assert look(trigger).done
    assert fake.calls == [("operation", "op-1"), ("operation", "op-2")]


def test_in_the_triggerer_the_result_is_pushed_as_the_tasks_xcom(monkeypatch) -> None:
    """The Execution API stores it as a worker's return value (a TaskSuccessEvent's own
    `xcoms` would reach the next task JSON-encoded twice)."""
    from types import SimpleNamespace

    from saxml_gke.triggers import base

    pushed = []

    async def aset(key, value, **where):
        pushed.append((key, value, where))

    monkeypatch.setattr(base.XCom, "aset", aset)
    trigger = ScriptedTrigger([Look(done=True, result={"pods": ["a"]})], waiting=waiting())
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=3)
    event = the_only(run(trigger), TaskSuccessEvent)
    [(key, value, where)] = pushed
    assert (key, where) == ("return_value", {"dag_id": "d", "task_id": "t", "run_id": "r",
                                             "map_index": 3})  # fmt: skip
    assert value == event.payload["result"]
    assert value["pods"] == ["a"]


@pytest.mark.parametrize(
    ("capacity", "queued", "name"),
    [("on-demand", False, None), ("flex-start", True, None),
     ("flex-start-queued", True, "sax-model-server-request")],
)  # fmt: skip
def test_the_pods_wait_waits_for_flex_start_nodes_and_reads_the_queued_request(
    capacity: str, queued: bool, name: str | None
) -> None:
    from datetime import UTC, datetime

    from saxml_gke.sensors.saxml import PodsReadySensor
    from saxml_gke.spec import build_spec

    conf = {"project_id": "my-project", "zone": "us-west4-a", "capacity": capacity,
            "pods_timeout_minutes": 20, "capacity_wait_minutes": 60}  # fmt: skip
    spec = build_spec(conf, now=datetime(2026, 11, 24, tzinfo=UTC))
    sensor = PodsReadySensor(task_id="wait_for_pods", spec=spec.to_dict(), cluster=CLUSTER)
    assert sensor.timeout_seconds() == (80 if queued else 20) * 60
    trigger = sensor.trigger()
    assert trigger.queued is queued
    wanted = trigger.provisioning_request
    assert (wanted or {}).get("name") == name
    if name:
        assert wanted["capacity"]["capacity"] == "flex-start-queued"
        assert wanted["capacity"]["chips"] == 64
    assert "container.thirdPartyObjects.get" in PodsReadySensor.required_permissions
