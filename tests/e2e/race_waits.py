"""The waits of the resume race test's DAG (tests/e2e/dags/saxml_gke_resume_race.py), in a module
the triggerer can import (it cannot import classes defined in a DAG file).

`SlowExit` opens the race's window wide: a task process that defers reports its deferral at
once, then takes SLOW_EXIT seconds to exit, as on a busy worker. The trigger fires long before
that, so the scheduler starts the task's resumption (which works for RESUMED_WORK seconds)
while the executor has not yet reported the first process's exit; when it does, with the same
try number, Airflow 3.3 fails the running task.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.triggers.base import BaseTrigger, TriggerEvent

from saxml_gke.links import CONSOLE_LINKS
from saxml_gke.operators.base import DeploymentOperator
from saxml_gke.probes import Look
from saxml_gke.triggers.base import Waiting, WaitTrigger

OVER_AFTER = 0.3  # seconds after the task deferred: at the triggerer's first look
SLOW_EXIT = 6.0
RESUMED_WORK = 2 * SLOW_EXIT


class SlowExit(BaseOperatorLink):
    """The task runner builds every link after the task deferred, before its process exits."""

    name = "slow exit"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        time.sleep(SLOW_EXIT)
        return ""


class OverAtOnceTrigger(WaitTrigger):
    """Not over when the worker looks, over when the triggerer does."""

    def arguments(self) -> dict[str, Any]:
        return {}

    async def look(self, state: dict[str, Any]) -> Look:
        over = time.time() >= self.waiting.started + OVER_AFTER
        return Look(done=over, progress="over" if over else "not yet", result={"over": over})


class EndsInTriggerer(DeploymentOperator):
    """Waits the product's way: the trigger ends the task."""

    operator_extra_links = (*CONSOLE_LINKS, SlowExit())

    def execute(self, context: Any) -> dict[str, Any]:
        waiting = Waiting.lasting(
            "a wait that ends at once", gcp_conn_id="unused", poll_seconds=0.05, timeout=300
        )
        return self.wait_for(OverAtOnceTrigger(waiting=waiting))


class FiresAtOnceTrigger(BaseTrigger):
    def __init__(self, at: float) -> None:
        super().__init__()
        self.at = at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {"at": self.at})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(max(0.0, self.at - time.time()))
        yield TriggerEvent({"over": True})


class ResumesOnWorker(BaseOperator):
    """Waits the usual way: the task resumes on a worker."""

    operator_extra_links = (SlowExit(),)

    def execute(self, context: Any) -> None:
        self.defer(trigger=FiresAtOnceTrigger(time.time() + OVER_AFTER), method_name="resume")

    def resume(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        time.sleep(RESUMED_WORK)
        return event
