"""Sensors for the Saxml deployment: every pod Ready, and the model loaded on every replica.

They defer to the triggerer (no worker slot while waiting). `poke` looks once with the same
probe, so `mode="poke"` or `"reschedule"` also work where no triggerer runs.
"""

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from saxml_gke.operators.step import StepRunner
from saxml_gke.steps.base import Wait, continuation
from saxml_gke.waits import PROBES


class _StepSensor(StepRunner, BaseSensorOperator):
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        needs: Sequence[str] = ("ensure_cluster",),
        gcp_conn_id: str = "google_cloud_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.needs = tuple(needs)
        self.gcp_conn_id = gcp_conn_id

    def poke(self, context: Any) -> bool:
        wait = continuation(self.step)(self._context(context))
        assert isinstance(wait, Wait)
        poll = PROBES[wait.probe](wait.arguments, {})
        if poll.failure:
            raise AirflowFailException(poll.failure)
        self.log.info("%s: %s", wait.description, poll.progress)
        return poll.done


class PodsReadySensor(_StepSensor):
    """Every pod of the deployment (admin server, model-server JobSet, sax-http) is Ready."""

    step = "saxml_gke.steps.saxml:wait_for_pods"


class ModelLoadedSensor(_StepSensor):
    """`Successfully loaded model for key: <model_key>` in the leader pod of every replica."""

    step = "saxml_gke.steps.saxml:wait_for_model_loaded"
