"""Node selectors, node affinity and inter-pod (anti-)affinity terms, as the scheduler reads them.

JobSet's exclusive placement rests on these: each child Job's leader pod carries a required
pod affinity to its own `jobset.sigs.k8s.io/job-key` and a required anti-affinity to every
other job key, both on the topology `cloud.google.com/gke-nodepool`, so one Job owns a pool.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from emulator.kube.selectors import selector_matcher

Obj = Mapping[str, Any]


def matches_node_selector_and_affinity(pod: Obj, node: Obj) -> bool:
    """`spec.nodeSelector` and the required node affinity both hold for `node`."""
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(key) != value for key, value in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
    ) or None
    if required is None:
        return True
    return any(_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])


def _term_matches(term: Obj, node: Obj) -> bool:
    """Expressions and fields are ANDed; a term with neither matches no node."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    labels = node["metadata"].get("labels") or {}
    node_fields = {"metadata.name": node["metadata"]["name"]}
    return all(_requirement(expr, labels) for expr in expressions) and all(
        _requirement(expr, node_fields) for expr in fields
    )


def _requirement(expression: Obj, values: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    wanted = expression.get("values") or []
    present = key in values
    value = values.get(key)
    if operator == "In":
        return present and value in wanted
    if operator == "NotIn":
        return not present or value not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            number, bound = int(value or ""), int(wanted[0])
        except ValueError:
            return False
        return number > bound if operator == "Gt" else number < bound
    return False


class AffinityTerm:
    """One required pod (anti-)affinity term, with the namespaces it applies to resolved."""

    def __init__(self, term: Obj, owner: Obj, namespace_labels: Mapping[str, Mapping[str, str]]):
        self.topology_key: str = term["topologyKey"]
        selector = term.get("labelSelector")
        self._matches_labels = selector_matcher(selector) if selector is not None else None
        namespaces = set(term.get("namespaces") or [])
        namespace_selector = term.get("namespaceSelector")
        if namespace_selector is not None:
            matcher = selector_matcher(namespace_selector)
            namespaces.update(
                name
                for name, labels in namespace_labels.items()
                if matcher({"metadata": {"labels": labels}})
            )
        elif not namespaces:
            namespaces.add(owner["metadata"].get("namespace", ""))
        self._namespaces = namespaces

    def matches(self, pod: Obj) -> bool:
        """A nil label selector selects nothing; an empty one selects every pod."""
        if self._matches_labels is None:
            return False
        return pod["metadata"].get("namespace") in self._namespaces and self._matches_labels(pod)


def required_terms(
    pod: Obj, kind: str, namespace_labels: Mapping[str, Mapping[str, str]]
) -> list[AffinityTerm]:
    """The pod's required `podAffinity` or `podAntiAffinity` terms."""
    section = ((pod.get("spec") or {}).get("affinity") or {}).get(kind) or {}
    terms: Iterable[Obj] = section.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    return [AffinityTerm(term, pod, namespace_labels) for term in terms]
