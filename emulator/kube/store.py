"""A cluster's objects: etcd plus the API server's generic registry, in memory.

Everything that writes objects goes through here, the HTTP layer as well as the in-process
controllers, scheduler and kubelet, so resourceVersions, watches, finalizers, graceful pod
deletion and owner-reference garbage collection behave the same whoever makes the change.
Objects are plain JSON dicts; callers always get copies.
"""

import asyncio
import pickle
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.core.clock import Clock
from emulator.kube.errors import KubeApiError, already_exists, gone, modified, not_found
from emulator.kube.resources import ResourceType, ResourceTypes
from emulator.kube.selectors import Matcher

Obj = dict[str, Any]
ObjectKey = tuple[tuple[str, str], str, str]  # (type key, namespace, name)

_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # as the API server's generateName
_FOREGROUND = "foregroundDeletion"
_ORPHAN = "orphan"


@dataclass(frozen=True)
class WatchEvent:
    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    resource_type: ResourceType
    object: Obj


class Store:
    """Objects of every type of one cluster, with a global resourceVersion and watch history."""

    def __init__(self, clock: Clock, types: ResourceTypes | None = None, history: int = 20000):
        self.clock = clock
        self.types = types or ResourceTypes()
        self._objects: dict[ObjectKey, Obj] = {}
        self._by_type: dict[tuple[str, str], dict[ObjectKey, Obj]] = {}  # lists read one type
        self._owned: dict[str, set[ObjectKey]] = {}  # owner uid -> its dependents (the GC's)
        self._resource_version = 1
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._watchers: set[asyncio.Queue[WatchEvent]] = set()
        self._changed = asyncio.Event()
        self._random = random.Random()
        self._collecting = False
        self._collect_again = False

    # Reading

    @property
    def resource_version(self) -> str:
        return str(self._resource_version)

    @property
    def oldest_resource_version(self) -> int:
        """The oldest version still in the watch history; older ones are compacted (410)."""
        return self._history[0].resource_version if self._history else self._resource_version

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        obj = self._objects.get(self._key(rtype, namespace, name))
        if obj is None:
            raise not_found(rtype.plural, name, rtype.group)
        return self._present(rtype, obj)

    def find(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        obj = self._objects.get(self._key(rtype, namespace, name))
        return None if obj is None else self._present(rtype, obj)

    def list_objects(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        match: Matcher | None = None,
    ) -> list[Obj]:
        """Objects of a type, sorted by namespace and name, in one namespace or all."""
        of_type = self._by_type.get(rtype.key, {})
        keys = sorted(key for key in of_type if namespace is None or key[1] == namespace)
        items = [of_type[key] for key in keys]
        return [self._present(rtype, obj) for obj in items if match is None or match(obj)]

    def dependents(self, owner_uid: str) -> list[tuple[ResourceType, Obj]]:
        """Objects with an ownerReference to `owner_uid`."""
        return [
            (self._type_for_key(key[0]), _clone(self._objects[key]))
            for key in sorted(self._owned.get(owner_uid, ()))
        ]

    # Writing

    def create(self, rtype: ResourceType, obj: Mapping[str, Any]) -> Obj:
        obj = _clone(dict(obj))
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = self.generate_name(rtype, metadata)
        if not metadata.get("name"):
            raise KubeApiError(
                422,
                "Invalid",
                f"{rtype.kind} is invalid: metadata.name: Required value: name or generateName "
                "is required",
            )
        namespace = metadata.get("namespace", "") if rtype.namespaced else ""
        if rtype.namespaced:
            if not namespace:
                raise KubeApiError(400, "BadRequest", "the namespace of the object is required")
            self._require_active_namespace(namespace)
        else:
            metadata.pop("namespace", None)
        key = self._key(rtype, namespace, metadata["name"])
        if key in self._objects:
            raise already_exists(rtype.plural, metadata["name"], rtype.group)
        metadata["uid"] = metadata.get("uid") or str(uuid.uuid4())  # the API server's, if any
        metadata["creationTimestamp"] = kube_timestamp(self.clock.now())
        metadata.pop("deletionTimestamp", None)
        metadata.pop("resourceVersion", None)
        if _has_spec(obj):
            metadata["generation"] = 1
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        self._write(rtype, key, obj, "ADDED")
        return self._present(rtype, obj)

    def replace(self, rtype: ResourceType, obj: Mapping[str, Any], subresource: str = "") -> Obj:
        """An update (PUT): the whole object, or only its status with `subresource="status"`.

        A resourceVersion in the new object must match the stored one (optimistic concurrency);
        without one, the update is unconditional, as the API server allows.
        """
        new = _clone(dict(obj))
        metadata = new.get("metadata") or {}
        namespace = metadata.get("namespace", "") if rtype.namespaced else ""
        key = self._key(rtype, namespace, metadata.get("name", ""))
        current = self._objects.get(key)
        if current is None:
            raise not_found(rtype.plural, metadata.get("name", ""), rtype.group)
        expected = metadata.get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise modified(rtype.plural, metadata["name"], rtype.group)
        if subresource == "status":
            updated = _clone(current)
            updated["status"] = new.get("status", {})
        else:
            updated = new
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
                if field in current["metadata"]:
                    updated["metadata"][field] = current["metadata"][field]
                else:
                    updated["metadata"].pop(field, None)
            if "status" in rtype.subresources:
                updated["status"] = _clone(current.get("status", {}))
                if not updated["status"]:
                    updated.pop("status")
            if _has_spec(updated) and _spec_of(updated) != _spec_of(current):
                updated["metadata"]["generation"] = current["metadata"].get("generation", 0) + 1
        updated["apiVersion"], updated["kind"] = rtype.api_version, rtype.kind
        if updated == current:
            return self._present(rtype, current)  # a no-op write changes no resourceVersion
        last_finalizer_removed = current["metadata"].get("finalizers") and not updated[
            "metadata"
        ].get("finalizers")
        if current["metadata"].get("deletionTimestamp") and last_finalizer_removed:
            # A gracefully terminating pod has no finalizers to remove: it stays until the
            # kubelet has written its final status and calls finish_pod_deletion.
            self._remove(rtype, key)
            return self._present(rtype, updated)
        self._write(rtype, key, updated, "MODIFIED")
        return self._present(rtype, updated)

    def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        propagation: str = "Background",
        grace_period_seconds: int | None = None,
    ) -> Obj:
        """Delete as the API server does: finalizers and graceful pods delay the removal.

        Returns the object as it was removed, or with its deletionTimestamp when it lingers.
        """
        key = self._key(rtype, namespace, name)
        current = self._objects.get(key)
        if current is None:
            raise not_found(rtype.plural, name, rtype.group)
        obj = _clone(current)
        metadata = obj["metadata"]
        finalizers = list(metadata.get("finalizers") or [])
        if propagation == "Foreground" and _FOREGROUND not in finalizers:
            finalizers.append(_FOREGROUND)
        if propagation == "Orphan" and _ORPHAN not in finalizers:
            finalizers.append(_ORPHAN)
        graceful_pod = (
            rtype.kind == "Pod"
            and rtype.group == ""
            and obj.get("spec", {}).get("nodeName")
            and grace_period_seconds != 0
            and obj.get("status", {}).get("phase") not in ("Succeeded", "Failed")
        )
        if rtype.kind == "Namespace" and rtype.group == "":
            finalizers = finalizers or ["kubernetes"]
            obj.setdefault("status", {})["phase"] = "Terminating"
        if not finalizers and not graceful_pod:
            self._remove(rtype, key)
            return self._present(rtype, obj)
        if not metadata.get("deletionTimestamp"):
            metadata["deletionTimestamp"] = kube_timestamp(self.clock.now())
            grace = grace_period_seconds
            if grace is None and graceful_pod:
                grace = obj["spec"].get("terminationGracePeriodSeconds", 30)
            metadata["deletionGracePeriodSeconds"] = grace or 0
        metadata["finalizers"] = finalizers
        if not metadata["finalizers"]:
            metadata.pop("finalizers")
        self._write(rtype, key, obj, "MODIFIED")
        self._collect_garbage()
        return self._present(rtype, obj)

    def finish_pod_deletion(self, namespace: str, name: str) -> None:
        """The kubelet has stopped a terminating pod's containers: the pod object goes."""
        rtype = self.types.by_kind("v1", "Pod")
        key = self._key(rtype, namespace, name)
        if key in self._objects and not self._objects[key]["metadata"].get("finalizers"):
            self._remove(rtype, key)

    # Watching

    async def watch(
        self, since: int | None, stop: asyncio.Event | None = None
    ) -> AsyncIterator[WatchEvent]:
        """Every event after resourceVersion `since` (or from now), then live events.

        Raises 410 Expired when `since` is older than the retained history, as etcd compaction
        makes the API server do.
        """
        queue: asyncio.Queue[WatchEvent] = asyncio.Queue()
        self._watchers.add(queue)
        try:
            if since is not None and since < self._resource_version:
                oldest = self._history[0].resource_version if self._history else None
                if oldest is None or since < oldest - 1:
                    raise gone(f"too old resource version: {since} ({oldest})")
                for event in list(self._history):
                    if event.resource_version > since:
                        yield event
                        since = event.resource_version
            while stop is None or not stop.is_set():
                event = await queue.get()
                if since is None or event.resource_version > since:
                    yield event
        finally:
            self._watchers.discard(queue)

    def wake(self) -> None:
        """Wake the sleeping controllers without a write: something they watch changed outside
        the store (a VM stopped answering)."""
        self._changed.set()

    async def wait_for_change(self, timeout: float) -> None:
        """Controllers sleep here: woken by any write, or after `timeout` wall seconds.

        `asyncio.wait`, not `wait_for`: Python 3.11's `wait_for` loses a cancellation that
        arrives as the event fires, and a loop that survives `cancel()` hangs the shutdown.
        """
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({changed}, timeout=timeout)
        finally:
            changed.cancel()
        self._changed.clear()

    # Persistence

    def dump(self) -> dict[str, Any]:
        return {
            "resource_version": self._resource_version,
            "objects": [_clone(obj) for obj in self._objects.values()],
        }

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore objects; CRDs first, so their custom resources have a type to load into."""
        from emulator.kube.resources import crd_resource_types

        self._objects.clear()
        self._by_type.clear()
        self._owned.clear()
        objects = state.get("objects", [])
        for obj in objects:
            if obj["kind"] == "CustomResourceDefinition":
                for rtype in crd_resource_types(obj):
                    self.types.add(rtype)
        for obj in objects:
            rtype = self.types.by_kind(obj["apiVersion"], obj["kind"])
            metadata = obj["metadata"]
            self._put(self._key(rtype, metadata.get("namespace", ""), metadata["name"]), obj)
        self._resource_version = int(state.get("resource_version", 1))

    # Internals

    def _write(self, rtype: ResourceType, key: ObjectKey, obj: Obj, event_type: str) -> None:
        self._resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self._resource_version)
        self._put(key, obj)
        self._emit(WatchEvent(self._resource_version, event_type, rtype, _clone(obj)))

    def _remove(self, rtype: ResourceType, key: ObjectKey) -> None:
        obj = self._objects.pop(key)
        self._unindex(key, obj)
        self._resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self._resource_version)
        self._emit(WatchEvent(self._resource_version, "DELETED", rtype, _clone(obj)))
        self._collect_garbage()

    def _put(self, key: ObjectKey, obj: Obj) -> None:
        previous = self._objects.get(key)
        if previous is not None:
            self._unindex(key, previous)
        self._objects[key] = obj
        self._by_type.setdefault(key[0], {})[key] = obj
        for uid in _owner_uids(obj):
            self._owned.setdefault(uid, set()).add(key)

    def _unindex(self, key: ObjectKey, obj: Obj) -> None:
        del self._by_type[key[0]][key]
        for uid in _owner_uids(obj):
            dependents = self._owned[uid]
            dependents.discard(key)
            if not dependents:
                del self._owned[uid]

    def _emit(self, event: WatchEvent) -> None:
        self._history.append(event)
        for queue in self._watchers:
            queue.put_nowait(event)
        self._changed.set()

    def _collect_garbage(self) -> None:
        """Owner references and namespaces, as the garbage collector and namespace controller.

        Runs to a fixed point after every removal or deletion mark: background dependents of a
        removed owner go, foreground owners go once their blocking dependents are gone, orphaned
        dependents lose the reference, and a terminating namespace goes once it is empty. Writes
        made while collecting only ask for another pass, so the collector never re-enters.
        """
        if self._collecting:
            self._collect_again = True
            return
        self._collecting = True
        try:
            while True:
                self._collect_again = False
                uids = {obj["metadata"]["uid"] for obj in self._objects.values()}
                progress = False
                for key in list(self._objects):
                    obj = self._objects.get(key)
                    if obj is not None and self._collect_one(key, obj, uids):
                        progress = True
                if not progress and not self._collect_again:
                    return
        finally:
            self._collecting = False

    def _collect_one(self, key: ObjectKey, obj: Obj, uids: set[str]) -> bool:
        metadata = obj["metadata"]
        refs = metadata.get("ownerReferences") or []
        owners_gone = refs and all(ref.get("uid") not in uids for ref in refs)
        if owners_gone and not metadata.get("deletionTimestamp"):
            self.delete(self._type_for_key(key[0]), key[1], key[2])
            return True
        finalizers = metadata.get("finalizers") or []
        if not metadata.get("deletionTimestamp"):
            return False
        rtype = self._type_for_key(key[0])
        dependents = self.dependents(metadata["uid"])
        if _ORPHAN in finalizers:
            for dep_type, dependent in dependents:
                kept = [
                    ref
                    for ref in dependent["metadata"]["ownerReferences"]
                    if ref.get("uid") != metadata["uid"]
                ]
                if kept:
                    dependent["metadata"]["ownerReferences"] = kept
                else:
                    del dependent["metadata"]["ownerReferences"]
                self.replace(dep_type, dependent)
            self._drop_finalizer(rtype, obj, _ORPHAN)
            return True
        if _FOREGROUND in finalizers:
            for dep_type, dependent in dependents:
                if not dependent["metadata"].get("deletionTimestamp"):
                    self.delete(dep_type, _namespace(dependent), dependent["metadata"]["name"])
            blocking = [
                dep
                for _, dep in dependents
                if any(
                    ref.get("uid") == metadata["uid"] and ref.get("blockOwnerDeletion")
                    for ref in dep["metadata"]["ownerReferences"]
                )
            ]
            if not blocking:
                self._drop_finalizer(rtype, obj, _FOREGROUND)
                return True
            return False
        if rtype.kind == "Namespace" and rtype.group == "" and finalizers == ["kubernetes"]:
            contents = [
                (k, o) for k, o in self._objects.items() if k[1] == metadata["name"] and k != key
            ]
            for content_key, content in contents:
                if not content["metadata"].get("deletionTimestamp"):
                    self.delete(self._type_for_key(content_key[0]), content_key[1], content_key[2])
            if not any(k[1] == metadata["name"] for k in self._objects if k != key):
                self._drop_finalizer(rtype, obj, "kubernetes")
                return True
        return False

    def _drop_finalizer(self, rtype: ResourceType, obj: Obj, finalizer: str) -> None:
        updated = _clone(obj)
        updated["metadata"]["finalizers"] = [
            f for f in updated["metadata"].get("finalizers", []) if f != finalizer
        ]
        updated["metadata"].pop("resourceVersion", None)
        self.replace(rtype, updated)

    def _require_active_namespace(self, namespace: str) -> None:
        obj = self._objects.get((("", "namespaces"), "", namespace))
        if obj is None:
            raise not_found("namespaces", namespace)
        if obj["metadata"].get("deletionTimestamp"):
            raise KubeApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def generate_name(self, rtype: ResourceType, metadata: Mapping[str, Any]) -> str:
        """A free name for `metadata.generateName` (the API server names before admission)."""
        namespace = metadata.get("namespace", "") if rtype.namespaced else ""
        while True:
            suffix = "".join(self._random.choices(_NAME_SUFFIX_ALPHABET, k=5))
            name = f"{metadata['generateName'][:58]}{suffix}"
            if self._key(rtype, namespace, name) not in self._objects:
                return name

    def _type_for_key(self, type_key: tuple[str, str]) -> ResourceType:
        return self.types.by_key(type_key)

    @staticmethod
    def _key(rtype: ResourceType, namespace: str, name: str) -> ObjectKey:
        return (rtype.key, namespace if rtype.namespaced else "", name)

    @staticmethod
    def _present(rtype: ResourceType, obj: Obj) -> Obj:
        presented = _clone(obj)
        presented["apiVersion"] = rtype.api_version
        return presented


def _owner_uids(obj: Obj) -> set[str]:
    return {ref["uid"] for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("uid")}


def _clone(obj: Any) -> Any:
    """A deep copy of a JSON tree; a pickle round trip is several times faster than
    `copy.deepcopy`, and every read and write of the store copies."""
    return pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


def kube_timestamp(instant: float) -> str:
    """Kubernetes object timestamps have whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(instant))


def _has_spec(obj: Mapping[str, Any]) -> bool:
    return any(key not in ("apiVersion", "kind", "metadata", "status") for key in obj)


def _spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}


def _namespace(obj: Mapping[str, Any]) -> str:
    return obj["metadata"].get("namespace", "")
