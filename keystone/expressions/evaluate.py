"""Compiling condition, filter and projection expressions into fast callables.

This module owns the meaning of conditions. A condition's AST is compiled
once per expression text into nested closures ``pred(item, env)``; binding it
to a request's placeholders (``env``) is then a dictionary check, and each
evaluation is a handful of Python calls. Projections are resolved at bind
time into a tree of concrete paths and copy just those parts of an item.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final, TypeAlias

from ..errors import ValidationError
from ..types import TYPE_CODES, clip
from . import compare
from .ast import (
    And,
    Between,
    Comparison,
    ConditionNode,
    Function,
    In,
    Name,
    Not,
    Operand,
    Or,
    Path,
    Size,
    ValueRef,
    path_roots,
    placeholders_used,
)
from .compare import MISSING, begins_with, contains, equal, less, less_equal, type_code
from .parser import CACHE_SIZE, CONDITION, parse_condition, parse_projection
from .paths import (
    ConcretePath,
    Getter,
    PathNode,
    build_tree,
    compile_getter,
    format_path,
    resolve,
)

#: A compiled condition: ``pred(item, env)``.
Predicate: TypeAlias = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
#: A check run when an expression is bound, with the placeholders' env.
BindCheck: TypeAlias = Callable[[Mapping[str, Any]], None]

_EMPTY: Final[Mapping[str, Any]] = {}
_ORDER: Final = {str: "S", int: "N", Decimal: "N", bytes: "B", _dt.datetime: "Ts"}
_PLAIN: Final = frozenset({str, int, Decimal, bytes, bool, type(None), _dt.datetime})


# -- operands ----------------------------------------------------------------


def compile_operand(node: Operand) -> Getter:
    """A reader for a path, a ``:value`` or ``size(...)``."""
    if isinstance(node, ValueRef):
        key = node.key

        def value(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
            return env[key]

        return value
    if isinstance(node, Size):
        get = compile_operand(node.operand)

        def size(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
            return compare.size(get(item, env))

        return size
    return compile_getter(node)


# -- checks of constant operands (run when an expression is bound) --------------


def _wrong_type(function: str, code: str | None) -> ValidationError:
    return ValidationError(
        "Incorrect operand type for operator or function; "
        f"operator or function: {function}, operand type: {code}"
    )


def _constant_checks(node: ConditionNode, checks: list[BindCheck]) -> None:
    """What DynamoDB refuses before reading any item: operators and functions
    given constants (``:values``) of types they can never take."""
    if isinstance(node, Comparison) and node.op not in ("=", "<>"):
        if isinstance(node.left, ValueRef) and isinstance(node.right, ValueRef):
            checks.append(_orderable_check(node.op, (node.left.key, node.right.key)))
    elif isinstance(node, Between):
        bounds = [n.key for n in (node.low, node.high) if isinstance(n, ValueRef)]
        if isinstance(node.operand, ValueRef):
            bounds.append(node.operand.key)
        if len(bounds) >= 2:
            checks.append(_orderable_check("BETWEEN", tuple(bounds)))
        if isinstance(node.low, ValueRef) and isinstance(node.high, ValueRef):
            checks.append(_between_check(node.low.key, node.high.key))
    elif isinstance(node, Function):
        name = node.name
        if name == "begins_with":
            for arg in node.args:
                if isinstance(arg, ValueRef):
                    checks.append(_type_check(name, arg.key, ("S", "B")))
        elif name == "attribute_type" and isinstance(node.args[1], ValueRef):
            checks.append(_type_code_check(node.args[1].key))
    for operand in _operands(node):
        if isinstance(operand, Size) and isinstance(operand.operand, ValueRef):
            checks.append(_type_check("size", operand.operand.key, _SIZED))


_SIZED: Final = ("S", "B", "SS", "NS", "BS", "L", "M", "VecF32")


def _operands(node: ConditionNode) -> tuple[object, ...]:
    if isinstance(node, Comparison):
        return (node.left, node.right)
    if isinstance(node, Between):
        return (node.operand, node.low, node.high)
    if isinstance(node, In):
        return (node.operand, *node.choices)
    if isinstance(node, Function):
        return node.args
    return ()


def _orderable_check(op: str, keys: tuple[str, ...]) -> BindCheck:
    def check(env: Mapping[str, Any]) -> None:
        codes = [type_code(env[key]) for key in keys]
        for code in codes:
            if code not in ("N", "S", "B", "Ts"):
                raise _wrong_type(op, code)
        if len(set(codes)) > 1:
            raise ValidationError(
                "Type mismatch for operator or function; "
                f"operator or function: {op}, operand types: {', '.join(map(str, codes))}"
            )

    return check


def _type_check(function: str, key: str, allowed: tuple[str, ...]) -> BindCheck:
    def check(env: Mapping[str, Any]) -> None:
        code = type_code(env[key])
        if code not in allowed:
            raise _wrong_type(function, code)

    return check


def _type_code_check(key: str) -> BindCheck:
    def check(env: Mapping[str, Any]) -> None:
        code = env[key]
        if type(code) is not str or code not in TYPE_CODES:
            raise ValidationError(
                f"Invalid attribute type name found; type: {clip(repr(code))}, "
                f"valid types: {{{','.join(TYPE_CODES)}}}"
            )

    return check


def _between_check(low: str, high: str) -> BindCheck:
    def check(env: Mapping[str, Any]) -> None:
        a, b = env[low], env[high]
        if compare.less(b, a):
            raise ValidationError(
                "The BETWEEN operator requires upper bound to be greater than or equal to "
                f"lower bound; lower bound operand: {describe_value(a)}, "
                f"upper bound operand: {describe_value(b)}"
            )

    return check


def describe_value(value: Any) -> str:
    """A constant as DynamoDB's messages show it: ``AttributeValue: {N:5}``."""
    return f"AttributeValue: {{{type_code(value)}:{clip(str(value), 40)}}}"


# -- conditions ----------------------------------------------------------------


def _compile_comparison(node: Comparison) -> Predicate:
    left = compile_operand(node.left)
    right = compile_operand(node.right)
    op = node.op
    if op == "=":

        def eq(item: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
            a = left(item, env)
            b = right(item, env)
            ta = type(a)
            if ta is type(b) and ta in _PLAIN:
                return bool(a == b)
            return equal(a, b)

        return eq
    if op == "<>":

        def ne(item: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
            a = left(item, env)
            b = right(item, env)
            ta = type(a)
            if ta is type(b) and ta in _PLAIN:
                return bool(a != b)
            return not equal(a, b)

        return ne
    if op in ("<", ">"):
        first, second = (left, right) if op == "<" else (right, left)

        def lt(item: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
            a = first(item, env)
            b = second(item, env)
            kind = _ORDER.get(type(a))
            if kind is not None and kind == _ORDER.get(type(b)):
                return bool(a < b)
            return less(a, b)

        return lt
    first, second = (left, right) if op == "<=" else (right, left)

    def le(item: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
        a = first(item, env)
        b = second(item, env)
        kind = _ORDER.get(type(a))
        if kind is not None and kind == _ORDER.get(type(b)):
            return bool(a <= b)
        return less_equal(a, b)

    return le


def _compile_function(node: Function) -> Predicate:
    get = compile_operand(node.args[0])
    name = node.name
    if name == "attribute_exists":
        return lambda item, env: get(item, env) is not MISSING
    if name == "attribute_not_exists":
        return lambda item, env: get(item, env) is MISSING
    other = compile_operand(node.args[1])
    if name == "attribute_type":
        return lambda item, env: type_code(get(item, env)) == other(item, env)
    if name == "begins_with":
        return lambda item, env: begins_with(get(item, env), other(item, env))
    return lambda item, env: contains(get(item, env), other(item, env))


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 2:
        a, b = parts
        return lambda item, env: a(item, env) and b(item, env)

    def every(item: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
        return all(part(item, env) for part in parts)

    return every


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 2:
        a, b = parts
        return lambda item, env: a(item, env) or b(item, env)

    def some(item: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
        return any(part(item, env) for part in parts)

    return some


def _compile(node: ConditionNode, checks: list[BindCheck]) -> Predicate:
    # Recursion follows the tree, whose depth the parser bounds (MAX_NESTING).
    _constant_checks(node, checks)
    if isinstance(node, Comparison):
        return _compile_comparison(node)
    if isinstance(node, And):
        return _all(tuple(_compile(part, checks) for part in node.operands))
    if isinstance(node, Or):
        return _any(tuple(_compile(part, checks) for part in node.operands))
    if isinstance(node, Not):
        inner = _compile(node.operand, checks)
        return lambda item, env: not inner(item, env)
    if isinstance(node, Between):
        get, low, high = (compile_operand(n) for n in (node.operand, node.low, node.high))

        def between(item: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
            return compare.between(get(item, env), low(item, env), high(item, env))

        return between
    if isinstance(node, In):
        get = compile_operand(node.operand)
        choices = tuple(compile_operand(n) for n in node.choices)

        def in_(item: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
            value = get(item, env)
            if value is MISSING:
                return False
            return any(equal(value, choice(item, env)) for choice in choices)

        return in_
    return _compile_function(node)


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A condition compiled once per text, ready to be bound to placeholders."""

    predicate: Predicate
    names: frozenset[str]
    values: frozenset[str]
    checks: tuple[BindCheck, ...]
    roots: frozenset[Name]


@lru_cache(maxsize=CACHE_SIZE)
def compile_condition(text: str, kind: str = CONDITION) -> CompiledCondition:
    """Parse (cached) and compile a condition, filter or key condition expression."""
    tree = parse_condition(text, kind)
    checks: list[BindCheck] = []
    predicate = _compile(tree, checks)
    names, values = placeholders_used(tree)
    return CompiledCondition(predicate, names, values, tuple(checks), path_roots(tree))


class Condition:
    """A condition bound to its placeholders: ``cond(item) -> bool``.

    ``item`` None means the item does not exist (every attribute is missing).
    """

    __slots__ = ("_env", "_predicate", "_roots", "text")

    def __init__(
        self,
        text: str,
        predicate: Predicate,
        env: Mapping[str, Any],
        roots: frozenset[Name] = frozenset(),
    ) -> None:
        self.text = text
        self._predicate = predicate
        self._env = env
        self._roots = roots

    @property
    def top_level_names(self) -> frozenset[str]:
        """Top-level attribute names the condition reads."""
        env = self._env
        return frozenset(
            str(env[root.text]) if root.placeholder else root.text for root in self._roots
        )

    def __call__(self, item: Mapping[str, Any] | None) -> bool:
        return self._predicate(_EMPTY if item is None else item, self._env)

    def __repr__(self) -> str:
        return f"Condition({self.text!r})"


# -- projections ----------------------------------------------------------------


class Projection:
    """Copies the projected paths of an item: ``proj(item) -> dict``.

    Nested paths keep their structure (``a.b`` gives ``{"a": {"b": ...}}``,
    ``c[1]`` gives ``{"c": [...]}`` with the selected elements in index
    order); paths missing from the item are left out.
    """

    __slots__ = ("_flat", "_root", "paths", "top_level_names")

    def __init__(self, paths: Sequence[ConcretePath]) -> None:
        self.paths: tuple[ConcretePath, ...] = tuple(paths)
        self._root: PathNode = build_tree(self.paths)
        #: Attribute names whose values (or parts) the projection may return.
        self.top_level_names: frozenset[str] = frozenset(str(p[0]) for p in self.paths)
        self._flat: tuple[str, ...] | None = (
            tuple(str(p[0]) for p in self.paths) if all(len(p) == 1 for p in self.paths) else None
        )

    def __call__(self, item: Mapping[str, Any]) -> dict[str, Any]:
        if self._flat is not None:
            return {name: item[name] for name in self._flat if name in item}
        out: dict[str, Any] = {}
        for key, child in self._root.children.items():
            name = str(key)
            if name in item:
                value = _project(child, item[name])
                if value is not MISSING:
                    out[name] = value
        return out

    def __repr__(self) -> str:
        return f"Projection({', '.join(format_path(p) for p in self.paths)})"


def _project(node: PathNode, value: Any) -> Any:
    if node.end is not None:
        return value
    if type(value) is dict:
        mapped = {}
        for key, child in node.children.items():
            if isinstance(key, str) and key in value:
                sub = _project(child, value[key])
                if sub is not MISSING:
                    mapped[key] = sub
        return mapped if mapped else MISSING
    if type(value) is list:
        listed = []
        for key in sorted(k for k in node.children if isinstance(k, int)):
            if key < len(value):
                sub = _project(node.children[key], value[key])
                if sub is not MISSING:
                    listed.append(sub)
        return listed if listed else MISSING
    return MISSING


@dataclass(frozen=True, slots=True)
class CompiledProjection:
    paths: tuple[Path, ...]
    names: frozenset[str]


@lru_cache(maxsize=CACHE_SIZE)
def compile_projection(text: str) -> CompiledProjection:
    """Parse (cached) a projection expression and note its placeholders."""
    tree = parse_projection(text)
    names, _ = placeholders_used(tree)
    return CompiledProjection(tree.paths, names)


def bind_projection(compiled: CompiledProjection, env: Mapping[str, Any]) -> Projection:
    return Projection([resolve(path, env) for path in compiled.paths])


__all__ = [
    "CompiledCondition",
    "CompiledProjection",
    "Condition",
    "Projection",
    "bind_projection",
    "compile_condition",
    "compile_operand",
    "compile_projection",
    "describe_value",
]
