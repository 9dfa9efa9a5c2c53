"""Which printer builds a kind's table: the built-in kinds' own, a CRD's columns for custom
resources, the default NAME and CREATED AT table for the rest."""

from collections.abc import Mapping
from typing import Any

from emulator.kube.apiserver.tables import access, core, pods, workloads
from emulator.kube.apiserver.tables.columns import Printer
from emulator.kube.apiserver.tables.custom import crd_printer
from emulator.kube.resources import ResourceType

_RBAC = "rbac.authorization.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"
BUILTIN: dict[tuple[str, str], Printer] = {
    ("", "Pod"): pods.PRINTER,
    ("", "Service"): core.SERVICE,
    ("", "Node"): core.NODE,
    ("", "Namespace"): core.NAMESPACE,
    ("", "Event"): core.EVENT,
    ("", "ServiceAccount"): core.SERVICE_ACCOUNT,
    ("", "ConfigMap"): core.CONFIG_MAP,
    ("", "Secret"): core.SECRET,
    ("", "Endpoints"): core.ENDPOINTS,
    ("", "PodTemplate"): core.POD_TEMPLATE,
    ("apps", "Deployment"): workloads.DEPLOYMENT,
    ("apps", "ReplicaSet"): workloads.REPLICA_SET,
    ("batch", "Job"): workloads.JOB,
    (_RBAC, "RoleBinding"): access.BINDING,
    (_RBAC, "ClusterRoleBinding"): access.BINDING,
    (_ADMISSION, "MutatingWebhookConfiguration"): access.WEBHOOKS,
    (_ADMISSION, "ValidatingWebhookConfiguration"): access.WEBHOOKS,
}


def printer_for(rtype: ResourceType, crd: Mapping[str, Any] | None) -> Printer:
    """`crd`: the CustomResourceDefinition of a custom resource type, None for built-in kinds."""
    if crd is not None:
        return crd_printer(crd, rtype.version)
    return BUILTIN.get((rtype.group, rtype.kind), access.DEFAULT)
