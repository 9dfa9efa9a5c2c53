"""Label and field selectors, parsed as the API server parses them."""

import re
from collections.abc import Callable, Mapping
from typing import Any

from emulator.kube.errors import bad_request

Matcher = Callable[[Mapping[str, Any]], bool]

_SET_REQUIREMENT = re.compile(r"^\s*([^\s!=<>(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=<>(),]+)\s*(==|=|!=)\s*([^\s!=<>(),]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=<>(),]+)\s*$")


def label_matcher(selector: str | None) -> Matcher:
    """`a=b,c!=d,e in (f,g),h notin (i),j,!k` against `metadata.labels`."""
    requirements = [_label_requirement(term) for term in _split_terms(selector or "")]

    def matches(obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(requirement(labels) for requirement in requirements)

    return matches


def selector_matcher(selector: Mapping[str, Any] | None) -> Matcher:
    """A structured `LabelSelector` (`matchLabels`, `matchExpressions`); empty matches all."""
    selector = selector or {}
    terms = [f"{key}={value}" for key, value in (selector.get("matchLabels") or {}).items()]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        terms.append(
            {
                "In": f"{key} in ({','.join(values or [])})",
                "NotIn": f"{key} notin ({','.join(values or [])})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    return label_matcher(",".join(terms))


def field_matcher(selector: str | None) -> Matcher:
    """`metadata.name=x,status.phase!=Running`: equality on dotted paths of the object."""
    requirements = []
    for term in _split_terms(selector or ""):
        match = _EQUALITY.match(term)
        if not match:
            raise bad_request(f"invalid field selector: {term!r}")
        path, operator, value = match.groups()
        requirements.append((path.split("."), operator != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all(
            (str(_lookup(obj, path) or "") == value) == equal for path, equal, value in requirements
        )

    return matches


def _lookup(obj: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _split_terms(selector: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term for term in terms if term.strip()]


def _label_requirement(term: str) -> Callable[[Mapping[str, str]], bool]:
    if match := _SET_REQUIREMENT.match(term):
        key, operator, raw_values = match.groups()
        values = {value.strip() for value in raw_values.split(",") if value.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQUALITY.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS.match(term):
        negated, key = match.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: {term!r}")
