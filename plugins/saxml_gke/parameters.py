"""The deployment's parameters as JSON Schema: one source for the UI form, REST and the CLI.

The DAG wraps each entry in an Airflow `Param`; `spec.build_spec` validates a conf against the same
schemas, so a value that the trigger form or the REST API accepts is exactly one the CLI accepts.
Cross-field rules (a topology valid for the generation, a model that fits the slice, ...) live in
`spec.py`, because JSON Schema cannot express them with a message a person can act on.

Airflow's trigger form labels each field with its `title`, groups fields by `section`, and treats
a field as required unless its type includes "null". So every parameter has a real default, or,
when "not given" is a meaningful value (no reservation, the derived bucket, ...), a null-able type
with a null default: the form then shows an empty optional field, and `build_spec` reads null
as not given.

Every text is one line of visible characters, checked by a pattern that matches the whole value
in both engines that read it: Python's `re.search` (jsonschema: the REST API, `Param.resolve`,
`build_spec`) and JavaScript's `RegExp` with the `u` flag (the browser). Numbers must be finite:
JSON has no NaN or Infinity, so no JSON Schema keyword refuses them portably (jsonschema's bounds
compare false with NaN and let it pass); `build_spec`, which the DAG's first task runs before
anything is created, refuses them.
"""

from enum import StrEnum
from typing import Any

TUTORIAL_IMAGE_REGISTRY = "us-docker.pkg.dev/cloud-tpu-images/inference"

# Control (Cc), format (Cf: zero-width, bidirectional, tag), line and paragraph separator (Zl, Zp)
# and surrogate (Cs) code points: invisible, or they break a line, a label or a log.
_INVISIBLE_RANGES = (
    (0x0000, 0x001F),
    (0x007F, 0x009F),
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x206F),
    (0xD800, 0xDFFF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)


def _class_char(code: int) -> str:
    r"""`\uXXXX` below U+10000, the character itself above: Python spells those `\U0001XXXX` and
    JavaScript `\u{1XXXX}`, and no escape is common to both."""
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


# The body of a regex character class of those code points, as both engines read it.
INVISIBLE = "".join(
    _class_char(first) + (f"-{_class_char(last)}" if last > first else "")
    for first, last in _INVISIBLE_RANGES
)


def _whole(body: str) -> str:
    r"""A pattern that only the whole value matches. Python's `$` also matches before a final
    newline, so the end is `(?!\n)$`: the very end in Python and in JavaScript alike."""
    return f"^(?:{body})(?!\\n)$"


# One line of visible characters, for texts that no stricter pattern describes.
_TEXT = _whole(f"[^{INVISIBLE}]*")


class Capacity(StrEnum):
    """How the TPU nodes are obtained: the `capacity` parameter's values."""

    ON_DEMAND = "on-demand"
    SPOT = "spot"
    RESERVATION = "reservation"
    # GKE's flex-start VMs (Dynamic Workload Scheduler): each slice's pool has no nodes until
    # GKE can start the whole slice.
    FLEX_START = "flex-start"
    # Flex-start with queued provisioning: the pools get nodes only through a
    # ProvisioningRequest, which GKE fills for every slice at once.
    FLEX_START_QUEUED = "flex-start-queued"

    @property
    def flex_start(self) -> bool:
        """Flex-start VMs, queued or not: the nodes come when GKE finds the capacity."""
        return self in (Capacity.FLEX_START, Capacity.FLEX_START_QUEUED)

    @property
    def queued(self) -> bool:
        """Nodes only through a ProvisioningRequest."""
        return self is Capacity.FLEX_START_QUEUED


# Shapes shared by several parameters. Each says in words what its pattern enforces, because
# jsonschema's own message ("does not match '^[a-z]...'") helps nobody.
_DNS_LABEL = {
    "type": "string",
    "pattern": _whole("[a-z0-9]([-a-z0-9]*[a-z0-9])?"),
    "maxLength": 63,
}
_GKE_NAME = {
    "type": "string",
    "pattern": _whole("[a-z]([-a-z0-9]*[a-z0-9])?"),
    "maxLength": 40,
}
_IMAGE = {
    "type": "string",
    "pattern": _TEXT,
    "minLength": 1,
    "maxLength": 255,
}

PARAMETERS: dict[str, dict[str, Any]] = {
    "project_id": {
        "type": "string",
        "pattern": _whole("[a-z][a-z0-9-]{4,28}[a-z0-9]"),
        "title": "Project",
        "description": "Google Cloud project id (6-30 lowercase letters, digits, hyphens).",
        "section": "Where",
    },
    "zone": {
        "type": "string",
        "pattern": _whole("[a-z]+-[a-z]+[0-9]+-[a-z]"),
        "title": "Zone",
        "description": "Zone of the cluster and the TPU slices, e.g. us-west4-a; the region "
        "(bucket location) is derived from it.",
        "section": "Where",
    },
    "cluster_name": {
        "default": "saxml",
        **_GKE_NAME,
        "title": "Cluster name",
        "description": "GKE cluster name: lowercase letters, digits and hyphens, starting with a "
        "letter, at most 40 characters. It also names the deployment in every label.",
        "section": "Where",
    },
    "adopt_cluster": {
        "default": False,
        "type": "boolean",
        "title": "Use an existing cluster",
        "description": "Deploy into an existing Standard cluster of this name (with Workload "
        "Identity) that this deployment did not create: the cluster is never changed or deleted; "
        "only this deployment's TPU node pools, Kubernetes objects and IAM bindings are added "
        "and, at teardown, removed. Without it, an existing cluster that is not this "
        "deployment's is refused.",
        "section": "Where",
    },
    "release_channel": {
        "default": "REGULAR",
        "type": "string",
        "enum": ["RAPID", "REGULAR", "STABLE"],
        "title": "Release channel",
        "description": "GKE release channel.",
        "section": "Cluster",
    },
    "cluster_version": {
        "default": "latest",
        "type": "string",
        "pattern": _whole(r"latest|[0-9]+\.[0-9]+(\.[0-9]+(-gke\.[0-9]+)?)?"),
        "title": "GKE version",
        "description": "GKE version: latest, or an explicit version such as 1.31 or "
        "1.31.5-gke.1023000 (TPU v5e needs 1.27.2-gke.2100 or later).",
        "section": "Cluster",
    },
    "cpu_nodes": {
        "default": 4,
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "title": "CPU nodes",
        "description": "Nodes in the default (CPU) pool that runs the admin server, sax-http "
        "and the JobSet controller.",
        "section": "Cluster",
    },
    "cpu_machine_type": {
        "default": "e2-standard-4",
        "type": "string",
        "pattern": _whole("[a-z][a-z0-9]*-[a-z0-9]+(-[0-9]+)?"),
        "title": "CPU machine type",
        "description": "Machine type of the default (CPU) pool.",
        "section": "Cluster",
    },
    "tpu_generation": {
        "default": "v5e",
        "type": "string",
        "enum": ["v4", "v5e", "v5p", "v6e"],
        "title": "TPU generation",
        "description": "TPU generation of the slices.",
        "section": "TPU",
    },
    "tpu_topology": {
        "default": "4x8",
        "type": "string",
        "pattern": _whole("auto|[0-9]+x[0-9]+(x[0-9]+)?"),
        "title": "TPU topology",
        "description": "Slice topology (2D such as 4x8 for v5e/v6e, 3D such as 2x2x4 for "
        "v4/v5p), or auto: the smallest topology whose memory fits the model size.",
        "section": "TPU",
    },
    "tpu_slices": {
        "default": 2,
        "type": "integer",
        "minimum": 1,
        "maximum": 16,
        "title": "TPU slices",
        "description": "Number of slices; each is one node pool (tpu1, tpu2, ...) and one "
        "Saxml model server.",
        "section": "TPU",
    },
    "capacity": {
        "default": Capacity.ON_DEMAND.value,
        "type": "string",
        "enum": [capacity.value for capacity in Capacity],
        "title": "Capacity",
        "description": "How the TPU nodes are obtained: on-demand, spot (preemptible), a "
        "reservation, flex-start (GKE's flex-start VMs: each slice's nodes come when GKE can "
        "start the whole slice, and run for at most 7 days), or flex-start-queued (flex-start "
        "with queued provisioning: one ProvisioningRequest, and GKE starts every slice at once).",
        "section": "TPU",
    },
    "reservation": {
        "default": None,
        "type": ["null", "string"],
        "pattern": _TEXT,
        "maxLength": 63,
        "title": "Reservation",
        "description": "Name of the reservation to consume: required when capacity is "
        "reservation, empty otherwise.",
        "section": "TPU",
    },
    "capacity_wait_minutes": {
        "default": 0,
        "type": "number",
        "minimum": 0,
        "maximum": 1440,
        "title": "Capacity wait (minutes)",
        "description": "How long to wait for TPU capacity when the zone has none (a stockout), "
        "retrying the failed slices with growing back-off; 0 fails at once (0-1440).",
        "section": "TPU",
    },
    "model_size_b": {
        "default": None,
        "type": ["null", "number"],
        "exclusiveMinimum": 0,
        "maximum": 100000,
        "title": "Model size (billions of parameters)",
        "description": "Model parameters in billions; when given, the slice's HBM must hold it "
        "(and TPU topology auto picks the smallest slice that does).",
        "section": "Model",
    },
    "bucket": {
        "default": None,
        "type": ["null", "string"],
        "pattern": _TEXT,
        "maxLength": 63,
        "title": "Bucket",
        "description": "Bucket for Saxml's admin state; empty means a name of this deployment "
        "({project_id}-{cluster_name}-<hash>). The tutorial's is {project_id}-gke-bucket.",
        "section": "Storage and identity",
    },
    "adopt_bucket": {
        "default": False,
        "type": "boolean",
        "title": "Use an existing bucket",
        "description": "Use the bucket named above although this deployment did not create it: "
        "it gets (and loses at teardown) only the Google service account's binding, and is never "
        "deleted. Without it, an existing bucket that is not this deployment's is refused.",
        "section": "Storage and identity",
    },
    "namespace": {
        "default": "default",
        **_DNS_LABEL,
        "title": "Namespace",
        "description": "Kubernetes namespace of the Saxml workloads.",
        "section": "Storage and identity",
    },
    "ksa_name": {
        "default": "sax-sa",
        **_DNS_LABEL,
        "title": "Kubernetes service account",
        "description": "Kubernetes service account of the Saxml pods.",
        "section": "Storage and identity",
    },
    "gsa_name": {
        "default": None,
        "type": ["null", "string"],
        "pattern": _whole("[a-z]([-a-z0-9]*[a-z0-9])?"),
        "minLength": 6,
        "maxLength": 30,
        "title": "Google service account",
        "description": "Google service account the pods act as through Workload Identity "
        "(6-30 characters); empty means one of this deployment (sax-{cluster_name}-<hash>). The "
        "tutorial's is sax-iam-sa. An existing account is used only if this deployment made it.",
        "section": "Storage and identity",
    },
    "jobset_version": {
        "default": "v0.12.0",
        "type": "string",
        "pattern": _whole(r"v[0-9]+\.[0-9]+\.[0-9]+"),
        "title": "JobSet version",
        "description": "JobSet release to install. Without a manifest URL, its official "
        "release file is applied only if its sha256 is the one pinned for the version.",
        "section": "Software",
    },
    "jobset_manifest_url": {
        "default": None,
        "type": ["null", "string"],
        "pattern": _TEXT,
        "maxLength": 2048,
        "title": "JobSet manifest URL",
        "description": "JobSet install manifest; empty means the official release file of "
        "the JobSet version. https, or http to a loopback address only; a loopback address "
        "only when the Google connection points at the local emulator.",
        "section": "Software",
    },
    "jobset_manifest_sha256": {
        "default": None,
        "type": ["null", "string"],
        "pattern": _whole("[0-9a-f]{64}"),
        "title": "JobSet manifest sha256",
        "description": "sha256 of the file at JobSet manifest URL (64 lowercase hex digits, as "
        "sha256sum prints it); required with that URL, and nothing is applied unless the "
        "download matches.",
        "section": "Software",
    },
    "saxml_admin_image": {
        "default": f"{TUTORIAL_IMAGE_REGISTRY}/sax-admin-server:v1.1.0",
        **_IMAGE,
        "title": "Admin server image",
        "description": "Saxml admin server image.",
        "section": "Software",
    },
    "saxml_model_image": {
        "default": f"{TUTORIAL_IMAGE_REGISTRY}/sax-model-server:v1.1.0",
        **_IMAGE,
        "title": "Model server image",
        "description": "Saxml model server image.",
        "section": "Software",
    },
    "saxml_http_image": {
        "default": f"{TUTORIAL_IMAGE_REGISTRY}/sax-http:v1.0.0",
        **_IMAGE,
        "title": "HTTP server image",
        "description": "sax-http image (the HTTP front end).",
        "section": "Software",
    },
    "sax_cell": {
        "default": "/sax/test",
        "type": "string",
        "pattern": _whole("/sax/[a-z][a-z0-9_-]*"),
        "maxLength": 64,
        "title": "Saxml cell",
        "description": "Saxml cell, /sax/<name> with a lowercase name.",
        "section": "Model",
    },
    "model_key": {
        "default": "/sax/test/spmd",
        "type": "string",
        "pattern": _whole("/sax/[a-z][a-z0-9_-]*/[a-z][a-z0-9_-]*"),
        "maxLength": 128,
        "title": "Model key",
        "description": "Model id, <sax_cell>/<name> with a lowercase name.",
        "section": "Model",
    },
    "model_path": {
        "default": "saxml.server.pax.lm.params.lm_cloud.LmCloudSpmd175B32Test",
        "type": "string",
        "pattern": _whole("[a-zA-Z]+[a-zA-Z0-9_.-]*"),
        "maxLength": 256,
        "title": "Model class",
        "description": "Saxml model class (registry path).",
        "section": "Model",
    },
    "checkpoint": {
        "default": "None",
        "type": "string",
        # ASCII: Python's \w is Unicode, JavaScript's is not.
        "pattern": _whole("[A-Za-z0-9_/.%:=|+-]+"),
        "maxLength": 1024,
        "title": "Checkpoint",
        "description": "Checkpoint path (a Paxml step directory), or None for test models "
        "with random weights.",
        "section": "Model",
    },
    "model_replicas": {
        "default": None,
        "type": ["null", "integer"],
        "minimum": 1,
        "title": "Model replicas",
        "description": "Slices that load the model; empty means one per slice.",
        "section": "Model",
    },
    "prompt": {
        "default": "How many days are in a week?",
        "type": "string",
        "pattern": _TEXT,
        "minLength": 1,
        "maxLength": 4096,
        "title": "Smoke-test prompt",
        "description": "Smoke-test query sent to generate.",
        "section": "Model",
    },
    "http_exposure": {
        "default": "none",
        "type": "string",
        "enum": ["external", "internal", "none"],
        "title": "HTTP exposure",
        "description": "none: no load balancer, sax-http is reached in the cluster only; "
        "internal: an internal LoadBalancer (VPC); external: a public one (as the tutorial). "
        "A load balancer passes only generate and score, from the HTTP source ranges.",
        "section": "Operations",
    },
    "http_source_ranges": {
        "default": [],
        "type": "array",
        "items": {"type": "string", "pattern": _whole("[0-9a-fA-F.:/]+"), "maxLength": 43},
        "maxItems": 100,
        "title": "HTTP source ranges",
        "description": "CIDR ranges (e.g. 10.0.0.0/8, 203.0.113.7/32) allowed to reach the "
        "load balancer: required with http_exposure internal or external, empty with none.",
        "section": "Operations",
    },
    "allow_public_http": {
        "default": False,
        "type": "boolean",
        "title": "Allow public HTTP",
        "description": "Required with http_exposure external: the model's generate and score "
        "get a public address, open to the HTTP source ranges without authentication.",
        "section": "Operations",
    },
    "teardown": {
        "default": "on_failure",
        "type": "string",
        "enum": ["on_failure", "always", "never"],
        "title": "Teardown",
        "description": "When to delete what the run created.",
        "section": "Operations",
    },
    "ttl_hours": {
        "default": 24,
        "type": "integer",
        "minimum": 0,
        "maximum": 8760,
        "title": "Time to live (hours)",
        "description": "The nightly teardown removes the deployment after this many hours; "
        "0 means never.",
        "section": "Operations",
    },
    "poll_seconds": {
        "default": 10,
        "type": "number",
        "minimum": 0.05,
        "maximum": 300,
        "title": "Poll interval (seconds)",
        "description": "Seconds between two polls of every wait (GKE operations, pods, logs).",
        "section": "Operations",
    },
    "operation_timeout_minutes": {
        "default": 30,
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 360,
        "title": "GKE operation timeout (minutes)",
        "description": "How long one GKE operation (cluster, node pool) may take.",
        "section": "Operations",
    },
    "pods_timeout_minutes": {
        "default": 20,
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 360,
        "title": "Pods timeout (minutes)",
        "description": "How long the Saxml pods (and the JobSet controller) may take to be Ready.",
        "section": "Operations",
    },
    "model_load_timeout_minutes": {
        "default": 20,
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 360,
        "title": "Model load timeout (minutes)",
        "description": "How long the model may take to load on every replica.",
        "section": "Operations",
    },
    "labels": {
        "default": {},
        "type": "object",
        # GCP's label rules in words come from `build_spec`; the schema keeps the characters out.
        "propertyNames": {"pattern": _TEXT},
        "additionalProperties": {"type": "string", "pattern": _TEXT},
        "title": "Extra labels",
        "description": "Extra labels on every resource (GCP label rules: lowercase keys).",
        "section": "Operations",
    },
}

REQUIRED = tuple(name for name, schema in PARAMETERS.items() if "default" not in schema)


def defaults() -> dict[str, Any]:
    """Every parameter's default; required parameters are absent."""
    return {name: schema["default"] for name, schema in PARAMETERS.items() if "default" in schema}


def conf_schema() -> dict[str, Any]:
    """One JSON Schema object for a whole conf, as the CLI validates it."""
    form_only = {"title", "section", "default"}
    return {
        "type": "object",
        "properties": {
            name: {k: v for k, v in schema.items() if k not in form_only}
            for name, schema in PARAMETERS.items()
        },
        "required": list(REQUIRED),
        "additionalProperties": False,
    }
