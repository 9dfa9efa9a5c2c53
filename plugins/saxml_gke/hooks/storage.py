"""Cloud Storage buckets through google-cloud-storage (the JSON API), with endpoint overrides."""

from functools import cached_property
from typing import Any

from google.api_core import exceptions as core
from google.cloud import storage

from saxml_gke.bodies import edit_binding
from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.google import GoogleApiHook, describe_google_error, describe_policy_error
from saxml_gke.retry import with_retries


class StorageHook(GoogleApiHook):
    @cached_property
    def client(self) -> storage.Client:
        return storage.Client(
            project=self.project_id,
            credentials=self.get_credentials(),
            client_options=self.get_client_options(self.endpoint_override("storage")),
        )

    def get_bucket(self, *, name: str) -> storage.Bucket | None:
        """The bucket, None when it does not exist; 403 (another project's) raises Forbidden."""
        try:
            return self._call(
                f"get bucket {name}",
                lambda: self.client.get_bucket(name),
                answers=(core.NotFound, core.Forbidden),
            )
        except core.NotFound:
            return None

    def bucket_labels(self, *, name: str) -> dict[str, str] | None:
        """The bucket's labels, None when it does not exist; another project's is refused."""
        try:
            bucket = self.get_bucket(name=name)
        except core.Forbidden as error:
            raise DeploymentError(
                ErrorKind.PERMANENT,
                f"bucket {name} exists but this project cannot use it ({error.message}); bucket "
                "names are global: set the bucket parameter to a name of your own",
            ) from error
        return None if bucket is None else dict(bucket.labels or {})

    def readable_bucket(self, *, name: str) -> storage.Bucket | None:
        """The bucket; None when it does not exist or is another project's (so never ours)."""
        try:
            return self.get_bucket(name=name)
        except core.Forbidden:
            return None

    def list_buckets(self, *, project_id: str) -> list[storage.Bucket]:
        return self._call(
            "list buckets", lambda: list(self.client.list_buckets(project=project_id))
        )

    def create_bucket(
        self, *, name: str, project_id: str, location: str, labels: dict[str, str]
    ) -> storage.Bucket:
        bucket = storage.Bucket(self.client, name=name)
        bucket.labels = labels
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        return self._call(
            f"create bucket {name}",
            lambda: self.client.create_bucket(bucket, project=project_id, location=location),
        )

    def set_labels(self, *, name: str, labels: dict[str, str]) -> None:
        """Replace the bucket's labels."""
        bucket = self._call(f"get bucket {name}", lambda: self.client.get_bucket(name))
        bucket.labels = labels  # the patch sends the keys it no longer has as null
        self._call(f"label bucket {name}", bucket.patch)

    def delete_bucket(self, *, name: str) -> bool:
        """Delete the bucket and its objects; whether it existed."""
        bucket = self.get_bucket(name=name)
        if bucket is None:
            return False
        for blob in self._call(f"list {name}", lambda: list(self.client.list_blobs(name))):
            self._call(f"delete gs://{name}/{blob.name}", blob.delete)
        try:
            self._call(f"delete bucket {name}", bucket.delete)
        except core.NotFound:
            return False
        return True

    def members(self, *, name: str, role: str) -> set[str]:
        """The members `role` is granted to on the bucket."""
        policy = self._call(
            f"get policy of gs://{name}",
            lambda: self.client.bucket(name).get_iam_policy(requested_policy_version=3),
        )
        return {m for b in policy.bindings if b["role"] == role for m in b["members"]}

    def add_binding(self, *, name: str, role: str, member: str) -> bool:
        return self._edit_policy(name, role, member, add=True)

    def remove_binding(self, *, name: str, role: str, member: str) -> bool:
        return self._edit_policy(name, role, member, add=False)

    def _edit_policy(self, name: str, role: str, member: str, *, add: bool) -> bool:
        bucket = self.client.bucket(name)

        def edit() -> bool:
            policy = bucket.get_iam_policy(requested_policy_version=3)
            if not edit_binding(policy.bindings, role, member, add=add):
                return False
            bucket.set_iam_policy(policy)
            return True

        verb = "grant" if add else "revoke"
        return with_retries(
            edit, describe_policy_error, what=f"{verb} {role} on gs://{name} to {member}"
        )

    def _call(
        self,
        what: str,
        call: Any,
        answers: tuple[type[Exception], ...] = (core.NotFound, core.Conflict),
    ) -> Any:
        """Retry transient errors; the `answers` reach the caller untouched."""

        def describe(error: Exception) -> Any:
            if isinstance(error, answers):
                return None
            return describe_google_error(error)

        return with_retries(call, describe, what=what)
