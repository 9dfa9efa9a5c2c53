"""Benchmark the deploy DAG on the real stack: Airflow's overhead over the modelled cloud time.

Usage: PYTHONPATH=plugins:. .venv/bin/python scripts/bench_dag.py [--time-scale S] [--slices N]
[--repeat K]

Starts the emulator at time scale S (default: the emulator's own) and make run's Airflow
(api-server, scheduler, dag-processor, triggerer; home and logs under .run/bench/), triggers
`saxml_gke_deploy` K times in a row with make run's emulator defaults, `teardown=always` and
`tpu_slices=N`, and prints per run: the time to a served model (first task's start to the end of
`smoke_test`), the modelled cloud critical path scaled to wall seconds, Airflow's overhead over it,
and every task's start offset, duration and time deferred (from the audit log's `deferred` to the
task's next `running`, or to its end when its trigger ended it). With K > 1 it also prints the
medians. The last line is one JSON object with every number. Exit code 0 only when every run
succeeded and left nothing behind in the emulator.

The critical path is the longest chain of the emulator's modelled durations (`steps()` below, its
constants imported, so it follows the emulator when they change), in modelled seconds:

- cluster: CLUSTER_CREATE_SECONDS (300). The CPU pool is in the create request, so
  CPU_POOL_CREATE_SECONDS does not apply; TPU_POOL_CREATE_SECONDS is added to a cluster create
  only when the request carries a TPU pool, which the DAG's does not.
- TPU node pools: TPU_POOL_CREATE_SECONDS (180), all slices in parallel, but GKE (and the
  emulator) runs at most MAX_CONCURRENT_OPERATIONS (5) operations per cluster: ceil(N / 5)
  rounds (the pools trigger asks again for the creations GKE refused).
- model-server pods Ready: SANDBOX_SECONDS (1) + ModelServerImage's image_pull_seconds (150)
  + start_seconds (5): no readiness probe, every node pulls the image in parallel.
- the server joins the admin: JOIN_DELAY_SECONDS (2) after its JAX world formed.
- the model is assigned: the admin assigns published models on its refresh, every
  REFRESH_SECONDS (10), counted in full (the wait is 0-10 s, by the timer's phase).
- the model loads: `load_seconds` of the model class (LmCloudSpmd175B32Test: 720) on every
  slice in parallel.
- smoke test: one `generate` decodes the class's max_decode_steps (128) tokens at the model
  server's SECONDS_PER_TOKEN (0.017): 2.176 s (the DAG's request sets no decode-step limit).

For 2 slices that is 300 + 180 + 156 + 2 + 10 + 720 + 2.176 = 1370.176 s; for 16, four rounds
of pools: 1910.176 s. Shorter branches run alongside and are in `steps()` too: the static address
(ADDRESS_SECONDS, 3), Workload Identity (IAM's DEFAULT_MEMBER_DELAY, 60, before a new account can
be bound) and JobSet's controller (pod start 1 + 4 + 1, then CERT_SECONDS 30 and its readiness
probe's period) all end within the TPU pools' 180 s; the admin and sax-http pods (pod start 11
and 15 s, then a 5 s probe period) within the model servers' 156 s. The load balancer (40 s)
gates only `report`, not `smoke_test`, which reaches sax-http through the Kubernetes API's
service proxy.
"""

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emulator.gcp.compute.service import ADDRESS_SECONDS
from emulator.gcp.gke.operations import (
    CLUSTER_CREATE_SECONDS,
    MAX_CONCURRENT_OPERATIONS,
    TPU_POOL_CREATE_SECONDS,
)
from emulator.gcp.iam import DEFAULT_MEMBER_DELAY
from emulator.kube.images.jobset import CERT_SECONDS, JobSetManagerImage
from emulator.kube.kubelet.behaviour import ContainerBehaviour
from emulator.kube.kubelet.worker import SANDBOX_SECONDS
from emulator.saxml import registry
from emulator.saxml.admin import REFRESH_SECONDS
from emulator.saxml.admin_server import AdminServerImage
from emulator.saxml.join import JOIN_DELAY_SECONDS
from emulator.saxml.model_server import SECONDS_PER_TOKEN
from emulator.saxml.model_server_image import ModelServerImage
from emulator.saxml.sax_http import SaxHttpImage
from saxml_gke.parameters import PARAMETERS
from scripts.run_deploy import (
    DAG_ID,
    RUN_DIR,
    Airflow,
    Control,
    Processes,
    failures,
    follow,
    start_emulator,
)

BENCH_DIR = RUN_DIR / "bench"
SERVED_TASK = "smoke_test"  # the task that proves the model answers
RUN_TIMEOUT = 3 * 3600.0


@dataclass(frozen=True)
class Step:
    """A stretch of modelled cloud time that starts once every step in `after` has ended."""

    seconds: float
    after: tuple[str, ...]
    source: str  # the emulator constants it is made of


def pod_start(image: type[ContainerBehaviour]) -> float:
    """A pod's sandbox, its image pull on a fresh node and its container start."""
    return SANDBOX_SECONDS + image.image_pull_seconds + image.start_seconds


def steps(slices: int, model: registry.ModelClass) -> dict[str, Step]:
    """The deployment's modelled cloud steps up to the smoke test (see the module docstring)."""
    rounds = math.ceil(slices / MAX_CONCURRENT_OPERATIONS)
    workloads = ("tpu_node_pools", "workload_identity", "jobset", "http_address")
    return {
        "cluster": Step(CLUSTER_CREATE_SECONDS, (), "CLUSTER_CREATE_SECONDS"),
        "http_address": Step(ADDRESS_SECONDS, (), "ADDRESS_SECONDS"),
        "tpu_node_pools": Step(
            rounds * TPU_POOL_CREATE_SECONDS,
            ("cluster",),
            f"{rounds} x TPU_POOL_CREATE_SECONDS ({slices} pools, "
            f"{MAX_CONCURRENT_OPERATIONS} at a time)",
        ),
        "workload_identity": Step(DEFAULT_MEMBER_DELAY, ("cluster",), "iam DEFAULT_MEMBER_DELAY"),
        "jobset": Step(
            pod_start(JobSetManagerImage) + CERT_SECONDS,
            ("cluster",),
            "SANDBOX_SECONDS + JobSetManagerImage pull + start + CERT_SECONDS",
        ),
        "model_server_pods": Step(
            pod_start(ModelServerImage),
            workloads,
            "SANDBOX_SECONDS + ModelServerImage image_pull_seconds + start_seconds",
        ),
        "admin_and_http_pods": Step(
            max(pod_start(AdminServerImage), pod_start(SaxHttpImage)),
            workloads,
            "SANDBOX_SECONDS + AdminServerImage/SaxHttpImage pull + start",
        ),
        "server_joined": Step(JOIN_DELAY_SECONDS, ("model_server_pods",), "JOIN_DELAY_SECONDS"),
        "model_assigned": Step(
            REFRESH_SECONDS,
            ("server_joined", "admin_and_http_pods"),
            "admin REFRESH_SECONDS (the model is published once every pod is Ready)",
        ),
        "model_loaded": Step(
            model.load_seconds, ("model_assigned",), f"{model.alias} load_seconds"
        ),
        "smoke_test": Step(
            model.max_decode_steps * SECONDS_PER_TOKEN,
            ("model_loaded",),
            f"{model.max_decode_steps} decode steps x SECONDS_PER_TOKEN",
        ),
    }


def critical_path(graph: dict[str, Step], end: str) -> list[str]:
    """The chain of steps ending with `end` whose modelled seconds add up to the most."""

    def chain(name: str) -> tuple[float, list[str]]:
        before = max((chain(d) for d in graph[name].after), default=(0.0, []), key=lambda c: c[0])
        return before[0] + graph[name].seconds, [*before[1], name]

    return chain(end)[1]


def wait_for_dag(airflow: Airflow) -> None:
    """run_deploy's wait for the DAG; when it times out, the DAG files' import errors say why."""
    try:
        airflow.wait_for_dag(DAG_ID)
    except RuntimeError as error:
        response = airflow.request("GET", "/api/v2/importErrors")
        found = response.json()["import_errors"] if response.ok else []
        reasons = [f"{e['filename']}: {e['stack_trace'].strip().splitlines()[-1]}" for e in found]
        raise RuntimeError(f"{error}; import errors: {'; '.join(reasons) or 'none'}") from None


def run_conf(ready: dict[str, Any], slices: int) -> dict[str, Any]:
    """make run's emulator conf (run_deploy.main), with the slice count."""
    return {
        "project_id": ready["project_id"],
        "zone": "us-west4-a",
        "jobset_manifest_url": ready["jobset_manifest_url"],
        "jobset_manifest_sha256": ready["jobset_manifest_sha256"],
        "teardown": "always",
        "poll_seconds": 1,
        "tpu_slices": slices,
    }


def instant(value: str) -> float:
    """An API timestamp (ISO 8601, with its zone) as epoch seconds."""
    return datetime.fromisoformat(value).timestamp()


def audit_events(airflow: Airflow, run_id: str, kinds: Sequence[str]) -> list[dict[str, Any]]:
    """The run's audit-log events of those kinds, oldest first."""
    events: list[dict[str, Any]] = []
    while True:
        params = {"dag_id": DAG_ID, "run_id": run_id, "included_events": list(kinds),
                  "order_by": "when", "limit": 100, "offset": len(events)}  # fmt: skip
        response = airflow.request("GET", "/api/v2/eventLogs", params=params)
        response.raise_for_status()
        page = response.json()["event_logs"]
        events += page
        if len(page) < 100:
            return events


def deferred_seconds(airflow: Airflow, run_id: str, ends: dict[str, float]) -> dict[str, float]:
    """Per task, the seconds from each `deferred` event to its next `running` (resumed on a
    worker) or else to its end (`ends`: its trigger ended it, which the audit log does not say)."""
    deferred: dict[str, float] = {}
    since: dict[str, float] = {}
    for event in audit_events(airflow, run_id, ("deferred", "running")):
        task, at = event["task_id"], instant(event["when"])
        if task in since:
            deferred[task] = deferred.get(task, 0.0) + at - since.pop(task)
        if event["event"] == "deferred":
            since[task] = at
    for task, at in since.items():
        if task in ends:
            deferred[task] = deferred.get(task, 0.0) + ends[task] - at
    return deferred


def measure(airflow: Airflow, run_id: str, state: str, path_wall: float) -> dict[str, Any]:
    """The run's numbers; time to served model is None when `smoke_test` did not succeed."""
    tis = airflow.task_instances(DAG_ID, run_id)
    served = next((ti for ti in tis if ti["task_id"] == SERVED_TASK), None)
    if served is None:
        raise RuntimeError(
            f"run {run_id} has no task {SERVED_TASK!r}: the DAG no longer has the task that "
            f"proves the model serves (tasks: {', '.join(sorted(t['task_id'] for t in tis))})"
        )
    start = min(instant(ti["start_date"]) for ti in tis if ti["start_date"])
    ends = {ti["task_id"]: instant(ti["end_date"]) for ti in tis if ti["end_date"]}
    deferred = deferred_seconds(airflow, run_id, ends)
    tasks = [
        {
            "task_id": ti["task_id"],
            "state": ti["state"],
            "start_offset": round(instant(ti["start_date"]) - start, 2)
            if ti["start_date"]
            else None,
            "duration": round(ti["duration"], 2) if ti["duration"] is not None else None,
            "deferred": round(deferred[ti["task_id"]], 2) if ti["task_id"] in deferred else None,
        }
        for ti in sorted(tis, key=lambda t: (t["start_date"] is None, t["start_date"] or ""))
    ]
    result: dict[str, Any] = {
        "run_id": run_id,
        "state": state,
        "served_seconds": None,
        "overhead_seconds": None,
        "ratio": None,
        "tasks": tasks,
    }
    if served["state"] == "success":
        seconds = instant(served["end_date"]) - start
        result.update(
            served_seconds=round(seconds, 2),
            overhead_seconds=round(seconds - path_wall, 2),
            ratio=round(seconds / path_wall, 2),
        )
    return result


def left_behind(ready: dict[str, Any]) -> list[str]:
    """What exists in the emulator besides the operator's service account (as make run checks)."""
    resources = Control(ready).get("/resources").json()["resources"]
    return [
        f"{r['kind']} {r['name']}" for r in resources if r["name"] != ready["service_account_email"]
    ]


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def print_path(graph: dict[str, Step], path: Sequence[str], scale: float, slices: int) -> None:
    total = sum(graph[name].seconds for name in path)
    print(f"\nModelled cloud critical path, {slices} slice(s):")
    for name in path:
        print(f"  {name:22} {graph[name].seconds:8.1f} s  {graph[name].source}")
    print(f"  {'total':22} {total:8.1f} s  = {total * scale:.2f} wall s at time scale {scale}")


def print_run(result: dict[str, Any], path_wall: float) -> None:
    width = max(len(task["task_id"]) for task in result["tasks"])
    print(f"\nRun {result['run_id']}: {result['state']}")
    print(f"  {'task':{width}} {'state':16} {'start':>9} {'duration':>9} {'deferred':>9}")
    for task in result["tasks"]:
        print(
            f"  {task['task_id']:{width}} {task['state'] or '-':16} "
            f"{seconds(task['start_offset']):>9} {seconds(task['duration']):>9} "
            f"{seconds(task['deferred']):>9}"
        )
    print(f"  time to served model   {seconds(result['served_seconds'])}")
    print(f"  critical path (wall)   {path_wall:.1f} s")
    if result["ratio"] is not None:
        print(
            f"  overhead               {result['overhead_seconds']:.1f} s "
            f"({result['ratio']:.2f} x the critical path)"
        )
    if result["left_behind"]:
        print(f"  LEFT BEHIND            {', '.join(result['left_behind'])}")


def medians(results: list[dict[str, Any]]) -> dict[str, float] | None:
    """Medians over the runs that served the model; None when none did."""
    served = [r for r in results if r["served_seconds"] is not None]
    if not served:
        return None
    keys = ("served_seconds", "overhead_seconds", "ratio")
    return {key: round(statistics.median(r[key] for r in served), 2) for key in keys}


def bench(args: argparse.Namespace, processes: Processes) -> dict[str, Any]:
    """Start the stack, run the DAG `args.repeat` times (stopping at a bad run), the numbers."""
    scaled = ["--time-scale", str(args.time_scale)] if args.time_scale is not None else []
    ready = start_emulator(
        processes, dict(os.environ), BENCH_DIR / "emulator" / "ready.json", *scaled
    )
    scale = float(ready["time_scale"])
    model = registry.find(PARAMETERS["model_path"]["default"])
    assert model is not None, "the default model class is not in the emulator's registry"
    graph = steps(args.slices, model)
    path = critical_path(graph, SERVED_TASK)
    modelled = sum(graph[name].seconds for name in path)
    print_path(graph, path, scale, args.slices)
    airflow = Airflow(processes, json.dumps(ready["airflow_connection"]), BENCH_DIR / "airflow")
    print(f"\nStarting Airflow at {airflow.url} (logs in {processes.log_dir})", flush=True)
    airflow.start()
    wait_for_dag(airflow)
    results = []
    for number in range(1, args.repeat + 1):
        response = airflow.trigger(DAG_ID, run_conf(ready, args.slices))
        response.raise_for_status()
        run_id = response.json()["dag_run_id"]
        print(f"\nRun {number}/{args.repeat}: {run_id}", flush=True)
        state = follow(airflow, run_id, timeout=RUN_TIMEOUT)
        result = measure(airflow, run_id, state, modelled * scale)
        result["left_behind"] = left_behind(ready)
        for task_id, error in failures(airflow, run_id):
            print(f"  FAILED {task_id}: {error}")
        print_run(result, modelled * scale)
        results.append(result)
        if state != "success" or result["left_behind"]:
            break
    return {
        "time_scale": scale,
        "slices": args.slices,
        "model_path": model.path,
        "critical_path": {
            "steps": {name: graph[name].seconds for name in path},
            "modelled_seconds": round(modelled, 3),
            "wall_seconds": round(modelled * scale, 3),
        },
        "runs": results,
        "median": medians(results),
        "ok": len(results) == args.repeat
        and all(r["state"] == "success" and not r["left_behind"] for r in results),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    slices = PARAMETERS["tpu_slices"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="the emulator's --time-scale (default: its own)",
    )
    parser.add_argument(
        "--slices",
        type=int,
        default=slices["default"],
        choices=range(slices["minimum"], slices["maximum"] + 1),
        metavar="N",
        help="the DAG's tpu_slices (default %(default)s)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs in a row (default 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM stops what was started, as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # A fresh Airflow database: a run left running by an interrupted bench would resume
    # against this bench's emulator.
    shutil.rmtree(BENCH_DIR / "airflow", ignore_errors=True)
    log_dir = BENCH_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = Processes(log_dir)
    try:
        report = bench(args, processes)
    finally:
        processes.stop()
    if report["median"] and len(report["runs"]) > 1:
        median = report["median"]
        print(
            f"\nMedian of {len(report['runs'])} runs: served {median['served_seconds']:.1f} s, "
            f"overhead {median['overhead_seconds']:.1f} s ({median['ratio']:.2f} x)"
        )
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
