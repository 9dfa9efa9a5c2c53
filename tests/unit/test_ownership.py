"""Ownership marks and default names: an identity per deployment that no other one shares."""

import re
from datetime import UTC, datetime

import pytest

from saxml_gke import naming
from saxml_gke.ownership import (
    LABEL_ID,
    Owner,
    account_marks,
    claimed_owner,
    describe_marks,
    expired,
    expires_at,
    looks_managed,
    with_expiry,
)

OWNER = Owner("my-project", "us-west4-a", "saxml")
_LABEL_VALUE = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_SERVICE_ACCOUNT = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")


def test_every_label_is_a_valid_gcp_and_kubernetes_label_value_for_the_longest_names() -> None:
    owner = Owner("p" * 30, "northamerica-northeast1-a", "c" * 40)
    assert all(_LABEL_VALUE.match(value) for value in owner.labels().values())
    assert owner.owns(owner.labels())


def test_ownership_is_the_identity_not_a_name_or_the_readable_labels() -> None:
    copied = {"managed-by": "saxml-gke", "saxml-gke-deployment": "saxml"}
    assert not OWNER.owns(copied)
    assert not OWNER.owns(None)
    for other in (
        Owner("other-project", "us-west4-a", "saxml"),
        Owner("my-project", "us-west4-b", "saxml"),
        Owner("my-project", "us-west4-a", "saxml2"),
    ):
        assert not OWNER.owns(other.labels())
        assert other.id != OWNER.id


def test_a_service_account_description_holds_the_whole_identity_and_its_expiry() -> None:
    description = OWNER.account_description("20261125t200000z")
    assert account_marks(description) == {**OWNER.labels(), "expires-at": "20261125t200000z"}
    assert account_marks(OWNER.account_description(None)) == OWNER.labels()
    assert OWNER.owns_account({"description": description})
    assert not OWNER.owns_account({"description": "managed-by=saxml-gke deployment=saxml"})
    assert not OWNER.owns_account({"description": ""})
    assert not OWNER.owns_account(None)
    assert account_marks("Team data's account") == {}
    other = Owner("other-project", "us-west4-a", "saxml").account_description(None)
    assert claimed_owner("my-project", account_marks(other)) is None


def test_labels_claim_an_owner_only_when_they_are_consistent() -> None:
    assert claimed_owner("my-project", OWNER.labels()) == OWNER
    assert claimed_owner("other-project", OWNER.labels()) is None  # copied from another project
    assert claimed_owner("my-project", {**OWNER.labels(), "saxml-gke-deployment": "x"}) is None
    assert claimed_owner("my-project", {"saxml-gke-deployment": "data_team"}) is None


def test_marks_are_recognised_and_described() -> None:
    assert looks_managed({"managed-by": "saxml-gke"})
    assert looks_managed({LABEL_ID: "forged"})
    assert not looks_managed({"team": "data"})
    assert describe_marks({"team": "data"}).startswith("no saxml-gke labels")
    assert describe_marks(OWNER.labels()) == (
        "labels managed-by=saxml-gke, saxml-gke-deployment=saxml, "
        f"saxml-gke-id={OWNER.id}, saxml-gke-location=us-west4-a"
    )


def test_expiry() -> None:
    now = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    assert expires_at({"expires-at": "20261125t200000z"}) == now
    assert expired({"expires-at": "20261125t200000z"}, now)
    assert not expired({"expires-at": "20261125t200001z"}, now)
    assert not expired({}, now)
    with pytest.raises(ValueError, match="never"):
        expires_at({"expires-at": "never"})


@pytest.mark.parametrize("cluster", ["a", "saxml", "c" * 40, "a-" * 19 + "b"])
@pytest.mark.parametrize("project", ["my-project", "p" * 30])
def test_default_names_are_valid_and_end_in_the_identity_hash(project: str, cluster: str) -> None:
    owner = Owner(project, "us-west4-a", cluster)
    bucket, account = naming.default_bucket(owner), naming.default_service_account(owner)
    assert _BUCKET.match(bucket) and ".." not in bucket and "-." not in bucket
    assert 6 <= len(account) <= 30 and _SERVICE_ACCOUNT.match(account)
    assert bucket.endswith(owner.digest[:8]) and account.endswith(owner.digest[:8])


def test_default_names_differ_for_deployments_that_differ_only_in_location() -> None:
    other = Owner("my-project", "us-west4-b", "saxml")
    assert naming.default_bucket(OWNER) != naming.default_bucket(other)
    assert naming.default_service_account(OWNER) != naming.default_service_account(other)


def test_with_expiry_moves_or_removes_only_the_expiry() -> None:
    labels = {**OWNER.labels(), "expires-at": "20261125t200000z", "team": "ml"}
    assert with_expiry(labels, "20261127t200000z") == {**labels, "expires-at": "20261127t200000z"}
    assert with_expiry(labels, None) == {**OWNER.labels(), "team": "ml"}
