"""The scheduler's failure message, word for word as kube-scheduler's `FitError` writes it.

"0/7 nodes are available: 3 Insufficient google.com/tpu, 4 node(s) didn't match Pod's node
affinity/selector. preemption: 0/7 nodes are available: 3 No preemption victims found for
incoming pod, 4 Preemption is not helpful for scheduling.." (the doubled period is real).
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

UNSCHEDULABLE = "Unschedulable"
UNRESOLVABLE = "UnschedulableAndUnresolvable"
NO_NODES = "no nodes available to schedule pods"
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@dataclass(frozen=True)
class Rejection:
    """Why one node cannot take the pod: a filter's status code and reasons."""

    code: str
    reasons: tuple[str, ...]


def fit_error(rejections: Iterable[Rejection]) -> str:
    """The FailedScheduling message for a pod that no node accepted.

    Preemption is attempted after every failure; as no pod here has a lower priority than
    another, it never finds victims, and it never helps on nodes that fail unresolvably.
    """
    rejections = list(rejections)
    if not rejections:
        return NO_NODES
    preemption = [
        Rejection(UNRESOLVABLE, (PREEMPTION_NOT_HELPFUL if r.code == UNRESOLVABLE else NO_VICTIMS,))
        for r in rejections
    ]
    return f"{_histogram(rejections)} preemption: {_histogram(preemption)}."


def _histogram(rejections: list[Rejection]) -> str:
    counts = Counter(reason for rejection in rejections for reason in rejection.reasons)
    reasons = sorted(f"{count} {reason}" for reason, count in counts.items())
    return f"0/{len(rejections)} nodes are available: {', '.join(reasons)}."
