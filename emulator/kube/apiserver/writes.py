"""The write path: create, update, patch (including server-side apply) and delete.

Each write checks what the request says against the URL, runs admission, records field
ownership, and stores the object with optimistic concurrency: a PUT with a resourceVersion must
match; a PATCH retries on its own when the object changed under it, as the API server does.
Dry runs go through everything but the store.
"""

import copy
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from emulator.kube.apiserver import managed_fields, patches, schemas
from emulator.kube.apiserver.admission import Admission, is_crd
from emulator.kube.apiserver.managed_fields import Request
from emulator.kube.crd_schema import version_schema
from emulator.kube.errors import (
    KubeApiError,
    bad_request,
    conflict,
    invalid,
    modified,
    not_found,
)
from emulator.kube.resources import ResourceType
from emulator.kube.store import Obj, kube_timestamp

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

APPLY = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY)
PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")
JOB_ORPHAN_WARNING = (
    "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background "
    "to remove them or set propagationPolicy=Orphan to suppress this warning"
)
_RETRIES = 5
_SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
    "managedFields",
)
_RETURN_DELETED_OBJECT = {("", "Pod"), ("", "Service")}


@dataclass(frozen=True)
class WriteOptions:
    manager: str
    field_validation: str = "Strict"
    dry_run: bool = False
    force: bool = False


@dataclass(frozen=True)
class DeleteOptions:
    propagation_policy: str | None = None
    grace_period_seconds: int | None = None
    orphan_dependents: bool | None = None
    preconditions: Mapping[str, Any] | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Written:
    obj: Obj
    code: int
    warnings: list[str]


class Writer:
    def __init__(self, cluster: "KubeCluster", admission: Admission) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.admission = admission

    def shape(self, rtype: ResourceType) -> schemas.Shape:
        crd = self.admission.crd_of(rtype)
        if crd is None:
            directory = self.admission.validator.directory
            return schemas.builtin_shape(directory, rtype.api_version, rtype.kind)
        schema = version_schema(crd, rtype.version)
        if schema is None:
            raise KeyError(rtype.version)
        return schemas.custom_shape(schema)

    def _request(self, rtype: ResourceType, manager: str, subresource: str) -> Request:
        return Request(
            manager=manager,
            api_version=rtype.api_version,
            subresource=subresource,
            status_is_separate="status" in rtype.subresources,
            now=kube_timestamp(self.store.clock.now()),
        )

    # create

    async def create(
        self, rtype: ResourceType, namespace: str, body: Any, options: WriteOptions
    ) -> Written:
        obj = self._incoming(rtype, namespace, body)
        for field in _SERVER_FIELDS:
            obj["metadata"].pop(field, None)
        return await self._create(rtype, obj, options, record=True)

    async def _create(
        self, rtype: ResourceType, obj: Obj, options: WriteOptions, record: bool
    ) -> Written:
        metadata = obj["metadata"]
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = self.store.generate_name(rtype, metadata)
        metadata["uid"] = str(uuid.uuid4())
        obj, warnings = await self.admission.admit(
            "CREATE", rtype, obj, None, options.field_validation
        )
        if record:
            managed_fields.record_update(
                None, obj, self.shape(rtype), self._request(rtype, options.manager, "")
            )
        if options.dry_run:
            metadata = obj["metadata"]
            metadata["creationTimestamp"] = kube_timestamp(self.store.clock.now())
            return Written(obj, 201, warnings)
        created = self.store.create(rtype, obj)
        self.admission.committed("CREATE", rtype, created)
        return Written(created, 201, warnings)

    # update

    async def update(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        subresource: str,
        options: WriteOptions,
    ) -> Written:
        old = self.store.get(rtype, namespace, name)
        obj = self._incoming(rtype, namespace, body, name)
        expected = obj["metadata"].get("resourceVersion")
        return await self.replace_object(rtype, old, obj, expected, subresource, options)

    async def replace_object(
        self,
        rtype: ResourceType,
        old: Obj,
        obj: Obj,
        expected_version: str | None,
        subresource: str,
        options: WriteOptions,
    ) -> Written:
        if subresource == "status":
            status = obj.get("status")
            obj = copy.deepcopy(old)
            obj["status"] = status if status is not None else {}
        else:
            for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
                if field in old["metadata"]:
                    obj["metadata"][field] = old["metadata"][field]
            if "status" in rtype.subresources:
                obj.pop("status", None)
                if "status" in old:
                    obj["status"] = copy.deepcopy(old["status"])
        obj, warnings = await self.admission.admit(
            "UPDATE", rtype, obj, old, options.field_validation, subresource
        )
        if subresource != "status":
            managed_fields.record_update(
                old, obj, self.shape(rtype), self._request(rtype, options.manager, "")
            )
            managed_fields.keep_times_of_noop(obj, old)
        if expected_version:
            obj["metadata"]["resourceVersion"] = expected_version
        else:
            obj["metadata"].pop("resourceVersion", None)
        if options.dry_run:
            obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return Written(obj, 200, warnings)
        updated = self.store.replace(rtype, obj, subresource)
        self.admission.committed("UPDATE", rtype, updated)
        return Written(updated, 200, warnings)

    # patch

    async def patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        raw: bytes,
        subresource: str,
        options: WriteOptions,
    ) -> Written:
        if content_type == APPLY:
            return await self.apply(rtype, namespace, name, raw, subresource, options)
        if content_type == STRATEGIC_MERGE_PATCH and rtype.crd is not None:
            raise _unsupported_patch(content_type, custom=True)
        if content_type not in PATCH_TYPES:
            raise _unsupported_patch(content_type, custom=rtype.crd is not None)
        patch = _parse_json(raw)
        for _ in range(_RETRIES):
            old = self.store.get(rtype, namespace, name)
            if content_type == JSON_PATCH:
                patched = patches.json_patch(old, patch)
            elif content_type == MERGE_PATCH:
                patched = patches.merge_patch(old, patch)
            else:
                patched = patches.strategic_merge_patch(old, patch, self.shape(rtype))
            obj = self._incoming(rtype, namespace, patched, name)
            expected = old["metadata"]["resourceVersion"]
            requested = obj["metadata"].get("resourceVersion")
            if requested and requested != expected:
                raise modified(rtype.plural, name, rtype.group)
            try:
                return await self.replace_object(rtype, old, obj, expected, subresource, options)
            except KubeApiError as error:
                if not _is_stale_write(error):
                    raise
        raise modified(rtype.plural, name, rtype.group)

    async def apply(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        subresource: str,
        options: WriteOptions,
    ) -> Written:
        """Server-side apply: create the object when absent, else merge the config into it."""
        config = _parse_apply_config(raw)
        if (config.get("metadata") or {}).get("managedFields") is not None:
            raise bad_request("metadata.managedFields must be nil")
        config = self._incoming(rtype, namespace, config, name, require_type=True)
        for _ in range(_RETRIES):
            live = self.store.find(rtype, namespace, name)
            request = self._request(rtype, options.manager, subresource)
            if live is None:
                if subresource:
                    raise not_found(rtype.plural, name, rtype.group)
                obj = managed_fields.apply({}, config, self.shape(rtype), request, options.force)
                obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
                obj["metadata"].update(
                    {"name": name, **({"namespace": namespace} if namespace else {})}
                )
                try:
                    return await self._create(rtype, obj, options, record=False)
                except KubeApiError as error:
                    if error.reason != "AlreadyExists":
                        raise
                    continue
            merged = managed_fields.apply(live, config, self.shape(rtype), request, options.force)
            obj, warnings = await self.admission.admit(
                "UPDATE", rtype, merged, live, options.field_validation, subresource
            )
            managed_fields.keep_times_of_noop(obj, live)
            obj["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
            if options.dry_run:
                return Written(obj, 200, warnings)
            try:
                updated = self.store.replace(rtype, obj, subresource)
            except KubeApiError as error:
                if not _is_stale_write(error):
                    raise
                continue
            self.admission.committed("UPDATE", rtype, updated)
            return Written(updated, 200, warnings)
        raise modified(rtype.plural, name, rtype.group)

    # delete

    def delete(
        self, rtype: ResourceType, namespace: str, name: str, options: DeleteOptions
    ) -> Written:
        current = self.store.get(rtype, namespace, name)
        _check_preconditions(rtype, current, options.preconditions or {})
        propagation, warnings = _propagation(rtype, options)
        if options.dry_run:
            return Written(current, 200, warnings)
        removed = self.store.delete(
            rtype, namespace, name, propagation, options.grace_period_seconds
        )
        if is_crd(rtype):
            self.admission.finish_crd_deletions()
        lingering = self.store.find(rtype, namespace, name)
        if lingering is not None:
            return Written(lingering, 200, warnings)
        if (rtype.group, rtype.kind) in _RETURN_DELETED_OBJECT or rtype.crd is not None:
            return Written(removed, 200, warnings)
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": rtype.group,
                "kind": rtype.plural,
                "uid": removed["metadata"]["uid"],
            },
        }
        return Written(status, 200, warnings)

    # checks

    def _incoming(
        self,
        rtype: ResourceType,
        namespace: str,
        body: Any,
        name: str | None = None,
        require_type: bool = False,
    ) -> Obj:
        """A copy of a request's object, checked against the URL it was sent to."""
        if not isinstance(body, dict):
            raise bad_request(f"the body of the request must be a {rtype.kind} object")
        obj = copy.deepcopy(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if require_type and (not api_version or not kind):
            missing = "Kind" if not kind else "Version"
            raise bad_request(f"Object '{missing}' is missing in '{json.dumps(body)[:200]}'")
        if api_version and api_version != rtype.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rtype.api_version})"
            )
        if kind and kind != rtype.kind:
            raise bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rtype.kind})"
            )
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise bad_request("metadata must be an object")
        if rtype.namespaced:
            if metadata.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        if name is not None:
            if metadata.get("name") not in (None, "", name):
                raise bad_request(
                    f"the name of the object ({metadata['name']}) does not match the name on the "
                    f"URL ({name})"
                )
            metadata["name"] = name
        return obj


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError as error:
        raise bad_request(f"error decoding patch: {error}") from None


def _parse_apply_config(raw: bytes) -> dict[str, Any]:
    """YAML, usually sent as JSON (its subset, and much faster to parse as such)."""
    try:
        config = json.loads(raw or b"null")
    except ValueError:
        try:
            config = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as error:
            raise bad_request(f"error decoding YAML: {error}") from None
    if not isinstance(config, dict):
        raise bad_request("error decoding YAML: the apply configuration must be an object")
    return config


def _unsupported_patch(content_type: str, custom: bool) -> KubeApiError:
    accepted = [JSON_PATCH, MERGE_PATCH, APPLY] if custom else list(PATCH_TYPES)
    return KubeApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)}",
    )


def _is_stale_write(error: KubeApiError) -> bool:
    return (
        error.code == 409 and error.reason == "Conflict" and not (error.details or {}).get("causes")
    )


def _check_preconditions(
    rtype: ResourceType, current: Obj, preconditions: Mapping[str, Any]
) -> None:
    metadata = current["metadata"]
    uid, version = preconditions.get("uid"), preconditions.get("resourceVersion")
    if uid and uid != metadata["uid"]:
        message = (
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
            f"{metadata['uid']}"
        )
        raise conflict(rtype.plural, metadata["name"], message, rtype.group)
    if version and version != metadata["resourceVersion"]:
        message = (
            f"Precondition failed: ResourceVersion in precondition: {version}, ResourceVersion in "
            f"object meta: {metadata['resourceVersion']}"
        )
        raise conflict(rtype.plural, metadata["name"], message, rtype.group)


def _propagation(rtype: ResourceType, options: DeleteOptions) -> tuple[str, list[str]]:
    policy = options.propagation_policy
    if policy is not None and policy not in PROPAGATION_POLICIES:
        supported = ", ".join(f'"{p}"' for p in PROPAGATION_POLICIES)
        raise invalid(
            "DeleteOptions",
            "",
            [
                {
                    "reason": "FieldValueNotSupported",
                    "message": f'Unsupported value: "{policy}": supported values: {supported}',
                    "field": "propagationPolicy",
                }
            ],
            "meta.k8s.io",
        )
    if policy:
        return policy, []
    if options.orphan_dependents is not None:
        return ("Orphan" if options.orphan_dependents else "Background"), []
    if rtype.group == "batch" and rtype.kind == "Job":
        return "Orphan", [JOB_ORPHAN_WARNING]  # batch/v1 keeps its pods, for compatibility
    return "Background", []
