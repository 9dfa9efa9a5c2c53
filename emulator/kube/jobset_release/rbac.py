"""What the controller manager's ServiceAccount may do (config/rbac): the controller's cluster
role, leader election and its webhook cert Secret in its namespace, and the metrics endpoint's
authentication."""

from typing import Any

from emulator.kube.jobset_release.names import MANAGER, MANAGER_NAMESPACE, labels

RBAC = "rbac.authorization.k8s.io"
_ALL = ["create", "delete", "get", "list", "patch", "update", "watch"]
_LEADER_ELECTION = ["get", "list", "watch", "create", "update", "patch", "delete"]


def rbac_objects() -> list[dict[str, Any]]:
    """Roles, cluster roles, then their bindings, as the release lists them."""
    roles = [
        _role(
            "Role",
            "jobset-leader-election-role",
            [
                _rule([""], ["configmaps"], _LEADER_ELECTION),
                _rule(["coordination.k8s.io"], ["leases"], _LEADER_ELECTION),
                _rule([""], ["events"], ["create", "patch"]),
            ],
        ),
        _role(
            "Role",
            "jobset-manager-secrets-role",
            [_rule([""], ["secrets"], ["get", "list", "update", "watch"])],
        ),
        _role(
            "ClusterRole",
            "jobset-manager-role",
            [
                _rule([""], ["nodes"], ["get", "list", "watch"]),
                _rule([""], ["persistentvolumeclaims"], ["create", "get", "list", "watch"]),
                _rule([""], ["pods"], ["delete", "get", "list", "patch", "update", "watch"]),
                _rule([""], ["services"], _ALL),
                _rule(["", "events.k8s.io"], ["events"], ["create", "patch", "update", "watch"]),
                _rule(
                    ["admissionregistration.k8s.io"],
                    ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
                    ["get", "list", "update", "watch"],
                ),
                _rule(["batch"], ["jobs"], _ALL),
                _rule(["batch"], ["jobs/status"], ["get", "patch", "update"]),
                _rule(["jobset.x-k8s.io"], ["jobsets"], _ALL),
                _rule(["jobset.x-k8s.io"], ["jobsets/finalizers"], ["update"]),
                _rule(["jobset.x-k8s.io"], ["jobsets/status"], ["get", "patch", "update"]),
            ],
        ),
        _role(
            "ClusterRole",
            "jobset-metrics-reader",
            [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}],
        ),
        _role(
            "ClusterRole",
            "jobset-proxy-role",
            [
                _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
                _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
            ],
        ),
    ]
    return roles + [_binding(role) for role in roles]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _role(kind: str, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels("rbac")}
    if kind == "Role":
        metadata["namespace"] = MANAGER_NAMESPACE
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": metadata, "rules": rules}


def _binding(role: dict[str, Any]) -> dict[str, Any]:
    """The role granted to the manager, named as kustomize names it (`-role` -> `-rolebinding`)."""
    name = role["metadata"]["name"].removesuffix("-role") + "-rolebinding"
    metadata = {**role["metadata"], "name": name, "labels": labels("rbac")}
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": f"{role['kind']}Binding",
        "metadata": metadata,
        "roleRef": {"apiGroup": RBAC, "kind": role["kind"], "name": role["metadata"]["name"]},
        "subjects": [{"kind": "ServiceAccount", "name": MANAGER, "namespace": MANAGER_NAMESPACE}],
    }
