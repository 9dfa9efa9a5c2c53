"""Sensors for the Saxml deployment: every pod Ready, the model loaded on every replica, and
the load balancer's address.

Real sensors: `poke` takes one look (the same look as the trigger's, run once), so
`mode="poke"` and `mode="reschedule"` work as Airflow documents them. With `deferrable=True`,
the default, the triggerer waits and no worker slot is held; the trigger ends the task.
"""

from dataclasses import asdict
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException

from saxml_gke.manifests import leader_selector
from saxml_gke.operators.base import DeploymentTask, kubernetes_permissions, look_once
from saxml_gke.provisioning import CapacityRequest
from saxml_gke.triggers.base import WaitTrigger


class SaxmlSensor(DeploymentTask, BaseSensorOperator):
    """A wait on the cluster's Kubernetes API; `cluster` is `ensure_cluster`'s output. The
    timeout and the poke interval come from the spec's waits."""

    template_fields = ("spec", "cluster")
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        spec: Any,
        cluster: Any,
        gcp_conn_id: str = "google_cloud_default",
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.spec, self.cluster, self.gcp_conn_id = spec, cluster, gcp_conn_id
        self.deferrable = deferrable
        self._state: dict[str, Any] = {}  # carried between pokes in poke mode

    def trigger(self) -> WaitTrigger:
        """The wait, as the trigger that runs it."""
        raise NotImplementedError

    def timeout_seconds(self) -> float:
        return self.deployment.waits.pods_timeout

    def execute(self, context: Any) -> Any:
        if self.deferrable:
            return self.wait_for(self.trigger())
        self.timeout = self.timeout_seconds()
        self.poke_interval = self.deployment.waits.poll_seconds
        return super().execute(context)

    def poke(self, context: Any) -> PokeReturnValue:
        trigger = self.trigger()
        trigger.state = self._state
        look = look_once(trigger)
        if look.failure:
            raise AirflowFailException(f"{trigger.waiting.description}: {look.failure}")
        self._state = look.state or self._state
        self.log.info("%s: %s", trigger.waiting.description, look.progress)
        result = trigger.waiting.result(look.result) if look.done else None
        return PokeReturnValue(is_done=look.done, xcom_value=result)

    def waiting_for(self, description: str) -> dict[str, Any]:
        """The trigger's `waiting` and `cluster` arguments."""
        return {"cluster": self.cluster,
                "waiting": self.waiting(description, self.timeout_seconds())}  # fmt: skip


class PodsReadySensor(SaxmlSensor):
    """Every pod of the deployment (admin server, model-server JobSet, sax-http) is Ready."""

    # Pods, and for a pod that is stuck, its events and last log lines; with flex-start-queued,
    # the ProvisioningRequest (a custom resource) its node comes from.
    required_permissions = kubernetes_permissions(("list",), "pods", "events") | {
        "container.pods.getLogs",
        "container.thirdPartyObjects.get",
    }

    def timeout_seconds(self) -> float:
        """With flex-start (queued or not) the model servers' nodes come when GKE finds
        capacity: the pods may wait for them as long as the capacity wait allows."""
        waits = self.deployment.waits
        flex_start = self.deployment.tpu.provisioning.flex_start
        return waits.pods_timeout + (waits.capacity_wait if flex_start else 0)

    def trigger(self) -> WaitTrigger:
        from saxml_gke.triggers.kubernetes import PodsReadyTrigger

        spec = self.deployment
        provisioning = spec.tpu.provisioning
        expected = 2 + spec.tpu.slices * spec.tpu.nodes_per_slice  # admin, sax-http, servers
        request = {
            "name": spec.saxml.provisioning_request,
            "capacity": asdict(CapacityRequest.of(spec)),
        }
        return PodsReadyTrigger(
            namespace=spec.identity.namespace,
            label_selector=spec.owner.selector(),
            expected=expected,
            queued=provisioning.flex_start,
            provisioning_request=request if provisioning.queued else None,
            **self.waiting_for(f"{expected} Saxml pods Ready"),
        )


class ModelLoadedSensor(SaxmlSensor):
    """`Successfully loaded model for key: <model_key>` in the leader pod of every replica."""

    required_permissions = kubernetes_permissions(("list",), "pods") | {"container.pods.getLogs"}

    def timeout_seconds(self) -> float:
        return self.deployment.waits.model_load_timeout

    def trigger(self) -> WaitTrigger:
        from saxml_gke.triggers.kubernetes import ModelLoadedTrigger

        spec = self.deployment
        return ModelLoadedTrigger(
            namespace=spec.identity.namespace,
            leader_selector=leader_selector(spec),
            wanted={
                "model_key": spec.saxml.model_key,
                "model_path": spec.saxml.model_path,
                "replicas": spec.saxml.model_replicas,
            },
            **self.waiting_for(
                f"{spec.saxml.model_key} loaded on {spec.saxml.model_replicas} replicas"
            ),
        )


class HttpAddressSensor(SaxmlSensor):
    """sax-http's load balancer has its address (at once with http_exposure=none: there is
    none)."""

    required_permissions = kubernetes_permissions(("get",), "services")

    def execute(self, context: Any) -> Any:
        if self.deployment.saxml.http_exposure == "none":
            return {"address": None, "endpoint": None, "exposure": "none"}
        return super().execute(context)

    def trigger(self) -> WaitTrigger:
        from saxml_gke.triggers.kubernetes import ServiceAddressTrigger

        spec = self.deployment
        return ServiceAddressTrigger(
            namespace=spec.identity.namespace,
            name=spec.saxml.http_service,
            **self.waiting_for(f"the {spec.saxml.http_exposure} load balancer address"),
        )
