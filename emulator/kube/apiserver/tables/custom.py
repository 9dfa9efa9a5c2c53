"""Tables of custom resources: NAME, then the CRD version's `additionalPrinterColumns`, each a
JSONPath into the object (AGE alone when the CRD names none), as apiextensions serves them."""

import json
from typing import Any

from emulator.kube.apiserver.tables.columns import NAME, Column, Obj, Printer
from emulator.kube.apiserver.tables.durations import since
from emulator.kube.apiserver.tables.jsonpath import JsonPathError, Step, compile_path, find

_DEFAULT_COLUMNS = [
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
        "description": "How long ago the object was created.",
    }
]


def _text(value: Any) -> str:
    """A value as the server prints it into a string column (Go's formatting of JSON values)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JSON has one number type: 3.0 is 3
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


def _typed(kind: str, value: Any, now: float) -> Any:
    """A cell of a typed column; null when the value is not of that type."""
    if kind == "string":
        return _text(value)
    if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        try:
            return since(value, now)
        except ValueError:
            return "<invalid>"
    return None


def crd_printer(crd: Obj, version: str) -> Printer:
    """The printer of one served version of a CRD; a column whose path does not parse is
    left empty (the real server refuses such a CRD)."""
    served = [v for v in crd["spec"].get("versions", []) if v.get("name") == version]
    specs = (served[0].get("additionalPrinterColumns") if served else None) or _DEFAULT_COLUMNS
    columns = tuple(
        Column(
            spec["name"],
            spec.get("description")
            or f"Custom resource definition column (in JSONPath format): {spec['jsonPath']}",
            spec.get("type", "string"),
            spec.get("format", ""),
            spec.get("priority", 0),
        )
        for spec in specs
    )
    paths: list[list[Step] | None] = []
    for spec in specs:
        try:
            paths.append(compile_path(spec["jsonPath"]))
        except JsonPathError:
            paths.append(None)

    def cells(obj: Obj, now: float) -> list[Any]:
        row: list[Any] = [obj["metadata"]["name"]]
        for column, path in zip(columns, paths, strict=True):
            found = find(path, obj) if path is not None else []
            row.append(_typed(column.type, found[0], now) if found else None)
        return row

    return Printer((NAME, *columns), cells)
