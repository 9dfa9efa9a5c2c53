"""The resource types a cluster serves: built-in kinds, plus those that CRDs add and remove."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.kube.errors import KubeApiError


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives in the API, and which subresources it has."""

    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    crd: str | None = None  # the CRD's name, for custom resources

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage identity: one stored version per group and plural (no conversion)."""
        return (self.group, self.plural)

    @property
    def singular(self) -> str:
        return self.kind.lower()


def _builtin(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    subresources: Iterable[str] = (),
    short_names: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType(
        group, version, kind, plural, namespaced, frozenset(subresources), short_names
    )


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin("", "v1", "Namespace", "namespaces", False, ["status"], ("ns",)),
    _builtin("", "v1", "Node", "nodes", False, ["status", "proxy"], ("no",)),
    _builtin("", "v1", "Pod", "pods", True, ["status", "log", "proxy", "binding"], ("po",)),
    _builtin("", "v1", "Service", "services", True, ["status", "proxy"], ("svc",)),
    _builtin("", "v1", "Endpoints", "endpoints", True, (), ("ep",)),
    _builtin("", "v1", "ServiceAccount", "serviceaccounts", True, (), ("sa",)),
    _builtin("", "v1", "ConfigMap", "configmaps", True, (), ("cm",)),
    _builtin("", "v1", "PodTemplate", "podtemplates"),
    _builtin("", "v1", "Secret", "secrets"),
    _builtin("", "v1", "Event", "events", True, (), ("ev",)),
    _builtin("apps", "v1", "Deployment", "deployments", True, ["status", "scale"], ("deploy",)),
    _builtin("apps", "v1", "ReplicaSet", "replicasets", True, ["status", "scale"], ("rs",)),
    _builtin("batch", "v1", "Job", "jobs", True, ["status"]),
    _builtin("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        False,
    ),
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        False,
    ),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ["status"],
        ("crd", "crds"),
    ),
)


class ResourceTypes:
    """Lookups by URL (group, version, plural) and by manifest (apiVersion, kind)."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        # The first type in `_types` order with each (apiVersion, kind) and each storage key.
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        self._by_key: dict[tuple[str, str], ResourceType] = {}
        for resource_type in BUILTIN_TYPES:
            self.add(resource_type)

    def add(self, resource_type: ResourceType) -> None:
        path = (resource_type.group, resource_type.version, resource_type.plural)
        replacing = path in self._types
        self._types[path] = resource_type
        if replacing:  # keeps its place in `_types`, so earlier-first lookups may change
            self._reindex()
        else:
            self._by_kind.setdefault((resource_type.api_version, resource_type.kind), resource_type)
            self._by_key.setdefault(resource_type.key, resource_type)

    def remove_crd(self, crd_name: str) -> None:
        for key, resource_type in list(self._types.items()):
            if resource_type.crd == crd_name:
                del self._types[key]
        self._reindex()

    def _reindex(self) -> None:
        self._by_kind.clear()
        self._by_key.clear()
        for resource_type in self._types.values():
            self._by_kind.setdefault((resource_type.api_version, resource_type.kind), resource_type)
            self._by_key.setdefault(resource_type.key, resource_type)

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def by_path(self, group: str, version: str, plural: str) -> ResourceType:
        try:
            return self._types[(group, version, plural)]
        except KeyError:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            raise KubeApiError(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            ) from None

    def by_kind(self, api_version: str, kind: str) -> ResourceType:
        try:
            return self._by_kind[(api_version, kind)]
        except KeyError:
            raise KubeApiError(
                404,
                "NotFound",
                f'no matches for kind "{kind}" in version "{api_version}"',
            ) from None

    def by_key(self, key: tuple[str, str]) -> ResourceType:
        """The first served version with a storage key (group, plural); KeyError if none."""
        return self._by_key[key]


def crd_resource_types(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The served versions of a CRD as resource types (with `status` when it declares one)."""
    spec = crd["spec"]
    names = spec["names"]
    types = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = {"status"} if "status" in (version.get("subresources") or {}) else set()
        if "scale" in (version.get("subresources") or {}):
            subresources.add("scale")
        types.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                namespaced=spec["scope"] == "Namespaced",
                subresources=frozenset(subresources),
                short_names=tuple(names.get("shortNames") or ()),
                crd=crd["metadata"]["name"],
            )
        )
    return types
