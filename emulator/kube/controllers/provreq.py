"""GKE's cluster autoscaler, for ProvisioningRequests of class `queued-provisioning.gke.io`.

A new request is checked (its class, `maxRunDurationSeconds`, its pod templates and the queued
pools its pods fit: `provreq_plan`), then Accepted with whole pools booked in GKE
(`QueuedCapacity.book`), or Failed; for missing templates or pools GKE keeps trying for two
minutes after the request's creation (Accepted False says why) before it fails it. Provisioned
is False while GKE waits for room (with the stockout as reason and message), True once every
node of every booked pool is up. Ten minutes later the booking expires (BookingExpired): from
then on a booked pool whose nodes run no pod is scaled down. When the maximum run duration has
passed since the nodes came up, GKE has removed them and the request is CapacityRevoked (after
BookingExpired, as GKE orders them). Deleting the request, or its namespace, ends its booking
and its nodes go at once; a booking that ended otherwise (its pool was deleted) revokes the
capacity, or fails a request not provisioned yet. The instants come from GKE's booking and the
request's creation, so an emulator restart resumes where they say.
"""

from typing import Any

from emulator.kube.controllers.base import Controller, min_requeue, parse_timestamp
from emulator.kube.controllers.provreq_plan import choose_pools, run_seconds
from emulator.kube.controllers.provreq_status import (
    ACCEPTED,
    ALL_PROVISIONED,
    BOOKING_EXPIRED,
    CANCELLED,
    CAPACITY_REVOKED,
    EXPIRED,
    FAILED,
    NOT_ACCEPTED,
    NOT_PROVISIONED,
    PROVISIONED,
    QUEUED,
    REVOKED,
    STOCKOUT_REASON,
    Conditions,
    Outcome,
    missing_templates,
)
from emulator.kube.errors import KubeApiError
from emulator.kube.provreq.capacity import Booking, QueuedCapacity, QueuedPool, queued_capacity
from emulator.kube.provreq.names import API_VERSION, KIND, QUEUED_CLASS, booking_name
from emulator.kube.resources import ResourceType
from emulator.kube.store import Obj

BOOKING_SECONDS = 600.0  # how long GKE keeps provisioned nodes for the request's pods
# How long after a request's creation GKE keeps trying to accept it (its pod templates missing,
# no pool for its pods yet) before it fails it.
RETRY_PERIOD_SECONDS = 120.0
SCAN_SECONDS = 10.0  # the autoscaler's scan interval: how often it looks at a waiting request
TERMINAL_PHASES = ("Succeeded", "Failed")


class ProvisioningRequestController(Controller):
    source = "cluster-autoscaler"

    async def reconcile(self) -> float | None:
        capacity = queued_capacity(self.cluster)
        rtype = self._request_type()
        if capacity is None or rtype is None:
            return None
        requests = [
            request
            for request in self.store.list_objects(rtype)
            if not request["metadata"].get("deletionTimestamp")
        ]
        bookings = {booking.request_uid: booking for booking in capacity.bookings()}
        open_requests = {
            request["metadata"]["uid"] for request in requests if not Conditions(request).terminal
        }
        for uid, booking in list(bookings.items()):
            if uid not in open_requests:
                capacity.cancel(booking.name)
                del bookings[uid]
        return min_requeue(
            *(
                self._reconcile(rtype, request, bookings.get(request["metadata"]["uid"]), capacity)
                for request in requests
            )
        )

    def _request_type(self) -> ResourceType | None:
        try:
            return self.rtype(API_VERSION, KIND)
        except KubeApiError:  # the CRD was deleted
            return None

    def _reconcile(
        self, rtype: ResourceType, request: Obj, booking: Booking | None, capacity: QueuedCapacity
    ) -> float | None:
        conditions = Conditions(request)
        if conditions.terminal:
            return None
        status = dict(request.get("status") or {})
        now = self.clock.now()
        if booking is not None:
            requeue = self._follow(conditions, booking, capacity, now)
        elif conditions.true(ACCEPTED):  # the booking ended under it: its pool was deleted
            if conditions.true(PROVISIONED):
                conditions.set(CAPACITY_REVOKED, True, REVOKED, now)
            else:
                conditions.set(FAILED, True, CANCELLED, now)
            requeue = None
        else:
            requeue = self._accept(request, conditions, status, capacity, now)
        status["conditions"] = conditions.items
        self.write_status(rtype, request, status)
        return requeue

    def _accept(
        self,
        request: Obj,
        conditions: Conditions,
        status: dict[str, Any],
        capacity: QueuedCapacity,
        now: float,
    ) -> float | None:
        """Book pools for a new request, or say why not: for two minutes after its creation
        with Accepted False (GKE tries again on each scan), then with Failed. Modelled seconds
        until it is due again."""
        spec, metadata = request["spec"], request["metadata"]
        if spec["provisioningClassName"] != QUEUED_CLASS:
            unsupported = Outcome(
                "UnsupportedProvisioningClass",
                f'Provisioning class "{spec["provisioningClassName"]}" is not served in this '
                f"cluster; {QUEUED_CLASS} is.",
            )
            return _fail(conditions, unsupported, now)
        run = run_seconds(request)
        if isinstance(run, Outcome):
            return _fail(conditions, run, now)
        template_type = self.rtype("v1", "PodTemplate")
        names = [pod_set["podTemplateRef"]["name"] for pod_set in spec["podSets"]]
        templates = {
            name: found
            for name in names
            if (found := self.store.find(template_type, metadata["namespace"], name))
        }
        # Timestamps have whole seconds: counting from the end of the creation's second keeps
        # the window whole at any time scale.
        created = parse_timestamp(metadata["creationTimestamp"]) + 1.0
        waited = (now - created) / self.clock.time_scale
        final = waited >= RETRY_PERIOD_SECONDS
        missing = [name for name in dict.fromkeys(names) if name not in templates]
        chosen: list[QueuedPool] | Outcome
        if missing:
            chosen = missing_templates(missing, len(names), final)
        else:
            chosen = choose_pools(request, templates, capacity.pools())
        if isinstance(chosen, Outcome):
            if final:
                return _fail(conditions, chosen, now)
            conditions.set(ACCEPTED, False, chosen, now)
            return min(SCAN_SECONDS, RETRY_PERIOD_SECONDS - waited)
        name = booking_name(metadata["namespace"], metadata["name"])
        capacity.book(name, metadata["uid"], [pool.name for pool in chosen], run)
        conditions.set(ACCEPTED, True, QUEUED, now)
        conditions.set(PROVISIONED, False, NOT_PROVISIONED, now)
        status["provisioningClassDetails"] = _details(name, chosen, names)
        return SCAN_SECONDS

    def _follow(
        self, conditions: Conditions, booking: Booking, capacity: QueuedCapacity, now: float
    ) -> float | None:
        """Report a booked request's progress; scale down what its pods left once it expired."""
        if booking.provisioned is None:
            waiting = NOT_PROVISIONED
            if booking.waiting:
                waiting = Outcome(STOCKOUT_REASON, booking.waiting)
            conditions.set(PROVISIONED, False, waiting, now)
            return SCAN_SECONDS
        conditions.set(PROVISIONED, True, ALL_PROVISIONED, booking.provisioned)
        clock = self.clock
        expires = booking.provisioned + clock.scaled(BOOKING_SECONDS)
        if now < expires:
            return (expires - now) / clock.time_scale
        conditions.set(BOOKING_EXPIRED, True, EXPIRED, now)
        ends = booking.provisioned + clock.scaled(booking.run_seconds)
        if now >= ends:
            conditions.set(CAPACITY_REVOKED, True, REVOKED, now)
            return None
        idle = self._idle(booking.pools)
        if idle:
            capacity.release(booking.name, idle)
        return (ends - now) / clock.time_scale

    def _idle(self, pools: list[str]) -> list[str]:
        """The pools none of whose nodes runs a pod: the autoscaler's unneeded nodes."""
        busy_nodes = {
            pod["spec"].get("nodeName")
            for pod in self.store.list_objects(self.rtype("v1", "Pod"))
            if (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES
        }
        busy_pools = {
            node["metadata"]["labels"].get("cloud.google.com/gke-nodepool")
            for node in self.store.list_objects(self.rtype("v1", "Node"))
            if node["metadata"]["name"] in busy_nodes
        }
        return [pool for pool in pools if pool not in busy_pools]


def _fail(conditions: Conditions, outcome: Outcome, now: float) -> None:
    """Failed is terminal: nothing is due any more."""
    if not conditions.present(ACCEPTED):
        conditions.set(ACCEPTED, False, NOT_ACCEPTED, now)
    conditions.set(FAILED, True, outcome, now)


def _details(name: str, pools: list[QueuedPool], templates: list[str]) -> dict[str, str]:
    """The provisioningClassDetails GKE writes when it queues a request."""
    first = pools[0].template
    return {
        "ResizeRequestName": name,
        "NodePoolName": ", ".join(pool.name for pool in pools),
        "SelectedZone": first.zone,
        "AcceleratorType": first.tpu_accelerator,
        "NodePoolAutoProvisioned": "false",
        "PodTemplateName": ", ".join(dict.fromkeys(templates)),
        "ProvisioningMode": "resize_request",
    }
