"""How the TPU node pools are asked for: each created as soon as GKE admits another operation,
and a pool that GKE had no TPUs for deleted and asked for again, with growing back-off, until
the capacity wait is over.

GKE runs at most 5 operations per cluster and refuses more with 429 "Too many operations", so
16 slices are created in rounds as earlier creations finish. A stockout leaves the pool in
ERROR while GKE keeps retrying the missing nodes of a slice that is useless until all of them
exist; deleting it and asking again is what frees the request (and what the nightly teardown
would otherwise find). Pools that got their TPUs are kept.

Pure: the pools trigger reads the cluster, asks `next_moves` what to do, makes the calls, and
records each creation GKE accepted with `created`. The state is JSON, carried between looks.

With flex-start-queued the pools stay empty until GKE fills the deployment's ProvisioningRequest;
the pods' wait reads it, and `provisioning_request_look` says what its conditions mean.
"""

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from saxml_gke.errors import ErrorKind, capacity_advice, classify_operation_error
from saxml_gke.probes import Look, Obj, unschedulable
from saxml_gke.spec import DeploymentSpec

# A pool in one of these states got no usable slice; RUNNING_WITH_ERROR is a slice with some
# hosts missing, which a multi-host slice cannot run on.
FAILED = ("ERROR", "DEGRADED", "RUNNING_WITH_ERROR")
# The back-off before asking again after a stockout doubles per try up to this (seconds).
MAX_BACKOFF_SECONDS = 600.0


@dataclass(frozen=True)
class CapacityRequest:
    """What the pools ask GKE for, and how long a stockout may be waited out."""

    zone: str
    machine_type: str
    capacity: str  # a `parameters.Capacity` value
    chips: int  # of all slices
    wait_seconds: float = 0.0  # capacity_wait_minutes
    first_backoff_seconds: float = 30.0  # the poll interval

    @classmethod
    def of(cls, spec: DeploymentSpec) -> "CapacityRequest":
        tpu = spec.tpu
        return cls(
            zone=spec.cluster.zone,
            machine_type=tpu.machine_type,
            capacity=tpu.capacity,
            chips=tpu.total_chips,
            wait_seconds=spec.waits.capacity_wait,
            first_backoff_seconds=spec.waits.poll_seconds,
        )


@dataclass(frozen=True)
class Moves:
    """What to do after one look: pools to create and to delete, and the look itself."""

    look: Look
    create: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()


def next_moves(
    pools: Mapping[str, Obj | None], state: Mapping[str, Any], now: float,
    request: CapacityRequest,
) -> Moves:  # fmt: skip
    """The pools as GKE shows them (None: missing) → what to create, delete, and whether done."""
    tries: dict[str, int] = dict(state.get("tries", {}))
    retry_at: dict[str, float] = dict(state.get("retry_at", {}))
    since: float | None = state.get("stockout_since")
    create, delete, progress, failures = [], [], [], []
    for name, pool in sorted(pools.items()):
        status, message = (
            (pool.get("status", ""), pool.get("statusMessage", "")) if pool else ("", "")
        )
        if pool is None and now >= retry_at.get(name, 0.0):
            create.append(name)
            progress.append(f"{name} missing")
        elif pool is None:
            progress.append(
                f"{name} waiting for capacity, next try in {retry_at[name] - now:.0f} s"
            )
        elif status not in FAILED:
            progress.append(f"{name} {status}")
        elif _stockout(message) and now < (since or now) + request.wait_seconds:
            since = since or now
            retry_at[name] = now + _backoff(request, tries.get(name, 1))
            delete.append(name)
            progress.append(f"{name} had no capacity (try {tries.get(name, 1)}): asking again")
        else:
            failures.append(f"{name} {status}: {message or 'no message'}")
    new_state = {"tries": tries, "retry_at": retry_at, "stockout_since": since}
    waited = _waited(since, now, tries)
    summary = ", ".join(progress + failures) + (f"; {waited}" if waited else "")
    if failures:
        failure = "TPU node pools failed: " + "; ".join(failures)
        if any(_stockout(text) for text in failures):
            failure += f". {waited + '. ' if waited else ''}{_advice(request)}"
        return Moves(Look(failure=failure, progress=summary, state=new_state))
    if all(pool and pool.get("status") == "RUNNING" for pool in pools.values()):
        result = {
            "pools": sorted(pools),
            "capacity_wait_seconds": round(now - since, 1) if since else 0.0,
            "capacity_tries": sum(tries.values()),
        }
        return Moves(Look(done=True, progress=summary, result=result, state=new_state))
    look = Look(progress=summary, state=new_state)
    return Moves(look, create=tuple(create), delete=tuple(delete))


def created(state: Mapping[str, Any], pool: str) -> dict[str, Any]:
    """The state after GKE accepted a creation of `pool`: one more try of it."""
    tries = dict(state.get("tries", {}))
    tries[pool] = tries.get(pool, 0) + 1
    return {**state, "tries": tries}


def _stockout(message: str) -> bool:
    return classify_operation_error(0, message) is ErrorKind.CAPACITY


def _backoff(request: CapacityRequest, tries: int) -> float:
    return min(request.first_backoff_seconds * 2 ** (tries - 1), MAX_BACKOFF_SECONDS)


def _waited(since: float | None, now: float, tries: Mapping[str, int]) -> str:
    if since is None:
        return ""
    return f"waited {(now - since) / 60:.1f} min for capacity, {sum(tries.values())} tries"


def _advice(request: CapacityRequest) -> str:
    if request.wait_seconds:
        return _asked(request)
    return f"{_asked(request)} Or wait for capacity: capacity_wait_minutes > 0."


def _asked(request: CapacityRequest) -> str:
    advice = capacity_advice(request.zone, request.machine_type, request.capacity)
    return f"The slices ask for {request.chips} TPU chips. {advice}"


# GKE's ProvisioningRequest API (kubernetes/autoscaler's CRD), as the operator applies it and the
# trigger reads it; `include/manifests/25-sax-model-server-request.yaml.j2` spells it too.
PROVISIONING_REQUEST_GROUP = "autoscaling.x-k8s.io"
PROVISIONING_REQUEST_VERSION = "v1"

# The conditions of a ProvisioningRequest (kubernetes/autoscaler, autoscaling.x-k8s.io/v1)
# after which its pods get no nodes from it, and what each means for them.
_REQUEST_ENDS = {
    "Failed": "GKE cannot provision the nodes",
    "CapacityRevoked": "GKE took the nodes back",
    "BookingExpired": "GKE no longer holds the nodes for the model servers, which did not "
    "take them in time",
}
_REQUEST_STATES = ("Provisioned", "Accepted")  # shown while pods wait: the first it has


def provisioning_request_look(
    look: Look,
    pods: Iterable[Obj],
    request: Obj | None,
    where: tuple[str, str],
    capacity: CapacityRequest,
) -> Look:
    """The pods' `look` with what their ProvisioningRequest `where` (name, namespace) says: its
    condition in the progress while pods wait for its nodes, and a failure once it can bring
    none. BookingExpired fails only pods still waiting: the booking (the time the nodes are
    held for the pods) also ends once they have taken them."""
    name, namespace = where
    what = f"ProvisioningRequest {name}"
    waiting = any(unschedulable(pod) for pod in pods)
    if request is None:
        return Look(
            failure=f"{what} does not exist in namespace {namespace}: nothing asks GKE for the "
            "model servers' nodes. Run the deployment again to create it.",
            progress=look.progress,
        )
    conditions = {c.get("type"): c for c in (request.get("status") or {}).get("conditions") or []}
    for kind, meaning in _REQUEST_ENDS.items():
        found = conditions.get(kind) or {}
        if found.get("status") == "True" and (kind != "BookingExpired" or waiting):
            return Look(
                failure=f"{what}: {_said(found)}: {meaning}. {_asked(capacity)} A request "
                f"cannot change: delete it (kubectl delete provisioningrequest {name} -n "
                f"{namespace}) or tear the deployment down before running it again.",
                progress=look.progress,
            )
    if not waiting:
        return look
    state = next((_said(conditions[kind]) for kind in _REQUEST_STATES if kind in conditions), "")
    progress = f"{look.progress}; {what}: {state or 'no conditions yet'}"
    return dataclasses.replace(look, progress=progress)


def _said(condition: Obj) -> str:
    """`Provisioned=False (reason: message)`: a condition as `kubectl describe` shows it."""
    said = f"{condition.get('type')}={condition.get('status')}"
    details = ": ".join(filter(None, (condition.get("reason"), condition.get("message"))))
    return f"{said} ({details})" if details else said
