"""The report task: the run report, plus an asset event for the served model."""

from typing import Any

from saxml_gke.operators.step import StepOperator
from saxml_gke.steps.base import Result
from saxml_gke.steps.report import REPORTED_STEPS


class ReportOperator(StepOperator):
    """Its outlet's event carries where the model is served, so a downstream DAG scheduled on
    the asset (an evaluation, a load test) knows what to call."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(step="saxml_gke.steps.report:report", needs=REPORTED_STEPS, **kwargs)

    def execute(self, context: Any) -> Result:
        report = super().execute(context)
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {
                "deployment": report["deployment"],
                "project_id": report["plan"]["project_id"],
                "zone": report["plan"]["zone"],
                "model": report["model"],
                "model_path": report["model_path"],
                "endpoint": report["endpoint"],
            }
        return report
