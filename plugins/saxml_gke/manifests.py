"""DeploymentSpec -> the Kubernetes objects of the Saxml deployment, from include/manifests/.

Templates stay readable YAML, but every interpolated value passes through `tojson` and the
environment is strict, so a parameter can only ever become a string (or number) in the output,
never YAML structure, and a misspelt field fails loudly instead of rendering empty. Each
`*.yaml.j2` renders objects (none, when its condition is off); `*.jinja` files hold the macros
they share.
"""

import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from saxml_gke import tpu
from saxml_gke.spec import DeploymentSpec

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "include" / "manifests"


def render_objects(
    spec: DeploymentSpec, load_balancer_ip: str | None = None
) -> list[dict[str, Any]]:
    """Every object, in apply order (namespace and service account before the workloads).

    `load_balancer_ip` is the reserved address for the sax-http Service, known only once
    it is reserved (the CLI renders without it)."""
    environment = _environment()
    objects: list[dict[str, Any]] = []
    for name in sorted(environment.list_templates(filter_func=_is_manifest)):
        text = environment.get_template(name).render(
            spec=spec,
            labels=spec.labels,
            pod_labels=_pod_labels(spec),
            load_balancer_ip=load_balancer_ip,
            privileged_tpu=tpu.needs_privileged(spec.cluster.version),
        )
        objects.extend(load_documents(text))
    return objects


def load_documents(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML text, with libyaml's safe loader where PyYAML has
    it (its wheels do): it parses the JobSet release (about 1 MB of CRD schemas) 7x faster
    than pure Python, which takes most of a second."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]


def _is_manifest(name: str) -> bool:
    return name.endswith(".yaml.j2")


def render_yaml(spec: DeploymentSpec) -> str:
    """The objects as one YAML stream, as `kubectl apply -f -` would take it."""
    return yaml.safe_dump_all(render_objects(spec), sort_keys=False)


def _pod_labels(spec: DeploymentSpec) -> Callable[[str], dict[str, str]]:
    """Pod template labels: only the stable ones (the identity), so re-running a deployment
    (which moves `expires-at`) never changes a pod template and never restarts a pod."""

    def pod_labels(app: str) -> dict[str, str]:
        return {"app": app, **spec.owner.labels()}

    return pod_labels


def _to_json(value: Any) -> str:
    """JSON is YAML: a quoted scalar or flow mapping that no value can break out of."""
    return json.dumps(value, ensure_ascii=True)


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    environment.filters["tojson"] = _to_json
    return environment


def leader_selector(spec: DeploymentSpec) -> str:
    """Process 0 of every slice: only it joins the admin server and logs model loads."""
    return (
        f"jobset.sigs.k8s.io/jobset-name={spec.saxml.model_jobset},"
        "batch.kubernetes.io/job-completion-index=0"
    )


def object_refs(spec: DeploymentSpec) -> list[tuple[str, str, str, str | None]]:
    """(apiVersion, kind, name, namespace) of every object the deployment applies, dependents
    first, for deleting them in order."""
    return [object_ref(obj) for obj in reversed(render_objects(spec))]


def object_ref(obj: Mapping[str, Any]) -> tuple[str, str, str, str | None]:
    """An object's (apiVersion, kind, name, namespace)."""
    metadata = obj["metadata"]
    return obj["apiVersion"], obj["kind"], metadata["name"], metadata.get("namespace")
