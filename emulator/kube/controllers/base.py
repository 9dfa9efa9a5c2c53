"""What every controller shares: a level-triggered reconcile loop over the cluster's store.

Each pass compares the whole desired state with the whole observed state, as kube-controller-
manager's controllers do after their informers settle, so a missed event never matters: the next
write anywhere in the cluster (or the requeue a pass asks for) runs another pass.
"""

import asyncio
import calendar
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from emulator.kube.errors import KubeApiError
from emulator.kube.events import record_event
from emulator.kube.resources import ResourceType
from emulator.kube.store import Obj, kube_timestamp

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

log = logging.getLogger(__name__)

# Wall seconds between passes when nothing changes and nothing is due: a safety net only.
_IDLE_WALL_SECONDS = 5.0
# After a failed pass, retry after a modelled delay doubling from here...
_RETRY_SECONDS = 0.5
# ...up to this, or as soon as another component changes something...
_MAX_RETRY_SECONDS = 60.0
# ...but never sooner than this many wall seconds, so that failing controllers whose Events
# wake each other cannot spin.
_FAILED_PASS_GAP = 0.01


class Controller:
    """One reconcile loop. Subclasses implement `reconcile`; `source` names them in Events."""

    source = ""

    def __init__(self, cluster: "KubeCluster") -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.clock = cluster.world.clock
        self._failed = False

    async def run(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(0)  # a pass that always writes must not starve the loop
            seen = self.store.resource_version
            self._failed = False
            requeue = None
            try:
                requeue = await self.reconcile()
            except KubeApiError as error:  # a race with another writer: the next pass sees it
                log.debug("%s: %s", type(self).__name__, error.message)
                self._failed = True
            except Exception:
                log.exception("%s failed a pass", type(self).__name__)
                self._failed = True
            if self._failed:
                failures += 1
                await self._back_off(failures)
                continue
            failures = 0
            if self.store.resource_version != seen:
                continue  # something changed while reconciling (our own writes included)
            timeout = _IDLE_WALL_SECONDS
            if requeue is not None:
                timeout = min(timeout, self.clock.scaled(max(requeue, 0.0)))
            # No await between the version check and here, so no write can slip in unseen.
            await self.store.wait_for_change(timeout)

    async def _back_off(self, failures: int) -> None:
        """Wait after a failed pass, as a controller's rate-limited requeue does: until another
        write (not the failed pass's own Events) or an exponentially growing delay."""
        seen = self.store.resource_version
        delay = self.clock.scaled(min(_RETRY_SECONDS * 2 ** (failures - 1), _MAX_RETRY_SECONDS))
        deadline = time.monotonic() + delay
        await asyncio.sleep(min(_FAILED_PASS_GAP, delay))
        while self.store.resource_version == seen and (left := deadline - time.monotonic()) > 0:
            await self.store.wait_for_change(left)

    async def reconcile(self) -> float | None:
        """One pass; returns modelled seconds until a time-based change is due (None: none)."""
        raise NotImplementedError

    # Helpers

    def rtype(self, api_version: str, kind: str) -> ResourceType:
        return self.store.types.by_kind(api_version, kind)

    async def create(self, rtype: ResourceType, obj: Obj) -> Obj:
        """Create through the API server (defaulting, validation, admission webhooks), as
        controllers do with their clients."""
        return await self.cluster.api_server.create(rtype, obj)

    def update(self, rtype: ResourceType, obj: Obj, change: Callable[[Obj], None]) -> Obj:
        """Read the latest version of `obj`, apply `change` to it and write it back."""
        current = self.store.get(
            rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        )
        change(current)
        return self.store.replace(rtype, current)

    def write_status(self, rtype: ResourceType, obj: Obj, status: dict[str, Any]) -> Obj:
        """Write `status` on the latest version of `obj` (the status subresource), if it changed."""
        current = self.store.get(
            rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        )
        if current.get("status") == status:
            return current
        return self.store.replace(rtype, {**current, "status": status}, "status")

    def failed(self, involved: Obj, reason: str, message: str) -> None:
        """A write the pass needed was refused: a Warning Event, and the loop backs off."""
        self.event(involved, reason, message, warning=True)
        self._failed = True

    def event(self, involved: Obj, reason: str, message: str, warning: bool = False) -> None:
        record_event(
            self.store, involved, reason, message, "Warning" if warning else "Normal", self.source
        )

    def now(self) -> str:
        return kube_timestamp(self.clock.now())

    def seconds_since(self, timestamp: str) -> float:
        """Wall seconds elapsed since a Kubernetes timestamp."""
        return self.clock.now() - parse_timestamp(timestamp)

    def modelled_seconds_left(self, since: str, duration: float) -> float:
        """Modelled seconds until `duration` modelled seconds have passed since `since`."""
        return duration - self.seconds_since(since) / self.clock.time_scale


def parse_timestamp(timestamp: str) -> float:
    return calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))


def controller_ref(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The ownerReference a controller puts on what it creates (garbage collection, adoption)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = owner["metadata"]["uid"]
    return any(
        ref.get("controller") and ref.get("uid") == uid
        for ref in obj["metadata"].get("ownerReferences") or []
    )


def children(controller: Controller, rtype: ResourceType, owner: Mapping[str, Any]) -> list[Obj]:
    """Objects of `rtype` in the owner's namespace that the owner controls."""
    namespace = owner["metadata"].get("namespace")
    return controller.store.list_objects(rtype, namespace, lambda obj: controlled_by(obj, owner))


def find_condition(obj: Mapping[str, Any], condition_type: str) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == condition_type:
            return condition
    return None


def condition_true(obj: Mapping[str, Any], condition_type: str) -> bool:
    return is_true((obj.get("status") or {}).get("conditions") or [], condition_type)


def is_true(conditions: list[dict[str, Any]], condition_type: str) -> bool:
    return any(c.get("type") == condition_type and c.get("status") == "True" for c in conditions)


def set_condition(conditions: list[dict[str, Any]], condition: dict[str, Any]) -> None:
    """Put `condition` in place of the one of its type; a condition whose status does not
    change keeps its lastTransitionTime, as every Kubernetes controller does."""
    for index, current in enumerate(conditions):
        if current.get("type") == condition["type"]:
            if current.get("status") == condition["status"] and "lastTransitionTime" in current:
                condition["lastTransitionTime"] = current["lastTransitionTime"]
            conditions[index] = condition
            return
    conditions.append(condition)


def omit_empty(status: dict[str, Any], *fields: str) -> dict[str, Any]:
    """Drop the `omitempty` fields that are zero or empty, as the API serializes them."""
    return {key: value for key, value in status.items() if key not in fields or value}


def min_requeue(*delays: float | None) -> float | None:
    due = [delay for delay in delays if delay is not None]
    return min(due) if due else None
