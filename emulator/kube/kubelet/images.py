"""Images on nodes: pull policy, what each node already has, and image identities."""

import hashlib
from collections.abc import Mapping
from typing import Any

from emulator.kube.kubelet.behaviour import normalized_image

PRESENT_IMAGE_PULL_SECONDS = 0.5  # `Always` re-checks a present image's digest with the registry


def pull_policy(container: Mapping[str, Any]) -> str:
    """As the API server defaulted it (`Always` for `:latest` and untagged images)."""
    return str(container.get("imagePullPolicy") or "IfNotPresent")


def image_id(image: str) -> str:
    """`repository@sha256:digest`, stable for a given image reference."""
    reference = normalized_image(image)
    repository = reference.partition("@")[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return f"{repository}@sha256:{hashlib.sha256(reference.encode()).hexdigest()}"


def image_repository(image: str) -> str:
    """`registry.k8s.io/jobset/jobset:v0.12.0@sha256:...` -> `registry.k8s.io/jobset/jobset`."""
    name = image.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


class NodeImages:
    """The images each node's container runtime holds."""

    def __init__(self) -> None:
        self._present: dict[str, set[str]] = {}

    def has(self, node: str, image: str) -> bool:
        return image in self._present.get(node, set())

    def add(self, node: str, image: str) -> None:
        self._present.setdefault(node, set()).add(image)
