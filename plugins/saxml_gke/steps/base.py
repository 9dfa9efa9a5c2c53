"""What steps share: their context, the Wait they may return, and continuation lookup."""

import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from saxml_gke.spec import DeploymentSpec

Result = dict[str, Any]


@dataclass(frozen=True)
class StepContext:
    spec: DeploymentSpec
    gcp_conn_id: str
    upstream: Mapping[str, Any]  # earlier steps' results, by task id
    log: Any  # the task's logger

    def cluster_access(self) -> dict[str, str]:
        """Endpoint and CA of the cluster (from ensure_cluster), for Kubernetes hooks."""
        cluster = self.upstream["ensure_cluster"]
        return {"endpoint": cluster["endpoint"], "ca_certificate": cluster["ca_certificate"]}

    def probe_arguments(self, **arguments: Any) -> dict[str, Any]:
        return {"gcp_conn_id": self.gcp_conn_id, **arguments}


@dataclass(frozen=True)
class Wait:
    """Defer until `probe` is done, then call `then(ctx, result, carry)` (a function of
    saxml_gke.steps, named "module:function")."""

    probe: str
    arguments: dict[str, Any]
    timeout: float
    description: str
    then: str
    carry: dict[str, Any] = field(default_factory=dict)


def continuation(name: str) -> Callable[..., "Result | Wait"]:
    """A step or continuation function by name ("saxml_gke.steps.<module>:<function>")."""
    module, _, function = name.partition(":")
    if not module.startswith("saxml_gke.steps."):
        raise ValueError(f"not a step continuation: {name}")
    return getattr(importlib.import_module(module), function)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def elapsed_since(started: float) -> float:
    return round(time.time() - started, 2)
