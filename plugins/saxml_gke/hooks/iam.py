"""Google service accounts and their IAM policies, through the IAM v1 discovery client.

The discovery documents ship inside google-api-python-client, so building the client needs no
network. Policy edits are read-modify-write with the etag: a concurrent edit makes the write fail
with 409 ABORTED and the edit is redone on the fresh policy, never blindly overwritten.
"""

from functools import cached_property
from typing import Any

from googleapiclient import discovery
from googleapiclient.errors import HttpError

from saxml_gke.errors import ErrorKind
from saxml_gke.hooks.google import GoogleApiHook, describe_google_error, describe_policy_error
from saxml_gke.retry import with_retries


class IamHook(GoogleApiHook):
    @cached_property
    def _iam(self) -> Any:
        return discovery.build(
            "iam",
            "v1",
            credentials=self.get_credentials(),
            client_options=self.get_client_options(self.endpoint_override("iam")),
            static_discovery=True,
            cache_discovery=False,
        )

    def get_service_account(self, *, email: str) -> dict[str, Any] | None:
        request = self._iam.projects().serviceAccounts().get(name=_account(email))
        return self._execute_or_none(f"get service account {email}", request)

    def list_service_accounts(self, *, project_id: str) -> list[dict[str, Any]]:
        accounts, token = [], None
        while True:
            request = (
                self._iam.projects()
                .serviceAccounts()
                .list(name=f"projects/{project_id}", pageToken=token)
            )
            page = self._execute("list service accounts", request)
            accounts += page.get("accounts", [])
            token = page.get("nextPageToken")
            if not token:
                return accounts

    def ensure_service_account(
        self, *, project_id: str, account_id: str, display_name: str, description: str
    ) -> tuple[dict[str, Any], bool]:
        """The account, and whether this call created it."""
        body = {
            "accountId": account_id,
            "serviceAccount": {"displayName": display_name, "description": description},
        }
        request = (
            self._iam.projects().serviceAccounts().create(name=f"projects/{project_id}", body=body)
        )
        try:
            return self._execute(f"create service account {account_id}", request), True
        except HttpError as error:
            if error.status_code != 409:
                raise
        email = f"{account_id}@{project_id}.iam.gserviceaccount.com"
        existing = self.get_service_account(email=email)
        if existing is None:
            raise RuntimeError(f"service account {email} exists (409) but cannot be read")
        return existing, False

    def delete_service_account(self, *, email: str) -> bool:
        """Whether it existed."""
        request = self._iam.projects().serviceAccounts().delete(name=_account(email))
        return self._execute_or_none(f"delete service account {email}", request) is not None

    def add_binding(self, *, email: str, role: str, member: str) -> bool:
        """Grant `role` to `member` on the service account; whether the policy changed."""
        return self._edit_policy(email, role, member, add=True)

    def remove_binding(self, *, email: str, role: str, member: str) -> bool:
        return self._edit_policy(email, role, member, add=False)

    def _edit_policy(self, email: str, role: str, member: str, *, add: bool) -> bool:
        accounts = self._iam.projects().serviceAccounts()

        def edit() -> bool:
            policy = accounts.getIamPolicy(resource=_account(email)).execute(num_retries=0)
            bindings = policy.setdefault("bindings", [])
            binding = next((b for b in bindings if b["role"] == role), None)
            present = binding is not None and member in binding.get("members", [])
            if present == add:
                return False
            if add:
                if binding is None:
                    bindings.append({"role": role, "members": [member]})
                else:
                    binding["members"].append(member)
            else:
                binding["members"].remove(member)
                if not binding["members"]:
                    bindings.remove(binding)
            accounts.setIamPolicy(resource=_account(email), body={"policy": policy}).execute(
                num_retries=0
            )
            return True

        verb = "grant" if add else "revoke"
        return with_retries(edit, describe_policy_error, what=f"{verb} {role} to {member}")

    def _execute(self, what: str, request: Any) -> dict[str, Any]:
        return with_retries(lambda: request.execute(num_retries=0), _describe, what=what)

    def _execute_or_none(self, what: str, request: Any) -> dict[str, Any] | None:
        try:
            return self._execute(what, request)
        except HttpError as error:
            if error.status_code == 404:
                return None
            raise


def _account(email: str) -> str:
    return f"projects/-/serviceAccounts/{email}"


def _describe(error: Exception) -> tuple[ErrorKind, str] | None:
    """404 and 409 are answers the callers act on, not failures."""
    if isinstance(error, HttpError) and error.status_code in (404, 409):
        return None
    return describe_google_error(error)
