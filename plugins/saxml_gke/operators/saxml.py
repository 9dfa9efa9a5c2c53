"""Saxml: the admin server, the model servers as a JobSet, sax-http and its Service; the
model published and smoke-tested; and all of it removed again.

Tutorial: "Deploy Saxml", "Publish the model", "Test the model". sax-http is reached through
the Kubernetes API server's service proxy to its own port (a ClusterIP Service), so managing
the model needs no route to the load balancer, which passes only generate and score, and
carries the cluster's authentication.
"""

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from saxml_gke.adoption import kept_provisioning_request
from saxml_gke.bodies import SPEC_CONFIG_MAP
from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.manifests import object_ref, object_refs, render_objects
from saxml_gke.operators.base import APPLY, KubeOperator, fails_fast, kubernetes_permissions
from saxml_gke.operators.teardown_base import TeardownOperator
from saxml_gke.provisioning import PROVISIONING_REQUEST_GROUP, PROVISIONING_REQUEST_VERSION
from saxml_gke.spec import DeploymentSpec

if TYPE_CHECKING:
    from saxml_gke.hooks.kube import KubeHook
    from saxml_gke.hooks.saxml import SaxmlHook


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DeploySaxmlOperator(KubeOperator):
    """Server-side apply of every Saxml object; `http_address` is `ensure_http_address`'s
    result (its `ip` is None with http_exposure=none). With flex-start-queued, the
    ProvisioningRequest and its PodTemplate come before the JobSet whose pods consume it; an
    existing request is kept as GKE booked it (`kept_provisioning_request`)."""

    # The rendered kinds; the JobSet and the ProvisioningRequest are custom resources,
    # third-party objects to GKE's IAM.
    required_permissions = kubernetes_permissions(
        APPLY,
        "namespaces",
        "serviceAccounts",
        "deployments",
        "services",
        "podTemplates",
        "thirdPartyObjects",
    ) | kubernetes_permissions(("get",), "thirdPartyObjects")
    template_fields = (*KubeOperator.template_fields, "http_address")

    def __init__(self, *, http_address: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http_address = http_address

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec = self.deployment
        objects = render_objects(spec, self.http_address["ip"])
        if spec.tpu.provisioning.queued:
            ref = provisioning_request_ref(spec)
            existing = self.kube.get(*ref)
            objects = [
                kept_provisioning_request(obj, existing) if object_ref(obj) == ref else obj
                for obj in objects
            ]
        self.kube.apply(objects)
        names = [f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects]
        self.log.info("Applied %s", ", ".join(names))
        return {"objects": names, "applied_at": _now()}


class SaxmlOperator(KubeOperator):
    """An operator that talks to sax-http."""

    required_permissions = kubernetes_permissions(("proxy",), "services")

    @property
    def saxml(self) -> "SaxmlHook":
        return saxml_hook(self.deployment, self.kube)


class PublishModelOperator(SaxmlOperator):
    """Idempotent: published with this path = nothing (or a replica update); another path =
    an error, since Saxml cannot change a published model's path."""

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        model = self.deployment.saxml
        current = self.saxml.listcell(model.model_key)
        if current is None:
            self.saxml.publish(
                model.model_key, model.model_path, model.checkpoint, model.model_replicas
            )
            action = "published"
        elif current.model_path != model.model_path or current.checkpoint != model.checkpoint:
            raise DeploymentError(
                ErrorKind.PERMANENT,
                f"{model.model_key} is already published with {current.model_path} "
                f"(checkpoint {current.checkpoint}); unpublish it first or choose another "
                "model_key",
            )
        elif current.max_replicas != model.model_replicas:
            self.saxml.update(
                model.model_key, model.model_path, model.checkpoint, model.model_replicas
            )
            action = f"updated replicas {current.max_replicas} -> {model.model_replicas}"
        else:
            action = "unchanged"
        self.log.info("%s: %s (%s, %d replicas)", model.model_key, action, model.model_path,
                      model.model_replicas)  # fmt: skip
        return {"model": model.model_key, "action": action, "at": _now()}


class SmokeTestOperator(SaxmlOperator):
    """`generate` with the prompt answers with text."""

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        model = self.deployment.saxml
        started = time.monotonic()
        samples = self.saxml.generate(model.model_key, model.prompt)
        latency = round(time.monotonic() - started, 3)
        if not samples or not samples[0][0].strip():
            raise DeploymentError(ErrorKind.PERMANENT, f"generate returned no text: {samples!r}")
        answer, score = samples[0]
        self.log.info("generate(%r) -> %r (score %.3f) in %.3f s", model.prompt, answer, score,
                      latency)  # fmt: skip
        return {"prompt": model.prompt, "answer": answer, "score": score,
                "samples": len(samples), "latency_seconds": latency}  # fmt: skip


class UnpublishModelOperator(TeardownOperator):
    """The model, when the deployment's sax-http serves it. A dead sax-http does not block the
    teardown: the model goes with the admin state."""

    required_permissions = kubernetes_permissions(("get", "proxy"), "services")

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, kube = self.deployment, self.reachable_kube()
        if kube is None or not owns_object(spec, kube, http_service_ref(spec)):
            return self.deleted([])  # no cluster to ask, or its Saxml is not ours
        try:
            gone = saxml_hook(spec, kube).unpublish(spec.saxml.model_key)
        except Exception as error:
            self.log.warning("Could not unpublish %s: %s", spec.saxml.model_key, error)
            gone = False
        return self.deleted([f"model {spec.saxml.model_key}"] if gone else [])


class DeleteHttpServiceOperator(TeardownOperator):
    """sax-http's Service, waited for until it is gone: its load balancer outlives a deleted
    cluster, as on Google Cloud."""

    required_permissions = kubernetes_permissions(("get", "delete"), "services")

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        from saxml_gke.triggers.kubernetes import ObjectGoneTrigger

        spec, kube = self.deployment, self.reachable_kube()
        ref = http_service_ref(spec)
        if kube is None or not owns_object(spec, kube, ref) or not kube.delete(*ref):
            return self.deleted([])
        return self.wait_for(
            ObjectGoneTrigger(
                cluster={"endpoint": kube.endpoint, "ca_certificate": kube.ca_certificate},
                path=f"/api/v1/namespaces/{ref[3]}/services/{ref[2]}",
                waiting=self.waiting(
                    f"Service {ref[2]} and its load balancer to go",
                    spec.waits.operation_timeout,
                    deleted=[f"Service {ref[2]}"],
                ),
            )
        )


class DeleteSaxmlWorkloadsOperator(TeardownOperator):
    """The rest of the deployment's objects, dependents first, and the spec ConfigMap. In its
    own cluster they would go with it; in an adopted cluster (which stays) only these go, each
    if it carries the deployment's identity."""

    required_permissions = kubernetes_permissions(
        ("get", "delete"),
        "deployments",
        "thirdPartyObjects",
        "podTemplates",
        "serviceAccounts",
        "namespaces",
        "configMaps",
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, kube = self.deployment, self.reachable_kube()
        if kube is None:
            return self.deleted([])
        namespace, name = SPEC_CONFIG_MAP
        refs = [*object_refs(spec), ("v1", "ConfigMap", name, namespace)]
        deleted = [
            f"{ref[1]} {ref[2]}"
            for ref in refs
            if ref != http_service_ref(spec) and owns_object(spec, kube, ref) and kube.delete(*ref)
        ]
        return self.deleted(deleted)


Ref = tuple[str, str, str, str | None]


def http_service_ref(spec: DeploymentSpec) -> Ref:
    return ("v1", "Service", spec.saxml.http_service, spec.identity.namespace)


def provisioning_request_ref(spec: DeploymentSpec) -> Ref:
    return (
        f"{PROVISIONING_REQUEST_GROUP}/{PROVISIONING_REQUEST_VERSION}",
        "ProvisioningRequest",
        spec.saxml.provisioning_request,
        spec.identity.namespace,
    )


def owns_object(spec: DeploymentSpec, kube: "KubeHook", ref: Ref) -> bool:
    """Whether the object exists and carries the deployment's identity."""
    found = kube.get(*ref)
    return spec.owner.owns(((found or {}).get("metadata") or {}).get("labels") or {})


def saxml_hook(spec: DeploymentSpec, kube: "KubeHook") -> "SaxmlHook":
    from saxml_gke.hooks.saxml import SaxmlHook

    return SaxmlHook(kube, namespace=spec.identity.namespace, service=spec.saxml.http_admin_service)
