"""The `filter` of Compute's `list` and `aggregatedList` methods.

A filter is a list of comparisons that must all hold, optionally parenthesized and joined with
`AND`: `labels.managed-by = "saxml-gke"`, `(name = "sax-*") (status != IN_USE)`. A field is a
dotted path into the resource's JSON. `=` and `!=` compare the field's text with a literal in
which `*` matches anything; `eq` and `ne` match it in full against a regular expression, the form
GKE's cloud provider uses (`address eq 10\\.0\\.0\\.5`). `OR` and the `:` operator are not
modelled: such a filter is refused like an invalid one.
"""

import re
from collections.abc import Callable
from typing import Any

from emulator.gcp.compute.errors import ComputeError, invalid_field

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<paren>[()])
      | (?P<keyword>AND|OR)(?=[\s(]|$)
      | (?P<field>[A-Za-z][\w.-]*)\s*(?P<op>!=|=|eq(?=\s)|ne(?=\s))\s*
        (?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s()]+)
    )""",
    re.VERBOSE,
)


def parse_filter(expression: str) -> Predicate:
    """What a resource's JSON must satisfy; 400 for an expression Compute would refuse."""
    comparisons: list[Predicate] = []
    text, position, depth = expression.strip(), 0, 0
    while position < len(text):
        token = _TOKEN.match(text, position)
        if token is None or token["keyword"] == "OR":
            raise _invalid(expression)
        position = token.end()
        if token["paren"]:
            depth += 1 if token["paren"] == "(" else -1
            if depth < 0:
                raise _invalid(expression)
        elif token["field"]:
            comparisons.append(_comparison(expression, token))
    if depth:
        raise _invalid(expression)
    return lambda resource: all(holds(resource) for holds in comparisons)


def _comparison(expression: str, token: re.Match[str]) -> Predicate:
    path = token["field"].split(".")
    literal = _unquote(token["value"])
    op = token["op"]
    if op in ("eq", "ne"):
        try:
            pattern = re.compile(literal)
        except re.error:
            raise _invalid(expression) from None
    else:
        pattern = re.compile(".*".join(re.escape(part) for part in literal.split("*")))
    negate = op in ("!=", "ne")

    def holds(resource: dict[str, Any]) -> bool:
        value = _lookup(resource, path)
        matched = value is not None and pattern.fullmatch(value) is not None
        return matched != negate

    return holds


def _lookup(resource: dict[str, Any], path: list[str]) -> str | None:
    value: Any = resource
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def _invalid(expression: str) -> ComputeError:
    return invalid_field("filter", expression, "Invalid list filter expression.")
