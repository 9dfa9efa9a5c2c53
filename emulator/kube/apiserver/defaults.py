"""What the API server fills in on create and update: scheme defaults and registry strategies.

Clients read these values back (a Deployment's strategy, a Pod's dnsPolicy, a Service's
clusterIP), and server-side apply relies on them being stable, so that applying the same
manifest twice changes nothing.
"""

import base64
import copy
import ipaddress
from collections.abc import Mapping
from typing import Any

from emulator.kube.errors import KubeApiError, internal_error, invalid
from emulator.kube.network import ClusterNetwork
from emulator.kube.resources import ResourceType
from emulator.kube.store import Store, kube_timestamp

Obj = dict[str, Any]

NODE_PORTS = range(30000, 32768)
_NOT_EXTENDED_PREFIXES = ("kubernetes.io/", "requests.", "hugepages-")
_NODE_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", 300),
    ("node.kubernetes.io/unreachable", 300),
)
_PROBE_DEFAULTS = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}


class Defaulter:
    """Defaults by kind; Services get their cluster IP and node ports from the cluster's ranges."""

    def __init__(self, store: Store, network: ClusterNetwork) -> None:
        self.store = store
        self.network = network
        self._by_kind = {
            ("", "Pod"): self._pod,
            ("", "PodTemplate"): self._pod_template,
            ("", "Namespace"): self._namespace,
            ("", "Secret"): self._secret,
            ("", "Service"): self._service,
            ("apps", "Deployment"): self._deployment,
            ("apps", "ReplicaSet"): self._replica_set,
            ("batch", "Job"): self._job,
            ("apiextensions.k8s.io", "CustomResourceDefinition"): self._crd,
            (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration",
            ): self._mutating_webhooks,
            ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): (
                self._validating_webhooks
            ),
        }

    def default(
        self, rtype: ResourceType, obj: Obj, old: Obj | None, crd: Mapping[str, Any] | None
    ) -> None:
        """Fill in `obj` in place; `old` is the stored object on update, None on create."""
        if crd is not None:
            schema = _version_schema(crd, rtype.version)
            for field, sub in (schema.get("properties") or {}).items():
                if field not in ("apiVersion", "kind", "metadata") and field in obj:
                    schema_defaults(sub, obj[field])
            if old is None and "status" in rtype.subresources:
                obj.pop("status", None)
            return
        if rtype.group in ("", "apps", "batch") and old is None and "status" in rtype.subresources:
            obj.pop("status", None)
        handler = self._by_kind.get((rtype.group, rtype.kind))
        if handler is not None:
            handler(obj, old)

    # core

    def _pod(self, pod: Obj, old: Obj | None) -> None:
        spec = pod.setdefault("spec", {})
        pod_spec_defaults(spec)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("priority", 0)
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tolerations = spec.setdefault("tolerations", [])
        for resource in sorted(_extended_resources(spec)):
            if not any(t.get("key") == resource for t in tolerations):
                tolerations.append({"key": resource, "operator": "Exists", "effect": "NoSchedule"})
        for key, seconds in _NODE_TOLERATIONS:
            if not any(
                t.get("key") == key and t.get("effect") in (None, "NoExecute") for t in tolerations
            ):
                tolerations.append(
                    {
                        "key": key,
                        "operator": "Exists",
                        "effect": "NoExecute",
                        "tolerationSeconds": seconds,
                    }
                )
        for container in spec.get("containers") or []:
            resources = container.setdefault("resources", {})
            if resources.get("limits") and "requests" not in resources:
                resources["requests"] = dict(resources["limits"])
            elif resources.get("limits"):
                for name, value in resources["limits"].items():
                    resources["requests"].setdefault(name, value)
        if old is None:
            pod["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}

    def _pod_template(self, pod_template: Obj, old: Obj | None) -> None:
        pod_spec_defaults(pod_template.setdefault("template", {}).setdefault("spec", {}))

    def _namespace(self, namespace: Obj, old: Obj | None) -> None:
        name = namespace["metadata"]["name"]
        namespace["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        namespace.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if old is None:
            namespace["status"] = {"phase": "Active"}

    def _secret(self, secret: Obj, old: Obj | None) -> None:
        secret.setdefault("type", "Opaque")
        for key, value in (secret.pop("stringData", None) or {}).items():
            secret.setdefault("data", {})[key] = base64.b64encode(value.encode()).decode()

    def _service(self, service: Obj, old: Obj | None) -> None:
        spec = service.setdefault("spec", {})
        old_spec = (old or {}).get("spec") or {}
        service_type = spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        if service_type == "ExternalName":
            return
        for field in ("clusterIP", "clusterIPs"):
            if field not in spec and field in old_spec:
                spec[field] = copy.deepcopy(old_spec[field])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        self._allocate_cluster_ip(service)
        if service_type in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
            if service_type == "LoadBalancer":
                spec.setdefault("allocateLoadBalancerNodePorts", True)
            self._allocate_node_ports(service, old_spec)
        if old is None:
            service["status"] = {"loadBalancer": {}}

    def _allocate_cluster_ip(self, service: Obj) -> None:
        spec = service["spec"]
        requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0]
        if requested == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            return
        used = self._used(
            service, lambda other: other.get("clusterIPs") or [other.get("clusterIP")]
        )
        if requested:
            if requested in used or ipaddress.ip_address(requested) not in ipaddress.ip_network(
                self.network.service_cidr
            ):
                reason = (
                    "provided IP is already allocated"
                    if requested in used
                    else (
                        f"the provided IP ({requested}) is not in the valid range. The range "
                        f"of valid IPs is {self.network.service_cidr}"
                    )
                )
                raise invalid(
                    "Service",
                    service["metadata"]["name"],
                    [
                        {
                            "reason": "FieldValueInvalid",
                            "message": f'Invalid value: []string{{"{requested}"}}: failed to '
                            f"allocate IP {requested}: {reason}",
                            "field": "spec.clusterIPs",
                        }
                    ],
                )
            address = requested
        else:
            address = next(
                (
                    str(a)
                    for a in ipaddress.ip_network(self.network.service_cidr).hosts()
                    if str(a) not in used
                ),
                None,
            )
            if address is None:
                raise internal_error("failed to allocate a serviceIP: range is full")
        spec["clusterIP"], spec["clusterIPs"] = address, [address]

    def _allocate_node_ports(self, service: Obj, old_spec: Mapping[str, Any]) -> None:
        used = self._used(
            service, lambda other: [p.get("nodePort") for p in other.get("ports") or []]
        )
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p for p in old_spec.get("ports") or []
        }
        for index, port in enumerate(service["spec"].get("ports") or []):
            previous = old_ports.get((port.get("port"), port.get("protocol")), {}).get("nodePort")
            if "nodePort" not in port and previous:
                port["nodePort"] = previous
            if "nodePort" in port:
                if port["nodePort"] in used:
                    raise invalid(
                        "Service",
                        service["metadata"]["name"],
                        [
                            {
                                "reason": "FieldValueInvalid",
                                "message": f"Invalid value: {port['nodePort']}: provided port is "
                                "already allocated",
                                "field": f"spec.ports[{index}].nodePort",
                            }
                        ],
                    )
                used.add(port["nodePort"])
                continue
            free = next((n for n in NODE_PORTS if n not in used), None)
            if free is None:
                raise internal_error("failed to allocate a nodePort: range is full")
            port["nodePort"] = free
            used.add(free)

    def _used(self, service: Obj, values: Any) -> set[Any]:
        """Values (IPs, node ports) held by the cluster's other Services."""
        rtype = self.store.types.by_kind("v1", "Service")
        me = (service["metadata"].get("namespace"), service["metadata"]["name"])
        return {
            value
            for other in self.store.list_objects(rtype)
            if (other["metadata"].get("namespace"), other["metadata"]["name"]) != me
            for value in values(other.get("spec") or {})
            if value
        }

    # apps, batch

    def _deployment(self, deployment: Obj, old: Obj | None) -> None:
        spec = deployment.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        pod_spec_defaults(spec.setdefault("template", {}).setdefault("spec", {}))

    def _replica_set(self, replica_set: Obj, old: Obj | None) -> None:
        spec = replica_set.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        pod_spec_defaults(spec.setdefault("template", {}).setdefault("spec", {}))

    def _job(self, job: Obj, old: Obj | None) -> None:
        """Scheme defaults, and on create the selector and labels the Job registry generates."""
        spec = job.setdefault("spec", {})
        template = spec.setdefault("template", {})
        metadata = job["metadata"]
        if not metadata.get("labels") and (template.get("metadata") or {}).get("labels"):
            metadata["labels"] = dict(template["metadata"]["labels"])
        if "completions" not in spec and "parallelism" not in spec:
            spec["completions"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 2147483647 if "backoffLimitPerIndex" in spec else 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        if "podFailurePolicy" not in spec:
            spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        pod_spec_defaults(template.setdefault("spec", {}))
        if old is None and not spec.get("manualSelector"):
            uid, name = metadata["uid"], metadata["name"]
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            labels.update(
                {
                    "batch.kubernetes.io/controller-uid": uid,
                    "batch.kubernetes.io/job-name": name,
                    "controller-uid": uid,
                    "job-name": name,
                }
            )

    # apiextensions, admissionregistration

    def _crd(self, crd: Obj, old: Obj | None) -> None:
        spec = crd.setdefault("spec", {})
        names = spec.setdefault("names", {})
        if names.get("kind"):
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", f"{names['kind']}List")
        spec.setdefault("conversion", {"strategy": "None"})
        if old is None:
            now = kube_timestamp(self.store.clock.now())
            stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
            crd["status"] = {
                "acceptedNames": copy.deepcopy(names),
                "conditions": [
                    _condition("NamesAccepted", "NoConflicts", "no conflicts found", now),
                    _condition(
                        "Established",
                        "InitialNamesAccepted",
                        "the initial names have been accepted",
                        now,
                    ),
                ],
                "storedVersions": stored,
            }

    def _mutating_webhooks(self, config: Obj, old: Obj | None) -> None:
        _webhook_defaults(config, mutating=True)

    def _validating_webhooks(self, config: Obj, old: Obj | None) -> None:
        _webhook_defaults(config, mutating=False)


def pod_spec_defaults(spec: Obj) -> None:
    """The scheme defaults of a PodSpec (pods and pod templates alike)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", _pull_policy(container.get("image", "")))
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")
            if spec.get("hostNetwork"):
                port.setdefault("hostPort", port.get("containerPort"))
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if isinstance(container.get(probe), dict):
                for key, value in _PROBE_DEFAULTS.items():
                    container[probe].setdefault(key, value)
    for volume in spec.get("volumes") or []:
        for source in ("configMap", "secret"):
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)


def schema_defaults(schema: Mapping[str, Any], value: Any) -> None:
    """Structural defaulting of custom resources: `default` of absent properties, recursively."""
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                schema_defaults(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for name, sub_value in value.items():
                if name not in (schema.get("properties") or {}):
                    schema_defaults(extra, sub_value)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            schema_defaults(schema["items"], item)


def _version_schema(crd: Mapping[str, Any], version: str) -> Mapping[str, Any]:
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return (entry.get("schema") or {}).get("openAPIV3Schema") or {}
    raise KubeApiError(404, "NotFound", f"{crd['metadata']['name']} serves no version {version}")


def _pull_policy(image: str) -> str:
    reference = image.rsplit("/", 1)[-1]
    if "@" in reference:
        return "IfNotPresent"
    tag = reference.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _extended_resources(spec: Mapping[str, Any]) -> set[str]:
    """Resources like `google.com/tpu`: the ExtendedResourceToleration admission tolerates them."""
    names = set()
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        resources = container.get("resources") or {}
        for section in ("requests", "limits"):
            for name in resources.get(section) or {}:
                if "/" in name and not name.startswith(_NOT_EXTENDED_PREFIXES):
                    names.add(name)
    return names


def _qos_class(spec: Mapping[str, Any]) -> str:
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    compute = ("cpu", "memory")
    requests = [_compute(c, "requests") for c in containers]
    limits = [_compute(c, "limits") for c in containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        limit.get(resource) is not None
        and request.get(resource, limit[resource]) == limit[resource]
        for request, limit in zip(requests, limits, strict=True)
        for resource in compute
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _compute(container: Mapping[str, Any], section: str) -> dict[str, Any]:
    """CPU and memory: the resources quality of service is about."""
    values = (container.get("resources") or {}).get(section) or {}
    return {name: value for name, value in values.items() if name in ("cpu", "memory")}


def _condition(kind: str, reason: str, message: str, now: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }


def _webhook_defaults(config: Obj, mutating: bool) -> None:
    for webhook in config.get("webhooks") or []:
        webhook.setdefault("failurePolicy", "Fail")
        webhook.setdefault("matchPolicy", "Equivalent")
        webhook.setdefault("namespaceSelector", {})
        webhook.setdefault("objectSelector", {})
        webhook.setdefault("timeoutSeconds", 10)
        if mutating:
            webhook.setdefault("reinvocationPolicy", "Never")
        for rule in webhook.get("rules") or []:
            rule.setdefault("scope", "*")
        service = (webhook.get("clientConfig") or {}).get("service")
        if isinstance(service, dict):
            service.setdefault("port", 443)
