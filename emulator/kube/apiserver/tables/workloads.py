"""Tables of the kinds that run pods from a template: Deployments, ReplicaSets and Jobs. Their
wide columns name the template's containers and images and the pods' selector."""

from typing import Any

from emulator.kube.apiserver.tables.columns import AGE, NAME, Cells, Column, Obj, Printer, wide
from emulator.kube.apiserver.tables.durations import age, human_duration
from emulator.kube.apiserver.timestamps import parse_rfc3339

_OPERATORS = {"In": "in", "NotIn": "notin"}
_TEMPLATE_COLUMNS = (
    wide("Containers", "Names of each container in the template."),
    wide("Images", "Images referenced by each container in the template."),
    wide("Selector", "The label selector of the pods."),
)
# A Job's STATUS: the first of these conditions that is true, else Terminating or Running.
_JOB_FINAL = ("Complete", "Failed")
_JOB_PROGRESS = ("Suspended", "FailureTarget", "SuccessCriteriaMet")


def selector_string(selector: Obj | None) -> str:
    """A label selector as `kubectl get -l` takes it: `app=web,tier in (a,b),!legacy`."""
    selector = selector or {}
    terms = [(key, f"{key}={value}") for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = ",".join(sorted(expression.get("values") or []))
        if operator in _OPERATORS:
            terms.append((key, f"{key} {_OPERATORS[operator]} ({values})"))
        else:
            terms.append((key, key if operator == "Exists" else f"!{key}"))
    return ",".join(term for _, term in sorted(terms, key=lambda term: term[0]))


def _templated(columns: tuple[Column, ...], middle: Cells) -> Printer:
    """NAME, the kind's own columns, AGE, then CONTAINERS, IMAGES and SELECTOR of its template."""

    def cells(obj: Obj, now: float) -> list[Any]:
        containers = obj["spec"]["template"].get("spec", {}).get("containers", [])
        return [
            obj["metadata"]["name"],
            *middle(obj, now),
            age(obj, now),
            ",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers),
            selector_string(obj["spec"].get("selector")),
        ]

    return Printer((NAME, *columns, AGE, *_TEMPLATE_COLUMNS), cells)


def _deployment(obj: Obj, now: float) -> list[Any]:
    status = obj.get("status") or {}
    return [
        f"{status.get('readyReplicas', 0)}/{obj['spec'].get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
    ]


def _replica_set(obj: Obj, now: float) -> list[Any]:
    status = obj.get("status") or {}
    return [
        obj["spec"].get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
    ]


def job_status(job: Obj) -> str:
    true = {
        c.get("type")
        for c in (job.get("status") or {}).get("conditions", [])
        if c.get("status") == "True"
    }
    final = [kind for kind in _JOB_FINAL if kind in true]
    if final:
        return final[0]
    if job["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return next((kind for kind in _JOB_PROGRESS if kind in true), "Running")


def _completions(job: Obj) -> str:
    spec, succeeded = job["spec"], (job.get("status") or {}).get("succeeded", 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _duration(job: Obj, now: float) -> str:
    """Start to completion; start to now while it runs; nothing before it starts."""
    status = job.get("status") or {}
    if not status.get("startTime"):
        return ""
    end = parse_rfc3339(status["completionTime"]) if status.get("completionTime") else now
    return human_duration(end - parse_rfc3339(status["startTime"]))


def _job(obj: Obj, now: float) -> list[Any]:
    return [job_status(obj), _completions(obj), _duration(obj, now)]


DEPLOYMENT = _templated(
    (
        Column("Ready", "Number of the pods ready and desired."),
        Column("Up-to-date", "Pods updated to the desired template.", "integer"),
        Column("Available", "Pods available to serve.", "integer"),
    ),
    _deployment,
)
REPLICA_SET = _templated(
    (
        Column("Desired", "Pods the ReplicaSet should have.", "integer"),
        Column("Current", "Pods the ReplicaSet has.", "integer"),
        Column("Ready", "Pods of the ReplicaSet that are ready.", "integer"),
    ),
    _replica_set,
)
JOB = _templated(
    (
        Column("Status", "Status of the job."),
        Column("Completions", "The desired number of successfully finished pods."),
        Column("Duration", "Time required to complete the job."),
    ),
    _job,
)
