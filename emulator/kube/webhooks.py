"""Admission webhooks as the API server calls them, driven by the Mutating- and
ValidatingWebhookConfiguration objects in the store.

For every write, each webhook whose rules (operations, apiGroups, apiVersions, resources,
scope), namespaceSelector and objectSelector match is called through its Service: a ready
endpoint of that Service, then whatever serves that endpoint's port. Containers serve
admission in-process (`ContainerContext.serve_admission`): the handler registered for the
webhook's path gets the object and returns it, changed or not, or raises `AdmissionDenied`.
When the call itself fails (no Service, no ready endpoint, nothing listening) the webhook's
failurePolicy decides: `Fail` rejects the write with the API server's 500 "failed calling
webhook" error, `Ignore` skips the webhook. Mutating webhooks run before the object is
validated, validating ones after, as in the real admission chain. Webhooks named by a URL are
not reachable from the emulated cluster.
"""

import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from emulator.kube.controllers.endpoints import ready_endpoints
from emulator.kube.errors import KubeApiError
from emulator.kube.network import ClusterNetwork
from emulator.kube.resources import ResourceType
from emulator.kube.selectors import selector_matcher
from emulator.kube.store import Obj, Store

# (operation, resource type, object, old object) -> the object as the webhook leaves it.
AdmissionHandler = Callable[[str, ResourceType, Obj, Obj | None], Awaitable[Obj]]

MUTATING = ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
VALIDATING = ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
_NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


class AdmissionDenied(Exception):
    """A webhook's answer `allowed: false`, with its status code and message."""

    def __init__(self, message: str, code: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class WebhookCallError(Exception):
    """The API server could not get an answer from the webhook."""


class AdmissionWebhooks:
    """MutatingAdmissionWebhook and ValidatingAdmissionWebhook of one cluster's API server."""

    def __init__(self, store: Store, network: ClusterNetwork) -> None:
        self.store = store
        self.network = network

    async def mutate(
        self, operation: str, rtype: ResourceType, obj: Obj, old: Obj | None, subresource: str
    ) -> Obj:
        for webhook in self._matching(MUTATING, operation, rtype, obj, old, subresource):
            obj = await self._call(webhook, operation, rtype, obj, old)
        return obj

    async def validate(
        self, operation: str, rtype: ResourceType, obj: Obj, old: Obj | None, subresource: str
    ) -> None:
        for webhook in self._matching(VALIDATING, operation, rtype, obj, old, subresource):
            await self._call(webhook, operation, rtype, obj, old)

    # Which webhooks apply

    def _matching(
        self,
        kind: tuple[str, str],
        operation: str,
        rtype: ResourceType,
        obj: Obj,
        old: Obj | None,
        subresource: str,
    ) -> list[dict[str, Any]]:
        configurations = self.store.list_objects(self.store.types.by_kind(*kind))
        return [
            webhook
            for configuration in configurations  # sorted by name, as the API server runs them
            for webhook in configuration.get("webhooks") or []
            if any(
                _rule_matches(rule, operation, rtype, subresource)
                for rule in webhook.get("rules") or []
            )
            and self._namespace_matches(webhook, rtype, obj)
            and _object_matches(webhook, obj, old)
        ]

    def _namespace_matches(self, webhook: Mapping[str, Any], rtype: ResourceType, obj: Obj) -> bool:
        """A namespaced object's namespace (a Namespace itself) must match namespaceSelector."""
        selector = webhook.get("namespaceSelector") or {}
        if not selector:
            return True
        if rtype.group == "" and rtype.kind == "Namespace":
            name = obj["metadata"]["name"]
            labels = obj["metadata"].get("labels") or {}
        elif rtype.namespaced:
            name = obj["metadata"].get("namespace", "")
            namespaces = self.store.types.by_kind("v1", "Namespace")
            namespace = self.store.find(namespaces, "", name) or {"metadata": {}}
            labels = namespace["metadata"].get("labels") or {}
        else:
            return True
        labels = {**labels, _NAMESPACE_NAME_LABEL: name}
        return selector_matcher(selector)({"metadata": {"labels": labels}})

    # Calling one

    async def _call(
        self,
        webhook: Mapping[str, Any],
        operation: str,
        rtype: ResourceType,
        obj: Obj,
        old: Obj | None,
    ) -> Obj:
        name = webhook["name"]
        try:
            handler = self._handler(webhook)
        except WebhookCallError as error:
            if webhook.get("failurePolicy", "Fail") == "Ignore":
                return obj
            message = f'failed calling webhook "{name}": failed to call webhook: {error}'
            raise KubeApiError(
                500,
                "InternalError",
                f"Internal error occurred: {message}",
                {"causes": [{"message": message}]},
            ) from None
        try:
            return await handler(operation, rtype, obj, old)
        except AdmissionDenied as denial:
            reason = {400: "BadRequest", 403: "Forbidden", 422: "Invalid"}.get(
                denial.code, "InternalError"
            )
            raise KubeApiError(
                denial.code,
                reason,
                f'admission webhook "{name}" denied the request: {denial.message}',
            ) from None

    def _handler(self, webhook: Mapping[str, Any]) -> AdmissionHandler:
        """What answers the webhook's Service path, or why nothing can be reached."""
        config = webhook.get("clientConfig") or {}
        reference = config.get("service")
        timeout = webhook.get("timeoutSeconds", 10)
        if reference is None:
            url = config.get("url", "")
            raise WebhookCallError(
                f'Post "{url}?timeout={timeout}s": the emulated cluster reaches no URL webhooks'
            )
        namespace, service_name = reference["namespace"], reference["name"]
        port, path = reference.get("port", 443), reference.get("path") or "/"
        url = f"https://{service_name}.{namespace}.svc:{port}{path}?timeout={timeout}s"
        store = self.store
        service = store.find(store.types.by_kind("v1", "Service"), namespace, service_name)
        if service is None:
            raise WebhookCallError(f'Post "{url}": service "{service_name}" not found')
        service_port = next(
            (p for p in service["spec"].get("ports") or [] if p.get("port") == port), None
        )
        endpoints = store.find(store.types.by_kind("v1", "Endpoints"), namespace, service_name)
        targets = ready_endpoints(endpoints, service_port) if service_port else []
        if not targets:
            raise WebhookCallError(
                f'Post "{url}": no endpoints available for service "{service_name}"'
            )
        address, target_port = random.choice(targets)
        if self.network.resolve(address, target_port) is None:
            raise WebhookCallError(
                f'Post "{url}": dial tcp {address}:{target_port}: connect: connection refused'
            )
        handlers = self.network.admission_handlers(address, target_port)
        if handlers is None:
            raise WebhookCallError(f'Post "{url}": EOF')
        handler = handlers.get(path)
        if handler is None:
            raise WebhookCallError("the server could not find the requested resource")
        return handler


def _rule_matches(
    rule: Mapping[str, Any], operation: str, rtype: ResourceType, subresource: str
) -> bool:
    def listed(values: Any, value: str) -> bool:
        return "*" in (values or []) or value in (values or [])

    resource = f"{rtype.plural}/{subresource}" if subresource else rtype.plural
    resources = rule.get("resources") or []
    resource_listed = (
        resource in resources
        or "*/*" in resources
        or ("*" in resources and not subresource)
        or (bool(subresource) and f"*/{subresource}" in resources)
        or (bool(subresource) and f"{rtype.plural}/*" in resources)
    )
    scope = rule.get("scope", "*")
    return (
        listed(rule.get("operations"), operation)
        and listed(rule.get("apiGroups"), rtype.group)
        and listed(rule.get("apiVersions"), rtype.version)
        and resource_listed
        and (scope == "*" or (scope == "Namespaced") == rtype.namespaced)
    )


def _object_matches(webhook: Mapping[str, Any], obj: Obj, old: Obj | None) -> bool:
    """objectSelector: the new or the old object's labels match."""
    selector = webhook.get("objectSelector") or {}
    if not selector:
        return True
    matches = selector_matcher(selector)
    return matches(obj) or (old is not None and matches(old))
