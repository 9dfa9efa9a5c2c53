"""The CRD `provisioningrequests.autoscaling.x-k8s.io`, which GKE installs in every cluster.

Its v1 schema is upstream's (kubernetes/autoscaler, cluster-autoscaler/apis/config/crd/
autoscaling.x-k8s.io_provisioningrequests.yaml, from the Go types' kubebuilder markers: an
immutable spec, 1 to 32 pod sets of at least one pod, string parameters of at most 255
characters). The printer columns are GKE's (ACCEPTED, PROVISIONED, FAILED, AGE, as `kubectl get
provisioningrequest` shows on GKE); upstream's CRD prints AGE only. The deprecated v1beta1 is not
served.
"""

from typing import Any

from emulator.kube.provreq.names import CRD_NAME, GROUP, KIND, PLURAL, VERSION

Schema = dict[str, Any]

_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_IMMUTABLE = [{"rule": "self == oldSelf", "message": "Value is immutable"}]
_CONDITION_TYPE = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)


def _status_column(condition: str) -> dict[str, str]:
    return {
        "name": condition,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{condition}")].status',
    }


_PRINTER_COLUMNS = [
    _status_column("Accepted"),
    _status_column("Provisioned"),
    _status_column("Failed"),
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _string(description: str, **checks: Any) -> Schema:
    return {"type": "string", "description": description, **checks}


def _spec() -> Schema:
    pod_set = {
        "type": "object",
        "description": "One group of pods to provision capacity for.",
        "required": ["count", "podTemplateRef"],
        "properties": {
            "count": {
                "type": "integer",
                "format": "int32",
                "minimum": 1,
                "description": "The number of pods that will be created with the template.",
            },
            "podTemplateRef": {
                "type": "object",
                "description": "The PodTemplate (in the request's namespace) the pods follow.",
                "required": ["name"],
                "properties": {
                    "name": _string(
                        "Name of the referenced object.",
                        maxLength=253,
                        pattern=_DNS_SUBDOMAIN,
                    )
                },
            },
        },
    }
    return {
        "type": "object",
        "description": "The pods to provision capacity for; immutable.",
        "required": ["podSets", "provisioningClassName"],
        "properties": {
            "podSets": {
                "type": "array",
                "description": "Groups of pods for which to provision resources.",
                "minItems": 1,
                "maxItems": 32,
                "items": pod_set,
                "x-kubernetes-validations": _IMMUTABLE,
            },
            "provisioningClassName": _string(
                "How the resources are provisioned, e.g. queued-provisioning.gke.io.",
                maxLength=253,
                pattern=_DNS_SUBDOMAIN,
                **{"x-kubernetes-validations": _IMMUTABLE},
            ),
            "parameters": {
                "type": "object",
                "description": "Parameters of the provisioning class (maxRunDurationSeconds).",
                "maxProperties": 100,
                "additionalProperties": {"type": "string", "maxLength": 255},
                "x-kubernetes-validations": _IMMUTABLE,
            },
        },
    }


def _condition() -> Schema:
    return {
        "type": "object",
        "description": "One aspect of the request's current state.",
        "required": ["lastTransitionTime", "message", "reason", "status", "type"],
        "properties": {
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "message": _string("Details about the transition.", maxLength=32768),
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            "reason": _string(
                "Why the condition last transitioned.",
                maxLength=1024,
                minLength=1,
                pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            ),
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "type": _string("The condition type.", maxLength=316, pattern=_CONDITION_TYPE),
        },
    }


def _status() -> Schema:
    return {
        "type": "object",
        "description": "What the cluster autoscaler observed and did.",
        "properties": {
            "conditions": {
                "type": "array",
                "items": _condition(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "provisioningClassDetails": {
                "type": "object",
                "maxProperties": 64,
                "additionalProperties": {"type": "string", "maxLength": 32768},
            },
        },
    }


def provisioning_request_crd() -> dict[str, Any]:
    """The CRD object, as `kubectl get crd provisioningrequests.autoscaling.x-k8s.io` shows it."""
    root = {
        "type": "object",
        "description": "Capacity to provision in the cluster, for pods like the templates.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _spec(),
            "status": _status(),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["provreq", "provreqs"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": _PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {"status": {}},
                }
            ],
        },
    }
