"""The Deployment controller: one ReplicaSet per pod template, rolled over by strategy.

Follows pkg/controller/deployment: the ReplicaSet of the current template is named
`<deployment>-<pod-template-hash>`; a template change creates a new one and moves replicas to it
within maxSurge/maxUnavailable (RollingUpdate) or after the old pods are gone (Recreate); the
status sums the ReplicaSets' and carries the Available and Progressing conditions.
"""

import copy
import json
import math
from typing import Any

from emulator.kube.controllers import pods
from emulator.kube.controllers.base import (
    Controller,
    children,
    controller_ref,
    min_requeue,
    omit_empty,
    set_condition,
)
from emulator.kube.errors import KubeApiError
from emulator.kube.store import Obj

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Annotations of the Deployment that are not copied to its ReplicaSets.
_NOT_COPIED = (REVISION, "kubectl.kubernetes.io/last-applied-configuration")
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand


def pod_template_hash(template: dict[str, Any], collision_count: int | None) -> str:
    """FNV-32a of the template (and the collision count), encoded as controller.ComputeHash does
    (the template is hashed as canonical JSON rather than Go's spew dump)."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += collision_count.to_bytes(4, "little")
    digest = 0x811C9DC5
    for byte in data:
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[ord(char) % len(_SAFE_ALPHABET)] for char in str(digest))


def resolve_fraction(value: int | str | None, total: int, default: str, round_up: bool) -> int:
    """An IntOrString of maxSurge/maxUnavailable: an absolute number or a percentage of total."""
    value = default if value is None else value
    if isinstance(value, int):
        return value
    fraction = int(value.rstrip("%")) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def _replicas(obj: Obj) -> int:
    return obj["spec"].get("replicas", 1)


def _status_count(obj: Obj, field: str) -> int:
    return (obj.get("status") or {}).get(field, 0)


def _revision(rs: Obj) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(template)
    (template.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return template


class DeploymentController(Controller):
    source = "deployment-controller"

    async def reconcile(self) -> float | None:
        requeues = []
        for deployment in self.store.list_objects(self.rtype("apps/v1", "Deployment")):
            if not deployment["metadata"].get("deletionTimestamp"):
                requeues.append(await self._sync(deployment))
        return min_requeue(*requeues)

    async def _sync(self, deployment: Obj) -> float | None:
        conditions = [dict(c) for c in (deployment.get("status") or {}).get("conditions") or []]
        if not deployment["spec"].get("paused"):
            new_rs, old = self._replicasets(deployment)
            strategy = (deployment["spec"].get("strategy") or {}).get("type", "RollingUpdate")
            roll = self._rolling_update if strategy == "RollingUpdate" else self._recreate
            if not await roll(deployment, new_rs, old, conditions):
                self._clean_up(deployment, old)
        new_rs, old = self._replicasets(deployment)
        deployment = self.store.get(  # this pass may have written it (revision, collisions)
            self.rtype("apps/v1", "Deployment"),
            deployment["metadata"]["namespace"],
            deployment["metadata"]["name"],
        )
        return self._update_status(
            deployment, new_rs, [*old, *([new_rs] if new_rs else [])], conditions
        )

    def _replicasets(self, deployment: Obj) -> tuple[Obj | None, list[Obj]]:
        """The ReplicaSet of the current template (if any) and the others, oldest first."""
        replicasets = children(self, self.rtype("apps/v1", "ReplicaSet"), deployment)
        wanted = _without_hash(deployment["spec"]["template"])
        new_rs = next(
            (rs for rs in replicasets if _without_hash(rs["spec"]["template"]) == wanted), None
        )
        old = sorted(
            (rs for rs in replicasets if rs is not new_rs),
            key=lambda rs: (rs["metadata"]["creationTimestamp"], _revision(rs)),
        )
        return new_rs, old

    # Strategies: each returns True when it changed a ReplicaSet's replicas or created one.

    async def _rolling_update(
        self, deployment: Obj, new_rs: Obj | None, old: list[Obj], conditions: list[dict]
    ) -> bool:
        if new_rs is None:
            await self._create_new_rs(deployment, old, conditions)
            return True
        new_rs = self._sync_revision(deployment, new_rs, old)
        replicas = _replicas(deployment)
        if _replicas(new_rs) != replicas:
            target = replicas
            if _replicas(new_rs) < replicas:
                surge = resolve_fraction(
                    self._rolling(deployment, "maxSurge"), replicas, "25%", True
                )
                current = sum(_replicas(rs) for rs in [new_rs, *old])
                target = min(_replicas(new_rs) + max(replicas + surge - current, 0), replicas)
            if target != _replicas(new_rs):
                self._scale(deployment, new_rs, target)
                return True
        return self._scale_down_old(deployment, new_rs, old)

    def _scale_down_old(self, deployment: Obj, new_rs: Obj, old: list[Obj]) -> bool:
        """reconcileOldReplicaSets: unhealthy old replicas first, then as many as keep
        `replicas - maxUnavailable` pods available."""
        if sum(_replicas(rs) for rs in old) == 0:
            return False
        replicas = _replicas(deployment)
        min_available = replicas - self._max_unavailable(deployment)
        all_replicas = sum(_replicas(rs) for rs in [new_rs, *old])
        new_unavailable = _replicas(new_rs) - _status_count(new_rs, "availableReplicas")
        budget = all_replicas - min_available - new_unavailable
        if budget <= 0:
            return False
        scaled = False
        for rs in old:
            unhealthy = _replicas(rs) - _status_count(rs, "availableReplicas")
            cut = min(budget, unhealthy)
            if cut > 0:
                self._scale(deployment, rs, _replicas(rs) - cut)
                rs["spec"]["replicas"] = _replicas(rs) - cut
                budget -= cut
                scaled = True
        available = sum(_status_count(rs, "availableReplicas") for rs in [new_rs, *old])
        surplus = available - min_available
        for rs in old:
            if surplus <= 0:
                break
            cut = min(_replicas(rs), surplus)
            if cut > 0:
                self._scale(deployment, rs, _replicas(rs) - cut)
                surplus -= cut
                scaled = True
        return scaled

    async def _recreate(
        self, deployment: Obj, new_rs: Obj | None, old: list[Obj], conditions: list[dict]
    ) -> bool:
        running_old = [rs for rs in old if _replicas(rs) > 0]
        for rs in running_old:
            self._scale(deployment, rs, 0)
        if running_old:
            return True
        pod_type = self.rtype("v1", "Pod")
        if any(
            pods.phase(pod) not in pods.TERMINAL_PHASES
            for rs in old
            for pod in children(self, pod_type, rs)
        ):
            return False  # wait for the old pods to be gone
        if new_rs is None:
            await self._create_new_rs(deployment, old, conditions)
            return True
        new_rs = self._sync_revision(deployment, new_rs, old)
        if _replicas(new_rs) != _replicas(deployment):
            self._scale(deployment, new_rs, _replicas(deployment))
            return True
        return False

    # ReplicaSets

    async def _create_new_rs(self, deployment: Obj, old: list[Obj], conditions: list[dict]) -> None:
        """The ReplicaSet of the current template; after a name collision, the next pass hashes
        with the incremented collisionCount instead."""
        rs_type = self.rtype("apps/v1", "ReplicaSet")
        status = deployment.get("status") or {}
        template_hash = pod_template_hash(
            deployment["spec"]["template"], status.get("collisionCount")
        )
        template = copy.deepcopy(deployment["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = template_hash
        selector = copy.deepcopy(deployment["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = template_hash
        replicas = _replicas(deployment)
        strategy = (deployment["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate":
            surge = resolve_fraction(self._rolling(deployment, "maxSurge"), replicas, "25%", True)
            current = sum(_replicas(rs) for rs in old)
            replicas = min(max(replicas + surge - current, 0), replicas)
        name = f"{deployment['metadata']['name']}-{template_hash}"
        rs = {
            "metadata": {
                "name": name,
                "namespace": deployment["metadata"]["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    **self._copied_annotations(deployment),
                    REVISION: str(max((_revision(rs) for rs in old), default=0) + 1),
                },
                "ownerReferences": [controller_ref(deployment)],
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": deployment["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        try:
            created = await self.create(rs_type, rs)
        except KubeApiError as error:
            if error.code != 409:
                raise
            collisions = status.get("collisionCount", 0) + 1
            self.write_status(
                self.rtype("apps/v1", "Deployment"),
                deployment,
                {**status, "collisionCount": collisions},
            )
            return
        if replicas > 0:
            message = f"Scaled up replica set {name} from 0 to {replicas}"
            self.event(deployment, "ScalingReplicaSet", message)
        set_condition(
            conditions,
            self._condition(
                "Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{name}"'
            ),
        )
        self._write_revision(deployment, created)

    def _sync_revision(self, deployment: Obj, new_rs: Obj, old: list[Obj]) -> Obj:
        """A template rolled back to an old ReplicaSet makes that one the newest revision."""
        revision = max((_revision(rs) for rs in old), default=0) + 1
        if _revision(new_rs) < revision:
            new_rs = self.update(
                self.rtype("apps/v1", "ReplicaSet"),
                new_rs,
                lambda rs: (
                    rs["metadata"].setdefault("annotations", {}).update({REVISION: str(revision)})
                ),
            )
        self._write_revision(deployment, new_rs)
        return new_rs

    def _write_revision(self, deployment: Obj, new_rs: Obj) -> None:
        revision = (new_rs["metadata"].get("annotations") or {}).get(REVISION)
        annotations = deployment["metadata"].get("annotations") or {}
        if revision and annotations.get(REVISION) != revision:
            self.update(
                self.rtype("apps/v1", "Deployment"),
                deployment,
                lambda current: (
                    current["metadata"].setdefault("annotations", {}).update({REVISION: revision})
                ),
            )

    def _scale(self, deployment: Obj, rs: Obj, replicas: int) -> None:
        before = _replicas(rs)
        surge = resolve_fraction(
            self._rolling(deployment, "maxSurge"), _replicas(deployment), "25%", True
        )

        def scale(current: Obj) -> None:
            current["spec"]["replicas"] = replicas
            current["metadata"].setdefault("annotations", {}).update(
                {
                    DESIRED_REPLICAS: str(_replicas(deployment)),
                    MAX_REPLICAS: str(_replicas(deployment) + surge),
                }
            )

        self.update(self.rtype("apps/v1", "ReplicaSet"), rs, scale)
        direction = "up" if replicas > before else "down"
        self.event(
            deployment,
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {rs['metadata']['name']} from {before} to {replicas}",
        )

    def _clean_up(self, deployment: Obj, old: list[Obj]) -> None:
        """Old ReplicaSets without replicas beyond revisionHistoryLimit go, oldest first."""
        limit = deployment["spec"].get("revisionHistoryLimit", 10)
        idle = [rs for rs in old if _replicas(rs) == 0 and _status_count(rs, "replicas") == 0]
        for rs in idle[: max(len(idle) - limit, 0)]:
            self.store.delete(
                self.rtype("apps/v1", "ReplicaSet"),
                rs["metadata"]["namespace"],
                rs["metadata"]["name"],
            )

    # Status

    def _update_status(
        self, deployment: Obj, new_rs: Obj | None, replicasets: list[Obj], conditions: list[dict]
    ) -> float | None:
        replicas = _replicas(deployment)
        previous = deployment.get("status") or {}
        available = sum(_status_count(rs, "availableReplicas") for rs in replicasets)
        status: dict[str, Any] = omit_empty(
            {
                "observedGeneration": deployment["metadata"].get("generation", 1),
                "replicas": sum(_status_count(rs, "replicas") for rs in replicasets),
                "updatedReplicas": _status_count(new_rs, "replicas") if new_rs else 0,
                "readyReplicas": sum(_status_count(rs, "readyReplicas") for rs in replicasets),
                "availableReplicas": available,
                "unavailableReplicas": max(sum(_replicas(rs) for rs in replicasets) - available, 0),
                "collisionCount": previous.get("collisionCount", 0),
            },
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "collisionCount",
        )
        if available >= replicas - self._max_unavailable(deployment):
            available_condition = self._condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            available_condition = self._condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        _set_keeping_reason(conditions, available_condition)
        requeue = self._progress(deployment, new_rs, previous, status, conditions)
        status["conditions"] = conditions
        self.write_status(self.rtype("apps/v1", "Deployment"), deployment, status)
        return requeue

    def _progress(
        self,
        deployment: Obj,
        new_rs: Obj | None,
        previous: dict[str, Any],
        status: dict[str, Any],
        conditions: list[dict],
    ) -> float | None:
        """The Progressing condition (syncRolloutStatus); the modelled seconds until the
        progress deadline passes, while a rollout is under way."""
        subject = (
            f'ReplicaSet "{new_rs["metadata"]["name"]}"'
            if new_rs
            else f'Deployment "{deployment["metadata"]["name"]}"'
        )
        if deployment["spec"].get("paused"):
            _set_keeping_reason(
                conditions,
                self._condition(
                    "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"
                ),
            )
            return None
        replicas = _replicas(deployment)
        current = next((c for c in conditions if c["type"] == "Progressing"), None)
        if (
            current
            and current.get("reason") == "NewReplicaSetAvailable"
            and status.get("replicas", 0) == status.get("updatedReplicas", 0)
        ):
            return None  # the latest rollout is complete
        complete = (
            status.get("updatedReplicas", 0) == replicas
            and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status["observedGeneration"] >= deployment["metadata"].get("generation", 1)
        )
        if complete:
            _set_keeping_reason(
                conditions,
                self._condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f"{subject} has successfully progressed.",
                ),
            )
            return None
        progressed = any(
            status.get(field, 0) > previous.get(field, 0)
            for field in ("updatedReplicas", "readyReplicas", "availableReplicas")
        ) or (
            status.get("replicas", 0) - status.get("updatedReplicas", 0)
            < previous.get("replicas", 0) - previous.get("updatedReplicas", 0)
        )
        if progressed or current is None:
            condition = self._condition(
                "Progressing", "True", "ReplicaSetUpdated", f"{subject} is progressing."
            )
            if current is not None and current["status"] == "True":
                condition["lastTransitionTime"] = current["lastTransitionTime"]
            conditions[:] = [c for c in conditions if c["type"] != "Progressing"]
            conditions.append(condition)
            current = condition
        deadline = deployment["spec"].get("progressDeadlineSeconds", 600)
        left = self.modelled_seconds_left(current["lastUpdateTime"], deadline)
        if left <= 0 and current["status"] == "True":
            _set_keeping_reason(
                conditions,
                self._condition(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f"{subject} has timed out progressing.",
                ),
            )
            return None
        return max(left, 0.0)

    # Helpers

    def _condition(self, kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        now = self.now()
        return {
            "type": kind,
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    @staticmethod
    def _rolling(deployment: Obj, field: str) -> int | str | None:
        strategy = deployment["spec"].get("strategy") or {}
        return (strategy.get("rollingUpdate") or {}).get(field)

    def _max_unavailable(self, deployment: Obj) -> int:
        """deploymentutil.MaxUnavailable: none for Recreate; at least one when surge is zero."""
        replicas = _replicas(deployment)
        strategy = (deployment["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if strategy != "RollingUpdate" or replicas == 0:
            return 0
        surge = resolve_fraction(self._rolling(deployment, "maxSurge"), replicas, "25%", True)
        unavailable = resolve_fraction(
            self._rolling(deployment, "maxUnavailable"), replicas, "25%", False
        )
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return min(unavailable, replicas)

    @staticmethod
    def _copied_annotations(deployment: Obj) -> dict[str, str]:
        annotations = deployment["metadata"].get("annotations") or {}
        return {key: value for key, value in annotations.items() if key not in _NOT_COPIED}


def _set_keeping_reason(conditions: list[dict], condition: dict[str, Any]) -> None:
    """deploymentutil.SetDeploymentCondition: no change when status and reason are the same."""
    current = next((c for c in conditions if c["type"] == condition["type"]), None)
    if current and (current["status"], current.get("reason")) == (
        condition["status"],
        condition["reason"],
    ):
        return
    set_condition(conditions, condition)
