"""GKE long-running operations: their timeline, their conflicts, and how they read over the API.

An operation is PENDING briefly, RUNNING for its modelled duration, then DONE; a failure is DONE
with `error` set. Its instants are wall-clock (the clock scales modelled durations), so a state
file written mid-operation lets the operation finish on time after a restart.
"""

import uuid
from dataclasses import asdict, dataclass
from typing import Any

from google.cloud import container_v1

from emulator.core.clock import rfc3339
from emulator.core.errors import failed_precondition, not_found, resource_exhausted
from emulator.gcp.gke import names

OperationType = container_v1.Operation.Type
OperationStatus = container_v1.Operation.Status

# Modelled durations in seconds, from what GKE users report (a zonal cluster takes ~5 minutes).
CLUSTER_CREATE_SECONDS = 300.0
CLUSTER_DELETE_SECONDS = 180.0
TPU_POOL_CREATE_SECONDS = 180.0
CPU_POOL_CREATE_SECONDS = 90.0
POOL_DELETE_SECONDS = 120.0
MASTER_UPGRADE_SECONDS = 600.0
SET_LABELS_SECONDS = 5.0
PENDING_SECONDS = 5.0

MAX_CONCURRENT_OPERATIONS = 5

# Operations on the cluster itself block every node-pool operation until they end.
CLUSTER_LEVEL = frozenset(
    {
        OperationType.CREATE_CLUSTER,
        OperationType.DELETE_CLUSTER,
        OperationType.UPGRADE_MASTER,
    }
)


@dataclass
class Operation:
    name: str
    project: str
    zone: str
    type: OperationType
    cluster: str
    node_pool: str
    started: float
    running_at: float
    done_at: float
    status: OperationStatus = OperationStatus.PENDING
    ended: float | None = None
    error_code: int = 0
    error_message: str = ""

    @property
    def done(self) -> bool:
        return self.status == OperationStatus.DONE

    def finish(self, now: float, error_code: int = 0, error_message: str = "") -> None:
        self.status = OperationStatus.DONE
        self.ended = now
        self.error_code = error_code
        self.error_message = error_message

    def to_proto(self, project_number: str) -> container_v1.Operation:
        target = (
            names.node_pool_link(project_number, self.zone, self.cluster, self.node_pool)
            if self.node_pool
            else names.cluster_link(project_number, self.zone, self.cluster)
        )
        operation = container_v1.Operation(
            name=self.name,
            zone=self.zone,
            location=self.zone,
            operation_type=self.type,
            status=self.status,
            self_link=names.operation_link(project_number, self.zone, self.name),
            target_link=target,
            start_time=rfc3339(self.started),
        )
        if self.ended is not None:
            operation.end_time = rfc3339(self.ended)
        if self.error_code:
            operation.error = {"code": self.error_code, "message": self.error_message}
        return operation

    def dump(self) -> dict[str, Any]:
        return {**asdict(self), "type": self.type.name, "status": self.status.name}

    @classmethod
    def load(cls, state: dict[str, Any]) -> "Operation":
        return cls(
            **{
                **state,
                "type": OperationType[state["type"]],
                "status": OperationStatus[state["status"]],
            }
        )


class OperationBook:
    """Every operation of the project (finished ones too, as GKE lists them for a while)."""

    def __init__(self) -> None:
        self._operations: dict[str, Operation] = {}

    def start(
        self,
        kind: OperationType,
        project: str,
        zone: str,
        cluster: str,
        node_pool: str = "",
        *,
        now: float,
        wall_seconds: float,
        pending_wall_seconds: float,
    ) -> Operation:
        """A new operation, PENDING now, RUNNING after the pending time, DONE after the rest."""
        operation = Operation(
            name=f"operation-{int(now * 1000)}-{uuid.uuid4()}",
            project=project,
            zone=zone,
            type=kind,
            cluster=cluster,
            node_pool=node_pool,
            started=now,
            running_at=now + min(pending_wall_seconds, wall_seconds),
            done_at=now + wall_seconds,
        )
        self._operations[operation.name] = operation
        return operation

    def get(self, project: str, location: str, name: str) -> Operation:
        operation = self._operations.get(name)
        if operation is None or (operation.project, operation.zone) != (project, location):
            raise not_found(
                f"Not found: {names.location_path(project, location)}/operations/{name}."
            )
        return operation

    def in_location(self, project: str, location: str) -> list[Operation]:
        return [
            op
            for op in self._operations.values()
            if op.project == project and location in ("-", op.zone)
        ]

    def unfinished(self) -> list[Operation]:
        return [op for op in self._operations.values() if not op.done]

    def unfinished_on(self, project: str, zone: str, cluster: str) -> list[Operation]:
        return [
            op
            for op in self.unfinished()
            if (op.project, op.zone, op.cluster) == (project, zone, cluster)
        ]

    def admit_node_pool_operation(
        self, project: str, zone: str, cluster: str, node_pool: str
    ) -> None:
        """Raise what GKE answers when a node-pool operation cannot start now."""
        running = self.unfinished_on(project, zone, cluster)
        for op in running:
            if op.type in CLUSTER_LEVEL:
                raise failed_precondition(f"Cluster is running incompatible operation {op.name}.")
        for op in running:
            if op.node_pool == node_pool:
                raise failed_precondition(
                    f"Operation {op.name} is currently operating on node pool {node_pool} of "
                    f"cluster {cluster}. Please wait and try again once it is done."
                )
        if len(running) >= MAX_CONCURRENT_OPERATIONS:
            raise resource_exhausted(
                f"Too many operations: cluster {cluster} hits the concurrent operations quota "
                f"{MAX_CONCURRENT_OPERATIONS}, please try again later."
            )

    def dump(self) -> list[dict[str, Any]]:
        return [op.dump() for op in self._operations.values()]

    def load(self, state: list[dict[str, Any]]) -> None:
        self._operations = {entry["name"]: Operation.load(entry) for entry in state}
