"""Compute Engine region operations: what a mutation answers, RUNNING until its end instant.

An operation only records the request and its timeline; the effect (an address that appears, a
rule that goes) lives in the resource's own instants, so an operation never needs a task to
finish. A failed operation ends DONE with `error.errors[]`, as Compute reports quota failures.
"""

import secrets
from dataclasses import asdict, dataclass
from typing import Any

from emulator.gcp.compute.model import compute_timestamp, link, new_id, region_path


@dataclass
class OperationError:
    code: str  # QUOTA_EXCEEDED, ...
    message: str
    http_status: int
    http_message: str


@dataclass
class Operation:
    name: str
    id: str
    region: str
    kind: str  # the operationType: insert, delete or setLabels
    target: str  # the target resource's path
    target_id: str
    user: str
    inserted: float
    done_at: float
    error: OperationError | None = None

    @classmethod
    def begin(
        cls,
        *,
        region: str,
        kind: str,
        target: str,
        target_id: str,
        user: str,
        now: float,
        wall_seconds: float,
        error: OperationError | None = None,
    ) -> "Operation":
        return cls(
            name=f"operation-{int(now * 1000)}-{secrets.token_hex(7)[:13]}-"
            f"{secrets.token_hex(4)}-{secrets.token_hex(4)}",
            id=new_id(),
            region=region,
            kind=kind,
            target=target,
            target_id=target_id,
            user=user,
            inserted=now,
            done_at=now + wall_seconds,
            error=error,
        )

    def done(self, now: float) -> bool:
        return now >= self.done_at

    def to_json(self, project: str, now: float) -> dict[str, Any]:
        done = self.done(now)
        region = region_path(project, self.region)
        body: dict[str, Any] = {
            "kind": "compute#operation",
            "id": self.id,
            "name": self.name,
            "operationType": self.kind,
            "targetLink": link(self.target),
            "targetId": self.target_id,
            "status": "DONE" if done else "RUNNING",
            "user": self.user,
            "progress": 100 if done else 0,
            "insertTime": compute_timestamp(self.inserted),
            "startTime": compute_timestamp(self.inserted),
            "selfLink": link(f"{region}/operations/{self.name}"),
            "region": link(region),
        }
        if done:
            body["endTime"] = compute_timestamp(self.done_at)
            if self.error is not None:
                body["error"] = {
                    "errors": [{"code": self.error.code, "message": self.error.message}]
                }
                body["httpErrorStatusCode"] = self.error.http_status
                body["httpErrorMessage"] = self.error.http_message
        return body

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, state: dict[str, Any]) -> "Operation":
        error = state["error"]
        return cls(**{**state, "error": OperationError(**error) if error else None})
