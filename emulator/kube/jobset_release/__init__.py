"""JobSet's release (`manifests.yaml` of kubernetes-sigs/jobset v0.12.0), built in code.

The DAG installs JobSet from its release URL; the emulator serves this build there, so the
repository needs no copy of the upstream file. It holds what `kustomize build config/default`
puts in the release: the namespace, the CRD, RBAC, the controller manager's Deployment with its
Services, configuration and webhook cert Secret, and the webhook configurations.

Its CRD embeds Kubernetes types (the job template) in the form of one Kubernetes version: the
version a GKE cluster gets when it asks for none (its release channel's default), as the
emulator's clusters do.
"""

import json
from functools import cache
from typing import Any

import yaml

from emulator.gcp.gke.versions import DEFAULT_CHANNEL, resolve_version
from emulator.kube.jobset_release.crd import jobset_crd
from emulator.kube.jobset_release.manager import (
    manager_objects,
    namespace,
    service_account,
    webhook_configurations,
)
from emulator.kube.jobset_release.names import RELEASE
from emulator.kube.jobset_release.rbac import rbac_objects

__all__ = ["DEFAULT_KUBERNETES_VERSION", "RELEASE", "release_objects", "release_yaml"]

DEFAULT_KUBERNETES_VERSION = resolve_version("", DEFAULT_CHANNEL)


def release_objects(kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> list[dict[str, Any]]:
    """The release's objects in its order (namespace and CRD first, webhooks last): a new copy
    each call that shares nothing, as clients change what they apply."""
    return json.loads(_release_json(kubernetes_version))


@cache
def release_yaml(kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> str:
    """The release as the YAML stream GitHub serves (`---` between documents)."""
    return yaml.dump_all(
        release_objects(kubernetes_version), Dumper=yaml.CSafeDumper, sort_keys=False
    )


@cache
def _release_json(kubernetes_version: str) -> str:
    """Built once per version; JSON, because the parts share schema fragments and definitions."""
    objects = [
        namespace(),
        jobset_crd(kubernetes_version),
        service_account(),
        *rbac_objects(),
        *manager_objects(),
        *webhook_configurations(),
    ]
    return json.dumps(objects)
