"""The CRD `jobsets.jobset.x-k8s.io`: JobSet's API (v1alpha2 as of v0.12) as a structural schema.

JobSet's own fields are written out here from its Go types (api/jobset/v1alpha2/jobset_types.go
and their kubebuilder markers); the Kubernetes types it embeds (a replicated job's
JobTemplateSpec, a volume claim policy's PersistentVolumeClaim, status conditions) are inlined
from kubernetes-validate's schemas of the cluster's Kubernetes version, so a JobSet's pod
template is held to the same fields as a Job's on that cluster.
"""

from collections.abc import Mapping
from typing import Any

from emulator.kube.apiserver import schemas
from emulator.kube.controllers import jobset_api
from emulator.kube.jobset_release.names import (
    API_VERSION,
    COMMON_LABELS,
    GROUP,
    MANAGER_NAMESPACE,
    WEBHOOK_SERVICE,
)
from emulator.kube.structural_schema import Schema, structural

_IMMUTABLE = [{"rule": "self == oldSelf", "message": "Value is immutable"}]
_STARTUP_OR_DEPENDS_ON = (
    "!(has(self.startupPolicy) && self.startupPolicy.startupPolicyOrder == 'InOrder' && "
    "self.replicatedJobs.exists(x, has(x.dependsOn)))"
)
_NO_CLAIM_NAMESPACE = (
    "self.templates.all(t, !has(t.metadata.namespace) || size(t.metadata.namespace) == 0)"
)
_PRINTER_COLUMNS = [
    {
        "name": "TerminalState",
        "type": "string",
        "description": "Final state of JobSet",
        "jsonPath": ".status.terminalState",
    },
    {
        "name": "Restarts",
        "type": "string",
        "description": "Number of restarts",
        "jsonPath": ".status.restarts",
    },
    {
        "name": "Completed",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Completed")].status',
    },
    {
        "name": "Suspended",
        "type": "string",
        "description": "JobSet suspended",
        "jsonPath": ".spec.suspend",
    },
    {
        "name": "Age",
        "type": "date",
        "description": "Time this JobSet was created",
        "jsonPath": ".metadata.creationTimestamp",
    },
]


def jobset_crd(kubernetes_version: str) -> dict[str, Any]:
    """The CRD, its embedded Kubernetes types those of `kubernetes_version`."""
    defs = schemas.definitions(schemas.schema_directory(kubernetes_version))
    root = _object(
        "JobSet is the Schema for the jobsets API.",
        {
            "apiVersion": _string("The versioned schema of this representation of an object."),
            "kind": _string("The REST resource this object represents, in CamelCase."),
            "metadata": {"type": "object"},
            "spec": _spec(defs),
            "status": _status(defs),
        },
    )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": jobset_api.CRD_NAME, "labels": dict(COMMON_LABELS)},
        "spec": {
            "conversion": {
                "strategy": "Webhook",
                "webhook": {
                    "clientConfig": {
                        "service": {
                            "name": WEBHOOK_SERVICE,
                            "namespace": MANAGER_NAMESPACE,
                            "path": "/convert",
                        }
                    },
                    "conversionReviewVersions": ["v1"],
                },
            },
            "group": GROUP,
            "names": {
                "kind": "JobSet",
                "listKind": "JobSetList",
                "plural": "jobsets",
                "singular": "jobset",
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "additionalPrinterColumns": _PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def _spec(defs: Mapping[str, Any]) -> Schema:
    names = _array(_string(), **{"x-kubernetes-list-type": "atomic"})
    replicated_job = _object(
        "A group of identical child Jobs.",
        {
            "name": _string("Unique within the JobSet; part of its Jobs' and pods' names."),
            "groupName": _string(
                "Groups replicated jobs for group-wide labels.", default="default"
            ),
            "template": structural(
                defs, "io.k8s.api.batch.v1.JobTemplateSpec", "The template of each child Job."
            ),
            "replicas": _int32("How many Jobs to create from the template.", default=1),
            "dependsOn": _array(
                _object(
                    "A replicated job whose Jobs must reach a status before these start.",
                    {
                        "name": _string("The replicated job depended on."),
                        "status": _string("Ready or Complete.", enum=["Ready", "Complete"]),
                    },
                    required=["name", "status"],
                ),
                "Replicated jobs that must be Ready or Complete before this one starts.",
                maxItems=5,
                **_map_list("name"),
                **{"x-kubernetes-validations": _IMMUTABLE},
            ),
        },
        required=["name", "template"],
    )
    failure_rule = _object(
        "An action for Job failures that match it; the first matching rule applies.",
        {
            "name": _string("The rule's name."),
            "action": _string(
                "What to do on a matching failure.",
                enum=[
                    "FailJobSet",
                    "RestartJobSet",
                    "RestartJobSetAndIgnoreMaxRestarts",
                    "RestartJob",
                    "RestartJobAndIgnoreMaxRestarts",
                ],
            ),
            "onJobFailureReasons": _array(_string(), "Job failure reasons that match."),
            "onJobFailureMessagePatterns": _array(
                _string(), "Regular expressions on the Job failure message that match."
            ),
            "targetReplicatedJobs": {**names, "description": "Replicated jobs the rule is for."},
        },
        required=["action", "name"],
    )
    claim_policy = _object(
        "Persistent volume claims the JobSet creates for its pods.",
        {
            "templates": _array(
                structural(defs, "io.k8s.api.core.v1.PersistentVolumeClaim"),
                "Claims to create, each mounted by name in the pod templates.",
                maxItems=50,
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "retentionPolicy": _object(
                "What becomes of the claims.",
                {
                    "whenDeleted": _string(
                        "Delete or Retain the claims when the JobSet is deleted.",
                        default="Delete",
                        enum=["Delete", "Retain"],
                    )
                },
            ),
        },
        **{
            "x-kubernetes-validations": [
                {
                    "rule": _NO_CLAIM_NAMESPACE,
                    "message": "namespace cannot be set for VolumeClaimPolicies templates",
                }
            ]
        },
    )
    return _object(
        "The desired state of the JobSet.",
        {
            "replicatedJobs": _array(
                replicated_job, "The groups of Jobs that form the set.", **_map_list("name")
            ),
            "network": _object(
                "Networking of the JobSet's pods.",
                {
                    "enableDNSHostnames": _boolean("Pods reachable at <hostname>.<subdomain>."),
                    "subdomain": _string("The headless Service's name; the JobSet's by default."),
                    "publishNotReadyAddresses": _boolean(
                        "DNS records for pods before they are Ready."
                    ),
                },
                **{"x-kubernetes-validations": _IMMUTABLE},
            ),
            "successPolicy": _object(
                "When the JobSet succeeds.",
                {
                    "operator": _string(
                        "All or Any of the targeted Jobs must complete.", enum=["All", "Any"]
                    ),
                    "targetReplicatedJobs": {
                        **names,
                        "description": "Replicated jobs that count; all when empty.",
                    },
                },
                required=["operator"],
                **{"x-kubernetes-validations": _IMMUTABLE},
            ),
            "failurePolicy": _object(
                "When the JobSet fails or restarts.",
                {
                    "maxRestarts": _int32("Restarts allowed before the JobSet fails."),
                    "restartStrategy": _string(
                        "How the Jobs are recreated on a restart.",
                        default="Recreate",
                        enum=["Recreate", "BlockingRecreate", "InPlaceRestart"],
                    ),
                    "rules": _array(failure_rule, "Actions per kind of Job failure."),
                },
                **{"x-kubernetes-validations": _IMMUTABLE},
            ),
            "startupPolicy": _object(
                "The order replicated jobs start in (deprecated: use dependsOn).",
                {
                    "startupPolicyOrder": _string(
                        "AnyOrder, or InOrder: each once the previous one is Ready.",
                        enum=["AnyOrder", "InOrder"],
                    )
                },
                required=["startupPolicyOrder"],
                **{"x-kubernetes-validations": _IMMUTABLE},
            ),
            "suspend": _boolean("Suspends every child Job."),
            "coordinator": _object(
                "The pod whose stable address is published to all pods as the coordinator.",
                {
                    "replicatedJob": _string("The coordinator's replicated job."),
                    "jobIndex": {"type": "integer", "description": "The coordinator's Job index."},
                    "podIndex": {
                        "type": "integer",
                        "description": "The coordinator's completion index.",
                    },
                },
                required=["replicatedJob"],
            ),
            "managedBy": _string(
                "The controller that reconciles the JobSet; the built-in one when unset or "
                f"{jobset_api.CONTROLLER_NAME}."
            ),
            "ttlSecondsAfterFinished": _int32(
                "Seconds after it finishes before the JobSet is deleted.", minimum=0
            ),
            "volumeClaimPolicies": _array(
                claim_policy,
                "Claims created for the pods, and what becomes of them.",
                maxItems=50,
                **{"x-kubernetes-list-type": "atomic", "x-kubernetes-validations": _IMMUTABLE},
            ),
        },
        **{
            "x-kubernetes-validations": [
                {
                    "rule": _STARTUP_OR_DEPENDS_ON,
                    "message": "StartupPolicy and DependsOn APIs are mutually exclusive",
                }
            ]
        },
    )


def _status(defs: Mapping[str, Any]) -> Schema:
    counts = {
        field: _int32(f"Jobs of the replicated job that are {field}.")
        for field in ("ready", "succeeded", "failed", "active", "suspended")
    }
    per_job = {"format": "int32", "type": "integer"}
    replicated_job_status = _object(
        "The state of one replicated job's Jobs.",
        {
            "name": _string("The replicated job."),
            **counts,
            "jobRestarts": _array(
                per_job,
                "Restarts of each Job by job index.",
                maxItems=1024,
                **{"x-kubernetes-list-type": "atomic"},
            ),
            "jobRestartsCountTowardsMax": _array(
                per_job,
                "The restarts of each Job that count towards maxRestarts.",
                maxItems=1024,
                **{"x-kubernetes-list-type": "atomic"},
            ),
        },
        required=["active", "failed", "name", "ready", "succeeded", "suspended"],
    )
    return _object(
        "The observed state of the JobSet.",
        {
            "conditions": _array(
                structural(defs, "io.k8s.apimachinery.pkg.apis.meta.v1.Condition"),
                "Completed, Failed, Suspended, StartupPolicyInProgress, StartupPolicyCompleted "
                "and RestartingJobSet.",
                **_map_list("type"),
            ),
            "restarts": _int32("Times the whole JobSet was restarted."),
            "restartsCountTowardsMax": _int32("The restarts that count towards maxRestarts."),
            "currentInPlaceRestartAttempt": _int32(
                "The in-place restart attempt in progress.", minimum=0
            ),
            "previousInPlaceRestartAttempt": _int32(
                "The last in-place restart attempt that completed.", minimum=0
            ),
            "terminalState": _string("Completed or Failed once finished; empty before."),
            "replicatedJobsStatus": _array(
                replicated_job_status, "The state of each replicated job.", **_map_list("name")
            ),
        },
    )


def _object(
    description: str, properties: Schema, required: list[str] | None = None, **extra: Any
) -> Schema:
    schema: Schema = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = required
    return {**schema, **extra}


def _array(items: Schema, description: str = "", **extra: Any) -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if description:
        schema["description"] = description
    return {**schema, **extra}


def _string(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def _boolean(description: str) -> Schema:
    return {"type": "boolean", "description": description}


def _int32(description: str, **extra: Any) -> Schema:
    return {"type": "integer", "format": "int32", "description": description, **extra}


def _map_list(*keys: str) -> Schema:
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}
