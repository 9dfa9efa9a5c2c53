"""The preflight's judgement of the facts: every problem at once, each with what was asked, what
is there and what to do; and the permissions every step declares."""

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from saxml_gke import preflight
from saxml_gke.cloud_quotas import CloudQuota, Quota
from saxml_gke.preflight import Facts, blocked, chip_metrics
from saxml_gke.spec import DeploymentSpec, build_spec

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
TUTORIAL = {"project_id": "my-project", "zone": "us-west4-a"}
REGULAR = ("1.32.6-gke.1096000", "1.31.9-gke.1044000")
VERSIONS = {
    "channels": [
        {"channel": "RAPID", "validVersions": ["1.33.2-gke.1240000", *REGULAR[:1]]},
        {"channel": "REGULAR", "validVersions": list(REGULAR)},
        {"channel": "STABLE", "validVersions": ["1.31.9-gke.1044000", "1.30.13-gke.1140000"]},
    ]
}
NEEDED = {"ensure_bucket": frozenset({"storage.buckets.get", "storage.buckets.create"})}
V5P = CloudQuota("TPU-V5P-per-project-region")
V5P_PREEMPTIBLE = CloudQuota("PREEMPTIBLE-TPU-V5P-per-project-region")
V6E = CloudQuota("TPUS-PER-TPU-FAMILY-per-project-region", (("tpu_family", "CT6E"),))
V6E_PREEMPTIBLE = CloudQuota("PREEMPTIBLE-TPU-V6E-per-project-region")


def spec(**overrides: Any) -> DeploymentSpec:
    return build_spec({**TUTORIAL, **overrides}, now=NOW)


def offered(*zones: str, machine_type: str = "ct5lp-hightpu-4t") -> dict[str, Any]:
    """Both machine types of the defaults in `zones`, as Compute describes them."""
    return {
        machine_type: {zone: {"name": machine_type, "zone": zone} for zone in zones},
        "e2-standard-4": {zone: {"name": "e2-standard-4", "guestCpus": 4} for zone in zones},
    }


def region(**limits: float | tuple[float, float]) -> dict[str, Any]:
    """A region's quotas: metric=limit, or metric=(limit, usage)."""
    defaults: dict[str, float | tuple[float, float]] = {
        "CPUS": 1500.0,
        "TPU_LITE_PODSLICE_V5": 512.0,
        "PREEMPTIBLE_TPU_LITE_PODSLICE_V5": 1536.0,
    }
    quotas = []
    for metric, value in {**defaults, **limits}.items():
        limit, usage = value if isinstance(value, tuple) else (value, 0.0)
        quotas.append({"metric": metric, "limit": limit, "usage": usage})
    return {"name": "us-west4", "quotas": quotas}


def reservation(name: str, count: int, in_use: int = 0, machine_type: str = "ct5lp-hightpu-4t"):
    return {
        "name": name,
        "specificReservation": {
            "instanceProperties": {"machineType": machine_type},
            "count": str(count),
            "inUseCount": str(in_use),
        },
    }


def facts(**overrides: Any) -> Facts:
    """Facts of a project where the tutorial's deployment can run, with `overrides`."""
    return Facts(
        **{
            "needed": NEEDED,
            "enabled": frozenset(preflight.REQUIRED_SERVICES),
            "granted": frozenset().union(*NEEDED.values()),
            "versions": VERSIONS,
            "offered": offered("us-west4-a"),
            "region": region(),
            "reservations": {},
            **overrides,
        }
    )


def problems(the_spec: DeploymentSpec, the_facts: Facts) -> list[str]:
    return [str(problem) for problem in preflight.preflight(the_spec, the_facts).problems]


def test_a_project_where_the_deployment_can_run_has_no_problem_and_says_what_it_checked():
    report = preflight.preflight(spec(), facts())
    assert report.problems == []
    assert "us-west4-a offers ct5lp-hightpu-4t" in report.checked
    assert "us-west4-a offers e2-standard-4" in report.checked
    assert "GKE latest is offered on REGULAR" in report.checked
    assert (
        "64 v5e chips fit in us-west4: TPU_LITE_PODSLICE_V5 has 512 of 512 free (0 in use)"
        in report.checked
    )
    assert "the caller holds 2 of the 2 permissions the 1 steps use" in report.checked


def test_every_problem_is_reported_at_once():
    the_facts = facts(
        enabled=frozenset({"compute.googleapis.com"}),
        granted=frozenset(),
        offered=offered("us-east5-b", machine_type="ct6e-standard-4t"),
        region=region(TPU_LITE_PODSLICE_V5=0.0),
        failed=(("the zone's reservations", "403 Required 'compute.reservations.list'"),),
    )
    found = problems(spec(tpu_generation="v6e", cluster_version="1.29"), the_facts)
    assert len(found) == 1 + 4 + 1 + 1 + 2  # a failed read, 4 APIs, a role, a version, 2 types


def test_a_machine_type_the_zone_lacks_names_the_zones_that_offer_it():
    the_facts = facts(
        offered=offered("us-east5-b", "europe-west4-a", machine_type="ct6e-standard-4t")
    )
    found = problems(spec(tpu_generation="v6e"), the_facts)
    assert found[0] == (
        "machine type ct6e-standard-4t in us-west4-a: the zone does not offer it. set zone to one "
        "that offers it (europe-west4-a, us-east5-b), or choose another tpu_generation"
    )


def test_a_machine_type_no_zone_offers_says_so():
    found = problems(spec(cpu_machine_type="n9-standard-4"), facts())
    assert found == [
        "machine type n9-standard-4 in us-west4-a: the zone does not offer it. no zone offers it "
        "to this project, or choose another cpu_machine_type"
    ]


def test_an_existing_cluster_needs_no_cpu_machine_type_version_or_cpu_quota():
    rerun = facts(
        cluster_pools=frozenset({"default-pool"}),
        offered={"ct5lp-hightpu-4t": {"us-west4-a": {}}},
        versions={"channels": []},
        region=region(CPUS=0.0),
    )
    assert problems(spec(cpu_machine_type="n9-standard-4", cluster_version="1.29"), rerun) == []
    assert preflight.machine_types_needed(spec(), frozenset()) == ["ct5lp-hightpu-4t"]
    assert preflight.machine_types_needed(spec(), None) == ["ct5lp-hightpu-4t", "e2-standard-4"]


@pytest.mark.parametrize("version", ["latest", "1.31", "1.31.9", "1.31.9-gke.1044000", "1.32"])
def test_versions_the_channel_offers_pass(version: str):
    assert problems(spec(cluster_version=version), facts()) == []


def test_a_version_the_channel_lacks_names_what_it_offers_and_which_channel_has_it():
    found = problems(spec(cluster_version="1.30"), facts())
    assert found == [
        "GKE version 1.30 on the REGULAR channel: REGULAR offers 1.32.6-gke.1096000, "
        "1.31.9-gke.1044000. set cluster_version to latest or one of those, or release_channel "
        "to STABLE, which offers it"
    ]
    [prefix_only] = problems(spec(cluster_version="1.3"), facts())  # 1.3 is not 1.31
    assert prefix_only.endswith("set cluster_version to latest or one of those")


def test_a_channel_gke_does_not_offer_is_a_problem():
    found = problems(
        spec(release_channel="STABLE"), facts(versions={"channels": VERSIONS["channels"][:2]})
    )
    assert found == [
        "GKE release channel STABLE in us-west4-a: GKE offers RAPID, REGULAR there. set "
        "release_channel to one of them"
    ]


@pytest.mark.parametrize(
    ("generation", "capacity", "metrics"),
    [
        ("v5e", "on-demand", ("TPU_LITE_PODSLICE_V5",)),
        ("v5e", "spot", ("PREEMPTIBLE_TPU_LITE_PODSLICE_V5",)),
        ("v5e", "flex-start", ("PREEMPTIBLE_TPU_LITE_PODSLICE_V5", "TPU_LITE_PODSLICE_V5")),
        ("v5e", "flex-start-queued", ("PREEMPTIBLE_TPU_LITE_PODSLICE_V5", "TPU_LITE_PODSLICE_V5")),
        ("v5e", "reservation", ()),
        ("v4", "on-demand", ("TPU_PODSLICE_V4",)),
        ("v4", "spot", ("PREEMPTIBLE_TPU_PODSLICE_V4",)),
        ("v5p", "on-demand", (V5P,)),
        ("v5p", "spot", (V5P_PREEMPTIBLE,)),
        ("v5p", "flex-start", (V5P_PREEMPTIBLE, V5P)),
        ("v6e", "on-demand", (V6E,)),
        ("v6e", "spot", (V6E_PREEMPTIBLE,)),
        ("v6e", "reservation", ()),
    ],
)
def test_each_provisioning_model_spends_its_chip_quota(generation, capacity, metrics):
    assert chip_metrics(generation, capacity) == metrics


def test_a_quota_that_covers_one_slice_of_two_says_so_and_what_would_work():
    found = problems(spec(), facts(region=region(TPU_LITE_PODSLICE_V5=32.0)))
    assert found == [
        "64 v5e chips in us-west4 for 2 on-demand slice(s) of 32: TPU_LITE_PODSLICE_V5 has 32 of "
        "32 free (0 in use): room for 1 of 2 slice(s). try capacity=spot "
        "(PREEMPTIBLE_TPU_LITE_PODSLICE_V5 has 1536 of 1536 free (0 in use)); or "
        "capacity=flex-start or flex-start-queued (PREEMPTIBLE_TPU_LITE_PODSLICE_V5 has 1536 of "
        "1536 free (0 in use)); or tpu_slices=1; or a quota increase for TPU_LITE_PODSLICE_V5 in "
        "us-west4: https://console.cloud.google.com/iam-admin/quotas?project=my-project"
    ]


def test_quota_in_use_counts_and_none_left_offers_no_smaller_deployment():
    used = facts(
        region=region(TPU_LITE_PODSLICE_V5=(512.0, 500.0), PREEMPTIBLE_TPU_LITE_PODSLICE_V5=0.0)
    )
    [found] = problems(spec(), used)
    assert "TPU_LITE_PODSLICE_V5 has 12 of 512 free (500 in use): room for 0 of 2" in found
    assert "tpu_slices" not in found
    assert "capacity=spot" not in found and "capacity=flex-start" not in found


def test_spot_spends_the_preemptible_quota():
    [found] = problems(
        spec(capacity="spot"), facts(region=region(PREEMPTIBLE_TPU_LITE_PODSLICE_V5=16.0))
    )
    assert found.startswith("64 v5e chips in us-west4 for 2 spot slice(s) of 32: PREEMPTIBLE_")
    assert "capacity=on-demand (TPU_LITE_PODSLICE_V5 has 512 of 512 free" in found


@pytest.mark.parametrize("capacity", ["flex-start", "flex-start-queued"])
def test_flex_start_falls_back_to_the_on_demand_quota(capacity: str):
    flex = spec(capacity=capacity, release_channel="RAPID")  # GKE 1.33: flex-start TPUs
    short = region(PREEMPTIBLE_TPU_LITE_PODSLICE_V5=0.0)
    assert problems(flex, facts(region=short)) == []
    both = region(PREEMPTIBLE_TPU_LITE_PODSLICE_V5=0.0, TPU_LITE_PODSLICE_V5=0.0)
    [found] = problems(flex, facts(region=both))
    assert "PREEMPTIBLE_TPU_LITE_PODSLICE_V5 has 0 of 0 free" in found
    assert "capacity=spot (" not in found  # the preemptible quota is short for it too
    assert "flex-start-queued (" not in found  # the same quotas: no way out


@pytest.mark.parametrize("capacity", ["flex-start", "flex-start-queued"])
def test_flex_start_tpus_need_gke_1_33_0_gke_1712000(capacity: str):
    """GKE's "About flex-start" (cloud.google.com/kubernetes-engine/docs/concepts/dws)."""
    assert problems(spec(capacity=capacity), facts()) == [
        f"capacity={capacity} with GKE latest on the REGULAR channel (1.32.6-gke.1096000): "
        "flex-start TPUs need GKE 1.33.0-gke.1712000 or later. set release_channel to RAPID "
        "(1.33.2-gke.1240000); or use capacity=on-demand, spot or reservation"
    ]
    report = preflight.preflight(spec(capacity=capacity, release_channel="RAPID"), facts())
    assert report.problems == []
    assert "GKE 1.33.2-gke.1240000 runs flex-start TPUs (1.33.0-gke.1712000 on)" in report.checked
    [older] = problems(spec(capacity=capacity, release_channel="RAPID", cluster_version="1.32"),
                       facts())  # fmt: skip
    assert older.startswith(
        f"capacity={capacity} with GKE 1.32 on the RAPID channel (1.32.6-gke.1096000): "
    )
    assert "set cluster_version to latest (1.33.2-gke.1240000)" in older
    [pinned] = problems(spec(capacity=capacity, cluster_version="1.31"), facts())
    assert "set release_channel to RAPID (1.33.2-gke.1240000) and cluster_version to latest" in (
        pinned
    )


def test_flex_start_tpus_on_an_existing_cluster_need_it_on_that_version():
    flex = spec(capacity="flex-start-queued")
    old = facts(cluster_pools=frozenset({"default-pool"}), cluster_version="1.32.6-gke.1096000")
    assert problems(flex, old) == [
        "capacity=flex-start-queued with cluster saxml on GKE 1.32.6-gke.1096000: flex-start "
        "TPUs need GKE 1.33.0-gke.1712000 or later. upgrade the cluster to 1.33.0-gke.1712000 "
        "or later; or use capacity=on-demand, spot or reservation"
    ]
    new = facts(cluster_pools=frozenset({"default-pool"}), cluster_version="1.33.0-gke.1712000")
    assert problems(flex, new) == []


def test_the_gke_version_is_checked_only_for_flex_start_and_only_when_known():
    assert problems(spec(capacity="spot"), facts()) == []  # REGULAR's 1.32 runs spot TPUs
    flex = spec(capacity="flex-start")
    assert problems(flex, facts(versions=None)) == []  # not read: a problem of its own
    [unoffered] = problems(flex, facts(versions={"channels": []}))
    assert unoffered.startswith("GKE release channel REGULAR")  # only the channel's problem


def cloud(**limits: tuple[float, float]) -> dict[CloudQuota, Quota]:
    """The v6e chip quotas Cloud Quotas keeps, each name=(limit, usage)."""
    quotas = {"V6E": V6E, "V6E_PREEMPTIBLE": V6E_PREEMPTIBLE}
    values = {"V6E": (512.0, 0.0), "V6E_PREEMPTIBLE": (1536.0, 0.0), **limits}
    return {quotas[name]: Quota(str(quotas[name]), *values[name]) for name in quotas}


def v6e(**overrides: Any) -> DeploymentSpec:
    return spec(tpu_generation="v6e", zone="us-east5-b", **overrides)


def v6e_facts(**overrides: Any) -> Facts:
    return facts(offered=offered("us-east5-b", machine_type="ct6e-standard-4t"), **overrides)


def test_v6e_chips_are_judged_by_the_quotas_cloud_quotas_keeps():
    report = preflight.preflight(v6e(), v6e_facts(cloud_quotas=cloud()))
    assert report.problems == []
    assert (
        "64 v6e chips fit in us-east5: TPUS-PER-TPU-FAMILY-per-project-region (tpu_family=CT6E) "
        "has 512 of 512 free (0 in use)" in report.checked
    )


def test_a_v6e_quota_that_covers_one_slice_of_two_names_the_quota_and_what_would_work():
    short = v6e_facts(cloud_quotas=cloud(V6E=(64.0, 32.0)))
    assert problems(v6e(), short) == [
        "64 v6e chips in us-east5 for 2 on-demand slice(s) of 32: TPUS-PER-TPU-FAMILY-per-project-"
        "region (tpu_family=CT6E) has 32 of 64 free (32 in use): room for 1 of 2 slice(s). try "
        "capacity=spot (PREEMPTIBLE-TPU-V6E-per-project-region has 1536 of 1536 free (0 in "
        "use)); or capacity=flex-start or flex-start-queued (PREEMPTIBLE-TPU-V6E-per-project-"
        "region has 1536 of 1536 free (0 in use)); or tpu_slices=1; or a quota increase for "
        "TPUS-PER-TPU-FAMILY-per-project-region (tpu_family=CT6E) in us-east5: "
        "https://console.cloud.google.com/iam-admin/quotas?project=my-project"
    ]


def test_cloud_quotas_are_read_only_for_the_generations_regions_do_not_report():
    assert preflight.cloud_quotas_needed(v6e()) == (V6E, V6E_PREEMPTIBLE)
    v5p = spec(tpu_generation="v5p", tpu_topology="2x4x4")
    assert preflight.cloud_quotas_needed(v5p) == (V5P, V5P_PREEMPTIBLE)
    assert preflight.cloud_quotas_needed(spec()) == ()  # v5e: regions.get reports it
    assert preflight.cloud_quotas_needed(v6e(capacity="reservation", reservation="r")) == ()


def test_a_quota_cloud_quotas_does_not_know_is_not_checked_and_says_so():
    report = preflight.preflight(v6e(), v6e_facts(cloud_quotas={}))
    assert report.problems == []
    assert report.unchecked == [
        "the v6e chip quota: us-east5 has no TPUS-PER-TPU-FAMILY-per-project-region "
        "(tpu_family=CT6E)"
    ]


def test_chip_quotas_not_read_are_not_judged():
    report = preflight.preflight(v6e(), v6e_facts(cloud_quotas=None))
    assert report.problems == [] and report.unchecked == []
    assert not any("v6e chip" in line for line in report.checked)
    assert problems(spec(), facts(region=None)) == []


def test_a_rerun_needs_quota_only_for_the_slices_it_still_creates():
    rerun = facts(
        cluster_pools=frozenset({"default-pool", "tpu1"}), region=region(TPU_LITE_PODSLICE_V5=32.0)
    )
    assert problems(spec(), rerun) == []
    done = facts(cluster_pools=frozenset({"tpu1", "tpu2"}), region=region(TPU_LITE_PODSLICE_V5=0.0))
    assert problems(spec(), done) == []


def test_the_cpu_pool_needs_cpus_quota():
    [found] = problems(spec(), facts(region=region(CPUS=(24.0, 12.0))))
    assert found.startswith(
        "16 vCPUs in us-west4 for the CPU pool (4 x e2-standard-4): CPUS has 12 of 24 free "
        "(12 in use). try fewer cpu_nodes"
    )


def test_missing_permissions_are_grouped_by_the_role_that_grants_them():
    needed = {
        **NEEDED,
        "preflight": frozenset({"compute.regions.get", "serviceusage.services.list"}),
        "ensure_cluster": frozenset({"container.clusters.create", "iam.serviceAccounts.actAs"}),
        **{f"step{i}": frozenset({"container.clusters.get"}) for i in range(5)},
        "custom": frozenset({"tpu.nodes.create"}),
    }
    granted = frozenset({"storage.buckets.get", "serviceusage.services.list"})
    found = problems(spec(), facts(needed=needed, granted=granted))
    assert found == [
        "the permissions the steps use in project my-project: the caller lacks "
        "compute.regions.get (preflight). grant roles/compute.viewer on the project to the "
        "connection's identity",
        "the permissions the steps use in project my-project: the caller lacks "
        "container.clusters.create (ensure_cluster), container.clusters.get (step0, step1, step2 "
        "and 2 more). grant roles/container.admin on the project to the connection's identity",
        "the permissions the steps use in project my-project: the caller lacks "
        "iam.serviceAccounts.actAs (ensure_cluster). grant roles/iam.serviceAccountUser on the "
        "project to the connection's identity",
        "the permissions the steps use in project my-project: the caller lacks "
        "storage.buckets.create (ensure_bucket). grant roles/storage.admin on the project to the "
        "connection's identity",
        "the permissions the steps use in project my-project: the caller lacks tpu.nodes.create "
        "(custom). grant a role with these permissions on the project to the connection's "
        "identity",
    ]


def test_a_disabled_api_says_how_to_enable_it():
    enabled = frozenset(preflight.REQUIRED_SERVICES) - {"iam.googleapis.com"}
    assert problems(spec(), facts(enabled=enabled)) == [
        "API iam.googleapis.com in project my-project: it is disabled. enable it: gcloud "
        "services enable iam.googleapis.com --project my-project"
    ]


RESERVED = {"capacity": "reservation", "reservation": "tpus"}


def test_a_reservation_that_holds_every_slice_passes_and_needs_no_quota():
    the_facts = facts(
        reservations={"tpus": reservation("tpus", 16)}, region=region(TPU_LITE_PODSLICE_V5=0.0)
    )
    report = preflight.preflight(spec(**RESERVED), the_facts)
    assert report.problems == []
    assert (
        "reservation tpus in us-west4-a has room for 16 nodes: tpus: 16 of 16 ct5lp-hightpu-4t "
        "VMs free" in report.checked
    )


def test_a_missing_reservation_lists_the_zones_reservations():
    the_facts = facts(reservations={"other": reservation("other", 8, 2)})
    assert problems(spec(**RESERVED), the_facts) == [
        "reservation tpus in us-west4-a: it does not exist (the zone's reservations: other: 6 of "
        "8 ct5lp-hightpu-4t VMs free). set reservation to one of the zone's, or use "
        "capacity=on-demand, spot, flex-start or flex-start-queued"
    ]
    assert "(the zone's reservations: none)" in problems(spec(**RESERVED), facts())[0]


def test_a_reservation_of_another_machine_type_is_a_problem():
    wrong = facts(reservations={"tpus": reservation("tpus", 16, machine_type="ct6e-standard-4t")})
    [found] = problems(spec(**RESERVED), wrong)
    assert found.startswith(
        "reservation tpus in us-west4-a for ct5lp-hightpu-4t: it holds ct6e-standard-4t VMs. use "
        "a reservation of ct5lp-hightpu-4t"
    )


def test_a_reservation_too_small_for_every_slice_says_how_many_fit():
    small = facts(reservations={"tpus": reservation("tpus", 12, in_use=2)})
    assert problems(spec(**RESERVED), small) == [
        "16 ct5lp-hightpu-4t nodes of reservation tpus in us-west4-a for 2 slice(s) of 8: tpus: "
        "10 of 12 ct5lp-hightpu-4t VMs free: room for 1 of 2 slice(s). try a larger reservation; "
        "or tpu_slices=1; or capacity=on-demand, spot, flex-start or flex-start-queued"
    ]
    rerun = facts(
        cluster_pools=frozenset({"tpu1"}), reservations={"tpus": reservation("tpus", 16, 8)}
    )
    assert problems(spec(**RESERVED), rerun) == []  # tpu1's nodes are the ones in use


def test_a_read_that_failed_is_a_problem_and_facts_not_read_are_not_judged():
    failed = Facts(needed=NEEDED, failed=(("the region's quotas", "403 Forbidden"),))
    assert problems(spec(), failed) == [
        "reading the region's quotas: 403 Forbidden. the check could not run: fix the cause and "
        "rerun"
    ]


def test_a_read_is_blocked_by_a_disabled_api_or_a_missing_permission():
    quotas = preflight.QUOTAS
    assert blocked(quotas, None, None) == ""
    assert blocked(quotas, frozenset({"compute.googleapis.com"}), frozenset()) == (
        "the caller lacks compute.regions.get"
    )
    assert blocked(quotas, frozenset(), frozenset()) == "compute.googleapis.com is disabled"
    assert blocked(preflight.PERMISSIONS, frozenset(preflight.REQUIRED_SERVICES), frozenset()) == ""


def test_every_step_declares_its_permissions_and_the_preflight_tests_them_all():
    from saxml_gke.workflows import deploy_dag

    dag = deploy_dag()
    needed = dag.get_task("preflight").steps_permissions()
    without = {task_id for task_id in dag.task_ids if task_id not in needed}
    assert without == {"plan", "report", "decide_teardown"}  # no API calls of their own
    assert needed["preflight"] == preflight.READ_PERMISSIONS
    assert {"container.clusters.create", "iam.serviceAccounts.actAs"} <= needed["ensure_cluster"]
    assert "storage.buckets.delete" in needed["teardown.delete_bucket"]
    every = frozenset().union(*needed.values())
    # Resource Manager refuses a malformed or wildcard permission: each is service.resource.verb.
    assert all(re.fullmatch(r"[a-z]+\.[a-zA-Z]+\.[a-zA-Z]+", p) for p in every), every
    # A missing one is always answered with a predefined role to grant.
    lacking = problems(spec(), facts(needed=needed, granted=frozenset()))
    assert lacking and not any("a role with these permissions" in text for text in lacking)
