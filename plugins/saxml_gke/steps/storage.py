"""ensure_bucket: the bucket for Saxml's admin state, labelled so teardown knows it is ours."""

from google.api_core import exceptions as core

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.storage import StorageHook
from saxml_gke.spec import LABEL_DEPLOYMENT, LABEL_MANAGED_BY, MANAGED_BY, DeploymentSpec
from saxml_gke.steps.base import Result, StepContext, now_iso


def ensure_bucket(ctx: StepContext) -> Result:
    spec, hook = ctx.spec, StorageHook(gcp_conn_id=ctx.gcp_conn_id)
    name = spec.storage.bucket
    try:
        bucket = hook.get_bucket(name=name)
    except core.Forbidden as error:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"bucket {name} exists but this project cannot use it ({error.message}); bucket "
            "names are global: set the bucket parameter to a name of your own",
        ) from error
    if bucket is not None:
        owned = owned_by(spec, bucket.labels or {})
        ctx.log.info("Bucket %s exists (%s): using it", name, "ours" if owned else "not ours")
        return {"bucket": name, "created": False, "owned": owned}
    hook.create_bucket(
        name=name, project_id=spec.project_id, location=spec.storage.location, labels=spec.labels
    )
    ctx.log.info("Created bucket gs://%s in %s", name, spec.storage.location)
    return {"bucket": name, "created": True, "owned": True, "created_at": now_iso()}


def owned_by(spec: DeploymentSpec, labels: dict[str, str]) -> bool:
    """A bucket this deployment created (and so may delete): our two labels say so."""
    return (
        labels.get(LABEL_MANAGED_BY) == MANAGED_BY
        and labels.get(LABEL_DEPLOYMENT) == spec.deployment
    )
