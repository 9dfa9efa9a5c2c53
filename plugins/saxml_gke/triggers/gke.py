"""Waits on GKE: a cluster RUNNING, node pools settled, a cluster or node pools gone.

google-cloud-container's async client speaks gRPC only, and the provider's `GKEAsyncHook`
offers no more than `get_operation` over it; the deployment's GKE calls go over REST (which
takes an endpoint override: a Private Service Connect endpoint, or the emulator). So these
triggers keep one REST client for all their looks and run each look in a thread.
"""

import asyncio
from functools import cached_property
from typing import Any

from saxml_gke.hooks.gke import GkeHook
from saxml_gke.probes import CapacityContext, Look, cluster_look, gone_look, node_pools_look
from saxml_gke.triggers.base import WaitTrigger


class GkeTrigger(WaitTrigger):
    """A wait on one cluster's GKE objects."""

    def __init__(self, *, project_id: str, zone: str, cluster: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_id, self.zone, self.cluster = project_id, zone, cluster

    def arguments(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "zone": self.zone, "cluster": self.cluster}

    @cached_property
    def gke(self) -> GkeHook:
        return GkeHook(gcp_conn_id=self.waiting.gcp_conn_id)

    async def get_cluster(self) -> dict[str, Any] | None:
        return await asyncio.to_thread(
            self.gke.get_cluster, project_id=self.project_id, zone=self.zone, name=self.cluster
        )


class ClusterRunningTrigger(GkeTrigger):
    """The cluster is RUNNING; ends with how to reach its Kubernetes API."""

    async def look(self, state: dict[str, Any]) -> Look:
        return cluster_look(self.cluster, await self.get_cluster())


class ClusterGoneTrigger(GkeTrigger):
    async def look(self, state: dict[str, Any]) -> Look:
        cluster = await self.get_cluster()
        return gone_look([f"cluster {self.cluster} {cluster.get('status', '')}"] if cluster else [])


class NodePoolsTrigger(GkeTrigger):
    """A wait on some node pools of the cluster."""

    def __init__(self, *, pools: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pools = pools

    def arguments(self) -> dict[str, Any]:
        return {**super().arguments(), "pools": self.pools}

    async def get_pools(self) -> dict[str, dict[str, Any] | None]:
        """The pools by name (None when missing), from one read of the cluster."""
        cluster = await self.get_cluster() or {}
        found = {pool["name"]: pool for pool in cluster.get("nodePools") or []}
        return {name: found.get(name) for name in self.pools}


class NodePoolsSettledTrigger(NodePoolsTrigger):
    """Every pool left PROVISIONING: RUNNING ends the wait, ERROR fails it with GKE's message
    (and advice when GKE had no TPUs)."""

    def __init__(self, *, capacity: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.capacity = capacity

    def arguments(self) -> dict[str, Any]:
        return {**super().arguments(), "capacity": self.capacity}

    async def look(self, state: dict[str, Any]) -> Look:
        return node_pools_look(await self.get_pools(), CapacityContext(**self.capacity))


class NodePoolsGoneTrigger(NodePoolsTrigger):
    async def look(self, state: dict[str, Any]) -> Look:
        pools = await self.get_pools()
        return gone_look([f"node pool {name}" for name, pool in pools.items() if pool])
