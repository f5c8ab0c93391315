"""The abstract syntax of expressions: small immutable dataclasses.

The parser produces these and caches them by expression text, so every node
is frozen and hashable. Name placeholders (``#n``) stay unresolved here;
they are resolved when an expression is bound to its :class:`Placeholders`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Name:
    """A map key in a path: a plain identifier, or a ``#name`` placeholder."""

    text: str
    placeholder: bool


@dataclass(frozen=True, slots=True)
class Index:
    """A list index in a path: ``[2]``."""

    index: int


PathElement: TypeAlias = "Name | Index"


@dataclass(frozen=True, slots=True)
class Path:
    """A document path such as ``a.#b[2].c``; the first element is a Name."""

    elements: tuple[PathElement, ...]

    def __str__(self) -> str:
        out = []
        for i, element in enumerate(self.elements):
            if isinstance(element, Index):
                out.append(f"[{element.index}]")
            else:
                out.append(element.text if i == 0 else "." + element.text)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class ValueRef:
    """A ``:value`` placeholder."""

    key: str

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class Size:
    """``size(path)`` (or ``size(:value)``) used as an operand."""

    operand: Path | ValueRef

    def __str__(self) -> str:
        return f"size({self.operand})"


Operand: TypeAlias = "Path | ValueRef | Size"


# -- conditions -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right`` with op one of ``= <> < <= > >=``."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    """``operand BETWEEN low AND high``."""

    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    """``operand IN (choice, ...)``."""

    operand: Operand
    choices: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Function:
    """A boolean function: attribute_exists, attribute_not_exists,
    attribute_type, begins_with or contains."""

    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class And:
    """``a AND b AND ...``: a chain is one node, so its length adds no depth."""

    operands: tuple[ConditionNode, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """``a OR b OR ...``: a chain is one node, so its length adds no depth."""

    operands: tuple[ConditionNode, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: ConditionNode


ConditionNode: TypeAlias = "Comparison | Between | In | Function | And | Or | Not"


# -- updates ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """``list_append(a, b)`` or ``if_not_exists(path, v)`` in a SET value."""

    name: str
    args: tuple[SetOperand, ...]


SetOperand: TypeAlias = "Path | ValueRef | Call"


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``left + right`` or ``left - right`` in a SET value."""

    op: str
    left: SetOperand
    right: SetOperand


SetValue: TypeAlias = "SetOperand | Arithmetic"


@dataclass(frozen=True, slots=True)
class SetAction:
    path: Path
    value: SetValue


@dataclass(frozen=True, slots=True)
class RemoveAction:
    path: Path


@dataclass(frozen=True, slots=True)
class AddAction:
    path: Path
    value: ValueRef


@dataclass(frozen=True, slots=True)
class DeleteAction:
    path: Path
    value: ValueRef


@dataclass(frozen=True, slots=True)
class UpdateExpression:
    """All clauses of an update expression (each clause at most once)."""

    sets: tuple[SetAction, ...]
    removes: tuple[RemoveAction, ...]
    adds: tuple[AddAction, ...]
    deletes: tuple[DeleteAction, ...]


# -- projections --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectionExpression:
    paths: tuple[Path, ...]


# -- placeholders used --------------------------------------------------------


Node: TypeAlias = "ConditionNode | Operand | SetValue | UpdateExpression | ProjectionExpression | SetAction | RemoveAction | AddAction | DeleteAction"


def placeholders_used(node: Node) -> tuple[frozenset[str], frozenset[str]]:
    """The ``#name`` and ``:value`` placeholders that ``node`` refers to."""
    names: set[str] = set()
    values: set[str] = set()
    _collect(node, names, values)
    return frozenset(names), frozenset(values)


def path_roots(node: Node) -> frozenset[Name]:
    """The first element (the top-level attribute) of every path in ``node``."""
    return frozenset(
        found.elements[0]  # type: ignore[misc]
        for found in _walk(node)
        if isinstance(found, Path)
    )


def _walk(root: object) -> Iterator[object]:
    """Every node under ``root``, with an explicit stack: a deep tree never
    deepens the Python stack."""
    pending = [root]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, tuple):
            pending.extend(node)
        elif hasattr(node, "__dataclass_fields__") and not isinstance(node, (Path, ValueRef)):
            pending.extend(getattr(node, field) for field in node.__dataclass_fields__)


def _collect(root: object, names: set[str], values: set[str]) -> None:
    for node in _walk(root):
        if isinstance(node, Path):
            for element in node.elements:
                if isinstance(element, Name) and element.placeholder:
                    names.add(element.text)
        elif isinstance(node, ValueRef):
            values.add(node.key)
