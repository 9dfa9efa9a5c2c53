"""Default names of the deployment's shared-namespace resources, derived from its identity.

Bucket names are global and service account ids are per project: a fixed default (the
tutorial's `<project>-gke-bucket`, `sax-iam-sa`) makes two deployments share, and then tear
down, each other's. Each default ends in a short hash of the deployment's identity, so two
deployments that differ in project, location or cluster name get different names, and each
stays inside its API's length and character rules whatever the cluster name's length.
"""

from saxml_gke.ownership import Owner

_SUFFIX_LENGTH = 8
BUCKET_MAX = 63
SERVICE_ACCOUNT_MAX = 30


def _fit(prefix: str, owner: Owner, limit: int) -> str:
    """`prefix-<hash>` in at most `limit` characters, the prefix cut (never the hash), and
    never ending in a separator before the hash."""
    suffix = owner.digest[:_SUFFIX_LENGTH]
    head = prefix[: limit - len(suffix) - 1].rstrip("-.")
    return f"{head}-{suffix}"


def default_bucket(owner: Owner) -> str:
    """`<project>-<cluster>-<hash>`: 3-63 characters of a bucket name's alphabet."""
    return _fit(f"{owner.project_id}-{owner.cluster}", owner, BUCKET_MAX)


def default_service_account(owner: Owner) -> str:
    """`sax-<cluster>-<hash>`: a service account id (6-30 characters, `[a-z][-a-z0-9]*`)."""
    return _fit(f"sax-{owner.cluster}", owner, SERVICE_ACCOUNT_MAX)


def node_service_account(owner: Owner) -> str:
    """`sax-node-<cluster>-<hash>`: the id of the nodes' service account. Not a parameter:
    derived from the identity alone, so a teardown always knows it."""
    return _fit(f"sax-node-{owner.cluster}", owner, SERVICE_ACCOUNT_MAX)


def service_account_email(account_id: str, project_id: str) -> str:
    return f"{account_id}@{project_id}.iam.gserviceaccount.com"
