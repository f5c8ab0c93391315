"""The abstract syntax of PartiQL statements: small immutable dataclasses.

The parser produces these once per statement text (cached). Every node that
an error may need to point at carries its 1-based ``line`` and ``column``.
Values hold Python values exactly as written (numbers already exact: ``int``
when integral, else ``Decimal``); ``?`` parameters are :class:`Param` nodes
numbered from 0 in the order they appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

# -- values --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: string, number, boolean or null."""

    value: Any
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Param:
    """A ``?`` parameter; ``index`` counts from 0 in statement order."""

    index: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class ListValue:
    """``[v, ...]``."""

    items: tuple[Value, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class MapValue:
    """``{'k': v, ...}``."""

    pairs: tuple[tuple[str, Value], ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SetValue:
    """``<<v, ...>>``: a string, number or binary set."""

    items: tuple[Value, ...]
    line: int
    column: int


Value: TypeAlias = "Literal | Param | ListValue | MapValue | SetValue"
VALUE_TYPES = (Literal, Param, ListValue, MapValue, SetValue)


# -- paths and operands ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Path:
    """A document path: attribute names (``str``) and list indexes (``int``)."""

    elements: tuple[str | int, ...]
    line: int
    column: int

    @property
    def attribute(self) -> str | None:
        """The attribute name when the path is a bare top-level attribute."""
        first = self.elements[0]
        return first if len(self.elements) == 1 and isinstance(first, str) else None

    def __str__(self) -> str:
        out = []
        for i, element in enumerate(self.elements):
            if isinstance(element, int):
                out.append(f"[{element}]")
            else:
                name = element if element.isidentifier() else f'"{element}"'
                out.append(name if i == 0 else "." + name)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class Size:
    """``size(path)`` used as an operand."""

    path: Path


Operand: TypeAlias = "Path | Size | Value"


# -- conditions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right`` with op one of ``= <> < <= > >=`` (``!=`` is read as ``<>``)."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    operand: Operand
    choices: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Is:
    """``path IS [NOT] MISSING`` or ``path IS [NOT] NULL``."""

    path: Path
    what: str  # "MISSING" or "NULL"
    negated: bool


@dataclass(frozen=True, slots=True)
class Function:
    """A boolean function: begins_with, contains, attribute_exists,
    attribute_not_exists or attribute_type (lower-cased)."""

    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class And:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Or:
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


Condition: TypeAlias = "Comparison | Between | In | Is | Function | And | Or | Not"


@dataclass(frozen=True, slots=True)
class Where:
    """A WHERE clause: its condition and where the keyword stands."""

    condition: Condition
    line: int
    column: int


# -- updates -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """``list_append(a, b)`` or ``if_not_exists(path, v)`` in a SET value."""

    name: str
    args: tuple[SetOperand, ...]


SetOperand: TypeAlias = "Path | Value | Call"


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``left + right`` or ``left - right`` in a SET value."""

    op: str
    left: SetOperand
    right: SetOperand


@dataclass(frozen=True, slots=True)
class Assignment:
    """``path = value`` in a SET clause."""

    path: Path
    value: SetOperand | Arithmetic


# -- statements ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """``FROM t`` or ``FROM t."index"``: the table name and the index."""

    table: str
    index: str | None
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class OrderBy:
    path: Path
    descending: bool


@dataclass(frozen=True, slots=True)
class Select:
    projection: tuple[Path, ...] | None  # None for SELECT *
    target: Target
    where: Where | None
    order_by: OrderBy | None
    limit: int | None
    offset: int
    param_count: int


@dataclass(frozen=True, slots=True)
class Insert:
    target: Target
    value: Value
    param_count: int


@dataclass(frozen=True, slots=True)
class Update:
    target: Target
    sets: tuple[Assignment, ...]
    removes: tuple[Path, ...]
    where: Where
    param_count: int


@dataclass(frozen=True, slots=True)
class Delete:
    target: Target
    where: Where
    param_count: int


Statement: TypeAlias = "Select | Insert | Update | Delete"
