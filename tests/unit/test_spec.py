"""Validation and derivation of the DeploymentSpec: every rule, valid and invalid."""

from datetime import UTC, datetime
from typing import Any

import pytest

from saxml_gke.parameters import PARAMETERS
from saxml_gke.spec import JOBSET_RELEASE_SHA256, DeploymentSpec, InvalidParameters, build_spec

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
DIGEST = "0123456789abcdef" * 4
TUTORIAL = {"project_id": "my-project", "zone": "us-west4-a"}
NUMBERS = [name for name, schema in PARAMETERS.items() if "number" in schema["type"]]
NON_FINITE = [float("nan"), float("inf"), float("-inf")]


def build(**overrides: Any) -> DeploymentSpec:
    return build_spec({**TUTORIAL, **overrides}, now=NOW)


def problems(**overrides: Any) -> dict[str, str]:
    """param -> message of every problem a conf has."""
    with pytest.raises(InvalidParameters) as raised:
        build(**overrides)
    return {problem.param: problem.message for problem in raised.value.problems}


def test_tutorial_defaults_derive_the_tutorial_names() -> None:
    spec = build()
    assert spec.cluster.name == "saxml"
    assert spec.cluster.region == "us-west4"
    assert spec.cluster.workload_pool == "my-project.svc.id.goog"
    assert [pool.name for pool in spec.tpu.node_pools] == ["tpu1", "tpu2"]
    assert {
        (p.machine_type, p.node_count, p.topology, p.multi_host) for p in spec.tpu.node_pools
    } == {("ct5lp-hightpu-4t", 8, "4x8", True)}
    assert spec.tpu.chips_per_slice == 32
    assert spec.tpu.chips_per_node == 4
    assert spec.tpu.accelerator == "tpu-v5-lite-podslice"
    assert spec.tpu.platform_chip == "tpuv5e"
    assert spec.tpu.cost_per_hour == 76.8
    # The deployment's own names (a hash of my-project/us-west4-a/saxml), not the tutorial's.
    assert spec.storage.bucket == "my-project-saxml-b0a48d5c"
    assert spec.storage.sax_root == "gs://my-project-saxml-b0a48d5c/sax-root"
    assert spec.storage.location == "US-WEST4"
    assert spec.identity.gsa_email == "sax-saxml-b0a48d5c@my-project.iam.gserviceaccount.com"
    assert spec.identity.workload_identity_member == (
        "serviceAccount:my-project.svc.id.goog[default/sax-sa]"
    )
    assert spec.saxml.model_replicas == 2
    assert spec.saxml.leader_hostnames == (
        "sax-model-server-set-sax-model-server-0-0",
        "sax-model-server-set-sax-model-server-1-0",
    )
    assert spec.saxml.jobset_manifest_url == (
        "https://github.com/kubernetes-sigs/jobset/releases/download/v0.12.0/manifests.yaml"
    )
    # What GitHub's release asset hashes to (and the release file without kustomize's warning).
    assert spec.saxml.jobset_manifest_sha256 == (
        "a41aaf12dd0b7b0a3d626b8d6107f32c3dc889d7e7830adc46b8cdb77a8963bb"
    )
    assert spec.labels == {
        "managed-by": "saxml-gke",
        "saxml-gke-deployment": "saxml",
        "saxml-gke-id": "b0a48d5c7a98b8876e92",
        "saxml-gke-location": "us-west4-a",
        "expires-at": "20261125t200000z",
    }


def test_spec_round_trips_through_a_json_xcom() -> None:
    import json

    spec = build(labels={"team": "ml"}, namespace="serving")
    assert DeploymentSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_a_stored_spec_from_before_reserved_addresses_still_loads() -> None:
    stored = build().to_dict()
    del stored["saxml"]["http_address"]
    assert DeploymentSpec.from_dict(stored).saxml.http_address == ""


@pytest.mark.parametrize(
    ("exposure", "address"),
    [("internal", "saxml-sax-http"), ("external", "saxml-sax-http"), ("none", "")],
)
def test_a_load_balancer_gets_a_reserved_address_named_after_the_deployment(
    exposure: str, address: str
) -> None:
    assert build(**OPEN[exposure]).saxml.http_address == address


# Each exposure as a conf that opens it on purpose.
OPEN: dict[str, dict[str, Any]] = {
    "none": {"http_exposure": "none"},
    "internal": {"http_exposure": "internal", "http_source_ranges": ["10.0.0.0/8"]},
    "external": {
        "http_exposure": "external",
        "http_source_ranges": ["203.0.113.0/24", "2001:db8::/32"],
        "allow_public_http": True,
    },
}


def test_by_default_nothing_is_exposed() -> None:
    spec = build()
    assert spec.saxml.http_exposure == "none"
    assert spec.saxml.http_address == ""
    assert spec.saxml.http_source_ranges == ()


def test_a_load_balancer_admits_its_source_ranges() -> None:
    spec = build(**OPEN["external"])
    assert spec.saxml.http_source_ranges == ("203.0.113.0/24", "2001:db8::/32")
    assert DeploymentSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("conf", "param", "fragment"),
    [
        ({"http_exposure": "internal"}, "http_source_ranges", "required with http_exposure=int"),
        ({**OPEN["external"], "http_source_ranges": []}, "http_source_ranges", "required with"),
        ({**OPEN["internal"], "http_source_ranges": ["10.0.0.1/8"]}, "http_source_ranges",
         "not a CIDR range (10.0.0.1/8 has host bits set)"),
        ({**OPEN["internal"], "http_source_ranges": ["10.0.0.1"]}, "http_source_ranges",
         "not a CIDR range (no /prefix length)"),
        ({**OPEN["internal"], "http_source_ranges": ["10.0.0.0/33"]}, "http_source_ranges",
         "not a CIDR range"),
        ({**OPEN["internal"], "http_source_ranges": ["10.0.0.0/8\n"]}, "http_source_ranges",
         "character U+000A"),
        ({**OPEN["internal"], "http_source_ranges": "10.0.0.0/8"}, "http_source_ranges",
         "not of type"),
        ({"http_source_ranges": ["10.0.0.0/8"]}, "http_source_ranges", "none has no load"),
        ({**OPEN["external"], "allow_public_http": False}, "allow_public_http",
         "http_exposure=external needs allow_public_http=true"),
    ],
)  # fmt: skip
def test_a_load_balancer_opens_only_on_purpose(
    conf: dict[str, Any], param: str, fragment: str
) -> None:
    assert fragment in problems(**conf)[param]


def test_stored_specs_without_source_ranges_still_load() -> None:
    stored = build(**OPEN["internal"]).to_dict()
    del stored["saxml"]["http_source_ranges"], stored["saxml"]["http_admin_service"]
    loaded = DeploymentSpec.from_dict(stored).saxml
    assert (loaded.http_source_ranges, loaded.http_admin_service) == ((), "sax-http")


def test_ttl_zero_never_expires() -> None:
    spec = build(ttl_hours=0)
    assert spec.expires_at is None
    assert "expires-at" not in spec.labels


def test_auto_topology_picks_the_smallest_slice_that_fits() -> None:
    spec = build(tpu_topology="auto", model_size_b=175, model_path="my.custom.Model")
    assert spec.tpu.topology == "4x8"
    assert spec.saxml.model_in_catalog is False


def test_spot_and_reservation_reach_the_node_pools() -> None:
    assert [pool.spot for pool in build(capacity="spot").tpu.node_pools] == [True, True]
    pools = build(capacity="reservation", reservation="my-res").tpu.node_pools
    assert {pool.reservation for pool in pools} == {"my-res"}


def test_flex_start_and_the_capacity_wait_reach_the_spec() -> None:
    spec = build(capacity="flex-start", capacity_wait_minutes=90.0)
    assert spec.tpu.capacity == "flex-start"
    assert spec.waits.capacity_wait == 90 * 60
    assert build().waits.capacity_wait == 0  # a stockout fails at once
    old = build().to_dict()
    del old["waits"]["capacity_wait"]
    assert DeploymentSpec.from_dict(old).waits.capacity_wait == 0  # specs of earlier versions


def test_flex_start_queued_names_its_request_and_every_pool_is_queued() -> None:
    spec = build(capacity="flex-start-queued")
    assert spec.tpu.provisioning.flex_start and spec.tpu.provisioning.queued
    assert [(pool.flex_start, pool.queued) for pool in spec.tpu.node_pools] == [(True, True)] * 2
    assert (spec.saxml.model_pod_template, spec.saxml.provisioning_request) == (
        "sax-model-server-template",
        "sax-model-server-request",
    )
    flex = build(capacity="flex-start")
    assert flex.tpu.provisioning.flex_start and not flex.tpu.provisioning.queued
    assert [pool.queued for pool in flex.tpu.node_pools] == [False, False]
    assert (flex.saxml.model_pod_template, flex.saxml.provisioning_request) == ("", "")
    old = spec.to_dict()  # as a version before flex-start-queued stored it
    for pool in old["tpu"]["node_pools"]:
        del pool["queued"]
    del old["saxml"]["model_pod_template"], old["saxml"]["provisioning_request"]
    old["tpu"]["capacity"] = "flex-start"
    loaded = DeploymentSpec.from_dict(old)
    assert not loaded.tpu.node_pools[0].queued and loaded.saxml.provisioning_request == ""


@pytest.mark.parametrize(
    ("ttl_hours", "seconds"), [(1, 3600), (24, 86400), (168, 604800), (8760, 604800), (0, 604800)]
)
def test_flex_start_nodes_run_until_the_ttl_at_most_seven_days(ttl_hours: int, seconds: int):
    """GKE's maximum (and default, with no TTL) run duration of flex-start VMs is 7 days."""
    assert build(capacity="flex-start-queued", ttl_hours=ttl_hours).max_run_seconds == seconds


def test_explicit_replicas_and_bucket_are_kept() -> None:
    spec = build(model_replicas=1, bucket="my.bucket_name-1")
    assert spec.saxml.model_replicas == 1
    assert spec.storage.bucket == "my.bucket_name-1"


def test_the_tutorials_names_are_possible_when_set_explicitly() -> None:
    spec = build(bucket="my-project-gke-bucket", gsa_name="sax-iam-sa")
    assert spec.storage.bucket == "my-project-gke-bucket"
    assert spec.identity.gsa_email == "sax-iam-sa@my-project.iam.gserviceaccount.com"


def test_deployments_that_differ_in_one_part_of_their_identity_share_no_default_name() -> None:
    specs = [
        build(),
        build(cluster_name="saxml2"),
        build(zone="us-west4-b"),
        build(project_id="other-project"),
    ]
    assert len({spec.storage.bucket for spec in specs}) == 4
    assert len({spec.identity.gsa_email for spec in specs}) == 4
    assert len({spec.labels["saxml-gke-id"] for spec in specs}) == 4


def test_adopt_flags_are_carried_and_specs_of_earlier_versions_load() -> None:
    spec = build(adopt_cluster=True, adopt_bucket=True)
    assert spec.cluster.adopted and spec.storage.adopted
    old = build().to_dict()
    del old["cluster"]["adopted"], old["storage"]["adopted"]
    for key in ("saxml-gke-id", "saxml-gke-location"):
        del old["labels"][key]
    loaded = DeploymentSpec.from_dict(old)
    assert not loaded.cluster.adopted and not loaded.storage.adopted
    assert loaded.labels == build().labels  # what it writes from now on carries its identity


@pytest.mark.parametrize(
    ("overrides", "param", "fragment"),
    [
        ({"project_id": "Bad"}, "project_id", "6-30 lowercase"),
        ({"project_id": "p"}, "project_id", "6-30 lowercase"),
        ({"zone": "uswest4a"}, "zone", "e.g. us-west4-a"),
        ({"cluster_name": "Saxml"}, "cluster_name", "lowercase letters"),
        ({"cluster_name": "a" * 41}, "cluster_name", "longer than 40"),
        ({"cluster_name": "ends-"}, "cluster_name", "lowercase letters"),
        ({"release_channel": "EXTENDED"}, "release_channel", "RAPID, REGULAR, STABLE"),
        ({"cluster_version": "1.31-latest"}, "cluster_version", "explicit version"),
        ({"cpu_nodes": 0}, "cpu_nodes", "minimum"),
        ({"cpu_nodes": "4"}, "cpu_nodes", "not of type"),
        ({"tpu_generation": "v7"}, "tpu_generation", "v4, v5e, v5p, v6e"),
        ({"tpu_topology": "4x4x4"}, "tpu_topology", "4x8"),
        ({"tpu_generation": "v5p", "tpu_topology": "4x8"}, "tpu_topology", "v5p"),
        ({"tpu_topology": "huge"}, "tpu_topology", "auto"),
        ({"tpu_topology": "auto"}, "tpu_topology", "model_size_b"),
        ({"tpu_slices": 0}, "tpu_slices", "minimum"),
        ({"capacity": "preemptible"}, "capacity", "on-demand, spot, reservation, flex-start"),
        ({"capacity": "flex-start", "reservation": "r1"}, "reservation", "only allowed with"),
        ({"capacity_wait_minutes": -1}, "capacity_wait_minutes", "allowed: >= 0 and <= 1440"),
        ({"capacity_wait_minutes": 1441}, "capacity_wait_minutes", "allowed: >= 0 and <= 1440"),
        ({"capacity_wait_minutes": "ten"}, "capacity_wait_minutes", "not of type 'number'"),
        ({"capacity": "reservation"}, "reservation", "reservation's name"),
        ({"reservation": "r1"}, "reservation", "only allowed with capacity=reservation"),
        ({"model_size_b": 0}, "model_size_b", "less than or equal to the minimum"),
        ({"model_size_b": 600}, "model_size_b", "GB of HBM"),
        ({"tpu_topology": "auto", "model_size_b": 5000}, "model_size_b", "largest TPU v5e slice"),
        ({"bucket": "goog-bucket"}, "bucket", "do not start with goog"),
        ({"bucket": "my-google-bucket"}, "bucket", "contain google"),
        ({"cluster_name": "my-google"}, "cluster_name", "contain google"),
        ({"bucket": "Upper"}, "bucket", "3-63"),
        ({"bucket": "ab"}, "bucket", "3-63"),
        ({"bucket": "192.168.1.1"}, "bucket", "IP addresses"),
        ({"bucket": "a" * 64}, "bucket", "longer than 63"),
        ({"namespace": "Serving"}, "namespace", "namespace"),
        ({"ksa_name": "sa_1"}, "ksa_name", "service account"),
        ({"gsa_name": "short"}, "gsa_name", "shorter than 6"),
        ({"gsa_name": "a" * 31}, "gsa_name", "longer than 30"),
        ({"jobset_version": "0.12.0"}, "jobset_version", "JobSet release"),
        ({"jobset_manifest_url": "http://example.com/m.yaml"}, "jobset_manifest_url", "loopback"),
        ({"jobset_manifest_url": "ftp://127.0.0.1/m.yaml"}, "jobset_manifest_url", "https"),
        ({"jobset_manifest_url": "https://"}, "jobset_manifest_url", "https"),
        ({"saxml_admin_image": "no spaces allowed"}, "saxml_admin_image", "image reference"),
        ({"saxml_model_image": "repo/Upper:v1"}, "saxml_model_image", "image reference"),
        ({"saxml_http_image": ""}, "saxml_http_image", "shorter than 1"),
        ({"sax_cell": "/sax/Test"}, "sax_cell", "lowercase"),
        ({"sax_cell": "sax/test"}, "sax_cell", "lowercase"),
        ({"model_key": "/sax/other/spmd"}, "model_key", "inside sax_cell"),
        ({"model_key": "/sax/test/Spmd"}, "model_key", "lowercase"),
        ({"model_path": "1bad"}, "model_path", "registry path"),
        ({"checkpoint": "gs://b/ck pt"}, "checkpoint", "Checkpoint path"),
        ({"model_replicas": 3}, "model_replicas", "at most tpu_slices (2)"),
        ({"model_replicas": 0}, "model_replicas", "minimum"),
        ({"prompt": ""}, "prompt", "shorter than 1"),
        ({"http_exposure": "public"}, "http_exposure", "external, internal, none"),
        ({"teardown": "sometimes"}, "teardown", "on_failure, always, never"),
        ({"ttl_hours": -1}, "ttl_hours", "minimum"),
        ({"labels": []}, "labels", "not of type"),
        ({"labels": {"team": 1}}, "labels", "not of type"),
        ({"labels": {"Team": "ml"}}, "labels", "keys are"),
        ({"labels": {"team": "ML"}}, "labels", "values are"),
        ({"labels": {"managed-by": "me"}}, "labels", "set by saxml-gke"),
        ({"labels": {f"k{i}": "v" for i in range(62)}}, "labels", "at most 59"),
        ({"surprise": 1}, "surprise", "unknown parameter"),
        # Strict input: one line of visible characters, finite numbers, whole integers.
        ({"cluster_name": "saxml\n"}, "cluster_name", "character U+000A; expected: GKE cluster"),
        ({"cluster_name": "sax\u200bml"}, "cluster_name", "character U+200B"),
        ({"namespace": "serving\n"}, "namespace", "character U+000A"),
        ({"cluster_version": "1.31\n"}, "cluster_version", "character U+000A"),
        ({"checkpoint": "gs://b/ckpt\n"}, "checkpoint", "character U+000A"),
        ({"checkpoint": "gs://b/ckpt\u00e9"}, "checkpoint", "Checkpoint path"),
        ({"prompt": "How many days?\n"}, "prompt", "character U+000A"),
        ({"prompt": "How\u2028many\u202edays?"}, "prompt", "character U+2028"),
        ({"prompt": "How many days?\U000e0041"}, "prompt", "character U+E0041"),
        ({"bucket": "my-bucket\n"}, "bucket", "character U+000A"),
        ({"saxml_http_image": "busybox\ufeff"}, "saxml_http_image", "character U+FEFF"),
        ({"labels": {"team": "ml\u200b"}}, "labels", "character U+200B"),
        ({"labels": {"te\u200bam": "ml"}}, "labels", "character U+200B"),
        ({"labels": {"team\n": "ml"}}, "labels", "character U+000A"),
        ({"labels": {"team": "ml\n"}}, "labels", "character U+000A"),
        *[({name: value}, name, "not a finite number") for name in NUMBERS for value in NON_FINITE],
        ({"tpu_slices": float("nan")}, "tpu_slices", "not a finite number"),
        ({"tpu_slices": 2.5}, "tpu_slices", "not of type 'integer'"),
        ({"tpu_slices": True}, "tpu_slices", "not of type 'integer'"),
        ({"ttl_hours": False}, "ttl_hours", "not of type 'integer'"),
        ({"poll_seconds": True}, "poll_seconds", "not of type 'number'"),
        ({"model_replicas": 1.5}, "model_replicas", "not of type"),
    ],
)
def test_invalid_parameter_names_the_parameter_and_what_is_allowed(
    overrides: dict[str, Any], param: str, fragment: str
) -> None:
    found = problems(**overrides)
    assert param in found, found
    assert fragment in found[param]


def test_model_that_needs_another_device_count_is_rejected() -> None:
    found = problems(tpu_topology="4x4")
    assert "needs 32 devices" in found["model_path"]
    assert "16 chips" in found["model_path"]


def test_non_test_model_needs_a_checkpoint() -> None:
    found = problems(
        model_path="saxml.server.pax.lm.params.lm_cloud.LmCloudSpmd2B", tpu_topology="2x2"
    )
    assert "needs a checkpoint" in found["checkpoint"]


def test_missing_required_parameters_are_named() -> None:
    with pytest.raises(InvalidParameters) as raised:
        build_spec({}, now=NOW)
    assert {p.param for p in raised.value.problems} == {"project_id", "zone"}


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        project_id="X",
        teardown="maybe",
        labels={"Bad": "x"},
        model_replicas=3,
        saxml_http_image="bad image",
        jobset_manifest_url="http://example.com",
    )
    assert set(found) >= {
        "project_id",
        "teardown",
        "labels",
        "model_replicas",
        "saxml_http_image",
        "jobset_manifest_url",
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/manifests.yaml",
        "https://example.com:8443/a/manifests.yaml?ref=v0.12.0",
        "http://127.0.0.1:8080/m.yaml",
        "http://localhost/m",
        "http://[::1]:8080/m.yaml",
    ],
)
def test_manifest_url_https_or_loopback_http(url: str) -> None:
    saxml = build(jobset_manifest_url=url, jobset_manifest_sha256=DIGEST).saxml
    assert (saxml.jobset_manifest_url, saxml.jobset_manifest_sha256) == (url, DIGEST)


@pytest.mark.parametrize(
    ("conf", "param", "fragment"),
    [
        (
            {"jobset_manifest_url": "https://example.com/m.yaml"},
            "jobset_manifest_sha256",
            "required",
        ),
        ({"jobset_manifest_sha256": DIGEST}, "jobset_manifest_sha256", "only with"),
        ({"jobset_version": "v0.9.0"}, "jobset_version", "no sha256 is pinned"),
        ({"jobset_manifest_sha256": DIGEST.upper()}, "jobset_manifest_sha256", "64 lowercase hex"),
        ({"jobset_manifest_sha256": DIGEST[:-1]}, "jobset_manifest_sha256", "64 lowercase hex"),
    ],
)
def test_nothing_is_installed_without_a_digest_to_check_it_against(
    conf: dict[str, str], param: str, fragment: str
) -> None:
    assert fragment in problems(**conf)[param]


def test_an_unpinned_release_installs_from_a_url_with_its_digest() -> None:
    url = "https://mirror.example/jobset/v0.9.0/manifests.yaml"
    conf = {"jobset_version": "v0.9.0", "jobset_manifest_url": url}
    saxml = build(**conf, jobset_manifest_sha256=DIGEST).saxml
    assert (saxml.jobset_manifest_url, saxml.jobset_manifest_sha256) == (url, DIGEST)
    assert "v0.9.0" not in JOBSET_RELEASE_SHA256


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://example.com/m.yaml\n", "character U+000A"),
        ("https://example.com/m\u200b.yaml", "character U+200B"),
        ("https://exa mple.com/m.yaml", "whitespace"),
        ("https://example.com/m.yaml\u00a0", "whitespace"),
        ("https://user:secret@example.com/m.yaml", "credentials"),
        ("https://user@example.com/m.yaml", "credentials"),
        ("http://user@127.0.0.1/m.yaml", "credentials"),
        ("https://example.com/m.yaml#install", "fragment"),
        ("https://example.com/m.yaml#", "fragment"),
        ("https://[::1/m.yaml", "not a URL"),
        ("https://example.com:99999/m.yaml", "not a URL"),
        ("https://example.com:port/m.yaml", "not a URL"),
        ("https:///m.yaml", "with a host"),
        ("https:m.yaml", "with a host"),
        ("//example.com/m.yaml", "with a host"),
        ("example.com/m.yaml", "with a host"),
        ("http://127.0.0.1.example.com/m.yaml", "loopback"),
        ("file:///etc/passwd", "https"),
    ],
)
def test_malformed_manifest_urls_are_refused_saying_why(url: str, fragment: str) -> None:
    assert fragment in problems(jobset_manifest_url=url)["jobset_manifest_url"]


def test_whole_floats_are_taken_as_integers() -> None:
    """JSON Schema's integers include 2.0, which Airflow passes on as a float."""
    spec = build(tpu_slices=2.0, model_replicas=1.0, cpu_nodes=4.0, ttl_hours=24.0)
    assert spec == build(tpu_slices=2, model_replicas=1, cpu_nodes=4, ttl_hours=24)
    integers = (spec.tpu.slices, spec.saxml.model_replicas, spec.cluster.cpu_nodes, spec.ttl_hours)
    assert [type(value) for value in integers] == [int] * 4  # 2.0 == 2: equality cannot tell


def test_visible_unicode_is_text() -> None:
    prompt = "Wie viele Tage hat eine Woche? \u00bfCu\u00e1ntos d\u00edas? \U0001f600"
    assert build(prompt=prompt).saxml.prompt == prompt


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "registry.k8s.io/jobset/jobset:v0.12.0",
        "localhost:5000/sax-http:v1.2.0",
        "us-docker.pkg.dev/cloud-tpu-images/inference/sax-http@sha256:" + "a" * 64,
    ],
)
def test_well_formed_images_are_accepted(image: str) -> None:
    assert build(saxml_http_image=image).saxml.http_image == image
