"""Zonal reservations of VMs of one machine type, and the GKE nodes that consume them.

A reservation holds `count` VMs of a machine type in a zone; GKE node pools consume it with a
SPECIFIC reservation affinity (`compute.googleapis.com/reservation-name` = its name), as TPU
pools do. Its `inUseCount` is the number of such nodes that exist, so it moves with the pools;
a pool that does not fit fails when its nodes are created. The `reservation` scenario makes one
(Google's sales process, not an API call, makes TPU ones).
"""

from dataclasses import asdict, dataclass
from typing import Any

from emulator.gcp.compute.model import compute_timestamp, link, new_id
from emulator.gcp.gke import catalog
from emulator.gcp.usage import RESERVED, NodeGroup


@dataclass
class Reservation:
    name: str
    zone: str
    machine_type: str
    count: int
    specific_reservation_required: bool
    id: str
    created: float

    def path(self, project: str) -> str:
        return f"projects/{project}/zones/{self.zone}/reservations/{self.name}"

    def in_use(self, groups: list[NodeGroup]) -> int:
        return sum(group.nodes for group in groups if self.consumed_by(group))

    def consumed_by(self, group: NodeGroup) -> bool:
        return (
            group.provisioning == RESERVED
            and (group.zone, group.reservation) == (self.zone, self.name)
            and group.machine_type == self.machine_type
        )

    def to_json(self, project: str, in_use: int) -> dict[str, Any]:
        return {
            "kind": "compute#reservation",
            "id": self.id,
            "creationTimestamp": compute_timestamp(self.created),
            "name": self.name,
            "zone": link(f"projects/{project}/zones/{self.zone}"),
            "selfLink": link(self.path(project)),
            "specificReservation": {
                "instanceProperties": {"machineType": self.machine_type},
                "count": str(self.count),
                "inUseCount": str(in_use),
                "assuredCount": str(self.count),
            },
            "specificReservationRequired": self.specific_reservation_required,
            "status": "READY",
            "shareSettings": {"shareType": "LOCAL"},
        }

    def dump(self) -> dict[str, Any]:
        return asdict(self)


def new_reservation(params: dict[str, Any], now: float) -> Reservation:
    """The `reservation` scenario's params checked: `name`, `zone`, `machine_type`, `count`,
    optional `specific_reservation_required` (default true, as TPU reservations are)."""
    name, zone, machine_type = params.get("name"), params.get("zone"), params.get("machine_type")
    count = params.get("count")
    if not isinstance(name, str) or not name:
        raise ValueError("a reservation needs a name")
    if zone not in catalog.ZONE_TPU_TYPES:
        raise ValueError(
            f"unknown zone {zone!r}; known: {', '.join(sorted(catalog.ZONE_TPU_TYPES))}"
        )
    if (
        not isinstance(machine_type, str)
        or catalog.machine_type_in_zone(machine_type, zone) is None
    ):
        raise ValueError(f"zone {zone} offers no machine type {machine_type!r}")
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    return Reservation(
        name=name,
        zone=zone,
        machine_type=machine_type,
        count=count,
        specific_reservation_required=bool(params.get("specific_reservation_required", True)),
        id=new_id(),
        created=now,
    )


def shortfall(
    project: str, reservations: dict[str, Reservation], existing: list[NodeGroup], wanted: NodeGroup
) -> str:
    """Why `wanted` (nodes naming a reservation) cannot be created, in Compute's words."""
    reservation = reservations.get(f"{wanted.zone}/{wanted.reservation}")
    path = f"projects/{project}/zones/{wanted.zone}/reservations/{wanted.reservation}"
    if reservation is None:
        return f"The resource '{path}' was not found"
    if reservation.machine_type != wanted.machine_type:
        return (
            f"Specified reservation '{path}' does not have available resources for the request: "
            f"it reserves {reservation.machine_type}, not {wanted.machine_type}."
        )
    free = reservation.count - reservation.in_use(existing)
    if wanted.nodes > free:
        return (
            f"Specified reservation '{path}' does not have available resources for the request: "
            f"{wanted.nodes} VMs requested, {max(free, 0)} of {reservation.count} available."
        )
    return ""
