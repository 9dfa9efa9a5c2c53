"""Cloud Storage: the bucket for Saxml's admin state, created and deleted.

Tutorial: "Create a Cloud Storage bucket". An existing bucket is used when it is this
deployment's, or when `adopt_bucket` says to use someone else's (then it is never deleted); any
other is refused (`saxml_gke.adoption`).
"""

from datetime import UTC, datetime
from typing import Any

from saxml_gke.adoption import ABSENT, OURS, check_bucket
from saxml_gke.operators.base import DeploymentOperator, fails_fast
from saxml_gke.operators.teardown_base import TeardownOperator


class CreateBucketOperator(DeploymentOperator):
    """The bucket, labelled with the deployment's identity."""

    required_permissions = frozenset({"storage.buckets.get", "storage.buckets.create"})

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec, name = self.deployment, self.deployment.storage.bucket
        verdict = check_bucket(spec, self.storage.bucket_labels(name=name))
        if verdict != ABSENT:
            self.log.info("Bucket %s exists (%s): using it", name, verdict)
            return {"bucket": name, "created": False, "owned": verdict == OURS}
        self.storage.create_bucket(
            name=name, project_id=spec.project_id, location=spec.storage.location,
            labels=spec.labels,
        )  # fmt: skip
        self.log.info("Created bucket gs://%s in %s", name, spec.storage.location)
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        return {"bucket": name, "created": True, "owned": True, "created_at": created_at}


class DeleteBucketOperator(TeardownOperator):
    """The bucket and its objects, when it is the deployment's (an adopted one stays)."""

    required_permissions = frozenset(
        {
            "storage.buckets.get",
            "storage.buckets.delete",
            "storage.objects.list",
            "storage.objects.delete",
        }
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec = self.deployment
        bucket = self.storage.readable_bucket(name=spec.storage.bucket)
        if bucket is None or not spec.owner.owns(bucket.labels):
            return self.deleted([])
        gone = self.storage.delete_bucket(name=spec.storage.bucket)
        return self.deleted([f"bucket gs://{spec.storage.bucket}"] if gone else [])
