"""ensure_bucket: the bucket for Saxml's admin state, labelled with the deployment's identity.

An existing bucket is used when it is this deployment's, or when `adopt_bucket` says to use
someone else's (then it is never deleted); any other is refused (`steps.adoption`).
"""

from saxml_gke.hooks.storage import StorageHook
from saxml_gke.steps.adoption import ABSENT, OURS, check_bucket, read_bucket_labels
from saxml_gke.steps.base import Result, StepContext, now_iso


def ensure_bucket(ctx: StepContext) -> Result:
    spec, name = ctx.spec, ctx.spec.storage.bucket
    verdict = check_bucket(spec, read_bucket_labels(spec, ctx.gcp_conn_id))
    if verdict != ABSENT:
        ctx.log.info("Bucket %s exists (%s): using it", name, verdict)
        return {"bucket": name, "created": False, "owned": verdict == OURS}
    StorageHook(gcp_conn_id=ctx.gcp_conn_id).create_bucket(
        name=name, project_id=spec.project_id, location=spec.storage.location, labels=spec.labels
    )
    ctx.log.info("Created bucket gs://%s in %s", name, spec.storage.location)
    return {"bucket": name, "created": True, "owned": True, "created_at": now_iso()}
