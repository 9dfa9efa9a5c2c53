"""What every wait's trigger shares: the poll loop, its deadline, and ending the task.

A trigger ends its task itself (`TaskSuccessEvent`, the task's result pushed as its XCom, or
`TaskFailedEvent`), so the task never resumes on a worker. This is Airflow's own way for a
deferred task to finish, and it does not race: Airflow 3.3's scheduler fails a task that resumes
on a worker before the scheduler has processed the executor's report of the deferring process's
exit (apache/airflow#71580, #72716), because both carry the same try number.

`airflow dags test` runs a trigger inline and hands the event's payload to the task's resume
method, so the payload carries the same outcome (`resume_outcome` reads it).
"""

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow.sdk.execution_time.xcom import XCom
from airflow.triggers.base import BaseTrigger, TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.probes import Look


@dataclass(frozen=True)
class Waiting:
    """What every wait has: what it waits for, how often it looks, since and until when, and
    what the task knew before it deferred (`known`, part of its result)."""

    description: str
    gcp_conn_id: str
    poll_seconds: float
    started: float  # epoch seconds
    deadline: float
    known: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def lasting(
        cls, description: str, *, gcp_conn_id: str, poll_seconds: float, timeout: float,
        known: dict[str, Any] | None = None,
    ) -> "Waiting":  # fmt: skip
        now = time.time()
        return cls(description, gcp_conn_id, poll_seconds, now, now + timeout, known or {})

    def result(self, looked: Any) -> dict[str, Any]:
        """The task's result: what it knew, what the last look found, and how long it waited."""
        found = looked if isinstance(looked, dict) else {}
        return {**self.known, **found, "wait_seconds": round(time.time() - self.started, 2)}


class WaitTrigger(BaseTrigger, ABC):
    """Looks every `poll_seconds` until the look is done or failed, or the deadline passes.

    Subclasses keep their clients between looks, and release them in `close`. A transient
    error is logged and looked past; the deadline bounds it."""

    def __init__(self, waiting: dict[str, Any] | Waiting, state: dict[str, Any] | None = None):
        super().__init__()
        self.waiting = waiting if isinstance(waiting, Waiting) else Waiting(**waiting)
        self.state = state or {}

    @abstractmethod
    def arguments(self) -> dict[str, Any]:
        """The trigger's own constructor arguments (JSON), besides `waiting` and `state`."""

    @abstractmethod
    async def look(self, state: dict[str, Any]) -> Look:
        """Look once, with the state the previous look left."""

    async def close(self) -> None:
        """Release the clients kept between looks."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {**self.arguments(), "waiting": asdict(self.waiting), "state": self.state},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        waiting, state, last_progress = self.waiting, dict(self.state), ""
        try:
            while True:
                try:
                    look = await self.look(state)
                except DeploymentError as error:
                    if error.kind is not ErrorKind.TRANSIENT:
                        yield self._failed(f"{waiting.description}: {error}")
                        return
                    self.log.warning("%s: %s; looking again", waiting.description, error)
                    look = Look(progress=last_progress, state=state)
                except Exception as error:  # a bug must fail the task with its cause, not hang
                    self.log.exception("%s: looking failed", waiting.description)
                    yield self._failed(f"{type(error).__name__}: {error}")
                    return
                state = look.state or state
                if look.progress and look.progress != last_progress:
                    self.log.info("%s: %s", waiting.description, look.progress)
                    last_progress = look.progress
                if look.failure:
                    yield self._failed(f"{waiting.description}: {look.failure}")
                    return
                if look.done:
                    yield await self._succeeded(waiting.result(look.result))
                    return
                if time.time() >= waiting.deadline:
                    yield self._failed(
                        f"timed out waiting for {waiting.description}; last seen: {last_progress}"
                    )
                    return
                await asyncio.sleep(waiting.poll_seconds)
        finally:
            await self.close()

    async def _succeeded(self, result: dict[str, Any]) -> TaskSuccessEvent:
        """The task's result becomes its XCom as a worker's would: through the Execution API
        (Airflow 3.3 stores a `TaskSuccessEvent`'s own `xcoms` JSON-encoded twice, so the next
        task would read a string)."""
        if self.task_instance is not None:  # None when `airflow dags test` runs the trigger
            ti = self.task_instance
            await XCom.aset(
                "return_value", result, dag_id=ti.dag_id, task_id=ti.task_id,
                run_id=ti.run_id, map_index=ti.map_index,
            )  # fmt: skip
        event = TaskSuccessEvent()
        event.payload = {"result": result}
        return event

    def _failed(self, message: str) -> TaskFailedEvent:
        self.log.error("%s", message)
        event = TaskFailedEvent()
        event.payload = {"failure": message}
        return event


def resume_outcome(event: dict[str, Any]) -> Any:
    """The result an inline trigger (`airflow dags test`) ended with; its failure raises."""
    from airflow.sdk.exceptions import AirflowFailException

    if "failure" in event:
        raise AirflowFailException(event["failure"])
    return event["result"]
