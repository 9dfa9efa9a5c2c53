"""Find what the nightly teardown should remove: expired deployments, and orphans.

A deployment is found by its identity (`saxml_gke.ownership`): on its cluster's labels, or, in an
adopted cluster, on its node pools'. Its spec comes from the ConfigMap the deploy run stored in
the cluster, or, when that cannot be read, is derived from the identity (teardown deletes only
what carries that identity, so a derived name cannot hit anything else). Orphans are buckets,
load balancer addresses and Google service accounts (the pods' and the nodes') carrying an
identity whose cluster is gone; an orphan address may still carry the forwarding rule a cluster
deleted before its Service left behind, and the teardown removes that rule with it.

Each item is judged on its own: one that cannot be (labels that name no consistent identity, a
malformed `expires-at`, an API error) is recorded as a problem and the others still go; the run
fails at the end listing the problems. While GKE cannot list a location, no orphan that could
belong to it is judged: its cluster may well exist.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from saxml_gke import naming
from saxml_gke.bodies import SPEC_CONFIG_MAP, stored_spec
from saxml_gke.hooks.compute import ComputeHook
from saxml_gke.hooks.gke import GkeHook
from saxml_gke.hooks.iam import IamHook
from saxml_gke.hooks.kube import KubeHook
from saxml_gke.hooks.storage import StorageHook
from saxml_gke.ownership import (
    LABEL_MANAGED_BY,
    MANAGED_BY,
    Owner,
    account_marks,
    claimed_owner,
    describe_marks,
    expired,
    looks_managed,
)
from saxml_gke.spec import build_spec

ANY_ZONE = "-"
log = logging.getLogger(__name__)


@dataclass
class Found:
    """What to tear down (specs as dicts), and what could not be judged, each naming its item."""

    specs: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def attempt(self, item: str, judge: Callable[[], None]) -> None:
        """Run `judge`; a failure becomes a problem naming the item, and the rest goes on."""
        try:
            judge()
        except Exception as error:
            log.warning("Cannot handle %s: %s", item, error)
            self.problems.append(f"{item}: {error}")


@dataclass(frozen=True)
class Scope:
    """Which deployments a run may touch: one named deployment, or every expired one."""

    project_id: str
    zone: str  # "" for every location
    cluster_name: str  # "" for every expired deployment
    now: datetime

    def selects(self, owner: Owner, labels: Mapping[str, str]) -> bool:
        """Raises ValueError when the expiry of an unnamed deployment cannot be read."""
        if self.zone and owner.location != self.zone:
            return False
        if self.cluster_name:
            return owner.cluster == self.cluster_name
        return expired(labels, self.now)


def find_deployments(
    *, project_id: str, zone: str, cluster_name: str, now: datetime, gcp_conn_id: str
) -> Found:
    """The named deployment, else the expired ones, plus orphans of either kind."""
    scope = Scope(project_id, zone, cluster_name, now)
    found = Found()
    clusters, unreachable = GkeHook(gcp_conn_id=gcp_conn_id).list_clusters(
        project_id=project_id, zone=zone or ANY_ZONE
    )
    if unreachable:
        found.problems.append(
            f"GKE could not list clusters in {', '.join(unreachable)}: their deployments were "
            "not judged, nor any orphan that could be theirs"
        )
    for cluster in clusters:
        where = f"cluster {cluster['name']} in {cluster['location']}"
        found.attempt(where, lambda c=cluster: _judge_cluster(c, scope, found, gcp_conn_id))
    alive = {Owner(project_id, c["location"], c["name"]) for c in clusters}
    _judge_orphans(scope, alive, unreachable, found, gcp_conn_id)
    return found


def _judge_cluster(cluster: dict[str, Any], scope: Scope, found: Found, gcp_conn_id: str) -> None:
    """Its own deployment (the cluster's labels), or one adopted it (its pools' labels)."""
    here = Owner(scope.project_id, cluster["location"], cluster["name"])
    labels = cluster.get("resourceLabels") or {}
    adopted = False
    if not here.owns(labels):
        if looks_managed(labels):
            raise ValueError(f"carries {describe_marks(labels)} but not its own identity")
        pools = [
            pool_labels
            for pool in cluster.get("nodePools") or []
            if here.owns(pool_labels := (pool.get("config") or {}).get("resourceLabels") or {})
        ]
        if not pools:
            return  # no deployment of ours
        labels, adopted = pools[0], True
    if scope.selects(here, labels):
        found.specs.append(_spec_of(cluster, here, adopted, scope.now, gcp_conn_id))


def _spec_of(
    cluster: dict[str, Any], owner: Owner, adopted: bool, now: datetime, gcp_conn_id: str
) -> dict[str, Any]:
    if cluster.get("status") == "RUNNING" and cluster.get("endpoint"):
        kube = KubeHook(
            endpoint=cluster["endpoint"],
            ca_certificate=cluster["masterAuth"]["clusterCaCertificate"],
            gcp_conn_id=gcp_conn_id,
        )
        namespace, name = SPEC_CONFIG_MAP
        stored = stored_spec(owner, kube.get("v1", "ConfigMap", name, namespace=namespace))
        if stored is not None:
            return stored
    return _derived_spec(owner, {"adopt_cluster": adopted}, now)


def _derived_spec(owner: Owner, conf: dict[str, Any], now: datetime) -> dict[str, Any]:
    spec = build_spec(
        {"project_id": owner.project_id, "zone": owner.location, "cluster_name": owner.cluster,
         **conf},
        now=now,
    )  # fmt: skip
    if spec.owner != owner:  # cannot happen unless the identity's parts changed meaning
        raise ValueError(f"a spec derived for {owner} has the identity {spec.owner}")
    return spec.to_dict()


def _exposure_of(address: Mapping[str, Any]) -> dict[str, Any]:
    """The exposure of the deployment that reserved `address`, so that its derived spec names
    the address again. The source ranges it admitted are not recorded, and a teardown needs
    none: any range derives the same names."""
    ranges = {"http_source_ranges": ["0.0.0.0/0"]}
    if address.get("addressType") == "INTERNAL":
        return {"http_exposure": "internal", **ranges}
    return {"http_exposure": "external", **ranges, "allow_public_http": True}


def _judge_orphans(
    scope: Scope, alive: set[Owner], unreachable: list[str], found: Found, gcp_conn_id: str
) -> None:
    """Buckets, addresses and service accounts of deployments whose cluster is gone, grouped
    by deployment into one conf each (naming what exists), then derived into specs."""
    confs: dict[Owner, dict[str, Any]] = {}

    def judge(labels: Mapping[str, str], names: dict[str, str]) -> None:
        if not looks_managed(labels):
            return
        owner = claimed_owner(scope.project_id, labels)
        if owner is None:
            raise ValueError(f"carries {describe_marks(labels)}, which name no deployment")
        if owner in alive or _in(owner.location, unreachable):
            return
        if scope.selects(owner, labels):
            confs.setdefault(owner, {}).update(names)

    for kind, listing in _orphan_candidates(scope.project_id, gcp_conn_id):
        candidates: list[Candidate] = []
        found.attempt(f"the list of {kind}", lambda f=listing, c=candidates: c.extend(f()))
        for item, labels, names in candidates:
            found.attempt(item, lambda m=labels, n=names: judge(m, n))
    for owner, conf in confs.items():
        found.attempt(
            f"orphans of deployment {owner}",
            lambda o=owner, c=conf: found.specs.append(_derived_spec(o, c, scope.now)),
        )


# One resource that could be an orphan: what to call it, its marks, the conf naming it.
Candidate = tuple[str, Mapping[str, str], dict[str, str]]


def _orphan_candidates(
    project_id: str, gcp_conn_id: str
) -> list[tuple[str, Callable[[], list[Candidate]]]]:
    """Each kind that can outlive its cluster, with the call listing its candidates (run by
    the caller, so that one failing list does not stop the others)."""

    def buckets() -> list[Candidate]:
        listed = StorageHook(gcp_conn_id=gcp_conn_id).list_buckets(project_id=project_id)
        return [(f"bucket gs://{b.name}", b.labels or {}, {"bucket": b.name}) for b in listed]

    def addresses() -> list[Candidate]:
        listed = ComputeHook(gcp_conn_id=gcp_conn_id).list_addresses(
            project_id=project_id, region=None, label=(LABEL_MANAGED_BY, MANAGED_BY)
        )
        return [
            (
                f"address {a['name']} in {a['region'].rsplit('/', 1)[-1]}",
                a.get("labels") or {},
                _exposure_of(a),
            )
            for a in listed
        ]

    def accounts() -> list[Candidate]:
        listed = IamHook(gcp_conn_id=gcp_conn_id).list_service_accounts(project_id=project_id)
        return [
            (f"service account {a['email']}", marks, _account_conf(project_id, a["email"], marks))
            for a in listed
            for marks in [account_marks(a.get("description", ""))]
        ]

    return [("buckets", buckets), ("addresses", addresses), ("service accounts", accounts)]


def _account_conf(project_id: str, email: str, marks: Mapping[str, str]) -> dict[str, str]:
    """The conf naming an account: the nodes' account is derived from the identity, any other
    is the deployment's Google SA (`gsa_name`)."""
    owner = claimed_owner(project_id, marks)
    account_id = email.split("@", 1)[0]
    if owner is not None and account_id == naming.node_service_account(owner):
        return {}
    return {"gsa_name": account_id}


def _in(location: str, unreachable: list[str]) -> bool:
    """Whether a zone is, or is in, a location GKE could not reach."""
    return any(location == gone or location.startswith(f"{gone}-") for gone in unreachable)


def existing_resources(spec: dict[str, Any], *, gcp_conn_id: str) -> list[str]:
    """What of a deployment exists now: what tearing it down would delete."""
    from saxml_gke.operators.teardown import VerifyTeardownOperator, leftovers

    return leftovers(
        VerifyTeardownOperator(task_id="would_tear_down", spec=spec, gcp_conn_id=gcp_conn_id)
    )
