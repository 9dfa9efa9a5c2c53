"""The deployment's parameters as JSON Schema: one source for the UI form, REST and the CLI.

The DAG wraps each entry in an Airflow `Param`; `spec.build_spec` validates a conf against the same
schemas, so a value that the trigger form or the REST API accepts is exactly one the CLI accepts.
Cross-field rules (a topology valid for the generation, a model that fits the slice, ...) live in
`spec.py`, because JSON Schema cannot express them with a message a person can act on.
"""

from typing import Any

TUTORIAL_IMAGE_REGISTRY = "us-docker.pkg.dev/cloud-tpu-images/inference"

# Shapes shared by several parameters. Each says in words what its pattern enforces, because
# jsonschema's own message ("does not match '^[a-z]...'") helps nobody.
_DNS_LABEL = {
    "type": "string",
    "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    "maxLength": 63,
}
_GKE_NAME = {
    "type": "string",
    "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$",
    "maxLength": 40,
}
_IMAGE = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
}

PARAMETERS: dict[str, dict[str, Any]] = {
    "project_id": {
        "type": "string",
        "pattern": "^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        "title": "Project",
        "description": "Google Cloud project id (6-30 lowercase letters, digits, hyphens).",
        "section": "Where",
    },
    "zone": {
        "type": "string",
        "pattern": "^[a-z]+-[a-z]+[0-9]+-[a-z]$",
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
    "release_channel": {
        "default": "REGULAR",
        "type": "string",
        "enum": ["RAPID", "REGULAR", "STABLE"],
        "description": "GKE release channel.",
        "section": "Cluster",
    },
    "cluster_version": {
        "default": "latest",
        "type": "string",
        "pattern": r"^(latest|[0-9]+\.[0-9]+(\.[0-9]+(-gke\.[0-9]+)?)?)$",
        "description": "GKE version: latest, or an explicit version such as 1.31 or "
        "1.31.5-gke.1023000 (TPU v5e needs 1.27.2-gke.2100 or later).",
        "section": "Cluster",
    },
    "cpu_nodes": {
        "default": 4,
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "description": "Nodes in the default (CPU) pool that runs the admin server, sax-http "
        "and the JobSet controller.",
        "section": "Cluster",
    },
    "cpu_machine_type": {
        "default": "e2-standard-4",
        "type": "string",
        "pattern": "^[a-z][a-z0-9]*-[a-z0-9]+(-[0-9]+)?$",
        "description": "Machine type of the default (CPU) pool.",
        "section": "Cluster",
    },
    "tpu_generation": {
        "default": "v5e",
        "type": "string",
        "enum": ["v4", "v5e", "v5p", "v6e"],
        "description": "TPU generation of the slices.",
        "section": "TPU",
    },
    "tpu_topology": {
        "default": "4x8",
        "type": "string",
        "pattern": "^(auto|[0-9]+x[0-9]+(x[0-9]+)?)$",
        "description": "Slice topology (2D such as 4x8 for v5e/v6e, 3D such as 2x2x4 for "
        "v4/v5p), or auto: the smallest topology whose memory fits model_size_b.",
        "section": "TPU",
    },
    "tpu_slices": {
        "default": 2,
        "type": "integer",
        "minimum": 1,
        "maximum": 16,
        "description": "Number of slices; each is one node pool (tpu1, tpu2, ...) and one "
        "Saxml model server.",
        "section": "TPU",
    },
    "capacity": {
        "default": "on-demand",
        "type": "string",
        "enum": ["on-demand", "spot", "reservation"],
        "description": "How the TPU nodes are obtained.",
        "section": "TPU",
    },
    "reservation": {
        "default": "",
        "type": "string",
        "maxLength": 63,
        "description": "Reservation name; required when capacity is reservation, empty otherwise.",
        "section": "TPU",
    },
    "model_size_b": {
        "default": None,
        "type": ["null", "number"],
        "exclusiveMinimum": 0,
        "maximum": 100000,
        "description": "Model parameters in billions; when given, the slice's HBM must hold it "
        "(and tpu_topology auto picks the smallest slice that does).",
        "section": "Model",
    },
    "bucket": {
        "default": "",
        "type": "string",
        "maxLength": 63,
        "description": "Bucket for Saxml's admin state; empty means {project_id}-gke-bucket, "
        "as in the tutorial.",
        "section": "Storage and identity",
    },
    "namespace": {
        "default": "default",
        **_DNS_LABEL,
        "description": "Kubernetes namespace of the Saxml workloads.",
        "section": "Storage and identity",
    },
    "ksa_name": {
        "default": "sax-sa",
        **_DNS_LABEL,
        "description": "Kubernetes service account of the Saxml pods.",
        "section": "Storage and identity",
    },
    "gsa_name": {
        "default": "sax-iam-sa",
        "type": "string",
        "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$",
        "minLength": 6,
        "maxLength": 30,
        "description": "Google service account the pods act as through Workload Identity "
        "(6-30 characters).",
        "section": "Storage and identity",
    },
    "jobset_version": {
        "default": "v0.12.0",
        "type": "string",
        "pattern": r"^v[0-9]+\.[0-9]+\.[0-9]+$",
        "description": "JobSet release to install.",
        "section": "Software",
    },
    "jobset_manifest_url": {
        "default": "",
        "type": "string",
        "maxLength": 2048,
        "description": "JobSet install manifest; empty means the official release file of "
        "jobset_version. https, or http to a loopback address only.",
        "section": "Software",
    },
    "saxml_admin_image": {
        "default": f"{TUTORIAL_IMAGE_REGISTRY}/sax-admin-server:v1.1.0",
        **_IMAGE,
        "description": "Saxml admin server image.",
        "section": "Software",
    },
    "saxml_model_image": {
        "default": f"{TUTORIAL_IMAGE_REGISTRY}/sax-model-server:v1.1.0",
        **_IMAGE,
        "description": "Saxml model server image.",
        "section": "Software",
    },
    "saxml_http_image": {
        "default": f"{TUTORIAL_IMAGE_REGISTRY}/sax-http:v1.0.0",
        **_IMAGE,
        "description": "sax-http image (the HTTP front end).",
        "section": "Software",
    },
    "sax_cell": {
        "default": "/sax/test",
        "type": "string",
        "pattern": "^/sax/[a-z][a-z0-9_-]*$",
        "maxLength": 64,
        "description": "Saxml cell, /sax/<name> with a lowercase name.",
        "section": "Model",
    },
    "model_key": {
        "default": "/sax/test/spmd",
        "type": "string",
        "pattern": "^/sax/[a-z][a-z0-9_-]*/[a-z][a-z0-9_-]*$",
        "maxLength": 128,
        "description": "Model id, <sax_cell>/<name> with a lowercase name.",
        "section": "Model",
    },
    "model_path": {
        "default": "saxml.server.pax.lm.params.lm_cloud.LmCloudSpmd175B32Test",
        "type": "string",
        "pattern": "^[a-zA-Z]+[a-zA-Z0-9_.-]*$",
        "maxLength": 256,
        "description": "Saxml model class (registry path).",
        "section": "Model",
    },
    "checkpoint": {
        "default": "None",
        "type": "string",
        "pattern": r"^[\w/.%:=|+-]+$",
        "maxLength": 1024,
        "description": "Checkpoint path (a Paxml step directory), or None for test models "
        "with random weights.",
        "section": "Model",
    },
    "model_replicas": {
        "default": None,
        "type": ["null", "integer"],
        "minimum": 1,
        "description": "Slices that load the model; null means one per slice.",
        "section": "Model",
    },
    "prompt": {
        "default": "How many days are in a week?",
        "type": "string",
        "minLength": 1,
        "maxLength": 4096,
        "description": "Smoke-test query sent to generate.",
        "section": "Model",
    },
    "http_exposure": {
        "default": "internal",
        "type": "string",
        "enum": ["external", "internal", "none"],
        "description": "external: public LoadBalancer (as the tutorial); internal: internal "
        "LoadBalancer; none: ClusterIP only.",
        "section": "Operations",
    },
    "teardown": {
        "default": "on_failure",
        "type": "string",
        "enum": ["on_failure", "always", "never"],
        "description": "When to delete what the run created.",
        "section": "Operations",
    },
    "ttl_hours": {
        "default": 24,
        "type": "integer",
        "minimum": 0,
        "maximum": 8760,
        "description": "The nightly teardown removes the deployment after this many hours; "
        "0 means never.",
        "section": "Operations",
    },
    "poll_seconds": {
        "default": 10,
        "type": "number",
        "minimum": 0.05,
        "maximum": 300,
        "description": "Seconds between two polls of every wait (GKE operations, pods, logs).",
        "section": "Operations",
    },
    "operation_timeout_minutes": {
        "default": 30,
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 360,
        "description": "How long one GKE operation (cluster, node pool) may take.",
        "section": "Operations",
    },
    "pods_timeout_minutes": {
        "default": 20,
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 360,
        "description": "How long the Saxml pods (and the JobSet controller) may take to be Ready.",
        "section": "Operations",
    },
    "model_load_timeout_minutes": {
        "default": 20,
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 360,
        "description": "How long the model may take to load on every replica.",
        "section": "Operations",
    },
    "labels": {
        "default": {},
        "type": "object",
        "additionalProperties": {"type": "string"},
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
