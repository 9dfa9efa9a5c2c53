"""One operator for every deployment step: run it, defer its waits, resume its continuation."""

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.spec import DeploymentSpec
from saxml_gke.steps.base import Result, StepContext, Wait, continuation

# Airflow's own deferral timeout backs up the trigger's deadline, which reports what it saw.
_DEFERRAL_GRACE = timedelta(minutes=2)


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
        then, carry = continuation(event["then"]), event["carry"]
        return self._advance(ctx, lambda: then(ctx, event["result"], carry))

    def _advance(self, ctx: StepContext, run: Callable[[], Result | Wait]) -> Result:
        try:
            outcome = run()
        except DeploymentError as error:
            if error.kind is ErrorKind.TRANSIENT:
                raise
            raise AirflowFailException(str(error)) from error
        if isinstance(outcome, Wait):
            self._defer(ctx, outcome)
        return outcome

    def _defer(self, ctx: StepContext, wait: Wait) -> None:
        import time

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
