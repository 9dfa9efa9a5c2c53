"""Values the unit tests share: a valid text per parameter, and the shape of rendered objects."""

from typing import Any

from saxml_gke.parameters import PARAMETERS

WHERE = {"project_id": "my-project", "zone": "us-west4-a"}
# A valid value for each text parameter (or part of one) whose default is empty.
VALID = {
    **WHERE,
    "reservation": "my-res",
    "bucket": "my-bucket",
    "gsa_name": "sax-iam-sa",
    "jobset_manifest_url": "https://example.com/manifests.yaml",
    "jobset_manifest_sha256": "0123456789abcdef" * 4,
    "labels keys": "team",
    "labels values": "ml",
}


def form_requires(schema: dict[str, Any]) -> bool:
    """The trigger form's rule (isParamRequired.tsx): a field is required unless its type
    includes "null", and a required field that is null or "" blocks the Trigger button."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return "null" not in types


def valid(where: str) -> str:
    return VALID.get(where) or PARAMETERS[where]["default"]


def shape(value: Any) -> Any:
    """The structure of objects with every leaf value blanked out."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__
