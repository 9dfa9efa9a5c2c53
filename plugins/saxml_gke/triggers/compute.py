"""Waits on Compute Engine: an address reserved, region operations (an address released, a
forwarding rule deleted) done.

Compute Engine's client is the discovery-based googleapiclient, which has no async form: the
trigger keeps one client for all its looks and runs each look in a thread.
"""

import asyncio
from functools import cached_property
from typing import Any

from saxml_gke.hooks.compute import ComputeHook
from saxml_gke.probes import Look, compute_operations_look
from saxml_gke.triggers.base import WaitTrigger


class ComputeOperationsTrigger(WaitTrigger):
    def __init__(self, *, project_id: str, region: str, operations: list[str], **kwargs: Any):
        super().__init__(**kwargs)
        self.project_id, self.region, self.operations = project_id, region, operations

    def arguments(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "region": self.region, "operations": self.operations}

    @cached_property
    def compute(self) -> ComputeHook:
        return ComputeHook(gcp_conn_id=self.waiting.gcp_conn_id)

    async def look(self, state: dict[str, Any]) -> Look:
        return compute_operations_look(await asyncio.to_thread(self._operations))

    def _operations(self) -> list[dict[str, Any]]:
        """One thread for all of them: the discovery client is not thread-safe."""
        where = {"project_id": self.project_id, "region": self.region}
        return [self.compute.get_region_operation(**where, name=name) for name in self.operations]


class AddressReservedTrigger(ComputeOperationsTrigger):
    """The address's insert operation is done; ends with the address and its IP."""

    def __init__(self, *, name: str, operation: str, **kwargs: Any) -> None:
        super().__init__(operations=[operation], **kwargs)
        self.name = name

    def arguments(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "region": self.region,
            "name": self.name,
            "operation": self.operations[0],
        }

    async def look(self, state: dict[str, Any]) -> Look:
        look = await super().look(state)
        if not look.done:
            return look
        address = await asyncio.to_thread(
            self.compute.get_address, project_id=self.project_id, region=self.region, name=self.name
        )
        if address is None:
            return Look(failure=f"address {self.name} vanished after it was reserved")
        return Look(
            done=True,
            progress=f"address {self.name} reserved: {address['address']}",
            result={
                "address": self.name,
                "ip": address["address"],
                "address_type": address.get("addressType", "EXTERNAL"),
            },
        )
