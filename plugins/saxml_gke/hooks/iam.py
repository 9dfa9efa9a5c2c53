"""Google service accounts and their IAM policies, through the IAM v1 discovery client.

Policy edits are read-modify-write with the etag: a concurrent edit makes the write fail
with 409 ABORTED and the edit is redone on the fresh policy, never blindly overwritten.
"""

from functools import cached_property
from typing import Any

from googleapiclient.errors import HttpError

from saxml_gke.bodies import edit_binding
from saxml_gke.hooks.discovery_api import DiscoveryApiHook
from saxml_gke.hooks.google import describe_policy_error
from saxml_gke.retry import with_retries


class IamHook(DiscoveryApiHook):
    @cached_property
    def _iam(self) -> Any:
        return self.build_client("iam", "v1")

    def get_service_account(self, *, email: str) -> dict[str, Any] | None:
        request = self._iam.projects().serviceAccounts().get(name=_account(email))
        return self.execute_or_none(f"get service account {email}", request)

    def list_service_accounts(self, *, project_id: str) -> list[dict[str, Any]]:
        accounts = self._iam.projects().serviceAccounts()
        return self.list_all(
            "list service accounts", accounts, "accounts", name=f"projects/{project_id}"
        )

    def ensure_service_account(
        self, *, project_id: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """The account, and whether this call created it."""
        account_id = body["accountId"]
        request = (
            self._iam.projects().serviceAccounts().create(name=f"projects/{project_id}", body=body)
        )
        try:
            return self.execute(f"create service account {account_id}", request), True
        except HttpError as error:
            if error.status_code != 409:
                raise
        email = f"{account_id}@{project_id}.iam.gserviceaccount.com"
        existing = self.get_service_account(email=email)
        if existing is None:
            raise RuntimeError(f"service account {email} exists (409) but cannot be read")
        return existing, False

    def set_description(self, *, email: str, description: str) -> None:
        body = {"serviceAccount": {"description": description}, "updateMask": "description"}
        request = self._iam.projects().serviceAccounts().patch(name=_account(email), body=body)
        self.execute(f"describe service account {email}", request)

    def delete_service_account(self, *, email: str) -> bool:
        """Whether it existed."""
        request = self._iam.projects().serviceAccounts().delete(name=_account(email))
        return self.execute_or_none(f"delete service account {email}", request) is not None

    def add_binding(self, *, email: str, role: str, member: str) -> bool:
        """Grant `role` to `member` on the service account; whether the policy changed."""
        return self._edit_policy(email, role, member, add=True)

    def remove_binding(self, *, email: str, role: str, member: str) -> bool:
        return self._edit_policy(email, role, member, add=False)

    def _edit_policy(self, email: str, role: str, member: str, *, add: bool) -> bool:
        accounts = self._iam.projects().serviceAccounts()

        def edit() -> bool:
            policy = accounts.getIamPolicy(resource=_account(email)).execute(num_retries=0)
            if not edit_binding(policy.setdefault("bindings", []), role, member, add=add):
                return False
            accounts.setIamPolicy(resource=_account(email), body={"policy": policy}).execute(
                num_retries=0
            )
            return True

        verb = "grant" if add else "revoke"
        return with_retries(edit, describe_policy_error, what=f"{verb} {role} to {member}")


def _account(email: str) -> str:
    return f"projects/-/serviceAccounts/{email}"
