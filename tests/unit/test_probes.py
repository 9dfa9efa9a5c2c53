"""The waits' pure rules: what one look at GKE, Compute Engine or Kubernetes JSON means."""

from typing import Any

import pytest

from saxml_gke.probes import (
    CRASH_RESTARTS,
    UNSCHEDULABLE_LOOKS,
    ModelWanted,
    cluster_look,
    compute_operations_look,
    condition,
    crashed_pods,
    diagnostics,
    failing_pods,
    gone_look,
    jobset_controller_look,
    model_look,
    operation_error,
    pods_look,
    resource_name,
    running_leaders,
    service_address_look,
)
from saxml_gke.saxml_logs import loaded_line

# --- builders of API JSON ------------------------------------------------------------------


def pod(
    name: str,
    *,
    ready: bool = False,
    phase: str = "Running",
    waiting: str | None = None,
    waiting_message: str = "",
    restarts: int = 0,
    exit_code: int | None = None,
    unschedulable: str | None = None,
) -> dict[str, Any]:
    """A Pod as the Kubernetes API returns it (only the fields the rules read). An
    unschedulable pod has no container statuses, like a real one."""
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if unschedulable is not None:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": unschedulable,
            }
        )
    status: dict[str, Any] = {"phase": "Pending" if unschedulable else phase}
    status["conditions"] = conditions
    if unschedulable is None:
        container: dict[str, Any] = {"name": "server", "restartCount": restarts, "ready": ready}
        if waiting:
            container["state"] = {"waiting": {"reason": waiting, "message": waiting_message}}
        else:
            container["state"] = {"running": {"startedAt": "2024-05-01T10:00:00Z"}}
        if exit_code is not None:
            container["lastState"] = {"terminated": {"exitCode": exit_code, "reason": "Error"}}
        status["containerStatuses"] = [container]
    return {"metadata": {"name": name, "namespace": "saxml"}, "status": status}


def event(pod_name: str, reason: str, message: str, kind: str = "Warning") -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Pod", "name": pod_name},
        "type": kind,
        "reason": reason,
        "message": message,
    }


def cluster(status: str, message: str = "") -> dict[str, Any]:
    return {
        "name": "saxml",
        "status": status,
        "statusMessage": message,
        "endpoint": "34.1.2.3",
        "masterAuth": {"clusterCaCertificate": "LS0tLS1CRUdJTg=="},
        "currentMasterVersion": "1.30.5-gke.100",
    }


ADDRESSES = "https://compute.googleapis.com/compute/v1/projects/p/regions/r/addresses"


def operation(status: str, target: str = "my-address", **extra: Any) -> dict[str, Any]:
    return {
        "name": "operation-123",
        "operationType": "insert",
        "status": status,
        "targetLink": f"{ADDRESSES}/{target}",
        **extra,
    }


# --- cluster_look ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["PROVISIONING", "RECONCILING", ""])
def test_cluster_not_settled_is_not_done(status: str) -> None:
    look = cluster_look("saxml", cluster(status))
    assert (look.done, look.failure) == (False, None)
    assert look.progress == f"cluster saxml {status}"


@pytest.mark.parametrize("status", ["ERROR", "DEGRADED"])
def test_cluster_error_fails_with_gke_message(status: str) -> None:
    look = cluster_look("saxml", cluster(status, "Node pool default-pool failed to start"))
    assert not look.done
    assert look.failure == f"cluster saxml is {status}: Node pool default-pool failed to start"


def test_cluster_error_without_message_says_so() -> None:
    assert cluster_look("saxml", cluster("ERROR")).failure == "cluster saxml is ERROR: no message"


def test_cluster_running_returns_endpoint_and_ca() -> None:
    look = cluster_look("saxml", cluster("RUNNING"))
    assert look.done and look.failure is None
    assert look.result == {
        "name": "saxml",
        "endpoint": "34.1.2.3",
        "ca_certificate": "LS0tLS1CRUdJTg==",
        "version": "1.30.5-gke.100",
    }
    assert "34.1.2.3" in look.progress


def test_cluster_gone_while_being_created_fails() -> None:
    assert cluster_look("saxml", None).failure == "cluster saxml disappeared while being created"


# --- gone_look -------------------------------------------------------------------------------


def test_gone_when_nothing_remains() -> None:
    look = gone_look(iter([]))
    assert look.done and look.progress == "gone"


def test_not_gone_names_what_remains() -> None:
    look = gone_look(name for name in ["cluster saxml STOPPING", "node pool pool-a"])
    assert not look.done and look.failure is None
    assert look.progress == "still there: cluster saxml STOPPING, node pool pool-a"


# --- Compute Engine operations ---------------------------------------------------------------


def test_compute_operations_running_are_not_done() -> None:
    look = compute_operations_look([operation("DONE", "a"), operation("RUNNING", "b")])
    assert (look.done, look.failure) == (False, None)
    assert look.progress == "insert of b RUNNING"


def test_compute_operations_all_done_are_done() -> None:
    look = compute_operations_look([operation("DONE", "a"), operation("DONE", "b")])
    assert look.done and look.failure is None and look.progress == "done"


def test_compute_operation_with_errors_fails_with_joined_error_text() -> None:
    errors = [
        {"code": "QUOTA_EXCEEDED", "message": "Quota 'STATIC_ADDRESSES' exceeded."},
        {"message": "second problem"},
    ]
    look = compute_operations_look([operation("DONE", error={"errors": errors})])
    assert look.failure == (
        "insert of my-address failed: QUOTA_EXCEEDED: Quota 'STATIC_ADDRESSES' exceeded.; "
        "ERROR: second problem"
    )


def test_compute_operation_without_target_link_is_named_by_its_name() -> None:
    look = compute_operations_look([{"name": "operation-9", "status": "PENDING"}])
    assert look.progress == "operation of operation-9 PENDING"


@pytest.mark.parametrize("error", [None, {}, {"errors": []}])
def test_operation_without_errors_has_no_error(error: Any) -> None:
    assert operation_error(operation("DONE", error=error)) is None


@pytest.mark.parametrize(
    ("link", "name"),
    [
        (f"{ADDRESSES}/sax", "sax"),
        ("projects/p/regions/r/forwardingRules/fr-1/", "fr-1"),
        ("bare-name", "bare-name"),
    ],
)
def test_resource_name_is_the_last_segment(link: str, name: str) -> None:
    assert resource_name(link) == name


# --- JobSet controller -----------------------------------------------------------------------


def deployment(available: bool) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": "Available", "status": str(available)}]}}


def test_jobset_controller_not_created_yet() -> None:
    look = jobset_controller_look(None, None)
    assert not look.done and look.progress == "controller Deployment not created yet"


def test_jobset_controller_not_available_yet() -> None:
    look = jobset_controller_look(deployment(False), None)
    assert not look.done and look.progress == "controller Deployment not Available yet"


def test_jobset_webhook_not_answering_yet() -> None:
    look = jobset_controller_look(deployment(True), "connection refused")
    assert not look.done and look.failure is None
    assert look.progress == "webhook not answering yet: connection refused"


def test_jobset_controller_available_and_webhook_answering_is_done() -> None:
    assert jobset_controller_look(deployment(True), None).done


# --- pods_look -------------------------------------------------------------------------------

FATAL_REASONS = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
]


@pytest.mark.parametrize("reason", FATAL_REASONS)
def test_fatal_waiting_reason_fails_at_once_naming_the_pod(reason: str) -> None:
    pods = [
        pod("sax-admin", ready=True),
        pod("sax-server-0", waiting=reason, waiting_message="image not found"),
    ]
    look = pods_look(pods, expected=2, unschedulable_looks=0)
    assert look.failure == f"sax-server-0: {reason}: image not found"
    assert not look.done


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing"])
def test_ordinary_waiting_reason_is_not_a_failure(reason: str) -> None:
    look = pods_look([pod("sax-server-0", waiting=reason)], expected=1)
    assert (look.done, look.failure) == (False, None)


def test_crash_loop_below_the_restart_limit_is_not_a_failure() -> None:
    crashing = pod(
        "sax-server-0", waiting="CrashLoopBackOff", restarts=CRASH_RESTARTS - 1, exit_code=1
    )
    look = pods_look([crashing], expected=1)
    assert (look.done, look.failure) == (False, None)


@pytest.mark.parametrize("restarts", [CRASH_RESTARTS, CRASH_RESTARTS + 5])
def test_crash_loop_from_the_restart_limit_fails_with_last_exit_code(restarts: int) -> None:
    crashing = pod("sax-server-0", waiting="CrashLoopBackOff", restarts=restarts, exit_code=137)
    look = pods_look([crashing], expected=1)
    assert look.failure == (
        f"sax-server-0: CrashLoopBackOff after {restarts} restarts (last exit code 137)"
    )


def test_several_fatal_pods_are_all_named() -> None:
    pods = [
        pod("a", waiting="ErrImagePull", waiting_message="not found"),
        pod("b", waiting="CrashLoopBackOff", restarts=CRASH_RESTARTS, exit_code=2),
    ]
    look = pods_look(pods, expected=2)
    assert look.failure == (
        "a: ErrImagePull: not found; "
        f"b: CrashLoopBackOff after {CRASH_RESTARTS} restarts (last exit code 2)"
    )


SCHEDULER = "0/4 nodes are available: 4 Insufficient google.com/tpu."


def test_unschedulable_streak_fails_exactly_at_the_limit() -> None:
    pods = [pod("sax-server-0", unschedulable=SCHEDULER), pod("sax-admin", ready=True)]
    state: dict[str, Any] = {}
    for number in range(1, UNSCHEDULABLE_LOOKS):
        look = pods_look(pods, expected=2, unschedulable_looks=state.get("unschedulable_looks", 0))
        assert look.failure is None, f"failed at look {number}"
        assert look.state == {"unschedulable_looks": number}
        state = look.state
    look = pods_look(pods, expected=2, unschedulable_looks=state["unschedulable_looks"])
    assert look.failure == f"pods cannot be scheduled: sax-server-0: {SCHEDULER}"


def test_pods_waiting_for_flex_start_nodes_never_end_the_wait() -> None:
    pods = [pod("sax-server-0", unschedulable=SCHEDULER), pod("sax-admin", ready=True)]
    look = pods_look(pods, expected=2, unschedulable_looks=UNSCHEDULABLE_LOOKS, queued=True)
    assert (look.done, look.failure) == (False, None)
    assert look.state == {"unschedulable_looks": 0}
    assert look.progress == "1/2 pods Ready (2 exist), 1 waiting for their flex-start nodes"


def test_unschedulable_streak_resets_when_no_pod_is_unschedulable() -> None:
    stuck = [pod("sax-server-0", unschedulable=SCHEDULER)]
    scheduled = [pod("sax-server-0", waiting="ContainerCreating")]
    look = pods_look(scheduled, expected=1, unschedulable_looks=UNSCHEDULABLE_LOOKS - 1)
    assert look.failure is None and look.state == {"unschedulable_looks": 0}
    look = pods_look(stuck, expected=1, unschedulable_looks=look.state["unschedulable_looks"])
    assert look.failure is None and look.state == {"unschedulable_looks": 1}


def test_unschedulable_failure_names_every_stuck_pod() -> None:
    pods = [pod("s-0", unschedulable=SCHEDULER), pod("s-1", unschedulable=SCHEDULER)]
    look = pods_look(pods, expected=2, unschedulable_looks=UNSCHEDULABLE_LOOKS - 1)
    assert look.failure == f"pods cannot be scheduled: s-0, s-1: {SCHEDULER}"


def test_fatal_reason_wins_over_unschedulable_streak() -> None:
    pods = [pod("s-0", unschedulable=SCHEDULER), pod("s-1", waiting="InvalidImageName")]
    look = pods_look(pods, expected=2, unschedulable_looks=UNSCHEDULABLE_LOOKS - 1)
    assert look.failure == "s-1: InvalidImageName: "


def test_pods_done_when_expected_pods_all_ready() -> None:
    pods = [pod("sax-server-0", ready=True), pod("sax-admin", ready=True)]
    look = pods_look(pods, expected=2)
    assert look.done and look.failure is None
    assert look.result == {"pods": ["sax-admin", "sax-server-0"]}
    assert look.progress == "2/2 pods Ready (2 exist)"


def test_pods_not_done_while_fewer_than_expected_exist() -> None:
    look = pods_look([pod("sax-admin", ready=True)], expected=2)
    assert not look.done and look.progress == "1/2 pods Ready (1 exist)"


def test_pods_not_done_with_an_extra_pod_not_ready() -> None:
    pods = [pod("a", ready=True), pod("b", ready=True), pod("c", waiting="ContainerCreating")]
    look = pods_look(pods, expected=2)
    assert not look.done and look.failure is None
    assert look.progress == "2/2 pods Ready (3 exist)"


def test_pods_done_with_more_ready_than_expected() -> None:
    assert pods_look([pod("a", ready=True), pod("b", ready=True)], expected=1).done


def test_pods_just_created_have_no_status_yet() -> None:
    look = pods_look([{"metadata": {"name": "fresh"}}], expected=1)
    assert (look.done, look.failure) == (False, None)


# --- failing and crashed pods, diagnostics ---------------------------------------------------


def test_failing_and_crashed_pods() -> None:
    pods = [
        pod("healthy", ready=True),
        pod("crashing", waiting="CrashLoopBackOff", restarts=CRASH_RESTARTS, exit_code=1),
        pod("young-crash", waiting="CrashLoopBackOff", restarts=1, exit_code=1),
        pod("stuck", unschedulable=SCHEDULER),
    ]
    assert failing_pods(pods) == ["crashing", "stuck"]
    assert crashed_pods(pods) == ["crashing"]  # a pod never scheduled has no log to read


def test_diagnostics_keep_only_warning_events_of_failing_pods() -> None:
    events = [
        event("crashing", "Scheduled", "assigned to node-1", kind="Normal"),
        event("crashing", "BackOff", "Back-off restarting failed container"),
        event("healthy", "Unhealthy", "Readiness probe failed"),
        event("stuck", "FailedScheduling", SCHEDULER),
    ]
    text = diagnostics(["crashing", "stuck"], events, {})
    assert text == (
        "\nwarning events:\n"
        "crashing: BackOff: Back-off restarting failed container\n"
        f"stuck: FailedScheduling: {SCHEDULER}"
    )


def test_diagnostics_deduplicate_warning_events() -> None:
    events = [event("p", "BackOff", "Back-off restarting")] * 3 + [event("p", "Failed", "boom")]
    assert diagnostics(["p"], events, {}) == (
        "\nwarning events:\np: BackOff: Back-off restarting\np: Failed: boom"
    )


def test_a_repeated_warning_does_not_push_the_others_out() -> None:
    events = [event("p", "FailedMount", "no secret")] + [event("p", "BackOff", "again")] * 12
    assert diagnostics(["p"], events, {}) == (
        "\nwarning events:\np: FailedMount: no secret\np: BackOff: again"
    )


def test_diagnostics_keep_at_most_the_last_ten_warning_events() -> None:
    events = [event("p", "Failed", f"attempt {number}") for number in range(15)]
    lines = diagnostics(["p"], events, {}).splitlines()
    assert lines[:2] == ["", "warning events:"]
    assert lines[2:] == [f"p: Failed: attempt {number}" for number in range(5, 15)]


def test_diagnostics_add_last_log_lines_of_crashed_pods() -> None:
    last_lines = {"crashing": ["loading model", "Fatal Python error: Aborted"], "quiet": []}
    text = diagnostics(["crashing"], [], last_lines)
    assert text == "\nlast log lines of crashing:\nloading model\nFatal Python error: Aborted"


def test_diagnostics_of_nothing_is_empty() -> None:
    assert diagnostics(["p"], [event("q", "Failed", "x")], {"p": []}) == ""


# --- model load ------------------------------------------------------------------------------

KEY, PATH = "/sax/test/lm", "saxml.server.pax.lm.params.lm_cloud.LmCloudSpmd2B"
WANTED = ModelWanted(model_key=KEY, model_path=PATH, replicas=2)
LOADED = f"I0501 10:00:03.000 servable_model.py:123] {loaded_line(KEY)}"


def at(second: int) -> str:
    return f"2024-05-01T10:00:{second:02d}.123456789Z"


def leader(name: str, phase: str = "Running") -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"phase": phase}}


def test_running_leaders_skip_not_running_and_loaded_pods() -> None:
    leaders = [
        leader("leader-0"),
        leader("leader-1", phase="Pending"),
        leader("leader-2"),
        leader("leader-3", phase="Succeeded"),
        {"metadata": {"name": "leader-4"}},
    ]
    assert running_leaders(leaders, ["leader-2"]) == ["leader-0"]


def test_model_loaded_on_one_replica_is_not_done() -> None:
    lines = {"leader-0": [(at(1), "starting"), (at(3), LOADED)], "leader-1": [(at(2), "starting")]}
    look = model_look(WANTED, lines, {})
    assert (look.done, look.failure) == (False, None)
    assert look.progress == "1/2 replicas loaded (leader-0)"
    assert look.state == {"cursors": {"leader-0": at(3), "leader-1": at(2)}, "loaded": ["leader-0"]}


def test_model_loaded_on_every_replica_is_done() -> None:
    first = model_look(WANTED, {"leader-0": [(at(3), LOADED)], "leader-1": []}, {})
    look = model_look(WANTED, {"leader-1": [(at(5), LOADED)]}, first.state)
    assert look.done
    assert look.result == {"loaded_on": ["leader-0", "leader-1"]}
    assert look.progress == "2/2 replicas loaded (leader-0, leader-1)"


def test_lines_at_or_before_the_cursor_are_not_counted_twice() -> None:
    # The same leader's log read again from its cursor (sinceTime is inclusive) must not count
    # its loaded line a second time: one leader is one replica.
    first = model_look(WANTED, {"leader-0": [(at(1), "starting"), (at(3), LOADED)]}, {})
    assert first.state["cursors"] == {"leader-0": at(3)}
    reread = [(at(1), "starting"), (at(3), LOADED), (at(4), "serving")]
    again = model_look(WANTED, {"leader-0": reread}, first.state)
    assert not again.done
    assert again.state == {"cursors": {"leader-0": at(4)}, "loaded": ["leader-0"]}
    assert again.progress == "1/2 replicas loaded (leader-0)"


def test_a_leader_without_new_lines_keeps_its_cursor() -> None:
    first = model_look(WANTED, {"leader-0": [(at(1), "starting")]}, {})
    look = model_look(WANTED, {"leader-0": [(at(1), "starting")], "leader-1": []}, first.state)
    assert look.state["cursors"] == {"leader-0": at(1)}


def test_model_look_does_not_change_the_state_it_was_given() -> None:
    state = {"cursors": {"leader-0": at(1)}, "loaded": []}
    model_look(WANTED, {"leader-0": [(at(3), LOADED)]}, state)
    assert state == {"cursors": {"leader-0": at(1)}, "loaded": []}


def test_loaded_line_of_another_model_does_not_count() -> None:
    other = f"I0501 servable_model.py:123] {loaded_line('/sax/test/other')}"
    look = model_look(WANTED, {"leader-0": [(at(3), other)]}, {})
    assert look.state["loaded"] == []


@pytest.mark.parametrize(
    "line",
    [
        f"W0501 model_service_base.py:1] Skipping unsupported model {PATH}",
        f"E0501 model_service_base.py:1] Invalid load request. model_key: {KEY}, bad mesh",
        f"E0501 model_service_base.py:1] Internal error during loading. model_key: {KEY}, OOM",
        f"E0501 model_service_base.py:1] Error occurred during loading: {KEY}, checkpoint",
    ],
)
def test_saxml_failure_line_fails_naming_the_pod(line: str) -> None:
    look = model_look(WANTED, {"leader-0": [(at(1), "starting")], "leader-1": [(at(2), line)]}, {})
    assert look.failure == f"leader-1: {line}"
    assert not look.done


def test_failure_wins_over_a_load_in_the_same_lines() -> None:
    failure = f"E0501 x.py:1] Error occurred during loading: {KEY}, reload failed"
    look = model_look(WANTED, {"leader-0": [(at(3), LOADED), (at(4), failure + "  ")]}, {})
    assert look.failure == f"leader-0: {failure}"


def test_failure_line_before_the_cursor_is_not_reported_again() -> None:
    failure = f"E0501 x.py:1] Error occurred during loading: {KEY}, old attempt"
    state = {"cursors": {"leader-0": at(5)}, "loaded": []}
    look = model_look(WANTED, {"leader-0": [(at(4), failure), (at(6), "retrying")]}, state)
    assert look.failure is None


def test_a_later_line_with_a_longer_fraction_is_fresh() -> None:
    cursor_line = ("2024-05-01T10:00:05.12345678Z", "loading")  # .123456780, zero trimmed
    loaded = ("2024-05-01T10:00:05.123456789Z", LOADED)  # 9 ns later
    state = {"cursors": {"leader-0": cursor_line[0]}, "loaded": []}
    look = model_look(WANTED, {"leader-0": [cursor_line, loaded]}, state)
    assert look.state["loaded"] == ["leader-0"]


# --- Service address -------------------------------------------------------------------------


def service(ingress: list[dict[str, str]] | None) -> dict[str, Any]:
    status: dict[str, Any] = {"loadBalancer": {}}
    if ingress is not None:
        status["loadBalancer"]["ingress"] = ingress
    return {"metadata": {"name": "sax-http"}, "spec": {"type": "LoadBalancer"}, "status": status}


@pytest.mark.parametrize(
    "found",
    [service(None), service([]), service([{"ipMode": "VIP"}]), {"metadata": {"name": "x"}}],
)
def test_service_address_pending(found: dict[str, Any]) -> None:
    look = service_address_look("sax-http", found)
    assert (look.done, look.failure) == (False, None)
    assert look.progress == "address pending"


def test_service_address_assigned_ip() -> None:
    look = service_address_look("sax-http", service([{"ip": "35.1.2.3", "ipMode": "VIP"}]))
    assert look.done
    assert look.result == {"address": "35.1.2.3", "endpoint": "http://35.1.2.3:8888"}
    assert look.progress == "address 35.1.2.3"


def test_service_address_assigned_hostname() -> None:
    look = service_address_look("sax-http", service([{"hostname": "lb.example.com"}]))
    assert look.done
    assert look.result == {"address": "lb.example.com", "endpoint": "http://lb.example.com:8888"}


def test_missing_service_fails() -> None:
    assert service_address_look("sax-http", None).failure == "Service sax-http does not exist"


# --- condition -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([{"type": "Ready", "status": "True"}], True),
        ([{"type": "Ready", "status": "False"}], False),
        ([{"type": "Ready", "status": "Unknown"}], False),
        ([{"type": "Available", "status": "True"}], False),
        ([], False),
        (None, False),
    ],
)
def test_condition_is_true_only_with_status_true(conditions: Any, expected: bool) -> None:
    assert condition({"status": {"conditions": conditions}}, "Ready") is expected


def test_condition_of_an_object_without_status() -> None:
    assert condition({"metadata": {"name": "x"}}, "Ready") is False
