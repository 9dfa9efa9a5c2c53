"""Rendered manifests: the tutorial's objects field for field, valid, and injection-proof."""

import copy
import dataclasses
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from emulator.kube.crd_schema import crd_version_schema, validation_errors
from emulator.kube.images.envoy import Route, parse_config
from emulator.kube.jobset_release import release_objects
from saxml_gke.manifests import render_objects, render_yaml
from saxml_gke.spec import build_spec
from tests.unit.samples import shape

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
# The tutorial's bucket and Google SA names are explicit: the defaults are the deployment's own.
TUTORIAL_CONF = {
    "project_id": "my-project",
    "zone": "us-west4-a",
    "http_exposure": "external",
    "http_source_ranges": ["0.0.0.0/0"],  # the tutorial's load balancer admits everyone
    "allow_public_http": True,
    "bucket": "my-project-gke-bucket",
    "gsa_name": "sax-iam-sa",
}
GOLDEN = Path(__file__).parent / "golden" / "tutorial.yaml"
POD_LABELS = {
    "managed-by": "saxml-gke",
    "saxml-gke-deployment": "saxml",
    "saxml-gke-id": "b0a48d5c7a98b8876e92",  # my-project/us-west4-a/saxml
    "saxml-gke-location": "us-west4-a",
}
LABELS = {**POD_LABELS, "expires-at": "20261125t200000z"}


def render(**overrides: Any) -> list[dict[str, Any]]:
    return render_objects(build_spec({**TUTORIAL_CONF, **overrides}, now=NOW))


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{obj['kind']}/{obj['metadata']['name']}": obj for obj in objects}


def with_deliberate_improvements(tutorial: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The tutorial's objects plus each improvement the README lists, one line each."""
    expected = copy.deepcopy(tutorial)
    for obj in expected.values():
        obj["metadata"]["namespace"] = "default"
        obj["metadata"]["labels"] = dict(LABELS)
    admin = expected["Deployment/sax-admin-server"]["spec"]["template"]
    http = expected["Deployment/sax-http"]["spec"]["template"]
    pod = expected["JobSet/sax-model-server-set"]["spec"]["replicatedJobs"][0]["template"]["spec"][
        "template"
    ]
    for template, app in ((admin, "sax-admin-server"), (http, "sax-http")):
        template["metadata"]["labels"] = {"app": app, **POD_LABELS}
    pod["metadata"] = {"labels": {"app": "sax-model-server", **POD_LABELS}}
    admin_container = admin["spec"]["containers"][0]
    admin_container["env"].append({"name": "SAX_CELL", "value": "/sax/test"})
    admin_container["resources"] = {"requests": {"cpu": "500m", "memory": "1Gi"}}
    admin_container["readinessProbe"] = {"tcpSocket": {"port": 10000}, "periodSeconds": 5}
    http_container = http["spec"]["containers"][0]
    http_container["resources"] = {"requests": {"cpu": "500m", "memory": "512Mi"}}
    http_container["readinessProbe"] = {"tcpSocket": {"port": 8888}, "periodSeconds": 5}
    http["spec"]["containers"].append(filter_container(render()))
    load_balancer = expected["Service/sax-http-lb"]["spec"]
    load_balancer["ports"][0]["targetPort"] = FILTER_PORT
    load_balancer["loadBalancerSourceRanges"] = ["0.0.0.0/0"]
    expected["Service/sax-http"] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "sax-http", "namespace": "default", "labels": dict(LABELS)},
        "spec": {
            "selector": {"app": "sax-http"},
            "ports": [{"protocol": "TCP", "port": 8888, "targetPort": 8888}],
            "type": "ClusterIP",
        },
    }
    pod["spec"]["tolerations"] = [
        {"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    del admin_container["securityContext"]  # the admin server uses no TPU
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": False}  # GKE >= 1.28
    return expected


FILTER_PORT = 8080


def filter_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = by_kind(objects)["Deployment/sax-http"]["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == "sax-http-filter")


def test_the_load_balancer_reaches_only_generate_and_score() -> None:
    """The filter's Envoy configuration, as the emulator's Envoy reads it: its one listener
    (the load balancer's target port) routes exactly two paths to sax-http in the pod."""
    container = filter_container(render())
    assert container["image"] == "docker.io/envoyproxy/envoy:v1.31.2"
    config = parse_config(container["args"])
    (listener,) = config.listeners
    assert listener.port == FILTER_PORT == container["ports"][0]["containerPort"]
    assert listener.routes == (
        Route("/generate", None, "sax-http", 300.0),
        Route("/score", None, "sax-http", 300.0),
    )
    assert config.clusters == {"sax-http": ("127.0.0.1", 8888)}


def test_the_deployment_manages_sax_http_through_a_cluster_ip_service() -> None:
    for exposure, ranges in (("none", []), ("internal", ["10.0.0.0/8"]), ("external", ["::/0"])):
        objects = by_kind(render(http_exposure=exposure, http_source_ranges=ranges))
        assert objects["Service/sax-http"]["spec"]["type"] == "ClusterIP"
        assert objects["Service/sax-http"]["spec"]["ports"][0]["targetPort"] == 8888
        assert objects["Service/sax-http-lb"]["spec"]["ports"][0]["targetPort"] == FILTER_PORT


def test_source_ranges_become_load_balancer_source_ranges() -> None:
    ranges = ["10.0.0.0/8", "2001:db8::/32"]
    service = by_kind(render(http_exposure="internal", http_source_ranges=ranges))[
        "Service/sax-http-lb"
    ]
    assert service["spec"]["loadBalancerSourceRanges"] == ranges
    kubernetes_validate.validate(service, "1.31.0", strict=True)
    none = by_kind(render(http_exposure="none", http_source_ranges=[]))["Service/sax-http-lb"]
    assert "loadBalancerSourceRanges" not in none["spec"]


def test_tutorial_parameters_render_the_tutorial_manifests() -> None:
    tutorial = by_kind(list(yaml.safe_load_all(GOLDEN.read_text())))
    assert by_kind(render()) == with_deliberate_improvements(tutorial)


def test_objects_come_in_apply_order() -> None:
    kinds = [obj["kind"] for obj in render(namespace="serving")]
    assert kinds == [
        "Namespace", "ServiceAccount", "Deployment", "JobSet", "Deployment", "Service", "Service"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("exposure", "service_type", "annotations"),
    [
        ("external", "LoadBalancer", None),
        ("internal", "LoadBalancer", {"networking.gke.io/load-balancer-type": "Internal"}),
        ("none", "ClusterIP", None),
    ],
)
def test_http_exposure_shapes_the_service(
    exposure: str, service_type: str, annotations: dict[str, str] | None
) -> None:
    ranges = [] if exposure == "none" else ["10.0.0.0/8"]
    service = by_kind(render(http_exposure=exposure, http_source_ranges=ranges))[
        "Service/sax-http-lb"
    ]
    assert service["spec"]["type"] == service_type
    assert service["metadata"].get("annotations") == annotations


def test_the_reserved_address_becomes_the_load_balancer_ip() -> None:
    spec = build_spec({**TUTORIAL_CONF, "http_exposure": "internal"}, now=NOW)  # 0.0.0.0/0
    service = by_kind(render_objects(spec, "10.128.0.7"))["Service/sax-http-lb"]
    assert service["spec"]["loadBalancerIP"] == "10.128.0.7"
    kubernetes_validate.validate(service, "1.31.0", strict=True)
    assert "loadBalancerIP" not in by_kind(render_objects(spec))["Service/sax-http-lb"]["spec"]


def test_slice_shape_reaches_the_jobset() -> None:
    jobset = by_kind(
        render(tpu_generation="v6e", tpu_topology="2x4", tpu_slices=3, model_path="my.custom.Model")
    )["JobSet/sax-model-server-set"]
    job = jobset["spec"]["replicatedJobs"][0]
    pod = job["template"]["spec"]["template"]["spec"]
    assert job["replicas"] == 3
    assert job["template"]["spec"]["parallelism"] == 1
    assert pod["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
        "cloud.google.com/gke-tpu-topology": "2x4",
    }
    assert pod["containers"][0]["resources"]["limits"] == {"google.com/tpu": 8}


@pytest.mark.parametrize(
    "conf", [{}, {"namespace": "serving", "http_exposure": "none", "http_source_ranges": []}]
)
def test_core_objects_validate_strictly_against_kubernetes_1_31(conf: dict[str, Any]) -> None:
    for obj in render(**conf):
        if obj["kind"] != "JobSet":
            kubernetes_validate.validate(obj, "1.31.0", strict=True)


@cache
def jobset_schema() -> dict[str, Any]:
    crd = next(doc for doc in release_objects() if doc["kind"] == "CustomResourceDefinition")
    return crd_version_schema(crd, "v1alpha2")


@pytest.mark.parametrize(
    ("version", "privileged"),
    [("latest", False), ("1.28", False), ("1.31.5-gke.1023000", False), ("1.27.2-gke.2100", True)],
)
def test_model_servers_run_privileged_only_before_gke_1_28(version: str, privileged: bool) -> None:
    """GKE gives TPU containers their chips without privileged mode from 1.28 on."""
    objects = by_kind(render(cluster_version=version))
    jobset = objects["JobSet/sax-model-server-set"]
    pod = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["securityContext"] == {"privileged": privileged}
    admin = objects["Deployment/sax-admin-server"]["spec"]["template"]["spec"]
    assert "securityContext" not in admin["containers"][0]


def test_jobset_validates_against_the_v0_12_0_crd_schema() -> None:
    jobset = by_kind(render())["JobSet/sax-model-server-set"]
    assert validation_errors(jobset_schema(), jobset) == []


def test_crd_schema_check_rejects_unknown_fields() -> None:
    jobset = by_kind(render())["JobSet/sax-model-server-set"]
    jobset["spec"]["replicatedJobs"][0]["replicaz"] = 2
    assert validation_errors(jobset_schema(), jobset) == [
        "spec.replicatedJobs.0: Additional properties are not allowed ('replicaz' was unexpected)"
    ]


HOSTILE = [
    'quote" injected: true',
    "new\nline: injected",
    "colon: value",
    "{{ 7 * 7 }}",
    "{% raw %}",
    "- list",
    "&anchor *alias",
    "'single'",
    "#comment",
    "x" * 5000,
    "\u2028unicode\u00e9",
]
STRING_PARAMS = [
    "project_id", "zone", "cluster_name", "release_channel", "cluster_version",
    "cpu_machine_type", "tpu_generation", "tpu_topology", "capacity", "reservation", "bucket",
    "namespace", "ksa_name", "gsa_name", "jobset_version", "jobset_manifest_url",
    "jobset_manifest_sha256", "saxml_admin_image", "saxml_model_image", "saxml_http_image",
    "sax_cell", "model_key", "model_path", "checkpoint", "prompt", "http_exposure", "teardown",
]  # fmt: skip


def test_every_string_parameter_is_covered() -> None:
    from saxml_gke.parameters import PARAMETERS

    text = ("string", ["null", "string"])
    strings = {name for name, schema in PARAMETERS.items() if schema["type"] in text}
    assert strings == set(STRING_PARAMS)


@pytest.mark.parametrize("param", STRING_PARAMS)
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_are_rejected_or_change_no_structure(param: str, value: str) -> None:
    from saxml_gke.spec import InvalidParameters

    try:
        spec = build_spec({**TUTORIAL_CONF, param: value}, now=NOW)
    except InvalidParameters as error:
        assert param in {problem.param for problem in error.problems}
        return
    assert shape(render_objects(spec)) == shape(render())


@pytest.mark.parametrize("value", HOSTILE)
def test_templates_quote_values_even_when_validation_is_bypassed(value: str) -> None:
    """Defence in depth: every spec string field, set to a hostile value, stays one string."""
    spec = build_spec(TUTORIAL_CONF, now=NOW)
    hostile = dataclasses.replace(
        spec,
        identity=dataclasses.replace(spec.identity, ksa_name=value, gsa_email=value),
        storage=dataclasses.replace(spec.storage, bucket=value, sax_root=value),
        saxml=dataclasses.replace(
            spec.saxml, admin_image=value, model_image=value, http_image=value, cell=value
        ),
        tpu=dataclasses.replace(spec.tpu, accelerator=value, topology=value, platform_chip=value),
    )
    objects = render_objects(hostile)
    assert shape(objects) == shape(render_objects(spec))
    assert value in _strings(objects)
    assert f"--sax_cell={value}" in _strings(objects)


def test_hostile_label_values_cannot_add_labels() -> None:
    from saxml_gke.spec import InvalidParameters

    with pytest.raises(InvalidParameters):
        build_spec({**TUTORIAL_CONF, "labels": {"team": 'x", "evil": "y'}}, now=NOW)


def test_render_yaml_round_trips() -> None:
    spec = build_spec(TUTORIAL_CONF, now=NOW)
    assert list(yaml.safe_load_all(render_yaml(spec))) == render_objects(spec)


def _strings(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values()), set(value))
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) else set()


# --- capacity=flex-start-queued: a PodTemplate and a ProvisioningRequest before the JobSet --------

QUEUED = "flex-start-queued"
CONSUME = {
    "autoscaling.x-k8s.io/consume-provisioning-request": "sax-model-server-request",
    "autoscaling.x-k8s.io/provisioning-class-name": "queued-provisioning.gke.io",
}


def model_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    jobset = by_kind(objects)["JobSet/sax-model-server-set"]
    return jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]


def test_queued_capacity_books_every_slice_with_one_request_before_the_jobset() -> None:
    objects = render(capacity=QUEUED, tpu_topology="4x4", model_path="my.custom.Model")
    assert [f"{obj['kind']}/{obj['metadata']['name']}" for obj in objects][2:5] == [
        "PodTemplate/sax-model-server-template",
        "ProvisioningRequest/sax-model-server-request",
        "JobSet/sax-model-server-set",
    ]
    request = by_kind(objects)["ProvisioningRequest/sax-model-server-request"]
    assert request == {
        "apiVersion": "autoscaling.x-k8s.io/v1",
        "kind": "ProvisioningRequest",
        "metadata": {
            "name": "sax-model-server-request",
            "namespace": "default",
            "labels": LABELS,
        },
        "spec": {
            "provisioningClassName": "queued-provisioning.gke.io",
            "parameters": {"maxRunDurationSeconds": "86400"},  # the TTL: 24 hours
            "podSets": [{"count": 8, "podTemplateRef": {"name": "sax-model-server-template"}}],
        },  # 2 slices of 4 hosts, one request: GKE starts them together
    }
    template = by_kind(objects)["PodTemplate/sax-model-server-template"]
    assert template["metadata"]["labels"] == LABELS
    kubernetes_validate.validate(template, "1.31.0", strict=True)
    # The pod GKE provisions for is the pod the JobSet runs, but for the consuming annotations.
    pod = model_pod(objects)
    assert pod["metadata"] == {
        "labels": {"app": "sax-model-server", **POD_LABELS},
        "annotations": CONSUME,
    }
    assert template["template"] == {"metadata": {"labels": pod["metadata"]["labels"]},
                                    "spec": pod["spec"]}  # fmt: skip
    assert pod["spec"]["nodeSelector"] == {
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
        "cloud.google.com/gke-tpu-topology": "4x4",
    }
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"google.com/tpu": 4},
        "limits": {"google.com/tpu": 4},
    }
    jobset = by_kind(objects)["JobSet/sax-model-server-set"]
    assert validation_errors(jobset_schema(), jobset) == []


@pytest.mark.parametrize(
    ("conf", "count"),
    [({"tpu_slices": 1}, 8), ({"tpu_slices": 3}, 24), ({"tpu_generation": "v6e",
      "tpu_topology": "2x4", "tpu_slices": 3, "model_path": "my.custom.Model"}, 3)],
)  # fmt: skip
def test_the_request_asks_for_every_host_of_every_slice(conf: dict[str, Any], count: int) -> None:
    request = by_kind(render(capacity=QUEUED, **conf))[
        "ProvisioningRequest/sax-model-server-request"
    ]
    assert request["spec"]["podSets"][0]["count"] == count


@pytest.mark.parametrize(
    ("ttl_hours", "seconds"), [(1, "3600"), (72, "259200"), (168, "604800"), (720, "604800"),
                               (0, "604800")],
)  # fmt: skip
def test_the_requests_run_limit_is_the_ttl_capped_at_seven_days(ttl_hours: int, seconds: str):
    request = by_kind(render(capacity=QUEUED, ttl_hours=ttl_hours))[
        "ProvisioningRequest/sax-model-server-request"
    ]
    assert request["spec"]["parameters"] == {"maxRunDurationSeconds": seconds}


@pytest.mark.parametrize("capacity", ["on-demand", "spot", "flex-start"])
def test_only_the_queued_capacity_renders_a_request_or_consumes_one(capacity: str) -> None:
    objects = render(capacity=capacity)
    assert not {"PodTemplate", "ProvisioningRequest"} & {obj["kind"] for obj in objects}
    assert "annotations" not in model_pod(objects)["metadata"]


def test_teardown_deletes_the_jobset_before_the_request_before_its_template() -> None:
    from saxml_gke.manifests import object_refs

    refs = object_refs(build_spec({**TUTORIAL_CONF, "capacity": QUEUED}, now=NOW))
    kinds = [kind for _, kind, _, _ in refs]
    assert kinds.index("JobSet") < kinds.index("ProvisioningRequest") < kinds.index("PodTemplate")
    assert ("autoscaling.x-k8s.io/v1", "ProvisioningRequest", "sax-model-server-request",
            "default") in refs  # fmt: skip


@pytest.mark.parametrize("value", HOSTILE)
def test_queued_names_stay_strings_when_validation_is_bypassed(value: str) -> None:
    spec = build_spec({**TUTORIAL_CONF, "capacity": QUEUED}, now=NOW)
    hostile = dataclasses.replace(
        spec,
        saxml=dataclasses.replace(spec.saxml, model_pod_template=value, provisioning_request=value),
    )
    objects = render_objects(hostile)
    assert shape(objects) == shape(render_objects(spec))
    assert value in _strings(objects)
