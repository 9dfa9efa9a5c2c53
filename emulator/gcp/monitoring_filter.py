"""Cloud Monitoring's time series filters, the subset Google's quota recipe writes.

A filter is clauses `FIELD = "VALUE"` joined by `AND` (spaces around `=` optional), FIELD one
of `metric.type`, `resource.type`, `metric.label.KEY`, `resource.label.KEY` (or `.labels.`),
with exactly one `metric.type`, as Monitoring requires. The rest of Monitoring's language (OR,
NOT, `!=`, `:`, functions such as `starts_with`) is refused rather than misread: 400
INVALID_ARGUMENT, as Monitoring answers a filter it cannot parse.
"""

import re
from collections.abc import Callable
from typing import Any

from emulator.core.errors import GoogleApiError, invalid_argument

_CLAUSE = r'([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"([^"\\]*)"'
_FILTER = re.compile(rf"\s*{_CLAUSE}(?:\s+AND\s+{_CLAUSE})*\s*")
_LABEL = re.compile(r"(metric|resource)\.labels?\.([A-Za-z_][A-Za-z0-9_]*)")

Predicate = Callable[[dict[str, Any]], bool]


def parse_filter(expression: str) -> Predicate:
    """Whether a time series (its JSON) matches every clause of the filter."""
    if not _FILTER.fullmatch(expression):
        raise _invalid(expression, 'expected FIELD = "VALUE" clauses joined by AND.')
    clauses = re.findall(_CLAUSE, expression)
    if [field for field, _ in clauses].count("metric.type") != 1:
        raise _invalid(expression, "the filter must specify a single metric type.")
    getters = [(_getter(expression, field), value) for field, value in clauses]
    return lambda series: all(get(series) == value for get, value in getters)


def _getter(expression: str, field: str) -> Callable[[dict[str, Any]], str | None]:
    if field in ("metric.type", "resource.type"):
        part = field.split(".", 1)[0]
        return lambda series: series[part]["type"]
    label = _LABEL.fullmatch(field)
    if label is None:
        raise _invalid(expression, f"unknown field {field}.")
    part, key = label.groups()
    return lambda series: series[part]["labels"].get(key)


def _invalid(expression: str, why: str) -> GoogleApiError:
    return invalid_argument(f'Field filter had an invalid value of "{expression}": {why}')
