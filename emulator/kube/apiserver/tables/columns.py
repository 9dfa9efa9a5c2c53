"""What a kind's table is made of: its column definitions, and a function from an object to
its cells (every column's, wide ones included: the server always fills them and kubectl hides
those of priority 1 unless `-o wide`)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.kube.apiserver.tables.durations import age

Obj = Mapping[str, Any]
Cells = Callable[[Obj, float], list[Any]]  # (object, now) -> cells


@dataclass(frozen=True)
class Column:
    """A `TableColumnDefinition`."""

    name: str
    description: str
    type: str = "string"
    format: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def wide(name: str, description: str, type_: str = "string") -> Column:
    """A column `kubectl get` shows with `-o wide` only."""
    return Column(name, description, type_, priority=1)


NAME = Column("Name", "The object's name, unique within its namespace.", format="name")
AGE = Column("Age", "How long ago the object was created.")


@dataclass(frozen=True)
class Printer:
    """A kind's columns and how to fill them; `conditions` gives a row's (pods say Completed)."""

    columns: tuple[Column, ...]
    cells: Cells
    conditions: Callable[[Obj], list[dict[str, str]]] = field(default=lambda obj: [])


def name_and_age(*middle: Callable[[Obj], Any]) -> Cells:
    """Cells of a kind whose row is its name, some cells of the object alone, and its age."""

    def cells(obj: Obj, now: float) -> list[Any]:
        return [obj["metadata"]["name"], *(cell(obj) for cell in middle), age(obj, now)]

    return cells
