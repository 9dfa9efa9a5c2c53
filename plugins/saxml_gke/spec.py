"""DAG params -> one frozen, validated `DeploymentSpec` from which every later name and value comes.

The spec is computed once, by the first task, and handed to the others as a dict: no task
re-derives a name or re-parses a param, so a rerun or a teardown days later acts on exactly the
names the deployment was created with. Validation collects every problem before reporting, so a
user fixes a bad conf in one round trip instead of one field at a time.
"""

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from saxml_gke import naming, saxml_models, tpu
from saxml_gke.ownership import LABEL_EXPIRES_AT, RESERVED_LABELS, Owner, expiry_stamp
from saxml_gke.parameters import INVISIBLE, PARAMETERS, Capacity, conf_schema, defaults
from saxml_gke.urls import is_https_or_loopback

# Every rule below is matched with `fullmatch`: `$` would also match before a final newline.
# The intersection of GCP's and Kubernetes' label rules, since every label goes on both.
_LABEL_KEY = re.compile(r"[a-z]([a-z0-9_-]{0,61}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)?")
_MAX_LABELS = 64
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_RESERVATION = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# Docker's reference grammar: [registry[:port]/]path[:tag][@digest].
_IMAGE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)
_INVISIBLE = re.compile(f"[{INVISIBLE}]")
_URL_UNSAFE = re.compile(rf"[\s{INVISIBLE}]")
_IMAGE_PARAMS = ("saxml_admin_image", "saxml_model_image", "saxml_http_image")
# Text parameters that may be left empty. The trigger form sends null for an empty field; confs
# from before they were null-able send "" (where their schema allows it). Both mean "not given",
# which the spec keeps as "": the shape of the specs that earlier runs stored.
_OPTIONAL_TEXT = tuple(
    name for name, schema in PARAMETERS.items() if schema["type"] == ["null", "string"]
)
# JSON Schema's integers include 2.0, which Airflow passes on as a float; the spec takes it as 2.
_INTEGERS = tuple(
    name
    for name, schema in PARAMETERS.items()
    if schema["type"] in ("integer", ["null", "integer"])
)
JOBSET_RELEASE_URL = (
    "https://github.com/kubernetes-sigs/jobset/releases/download/{version}/manifests.yaml"
)
# The sha256 of each supported release's manifests.yaml as GitHub serves it at
# JOBSET_RELEASE_URL: the official release is applied only when its bytes are these. Another
# source (a mirror, the emulator) or release comes with its own digest (jobset_manifest_sha256).
JOBSET_RELEASE_SHA256 = {
    "v0.12.0": "a41aaf12dd0b7b0a3d626b8d6107f32c3dc889d7e7830adc46b8cdb77a8963bb",
}
# How long flex-start nodes may run: GKE's default and maximum (7 days).
FLEX_START_MAX_RUN_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Problem:
    """One bad parameter: which, its value, and what would be accepted."""

    param: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.param}={self.value!r}: {self.message}"


class InvalidParameters(ValueError):
    """Every problem of a conf at once, each naming its parameter."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{len(problems)} invalid parameter(s):\n{lines}")


@dataclass(frozen=True)
class NodePoolSpec:
    """One TPU slice: a multi-host node pool whose nodes GKE creates all at once."""

    name: str
    machine_type: str
    node_count: int
    topology: str
    multi_host: bool
    spot: bool
    reservation: str
    # GKE's flex-start: the pool starts with no nodes and GKE brings the whole slice up when
    # it finds capacity. Last, with a default, so specs stored by earlier versions still load.
    flex_start: bool = False
    # Flex-start with queued provisioning: the pool gets nodes only through a
    # ProvisioningRequest.
    queued: bool = False


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    zone: str
    region: str
    release_channel: str
    version: str
    cpu_nodes: int
    cpu_machine_type: str
    workload_pool: str
    # An existing cluster used, never changed or deleted (adopt_cluster). Last, with a
    # default, so specs stored by earlier versions still load.
    adopted: bool = False


@dataclass(frozen=True)
class TpuSpec:
    generation: str
    topology: str
    slices: int
    chips_per_slice: int
    nodes_per_slice: int
    chips_per_node: int
    machine_type: str
    accelerator: str
    platform_chip: str
    hbm_gb_per_slice: float
    capacity: str
    node_pools: tuple[NodePoolSpec, ...]
    cost_per_hour: float
    prices_as_of: str

    @property
    def provisioning(self) -> Capacity:
        """The capacity as the enum whose properties the steps ask (flex-start? queued?)."""
        return Capacity(self.capacity)

    @property
    def total_chips(self) -> int:
        """The chips of every slice: what the deployment asks GKE (and quota) for."""
        return self.chips_per_slice * self.slices


@dataclass(frozen=True)
class IdentitySpec:
    namespace: str
    ksa_name: str
    gsa_name: str
    gsa_email: str
    workload_identity_member: str
    bucket_role: str


@dataclass(frozen=True)
class StorageSpec:
    bucket: str
    location: str
    sax_root: str
    sax_fs_root: str
    adopted: bool = False  # an existing bucket used, never deleted (adopt_bucket)


@dataclass(frozen=True)
class SaxmlSpec:
    admin_image: str
    model_image: str
    http_image: str
    cell: str
    model_key: str
    model_path: str
    checkpoint: str
    model_replicas: int
    model_in_catalog: bool
    prompt: str
    admin_deployment: str
    model_jobset: str
    model_replicated_job: str
    http_deployment: str
    http_service: str
    http_exposure: str
    leader_hostnames: tuple[str, ...]
    jobset_version: str
    jobset_manifest_url: str
    # The static address reserved for the load balancer ("" with http_exposure=none). Last,
    # with a default, so specs stored by earlier versions (which reserved none) still load.
    http_address: str = ""
    # What the JobSet manifest must hash to; "" in specs stored before it was checked, which
    # install nothing.
    jobset_manifest_sha256: str = ""
    # The ClusterIP Service of sax-http's own port (every operation), which the DAG reaches
    # through the API server; `http_service` passes only generate and score. Specs stored
    # before the split get the name too: their teardown finds no such Service, and the model
    # goes with the admin state.
    http_admin_service: str = "sax-http"
    # The CIDR ranges the load balancer admits (loadBalancerSourceRanges); none with
    # http_exposure=none.
    http_source_ranges: tuple[str, ...] = ()
    # With capacity=flex-start-queued, the PodTemplate of one model server and the
    # ProvisioningRequest that books every slice's nodes from it; "" otherwise.
    model_pod_template: str = ""
    provisioning_request: str = ""


@dataclass(frozen=True)
class WaitSpec:
    """How every wait polls and when it gives up (seconds)."""

    poll_seconds: float
    operation_timeout: float
    pods_timeout: float
    model_load_timeout: float
    # How long a stockout of TPU capacity is waited out (capacity_wait_minutes; 0: fail at
    # once). Last, with a default, so specs stored by earlier versions still load.
    capacity_wait: float = 0.0


@dataclass(frozen=True)
class DeploymentSpec:
    """Everything a run creates, named once. `to_dict`/`from_dict` carry it through XCom."""

    project_id: str
    deployment: str
    cluster: ClusterSpec
    tpu: TpuSpec
    identity: IdentitySpec
    storage: StorageSpec
    saxml: SaxmlSpec
    waits: WaitSpec
    teardown: str
    ttl_hours: int
    expires_at: str | None
    labels: dict[str, str]

    @property
    def owner(self) -> Owner:
        """The deployment's identity: what it owns carries it (`saxml_gke.ownership`)."""
        return Owner(self.project_id, self.cluster.zone, self.cluster.name)

    @property
    def max_run_seconds(self) -> int:
        """How long flex-start nodes may run: the TTL, capped at GKE's 7 days (also its
        default, with no TTL), so the nodes go when the deployment expires."""
        return min(self.ttl_hours * 3600 or FLEX_START_MAX_RUN_SECONDS, FLEX_START_MAX_RUN_SECONDS)

    @property
    def node_sa_email(self) -> str:
        """The nodes' Google service account, derived from the identity (never stored, so
        specs of every version name it)."""
        return naming.service_account_email(naming.node_service_account(self.owner),
                                            self.project_id)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DeploymentSpec":
        tpu_data = dict(data["tpu"])
        tpu_data["node_pools"] = tuple(NodePoolSpec(**pool) for pool in tpu_data["node_pools"])
        saxml_data = dict(data["saxml"])
        saxml_data["leader_hostnames"] = tuple(saxml_data["leader_hostnames"])
        saxml_data["http_source_ranges"] = tuple(saxml_data.get("http_source_ranges", ()))
        owner = Owner(data["project_id"], data["cluster"]["zone"], data["cluster"]["name"])
        return cls(
            project_id=data["project_id"],
            deployment=data["deployment"],
            cluster=ClusterSpec(**data["cluster"]),
            tpu=TpuSpec(**tpu_data),
            identity=IdentitySpec(**data["identity"]),
            storage=StorageSpec(**data["storage"]),
            saxml=SaxmlSpec(**saxml_data),
            waits=WaitSpec(**data["waits"]),
            teardown=data["teardown"],
            ttl_hours=data["ttl_hours"],
            expires_at=data["expires_at"],
            # Specs stored by earlier versions lack the identity labels: what this one writes
            # carries them.
            labels={**data["labels"], **owner.labels()},
        )


def build_spec(conf: Mapping[str, Any], now: datetime) -> DeploymentSpec:
    """Validate a conf (defaults filled in) and derive the spec; `now` dates `expires-at`.

    Raises InvalidParameters listing every problem.
    """
    params = {**defaults(), **conf}
    problems = _schema_problems(params)
    params.update({name: "" for name in _OPTIONAL_TEXT if params.get(name) is None})
    params.update({name: int(params[name]) for name in _INTEGERS if _is_whole_float(params[name])})
    bad = {problem.param for problem in problems} | (set(params) - set(PARAMETERS))

    def usable(*names: str) -> bool:
        """Cross-field rules run only on values that passed their own schema."""
        return not bad.intersection(names)

    shape = None
    if usable("tpu_generation", "tpu_topology", "model_size_b"):
        shape = _slice_shape(params, problems)
    bucket = ""
    if usable("bucket", "project_id", "zone", "cluster_name"):
        bucket = params["bucket"] or naming.default_bucket(_owner(params))
        problems += _bucket_problems(bucket, _bucket_source(params))
    if usable("labels"):
        problems += _label_problems(params["labels"])
    problems += _image_problems({name: params[name] for name in _IMAGE_PARAMS if usable(name)})
    if usable("capacity", "reservation"):
        problems += _capacity_problems(params)
    if usable("http_exposure", "http_source_ranges", "allow_public_http"):
        problems += _exposure_problems(params)
    if usable("jobset_manifest_url"):
        problems += _manifest_url_problems(params["jobset_manifest_url"])
    if usable("jobset_manifest_url", "jobset_manifest_sha256", "jobset_version"):
        problems += _manifest_digest_problems(params)
    replicas = 0
    if usable("model_replicas", "tpu_slices", "sax_cell", "model_key", "model_path", "checkpoint"):
        replicas = params["model_replicas"] or params["tpu_slices"]
        problems += _model_problems(params, shape, replicas)
    if problems:
        raise InvalidParameters(problems)
    assert shape is not None  # a None shape always comes with a problem
    manifest_url = params["jobset_manifest_url"] or JOBSET_RELEASE_URL.format(
        version=params["jobset_version"]
    )
    return _derive(params, shape, bucket, manifest_url, replicas, now)


def _owner(params: Mapping[str, Any]) -> Owner:
    return Owner(params["project_id"], params["zone"], params["cluster_name"])


def _is_whole_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _is_non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _is_finite_number(checker: jsonschema.TypeChecker, instance: Any) -> bool:
    number = jsonschema.Draft202012Validator.TYPE_CHECKER.is_type(instance, "number")
    return number and not _is_non_finite(instance)


# The JSON Schemas, with NaN and ±Infinity not numbers. Python's json reads them (the CLI, the
# REST API) and jsonschema's bounds let NaN pass, as every comparison with it is false; a NaN
# poll interval never wakes, a NaN timeout breaks every deferral. This is their guard: the
# DAG's first task, `plan`, runs it before anything is created.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("number", _is_finite_number),
)


def _schema_problems(params: Mapping[str, Any]) -> list[Problem]:
    validator = _Validator(conf_schema())
    problems = []
    for error in sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path)):
        if error.validator == "required":
            name = error.message.split("'")[1]
            problems.append(Problem(name, None, f"is required: {_describe(name)}"))
        elif error.validator == "additionalProperties":
            for name in sorted(set(params) - set(PARAMETERS)):
                problems.append(
                    Problem(
                        name, params[name], f"unknown parameter; known: {', '.join(PARAMETERS)}"
                    )
                )
        else:
            name = str(error.absolute_path[0])
            problems.append(Problem(name, params[name], _allowed(name, error)))
    return problems


def _allowed(name: str, error: jsonschema.ValidationError) -> str:
    """What the parameter accepts, in words; jsonschema's regexes help nobody."""
    schema = PARAMETERS[name]
    if error.validator == "type" and _is_non_finite(error.instance):
        return "is not a finite number"
    if error.validator == "enum":
        return f"must be one of {', '.join(schema['enum'])}"
    if error.validator == "pattern":
        return f"{_mismatch(error.instance)}; expected: {_describe(name)}"
    if error.validator == "maxLength":
        return f"longer than {error.validator_value} characters; expected: {_describe(name)}"
    if error.validator == "minLength":
        return f"shorter than {error.validator_value} characters; expected: {_describe(name)}"
    if error.validator in _BOUNDS:
        return f"{error.message}; allowed: {_bounds(schema)}"
    return error.message


# A number's bounds in the schema, as a reader says them.
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _bounds(schema: Mapping[str, Any]) -> str:
    """The range a number parameter allows, e.g. `>= 0 and <= 1440`."""
    return " and ".join(f"{sign} {schema[key]}" for key, sign in _BOUNDS.items() if key in schema)


def _mismatch(text: str) -> str:
    """Names an invisible character: the value's repr shows it, but easily missed."""
    found = _INVISIBLE.search(text)
    return (
        f"contains the control or invisible character U+{ord(found[0]):04X}" if found else "invalid"
    )


def _describe(name: str) -> str:
    return str(PARAMETERS[name]["description"])


def _slice_shape(params: Mapping[str, Any], problems: list[Problem]) -> tpu.SliceShape | None:
    generation, topology = params["tpu_generation"], params["tpu_topology"]
    size = params["model_size_b"]
    if topology == "auto":
        if size is None:
            problems.append(Problem("tpu_topology", topology, "auto needs model_size_b"))
            return None
        try:
            topology = tpu.smallest_topology_for(generation, size)
        except ValueError as error:
            problems.append(Problem("model_size_b", size, str(error)))
            return None
    try:
        shape = tpu.slice_shape(generation, topology)
    except ValueError as error:
        problems.append(Problem("tpu_topology", topology, str(error)))
        return None
    if size is not None and tpu.required_hbm_gb(size) > shape.hbm_gb:
        problems.append(
            Problem(
                "model_size_b",
                size,
                f"needs about {tpu.required_hbm_gb(size):.0f} GB of HBM, but one {generation} "
                f"{topology} slice has {shape.hbm_gb:.0f} GB; use a larger tpu_topology "
                f"(or auto)",
            )
        )
    return shape


def _bucket_source(params: Mapping[str, Any]) -> str:
    """The parameter to blame for a bad bucket name: the derived one joins project and cluster."""
    if params["bucket"]:
        return "bucket"
    return "cluster_name" if "google" in params["cluster_name"] else "project_id"


def _bucket_problems(bucket: str, param: str) -> list[Problem]:
    rules = (
        "bucket names are 3-63 lowercase letters, digits, dots, hyphens and underscores, "
        "start and end with a letter or digit, do not start with goog or contain google, "
        "and are not IP addresses"
    )
    bad = (
        not _BUCKET.fullmatch(bucket)
        or bucket.startswith("goog")
        or "google" in bucket
        or ".." in bucket
        or _is_ip_address(bucket)
    )
    return [Problem(param, bucket, rules)] if bad else []


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _label_problems(labels: Mapping[str, str]) -> list[Problem]:
    problems = []
    for key, value in labels.items():
        if key in RESERVED_LABELS:
            problems.append(Problem("labels", {key: value}, f"{key} is set by saxml-gke"))
        elif not _LABEL_KEY.fullmatch(key):
            problems.append(
                Problem(
                    "labels",
                    {key: value},
                    "keys are 1-63 lowercase letters, digits, _ and -, starting with a letter "
                    "and ending with a letter or digit",
                )
            )
        elif not _LABEL_VALUE.fullmatch(value):
            problems.append(
                Problem(
                    "labels",
                    {key: value},
                    "values are empty or 1-63 lowercase letters, digits, _ and -, starting and "
                    "ending with a letter or digit",
                )
            )
    if len(labels) + len(RESERVED_LABELS) > _MAX_LABELS:
        problems.append(
            Problem("labels", len(labels), f"at most {_MAX_LABELS - len(RESERVED_LABELS)} labels")
        )
    return problems


def _image_problems(images: Mapping[str, str]) -> list[Problem]:
    return [
        Problem(name, image, "not an image reference: [registry/]path[:tag][@sha256:digest]")
        for name, image in images.items()
        if not _IMAGE.fullmatch(image)
    ]


def _capacity_problems(params: Mapping[str, Any]) -> list[Problem]:
    capacity, reservation = params["capacity"], params["reservation"]
    if capacity == Capacity.RESERVATION and not _RESERVATION.fullmatch(reservation):
        return [
            Problem(
                "reservation",
                reservation,
                "capacity=reservation needs the reservation's name (lowercase letters, digits, "
                "hyphens)",
            )
        ]
    if capacity != Capacity.RESERVATION and reservation:
        return [Problem("reservation", reservation, "only allowed with capacity=reservation")]
    return []


def _exposure_problems(params: Mapping[str, Any]) -> list[Problem]:
    """A load balancer only on purpose: from named source ranges, and public only when asked."""
    exposure, ranges = params["http_exposure"], params["http_source_ranges"]
    problems = [
        Problem("http_source_ranges", text, f"not a CIDR range ({error}); e.g. 10.0.0.0/8")
        for text in ranges
        if (error := _cidr_error(text))
    ]
    if exposure == "none" and ranges:
        message = "only with http_exposure internal or external: none has no load balancer"
        problems.append(Problem("http_source_ranges", ranges, message))
    if exposure != "none" and not ranges:
        message = (
            f"required with http_exposure={exposure}: the CIDR ranges allowed to reach the "
            'load balancer, e.g. ["10.0.0.0/8"]'
        )
        problems.append(Problem("http_source_ranges", ranges, message))
    if exposure == "external" and not params["allow_public_http"]:
        message = (
            "http_exposure=external needs allow_public_http=true: it gives generate and score "
            "a public address, unauthenticated"
        )
        problems.append(Problem("allow_public_http", False, message))
    return problems


def _cidr_error(text: str) -> str | None:
    """Why `text` is not a network address with its prefix length (host bits unset), if so."""
    if "/" not in text:
        return "no /prefix length"
    try:
        ipaddress.ip_network(text)
    except ValueError as error:
        return str(error)
    return None


def _manifest_url_problems(url: str) -> list[Problem]:
    defect = _url_defect(url) if url else None
    return [Problem("jobset_manifest_url", url, defect)] if defect else []


def _url_defect(url: str) -> str | None:
    """What keeps `url` from being a plain download address, if anything. urlsplit silently drops
    tabs and newlines and accepts credentials and fragments, so those are looked for first."""
    if _URL_UNSAFE.search(url):
        return "must not contain whitespace, control or invisible characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError as error:
        return f"not a URL: {error}"
    if "@" in parts.netloc:
        return "must not contain credentials (user@host)"
    if "#" in url:
        return "must not contain a fragment (#...)"
    if is_https_or_loopback(url):
        return None
    return "must be https with a host, or http to a loopback address"


def _manifest_digest_problems(params: Mapping[str, Any]) -> list[Problem]:
    """Nothing unverified is applied: a given manifest URL needs its sha256, and the official
    release a digest pinned here."""
    url, digest = params["jobset_manifest_url"], params["jobset_manifest_sha256"]
    version = params["jobset_version"]
    if url and not digest:
        message = "required with jobset_manifest_url: the sha256 of the file it serves"
        return [Problem("jobset_manifest_sha256", digest, message)]
    if digest and not url:
        message = "only with jobset_manifest_url: the official release has its digest pinned"
        return [Problem("jobset_manifest_sha256", digest, message)]
    if not url and version not in JOBSET_RELEASE_SHA256:
        message = (
            f"no sha256 is pinned for this release (pinned: {', '.join(JOBSET_RELEASE_SHA256)});"
            " to install it, give jobset_manifest_url and jobset_manifest_sha256"
        )
        return [Problem("jobset_version", version, message)]
    return []


def _model_problems(
    params: Mapping[str, Any], shape: tpu.SliceShape | None, replicas: int
) -> list[Problem]:
    problems = []
    cell, key = params["sax_cell"], params["model_key"]
    if key.rsplit("/", 1)[0] != cell:
        problems.append(Problem("model_key", key, f"must be inside sax_cell: {cell}/<name>"))
    if replicas > params["tpu_slices"]:
        problems.append(
            Problem(
                "model_replicas",
                replicas,
                f"at most tpu_slices ({params['tpu_slices']}): each replica is one whole slice",
            )
        )
    model = saxml_models.lookup(params["model_path"])
    if model is not None and shape is not None and shape.chips not in model.device_counts:
        counts = " or ".join(str(count) for count in model.device_counts)
        problems.append(
            Problem(
                "model_path",
                params["model_path"],
                f"this model's mesh needs {counts} devices, but one {shape.generation} "
                f"{shape.topology} slice has {shape.chips} chips; Saxml would never load it",
            )
        )
    if model is not None and not model.test_mode and params["checkpoint"] == "None":
        problems.append(
            Problem(
                "checkpoint",
                "None",
                f"{params['model_path']} is not a test model and needs a checkpoint directory",
            )
        )
    return problems


def _derive(
    params: Mapping[str, Any],
    shape: tpu.SliceShape,
    bucket: str,
    manifest_url: str,
    replicas: int,
    now: datetime,
) -> DeploymentSpec:
    project, zone = params["project_id"], params["zone"]
    region = zone.rsplit("-", 1)[0]
    workload_pool = f"{project}.svc.id.goog"
    gsa_name = params["gsa_name"] or naming.default_service_account(_owner(params))
    gsa_email = naming.service_account_email(gsa_name, project)
    expires_at = (
        expiry_stamp(now + timedelta(hours=params["ttl_hours"])) if params["ttl_hours"] else None
    )
    labels = {
        **params["labels"],
        **_owner(params).labels(),
        **({LABEL_EXPIRES_AT: expires_at} if expires_at else {}),
    }
    capacity = Capacity(params["capacity"])
    node_pools = tuple(
        NodePoolSpec(
            name=f"tpu{index}",
            machine_type=shape.machine_type,
            node_count=shape.nodes,
            topology=shape.topology,
            multi_host=shape.multi_host,
            spot=capacity is Capacity.SPOT,
            reservation=params["reservation"],
            flex_start=capacity.flex_start,
            queued=capacity.queued,
        )
        for index in range(1, params["tpu_slices"] + 1)
    )
    jobset, replicated_job = "sax-model-server-set", "sax-model-server"
    return DeploymentSpec(
        project_id=project,
        deployment=params["cluster_name"],
        cluster=ClusterSpec(
            name=params["cluster_name"],
            zone=zone,
            region=region,
            release_channel=params["release_channel"],
            version=params["cluster_version"],
            cpu_nodes=params["cpu_nodes"],
            cpu_machine_type=params["cpu_machine_type"],
            workload_pool=workload_pool,
            adopted=params["adopt_cluster"],
        ),
        tpu=TpuSpec(
            generation=shape.generation,
            topology=shape.topology,
            slices=params["tpu_slices"],
            chips_per_slice=shape.chips,
            nodes_per_slice=shape.nodes,
            chips_per_node=shape.chips_per_node,
            machine_type=shape.machine_type,
            accelerator=shape.accelerator,
            platform_chip=shape.platform_chip,
            hbm_gb_per_slice=shape.hbm_gb,
            capacity=capacity.value,
            node_pools=node_pools,
            cost_per_hour=round(tpu.hourly_cost(shape, params["tpu_slices"]), 2),
            prices_as_of=tpu.PRICES_AS_OF,
        ),
        identity=IdentitySpec(
            namespace=params["namespace"],
            ksa_name=params["ksa_name"],
            gsa_name=gsa_name,
            gsa_email=gsa_email,
            workload_identity_member=(
                f"serviceAccount:{workload_pool}[{params['namespace']}/{params['ksa_name']}]"
            ),
            bucket_role="roles/storage.objectAdmin",
        ),
        storage=StorageSpec(
            bucket=bucket,
            location=region.upper(),
            sax_root=f"gs://{bucket}/sax-root",
            sax_fs_root=f"gs://{bucket}/sax-fs-root",
            adopted=params["adopt_bucket"],
        ),
        saxml=SaxmlSpec(
            admin_image=params["saxml_admin_image"],
            model_image=params["saxml_model_image"],
            http_image=params["saxml_http_image"],
            cell=params["sax_cell"],
            model_key=params["model_key"],
            model_path=params["model_path"],
            checkpoint=params["checkpoint"],
            model_replicas=replicas,
            model_in_catalog=saxml_models.lookup(params["model_path"]) is not None,
            prompt=params["prompt"],
            admin_deployment="sax-admin-server",
            model_jobset=jobset,
            model_replicated_job=replicated_job,
            http_deployment="sax-http",
            http_service="sax-http-lb",
            http_exposure=params["http_exposure"],
            leader_hostnames=tuple(
                f"{jobset}-{replicated_job}-{index}-0" for index in range(params["tpu_slices"])
            ),
            jobset_version=params["jobset_version"],
            jobset_manifest_url=manifest_url,
            jobset_manifest_sha256=(
                params["jobset_manifest_sha256"] or JOBSET_RELEASE_SHA256[params["jobset_version"]]
            ),
            http_address=(
                "" if params["http_exposure"] == "none" else f"{params['cluster_name']}-sax-http"
            ),
            http_source_ranges=tuple(params["http_source_ranges"]),
            model_pod_template=f"{replicated_job}-template" if capacity.queued else "",
            provisioning_request=f"{replicated_job}-request" if capacity.queued else "",
        ),
        waits=WaitSpec(
            poll_seconds=params["poll_seconds"],
            operation_timeout=params["operation_timeout_minutes"] * 60,
            pods_timeout=params["pods_timeout_minutes"] * 60,
            model_load_timeout=params["model_load_timeout_minutes"] * 60,
            capacity_wait=params["capacity_wait_minutes"] * 60,
        ),
        teardown=params["teardown"],
        ttl_hours=params["ttl_hours"],
        expires_at=expires_at,
        labels=labels,
    )
