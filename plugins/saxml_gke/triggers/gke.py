"""Waits on GKE: a cluster RUNNING, node pools settled, a cluster or node pools gone.

google-cloud-container's async client speaks gRPC only, and the provider's `GKEAsyncHook`
offers no more than `get_operation` over it; the deployment's GKE calls go over REST (which
takes an endpoint override: a Private Service Connect endpoint, or the emulator). So these
triggers keep one REST client for all their looks and run each look in a thread.
"""

import asyncio
import dataclasses
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.probes import Look, cluster_look, gone_look
from saxml_gke.provisioning import CapacityRequest, Moves, created, next_moves
from saxml_gke.triggers.base import WaitTrigger


class GkeTrigger(WaitTrigger):
    """A wait on one cluster's GKE objects."""

    def __init__(self, *, project_id: str, zone: str, cluster: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project_id, self.zone, self.cluster = project_id, zone, cluster

    def arguments(self) -> dict[str, Any]:
        return self.where

    @property
    def where(self) -> dict[str, str]:
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

    async def call_once(self, method: Callable[..., Any], **arguments: Any) -> bool:
        """One call without retries; False when GKE refused it for now (too many operations),
        which the next look retries."""
        try:
            await asyncio.to_thread(method, **self.where, **arguments, attempts=1)
        except DeploymentError as error:
            if error.kind is not ErrorKind.TRANSIENT:
                raise
            self.log.info("%s; asking again at the next look", error)
            return False
        return True


class NodePoolsCreatedTrigger(NodePoolsTrigger):
    """Creates the pools as GKE admits another operation and waits until every one is RUNNING;
    a stockout deletes the pool and asks again until the capacity wait is over (the rules are
    `saxml_gke.provisioning`'s). `bodies` has every pool's create request, by name."""

    def __init__(
        self, *, bodies: dict[str, dict[str, Any]], request: dict[str, Any], **kwargs: Any
    ) -> None:
        super().__init__(pools=sorted(bodies), **kwargs)
        self.bodies, self.request = bodies, request

    def arguments(self) -> dict[str, Any]:
        return {**self.where, "bodies": self.bodies, "request": self.request}

    async def look(self, state: dict[str, Any]) -> Look:
        moves = next_moves(
            await self.get_pools(), state, time.time(), CapacityRequest(**self.request)
        )
        state = moves.look.state
        for name in moves.delete:
            self.log.info("Deleting node pool %s to ask for its TPUs again", name)
            await self.call_once(self.gke.delete_node_pool, name=name)
        admitted: list[str] = []
        for name in moves.create:
            if not await self.call_once(self.gke.create_node_pool, body=self.bodies[name]):
                break  # GKE runs no more operations on this cluster now: the next look asks
            self.log.info("Creating node pool %s", name)
            state = created(state, name)
            admitted.append(name)
        return dataclasses.replace(
            moves.look, state=state, progress=_creations(moves.look.progress, moves, admitted)
        )


def _creations(progress: str, moves: Moves, admitted: list[str]) -> str:
    """The look's progress with which creations GKE took, and which wait for an operation."""
    refused = moves.create[len(admitted) :]
    said = [f"creating {', '.join(admitted)}"] if admitted else []
    if refused:
        said.append(f"{', '.join(refused)} when GKE admits another operation on the cluster")
    return "; ".join([progress, *said])


class NodePoolsDeletedTrigger(NodePoolsTrigger):
    """Deletes the pools as GKE admits another operation (at most 5 per cluster), until none
    is left: the TPUs bill until their pool is gone."""

    async def look(self, state: dict[str, Any]) -> Look:
        pools = await self.get_pools()
        for name, pool in pools.items():
            if pool and pool.get("status") != "STOPPING":
                if not await self.call_once(self.gke.delete_node_pool, name=name):
                    break  # the next look deletes the rest
                self.log.info("Deleting node pool %s", name)
        return gone_look([f"node pool {name}" for name, pool in pools.items() if pool])
