"""The JSONPath of CRD printer columns (`.status.conditions[?(@.type=="Ready")].status`):
fields, indices, wildcards and filters comparing a field with a literal, missing keys allowed,
as the API server evaluates `additionalPrinterColumns`."""

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

Step = Callable[[Any], Iterator[Any]]
_TOKEN = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$]+|\*)"""
    r"""|\[(?P<quoted>'[^']*'|"[^"]*")\]"""
    r"""|\[(?P<index>-?\d+|\*)\]"""
    r"""|\[\?\(@(?P<path>(?:\.[A-Za-z0-9_\-]+)+)\s*(?:(?P<op>==|!=)\s*(?P<literal>.+?))?\)\]"""
)


class JsonPathError(ValueError):
    pass


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


def _field(name: str) -> Step:
    def step(value: Any) -> Iterator[Any]:
        if name == "*":
            yield from _children(value)
        elif isinstance(value, dict) and name in value:
            yield value[name]

    return step


def _index(text: str) -> Step:
    def step(value: Any) -> Iterator[Any]:
        if not isinstance(value, list):
            return
        if text == "*":
            yield from value
        elif -len(value) <= int(text) < len(value):
            yield value[int(text)]

    return step


def _filter(path: str, op: str | None, literal: str | None) -> Step:
    keys = path.strip(".").split(".")
    wanted = json.loads(literal.replace("'", '"')) if literal is not None else None

    def matches(item: Any) -> bool:
        for key in keys:
            if not isinstance(item, dict) or key not in item:
                return False
            item = item[key]
        if op is None:
            return True
        return (item == wanted) == (op == "==")

    def step(value: Any) -> Iterator[Any]:
        yield from (item for item in _children(value) if matches(item))

    return step


def compile_path(text: str) -> list[Step]:
    """The steps of a path such as `.spec.replicas`, `{.spec.replicas}` or `.items[0].name`."""
    text = text.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    steps: list[Step] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise JsonPathError(f"unrecognized JSONPath {text!r} at {position}")
        if match["field"] is not None:
            steps.append(_field(match["field"]))
        elif match["quoted"] is not None:
            steps.append(_field(match["quoted"][1:-1]))
        elif match["index"] is not None:
            steps.append(_index(match["index"]))
        else:
            steps.append(_filter(match["path"], match["op"], match["literal"]))
        position = match.end()
    return steps


def find(steps: list[Step], document: Any) -> list[Any]:
    """Every value the path reaches, in document order."""
    values = [document]
    for step in steps:
        values = [found for value in values for found in step(value)]
    return values
