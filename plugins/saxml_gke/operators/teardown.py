"""The teardown task: honours the `teardown` parameter, then runs the ordered teardown step."""

from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from saxml_gke.operators.step import StepOperator
from saxml_gke.steps.base import Result

_FAILED = ("failed", "upstream_failed")


class TeardownOperator(StepOperator):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(step="saxml_gke.steps.teardown:tear_down", **kwargs)

    def execute(self, context: Any) -> Result:
        mode = self._context(context).spec.teardown
        if mode == "never":
            raise AirflowSkipException("teardown=never: the deployment keeps running")
        if mode == "on_failure" and not self._run_failed(context):
            raise AirflowSkipException(
                "the run succeeded and teardown=on_failure: the deployment keeps serving until "
                "the nightly teardown removes it (expires-at label)"
            )
        return super().execute(context)

    def _run_failed(self, context: Any) -> bool:
        ti = context["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        failed = sorted(task for task, state in states.items() if state in _FAILED)
        if failed:
            self.log.info("Tearing down: these tasks failed: %s", ", ".join(failed))
        return bool(failed)
