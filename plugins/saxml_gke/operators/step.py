"""One operator for every deployment step: run it, defer its waits, resume its continuation."""

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.spec import DeploymentSpec
from saxml_gke.steps.base import Result, StepContext, Wait, continuation
from saxml_gke.waits import PROBES

# Airflow's own deferral timeout backs up the trigger's deadline, which reports what it saw.
_DEFERRAL_GRACE = timedelta(minutes=2)
# The worker has just looked. The trigger looks again only after [saxml_gke]
# resume_settle_seconds: Airflow 3.3's scheduler fails a task whose trigger fires before it has
# processed the executor's report of the deferring process's exit (the task is QUEUED again by
# then), which takes seconds on a busy machine. dag.test() runs triggers inline: 0 is safe there.
_DEFAULT_RESUME_SETTLE_SECONDS = 10.0


class StepRunner:
    """Runs the step function named `step`, defers its waits and resumes their continuations;
    `needs` names the earlier tasks whose results the step reads. Shared by the step operator
    and the sensors."""

    step: str  # "saxml_gke.steps.<module>:<function>", imported only when the task runs
    needs: tuple[str, ...]
    gcp_conn_id: str
    spec: dict[str, Any] | None = None  # given directly, or read from the `plan` task

    def execute(self, context: Any) -> Result:
        ctx = self._context(context)
        return self._advance(ctx, lambda: continuation(self.step)(ctx))

    def resume(self, context: Any, event: dict[str, Any]) -> Result:
        if event["status"] != "done":
            raise AirflowFailException(event["message"])
        ctx = self._context(context)
        return self._advance(
            ctx, lambda: continuation(event["then"])(ctx, event["result"], event["carry"])
        )

    def _advance(self, ctx: StepContext, run: Callable[[], Result | Wait]) -> Result:
        """Run, then follow waits that are already over without deferring (a rerun that adopts
        what exists finishes in the worker); defer the first that is not."""
        outcome = _failing_fast(run)
        while isinstance(outcome, Wait):
            wait = outcome
            poll = PROBES[wait.probe](wait.arguments, {})
            if poll.failure:
                raise AirflowFailException(f"{wait.description}: {poll.failure}")
            if not poll.done:
                self._defer(ctx, wait)
            self.log.info("%s: %s", wait.description, poll.progress)
            then = partial(continuation(wait.then), ctx, poll.result, wait.carry)
            outcome = _failing_fast(then)
        return outcome

    def _defer(self, ctx: StepContext, wait: Wait) -> None:
        from saxml_gke.triggers.poll import PollTrigger

        self.log.info("Waiting for %s (up to %.0f s)", wait.description, wait.timeout)
        self.defer(
            trigger=PollTrigger(
                probe=wait.probe,
                arguments=wait.arguments,
                poll_seconds=ctx.spec.waits.poll_seconds,
                deadline=time.time() + wait.timeout,
                description=wait.description,
                resume={"then": wait.then, "carry": wait.carry},
                first_delay=max(ctx.spec.waits.poll_seconds, _resume_settle_seconds()),
            ),
            method_name="resume",
            timeout=timedelta(seconds=wait.timeout) + _DEFERRAL_GRACE,
        )

    def _context(self, context: Any) -> StepContext:
        ti = context["ti"]
        spec = DeploymentSpec.from_dict(self.spec or ti.xcom_pull(task_ids="plan"))
        upstream = {task_id: ti.xcom_pull(task_ids=task_id) for task_id in self.needs}
        return StepContext(
            spec=spec,
            gcp_conn_id=self.gcp_conn_id,
            upstream=upstream,
            log=self.log,
        )


def _resume_settle_seconds() -> float:
    from airflow.sdk.configuration import conf

    return conf.getfloat(
        "saxml_gke", "resume_settle_seconds", fallback=_DEFAULT_RESUME_SETTLE_SECONDS
    )


def _failing_fast(run: Callable[[], Result | Wait]) -> Result | Wait:
    """Capacity and permanent errors fail the task without retries; transient ones (already
    retried inside the hooks) may use the task's retries."""
    try:
        return run()
    except DeploymentError as error:
        if error.kind is ErrorKind.TRANSIENT:
            raise
        raise AirflowFailException(str(error)) from error


class StepOperator(StepRunner, BaseOperator):
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        step: str,
        needs: Sequence[str] = (),
        gcp_conn_id: str = "google_cloud_default",
        spec: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.needs = tuple(needs)
        self.gcp_conn_id = gcp_conn_id
        self.spec = spec
