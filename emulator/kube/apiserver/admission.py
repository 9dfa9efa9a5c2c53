"""Admission, and what the API server's own controllers do right after a write.

Every write passes the same chain, whoever sends it: defaults and registry strategies, then the
built-in admission hooks (`ApiServer.admission`; each may mutate the object or raise a
`KubeApiError` to reject it) and the mutating admission webhooks, then validation, then the
validating admission webhooks (`emulator.kube.webhooks`). After a write,
CRDs are registered as served types (and removed once deleted, after their custom resources),
and a new namespace gets its `default` ServiceAccount.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from emulator.kube.apiserver.defaults import Defaulter
from emulator.kube.apiserver.validation import Validator
from emulator.kube.resources import ResourceType, crd_resource_types
from emulator.kube.store import Obj
from emulator.kube.webhooks import AdmissionWebhooks

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

AdmissionHook = Callable[[str, ResourceType, Obj, Obj | None], Awaitable[Obj]]

CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def is_crd(rtype: ResourceType) -> bool:
    return rtype.group == "apiextensions.k8s.io" and rtype.kind == "CustomResourceDefinition"


def is_namespace(rtype: ResourceType) -> bool:
    return rtype.group == "" and rtype.kind == "Namespace"


class Admission:
    def __init__(self, cluster: "KubeCluster", hooks: list[AdmissionHook]) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.hooks = hooks
        self.defaulter = Defaulter(cluster.store, cluster.network)
        self.validator = Validator(cluster.version)
        self.webhooks = AdmissionWebhooks(cluster.store, cluster.network)

    def crd_of(self, rtype: ResourceType) -> Mapping[str, Any] | None:
        if rtype.crd is None:
            return None
        crds = self.store.types.by_kind("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        return self.store.get(crds, "", rtype.crd)

    def default(self, operation: str, rtype: ResourceType, obj: Obj, old: Obj | None) -> None:
        self.defaulter.default(rtype, obj, old, self.crd_of(rtype))
        if operation == "CREATE" and is_crd(rtype):
            finalizers = obj["metadata"].setdefault("finalizers", [])
            if CRD_CLEANUP_FINALIZER not in finalizers:
                finalizers.append(CRD_CLEANUP_FINALIZER)

    async def admit(
        self,
        operation: str,
        rtype: ResourceType,
        obj: Obj,
        old: Obj | None,
        field_validation: str,
        subresource: str = "",
    ) -> tuple[Obj, list[str]]:
        """The object as it will be stored, and warnings; raises what the server would answer."""
        self.default(operation, rtype, obj, old)
        for hook in self.hooks:
            obj = await hook(operation, rtype, obj, old)
        obj = await self.webhooks.mutate(operation, rtype, obj, old, subresource)
        warnings = self.validator.check(rtype, obj, old, self.crd_of(rtype), field_validation)
        await self.webhooks.validate(operation, rtype, obj, old, subresource)
        return obj, warnings

    # After writes

    def committed(self, operation: str, rtype: ResourceType, obj: Obj) -> None:
        if is_crd(rtype) and not obj["metadata"].get("deletionTimestamp"):
            self.store.types.remove_crd(obj["metadata"]["name"])
            for served in crd_resource_types(obj):
                self.store.types.add(served)
        if is_namespace(rtype) and operation == "CREATE":
            self.populate_namespace(obj["metadata"]["name"])
        self.finish_crd_deletions()

    def populate_namespace(self, namespace: str) -> None:
        """What the service account controller puts in every namespace."""
        accounts = self.store.types.by_kind("v1", "ServiceAccount")
        if self.store.find(accounts, namespace, "default") is None:
            self.store.create(accounts, {"metadata": {"name": "default", "namespace": namespace}})

    def finish_crd_deletions(self) -> None:
        """A deleted CRD first loses its custom resources; then it goes, and its types."""
        crds = self.store.types.by_kind("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        for crd in self.store.list_objects(crds, None, _being_deleted):
            metadata = crd["metadata"]
            served = next((t for t in self.store.types.all() if t.crd == metadata["name"]), None)
            for item in self.store.list_objects(served) if served else []:
                if not item["metadata"].get("deletionTimestamp"):
                    namespace = item["metadata"].get("namespace", "")
                    self.store.delete(served, namespace, item["metadata"]["name"])
            emptied = served is None or not self.store.list_objects(served)
            if emptied and CRD_CLEANUP_FINALIZER in (metadata.get("finalizers") or []):
                metadata["finalizers"].remove(CRD_CLEANUP_FINALIZER)
                metadata.pop("resourceVersion", None)
                self.store.replace(crds, crd)
            if self.store.find(crds, "", metadata["name"]) is None:
                self.store.types.remove_crd(metadata["name"])


def _being_deleted(obj: Mapping[str, Any]) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))
