"""Regions, zones, machine types and accelerator types, as Compute Engine describes them.

One source of truth: GKE's catalog (`emulator.gcp.gke.catalog`) says which zones exist and
which machine types each offers, so Compute never offers what GKE would refuse. A TPU machine
type carries its chips as `accelerators` (`guestAcceleratorType` is the machine family, such as
`ct5lp`), and each zone's accelerator types are the families of the TPU types it offers.
Ids and creation times are fixed: these are Google's resources, not the project's.
"""

import hashlib
from typing import Any

from emulator.gcp.compute.model import link
from emulator.gcp.gke import catalog

ZONES = tuple(sorted(catalog.ZONE_TPU_TYPES))
REGIONS = tuple(sorted({catalog.region_of(zone) for zone in ZONES}))
_CREATED = "1969-12-31T16:00:00.000-08:00"


def _id(name: str) -> str:
    return str(int(hashlib.sha256(name.encode()).hexdigest()[:15], 16))


def zones_of(region: str) -> list[str]:
    return [zone for zone in ZONES if catalog.region_of(zone) == region]


def machine_types_in(zone: str) -> list[catalog.MachineType]:
    return [
        machine
        for name, machine in sorted(catalog.MACHINE_TYPES.items())
        if catalog.machine_type_in_zone(name, zone) is not None
    ]


def accelerator_family(machine: catalog.MachineType) -> str:
    """`ct5lp-hightpu-4t` -> `ct5lp`: the accelerator type a TPU machine type attaches."""
    return machine.name.split("-", 1)[0]


def accelerators_in(zone: str) -> dict[str, int]:
    """Each accelerator type of the zone and the most chips one VM of it has."""
    families: dict[str, int] = {}
    for machine in machine_types_in(zone):
        if machine.tpu is not None:
            family = accelerator_family(machine)
            families[family] = max(families.get(family, 0), machine.chips)
    return families


def region_json(project: str, region: str, quotas: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "compute#region",
        "id": _id(region),
        "creationTimestamp": _CREATED,
        "name": region,
        "description": region,
        "status": "UP",
        "zones": [link(f"projects/{project}/zones/{zone}") for zone in zones_of(region)],
        "quotas": quotas,
        "selfLink": link(f"projects/{project}/regions/{region}"),
        "supportsPzs": False,
    }


def zone_json(project: str, zone: str) -> dict[str, Any]:
    return {
        "kind": "compute#zone",
        "id": _id(zone),
        "creationTimestamp": _CREATED,
        "name": zone,
        "description": zone,
        "status": "UP",
        "region": link(f"projects/{project}/regions/{catalog.region_of(zone)}"),
        "selfLink": link(f"projects/{project}/zones/{zone}"),
        "availableCpuPlatforms": ["AMD Milan", "Intel Cascade Lake", "Intel Ice Lake"],
        "supportsPzs": False,
    }


def machine_type_json(project: str, zone: str, machine: catalog.MachineType) -> dict[str, Any]:
    """`zone` is a bare name here, as Compute writes it in machine types."""
    body: dict[str, Any] = {
        "kind": "compute#machineType",
        "id": _id(machine.name),
        "creationTimestamp": _CREATED,
        "name": machine.name,
        "description": f"{machine.cpus} vCPUs, {machine.memory_gib} GB RAM",
        "guestCpus": machine.cpus,
        "memoryMb": machine.memory_gib * 1024,
        "imageSpaceGb": 0,
        "maximumPersistentDisks": 128,
        "maximumPersistentDisksSizeGb": "263168",
        "zone": zone,
        "selfLink": link(f"projects/{project}/zones/{zone}/machineTypes/{machine.name}"),
        "isSharedCpu": machine.name == "e2-medium",
        "architecture": "X86_64",
    }
    if machine.tpu is not None:
        body["accelerators"] = [
            {
                "guestAcceleratorType": accelerator_family(machine),
                "guestAcceleratorCount": machine.chips,
            }
        ]
    return body


def accelerator_type_json(project: str, zone: str, name: str, most: int) -> dict[str, Any]:
    return {
        "kind": "compute#acceleratorType",
        "id": _id(f"{zone}/{name}"),
        "creationTimestamp": _CREATED,
        "name": name,
        "description": name,
        "zone": link(f"projects/{project}/zones/{zone}"),
        "selfLink": link(f"projects/{project}/zones/{zone}/acceleratorTypes/{name}"),
        "maximumCardsPerInstance": most,
    }
