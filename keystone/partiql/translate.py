"""PartiQL clauses -> DynamoDB expression text with generated placeholders.

This module owns the bridge to :mod:`keystone.expressions`: a WHERE clause
becomes a condition/filter expression, ``SET``/``REMOVE`` an update
expression and a SELECT list a projection expression, so PartiQL is
evaluated by the one expression evaluator. Every attribute name becomes a
``#pN`` placeholder and every value a ``:pN`` placeholder, so user values
are never spliced into expression text and the text depends only on the
statement's shape (the expression layer's parse cache then sees one text
per statement).

Values (literals and ``?`` parameters) become *sources*: functions of the
execution's parameters. Constant values are built and validated once, when
the statement is planned.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, Final, TypeAlias

from ..errors import ValidationError
from ..types import normalize_item, normalize_value
from .ast import (
    And,
    Arithmetic,
    Assignment,
    Between,
    Call,
    Comparison,
    Condition,
    Function,
    In,
    Is,
    ListValue,
    Literal,
    MapValue,
    Not,
    Operand,
    Or,
    Param,
    Path,
    SetOperand,
    SetValue,
    Size,
    Value,
)
from .lexer import error_at

#: A value source: ``source(parameters) -> value``.
Source: TypeAlias = Callable[[Sequence[Any]], Any]

_PLACEHOLDER: Final = re.compile(r"[#:]p\d+\b")


def flatten(node: Condition, kind: type[And] | type[Or]) -> list[Condition]:
    """The operands of a chain of ``kind`` (And or Or), left to right, without recursion."""
    out: list[Condition] = []
    stack: list[Condition] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, kind):
            stack.append(current.right)
            stack.append(current.left)
        else:
            out.append(current)
    return out


def label(node: Value) -> str:
    """How error messages name a value of the statement."""
    if isinstance(node, Param):
        return f"parameter {node.index + 1} (line {node.line}, column {node.column})"
    return f"the value at line {node.line}, column {node.column}"


def _has_param(node: Value) -> bool:
    if isinstance(node, Param):
        return True
    if isinstance(node, ListValue | SetValue):
        return any(_has_param(item) for item in node.items)
    if isinstance(node, MapValue):
        return any(_has_param(item) for _, item in node.pairs)
    return False


def _build(node: Value, params: Sequence[Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Param):
        return params[node.index]
    if isinstance(node, ListValue):
        return [_build(item, params) for item in node.items]
    if isinstance(node, MapValue):
        return {key: _build(item, params) for key, item in node.pairs}
    out: set[Any] = set()
    for item in node.items:
        element = _build(item, params)
        try:
            out.add(element)
        except TypeError:
            raise ValidationError(
                f"{label(item)}: sets hold strings, numbers or bytes, not {type(element).__name__}"
            ) from None
    return out


def source(node: Value) -> Source:
    """The source of a value. Constants are built (and validated) once, here."""
    if isinstance(node, Param):
        return itemgetter(node.index)
    if _has_param(node):
        return lambda params: _build(node, params)
    _check_sets(node)
    constant = _build(node, ())
    try:
        if isinstance(node, MapValue):
            normalize_item(constant)  # errors name the attribute path inside the map
        elif isinstance(node, ListValue):
            normalize_value(constant, "list")
    except ValidationError as exc:
        raise error_at(node.line, node.column, str(exc)) from None
    return lambda params: constant


def _check_sets(node: Value) -> None:
    """Validate the constant sets inside ``node``, each at its own position."""
    if isinstance(node, SetValue):
        try:
            normalize_value(_build(node, ()), "set literal")
        except ValidationError as exc:
            raise error_at(node.line, node.column, str(exc)) from None
    elif isinstance(node, ListValue):
        for item in node.items:
            _check_sets(item)
    elif isinstance(node, MapValue):
        for _, item in node.pairs:
            _check_sets(item)


class Emitter:
    """Allocates ``#pN``/``:pN`` placeholders and renders expression text.

    One emitter serves all the expressions of one call (a filter and its
    projection, an update and its condition), since they share one set of
    placeholders. Only what is rendered gets a placeholder, so every name
    and value handed to the database is used (as the database insists).
    """

    __slots__ = ("_by_name", "names", "values")

    def __init__(self) -> None:
        #: ``#pN`` -> attribute name.
        self.names: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        #: ``(":pN", value node)`` in allocation order.
        self.values: list[tuple[str, Value]] = []

    # -- placeholders ---------------------------------------------------------

    def name(self, attribute: str) -> str:
        placeholder = self._by_name.get(attribute)
        if placeholder is None:
            placeholder = f"#p{len(self.names)}"
            self.names[placeholder] = attribute
            self._by_name[attribute] = placeholder
        return placeholder

    def value(self, node: Value) -> str:
        placeholder = f":p{len(self.values)}"
        self.values.append((placeholder, node))
        return placeholder

    def sources(self) -> tuple[tuple[str, Source], ...]:
        return tuple((key, source(node)) for key, node in self.values)

    def labels(self) -> dict[str, str]:
        """What each placeholder stands for, to rewrite the database's error messages."""
        out = {key: repr(name) for key, name in self.names.items()}
        out.update((key, label(node)) for key, node in self.values)
        return out

    # -- paths and operands -----------------------------------------------------

    def path(self, path: Path) -> str:
        out = []
        for element in path.elements:
            if isinstance(element, int):
                out.append(f"[{element}]")
            else:
                out.append(("." if out else "") + self.name(element))
        return "".join(out)

    def operand(self, node: Operand) -> str:
        if isinstance(node, Path):
            return self.path(node)
        if isinstance(node, Size):
            return f"size({self.path(node.path)})"
        return self.value(node)

    # -- conditions ---------------------------------------------------------------

    def condition(self, node: Condition) -> str:
        if isinstance(node, Comparison):
            return f"{self.operand(node.left)} {node.op} {self.operand(node.right)}"
        if isinstance(node, And | Or):
            word = " AND " if isinstance(node, And) else " OR "
            return "(" + word.join(self.condition(part) for part in flatten(node, type(node))) + ")"
        if isinstance(node, Not):
            return f"NOT ({self.condition(node.operand)})"
        if isinstance(node, Between):
            operand = self.operand(node.operand)
            return f"{operand} BETWEEN {self.operand(node.low)} AND {self.operand(node.high)}"
        if isinstance(node, In):
            choices = ", ".join(self.operand(choice) for choice in node.choices)
            return f"{self.operand(node.operand)} IN ({choices})"
        if isinstance(node, Is):
            path = self.path(node.path)
            if node.what == "MISSING":
                return f"attribute_{'' if node.negated else 'not_'}exists({path})"
            null = self.value(Literal("NULL", node.path.line, node.path.column))
            if node.negated:
                return f"(attribute_exists({path}) AND NOT attribute_type({path}, {null}))"
            return f"attribute_type({path}, {null})"
        assert isinstance(node, Function)
        return f"{node.name}({', '.join(self.operand(arg) for arg in node.args)})"

    def conjunction(self, nodes: Sequence[Condition]) -> str | None:
        """The AND of ``nodes`` (``None`` when there are none)."""
        if not nodes:
            return None
        if len(nodes) == 1:
            return self.condition(nodes[0])
        return " AND ".join(f"({self.condition(node)})" for node in nodes)

    # -- updates and projections --------------------------------------------------

    def _set_operand(self, node: SetOperand | Arithmetic) -> str:
        if isinstance(node, Arithmetic):
            return f"{self._set_operand(node.left)} {node.op} {self._set_operand(node.right)}"
        if isinstance(node, Call):
            return f"{node.name}({', '.join(self._set_operand(arg) for arg in node.args)})"
        if isinstance(node, Path):
            return self.path(node)
        return self.value(node)

    def update(self, sets: Sequence[Assignment], removes: Sequence[Path]) -> str:
        clauses = []
        if sets:
            actions = (f"{self.path(a.path)} = {self._set_operand(a.value)}" for a in sets)
            clauses.append("SET " + ", ".join(actions))
        if removes:
            clauses.append("REMOVE " + ", ".join(self.path(p) for p in removes))
        return " ".join(clauses)

    def projection(self, paths: Sequence[Path]) -> str:
        return ", ".join(self.path(p) for p in paths)


def explain(exc: ValidationError, labels: dict[str, str]) -> ValidationError:
    """``exc`` with the generated placeholders in its message replaced by what they stand for."""
    message = str(exc)
    if not labels or not _PLACEHOLDER.search(message):
        return exc
    rewritten = _PLACEHOLDER.sub(lambda m: labels.get(m.group(0), m.group(0)), message)
    return type(exc)(rewritten)


__all__ = ["Emitter", "Source", "explain", "flatten", "label", "source"]
