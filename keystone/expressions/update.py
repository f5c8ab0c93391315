"""Applying update expressions: SET, REMOVE, ADD and DELETE.

This module owns what an update does to an item. An update expression is
compiled once per text; binding resolves its target paths, refuses
overlapping ones and checks the ADD/DELETE operands. :meth:`Update.apply`
then follows DynamoDB: every SET value is computed from the item *before*
the update, list indexes in REMOVE name positions in the original list, and
the input item is never modified (containers are copied on write).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, Inexact
from functools import lru_cache
from typing import Any, NoReturn, TypeAlias

from ..errors import ValidationError
from ..types import NUMBER_CONTEXT, NUMBER_TOO_PRECISE, clip, normalize_number
from .ast import Arithmetic, Call, Path, SetValue, ValueRef, placeholders_used
from .compare import MISSING, type_code
from .evaluate import Projection
from .parser import CACHE_SIZE, parse_update
from .paths import ConcretePath, Getter, build_tree, compile_getter, describe, format_path, resolve

#: A compiled SET value: ``value(old_item, env)``; raises ValidationError on bad input.
ValueFn: TypeAlias = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]

_SET_TYPES = ("SS", "NS", "BS")
#: How DynamoDB names types in its ADD and DELETE messages.
_TYPE_NAMES = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "BOOL": "BOOLEAN",
    "NULL": "NULL",
    "L": "LIST",
    "M": "MAP",
}


# -- SET values ----------------------------------------------------------------


def _compile_value(node: SetValue) -> ValueFn:
    if isinstance(node, ValueRef):
        key = node.key
        return lambda item, env: env[key]
    if isinstance(node, Path):
        return _compile_required(node)
    if isinstance(node, Arithmetic):
        return _compile_arithmetic(node)
    return _compile_call(node)


def _compile_required(path: Path) -> ValueFn:
    get = compile_getter(path)

    def required(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
        value = get(item, env)
        if value is MISSING:
            raise ValidationError(
                "The provided expression refers to an attribute that does not exist in the "
                f"item; path: {clip(describe(path, env))}"
            )
        return value

    return required


def _compile_arithmetic(node: Arithmetic) -> ValueFn:
    left = _compile_value(node.left)
    right = _compile_value(node.right)
    op = node.op

    def arithmetic(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
        return add_numbers(left(item, env), right(item, env), op)

    return arithmetic


def _compile_call(node: Call) -> ValueFn:
    first_node, second_node = node.args
    second = _compile_value(second_node)
    if node.name == "if_not_exists":
        assert isinstance(first_node, Path)
        get: Getter = compile_getter(first_node)

        def if_not_exists(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
            value = get(item, env)
            return second(item, env) if value is MISSING else value

        return if_not_exists
    first = _compile_value(first_node)

    def list_append(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
        a, b = first(item, env), second(item, env)
        for operand in (a, b):
            if type_code(operand) != "L":
                raise ValidationError(
                    "Incorrect operand type for operator or function; operator or function: "
                    f"list_append, operand type: {type_code(operand)}"
                )
        return [*a, *b]

    return list_append


def add_numbers(a: Any, b: Any, op: str = "+") -> int | Decimal:
    """``a + b`` or ``a - b`` exactly, within DynamoDB's 38 digits and range."""
    for operand in (a, b):
        if type_code(operand) != "N":
            raise ValidationError(
                "Incorrect operand type for operator or function; "
                f"operator or function: {op}, operand type: {type_code(operand)}"
            )
    context = NUMBER_CONTEXT.copy()
    context.clear_flags()
    if op == "-":
        result = context.subtract(Decimal(a), Decimal(b))
    else:
        result = context.add(Decimal(a), Decimal(b))
    if context.flags[Inexact]:
        raise ValidationError(NUMBER_TOO_PRECISE)
    return normalize_number(result)


# -- writing into an item --------------------------------------------------------


def _invalid(verb: str, path: ConcretePath, reason: str) -> NoReturn:
    raise ValidationError(
        "The document path provided in the update expression is invalid for update; "
        f"{verb.lower()} path: {clip(format_path(path))} ({clip(reason)})"
    )


def _parent(root: dict[str, Any], path: ConcretePath, owned: set[int], verb: str) -> Any:
    """The container holding ``path[-1]``, copying every container on the way
    that this update has not copied yet (so the input item stays untouched)."""
    current: Any = root
    for depth, key in enumerate(path[:-1]):
        if isinstance(key, int):
            child = current[key] if key < len(current) else MISSING
        else:
            child = current.get(key, MISSING)
        kind = type(child)
        next_key = path[depth + 1]
        wanted = list if isinstance(next_key, int) else dict
        if kind is not wanted:
            where = format_path(path[: depth + 1])
            if child is MISSING:
                _invalid(verb, path, f"{where} does not exist")
            _invalid(
                verb, path, f"{where} is {type_code(child)}, not {'L' if wanted is list else 'M'}"
            )
        if id(child) not in owned:
            child = list(child) if kind is list else dict(child)
            current[key] = child
            owned.add(id(child))
        current = child
    return current


def _get(parent: Any, key: str | int) -> Any:
    if isinstance(key, int):
        return parent[key] if key < len(parent) else MISSING
    return parent.get(key, MISSING)


def _put(parent: Any, key: str | int, value: Any) -> None:
    if isinstance(key, int) and key >= len(parent):
        parent.append(value)
    else:
        parent[key] = value


def _clone(value: Any) -> Any:
    """A copy of the containers in ``value`` (scalars are immutable and shared)."""
    kind = type(value)
    if kind is dict:
        return {k: _clone(v) for k, v in value.items()}
    if kind is list:
        return [_clone(v) for v in value]
    if kind is set:
        return set(value)
    return value


def _add(item: dict[str, Any], path: ConcretePath, value: Any, owned: set[int]) -> None:
    parent = _parent(item, path, owned, "ADD")
    key = path[-1]
    existing = _get(parent, key)
    code = type_code(value)
    if existing is MISSING:
        _put(parent, key, _clone(value))
        return
    if type_code(existing) != code:
        raise ValidationError(
            "An operand in the update expression has an incorrect data type; "
            f"ADD {clip(format_path(path))}: a {code} value cannot be added to a "
            f"{type_code(existing)} attribute"
        )
    _put(parent, key, add_numbers(existing, value, "ADD") if code == "N" else existing | value)


def _delete(item: dict[str, Any], path: ConcretePath, value: Any, owned: set[int]) -> bool:
    """Remove ``value``'s elements from the set at ``path``; True when the set
    is left empty (the caller then removes the attribute with the REMOVEs, so
    list indexes keep naming positions in the original list)."""
    parent = _parent(item, path, owned, "DELETE")
    key = path[-1]
    existing = _get(parent, key)
    if existing is MISSING:
        return False
    code = type_code(value)
    if type_code(existing) != code:
        raise ValidationError(
            "An operand in the update expression has an incorrect data type; "
            f"DELETE {clip(format_path(path))}: {code} elements cannot be deleted from a "
            f"{type_code(existing)} attribute"
        )
    remaining = existing - value
    _put(parent, key, remaining)
    return not remaining


def _remove(item: dict[str, Any], path: ConcretePath, owned: set[int], created: bool) -> None:
    if created and not _reachable(item, path):
        return  # DynamoDB ignores REMOVE of any path when the item does not exist yet
    parent = _parent(item, path, owned, "REMOVE")
    key = path[-1]
    if isinstance(key, int):
        if key < len(parent):
            del parent[key]
    else:
        parent.pop(key, None)


def _reachable(item: Mapping[str, Any], path: ConcretePath) -> bool:
    """Whether every container above the last element of ``path`` is there."""
    current: Any = item
    for key, next_key in zip(path, path[1:], strict=False):
        current = _get(current, key)
        if type(current) is not (list if isinstance(next_key, int) else dict):
            return False
    return True


# -- compiling and binding ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledUpdate:
    """An update expression compiled once per text."""

    sets: tuple[tuple[Path, ValueFn], ...]
    removes: tuple[Path, ...]
    adds: tuple[tuple[Path, str], ...]
    deletes: tuple[tuple[Path, str], ...]
    names: frozenset[str]
    values: frozenset[str]


@lru_cache(maxsize=CACHE_SIZE)
def compile_update(text: str) -> CompiledUpdate:
    """Parse (cached) and compile an update expression."""
    tree = parse_update(text)
    names, values = placeholders_used(tree)
    return CompiledUpdate(
        sets=tuple((a.path, _compile_value(a.value)) for a in tree.sets),
        removes=tuple(a.path for a in tree.removes),
        adds=tuple((a.path, a.value.key) for a in tree.adds),
        deletes=tuple((a.path, a.value.key) for a in tree.deletes),
        names=names,
        values=values,
    )


class Update:
    """An update bound to its placeholders; :meth:`apply` returns the new item."""

    __slots__ = (
        "_adds",
        "_deletes",
        "_env",
        "_projection",
        "_removes",
        "_sets",
        "_targets",
        "text",
    )

    def __init__(self, text: str, compiled: CompiledUpdate, env: Mapping[str, Any]) -> None:
        self.text = text
        self._env = env
        sets = [(resolve(p, env), fn) for p, fn in compiled.sets]
        removes = [resolve(p, env) for p in compiled.removes]
        adds = [(resolve(p, env), env[key]) for p, key in compiled.adds]
        deletes = [(resolve(p, env), env[key]) for p, key in compiled.deletes]
        for _, value in adds:
            if type_code(value) not in ("N", *_SET_TYPES):
                raise ValidationError(
                    "Incorrect operand type for operator or function; operator: ADD, "
                    f"operand type: {_TYPE_NAMES.get(str(type_code(value)), type_code(value))}"
                )
        for _, value in deletes:
            if type_code(value) not in _SET_TYPES:
                raise ValidationError(
                    "Incorrect operand type for operator or function; operator: DELETE, "
                    f"operand type: {_TYPE_NAMES.get(str(type_code(value)), type_code(value))}"
                )
        self._targets: tuple[ConcretePath, ...] = (
            *(p for p, _ in sets),
            *removes,
            *(p for p, _ in adds),
            *(p for p, _ in deletes),
        )
        build_tree(self._targets)  # refuses overlapping and conflicting paths
        # No two targets overlap or conflict, so tuples compare element by element
        # with keys of one type: SET appends in index order, REMOVE goes from the
        # highest index down so indexes keep naming positions in the original list.
        self._sets = sorted(sets, key=lambda action: action[0])
        self._removes = sorted(removes, reverse=True)
        self._adds = adds
        self._deletes = deletes
        self._projection: Projection | None = None

    @property
    def top_level_names(self) -> frozenset[str]:
        """Top-level attribute names the update writes or removes."""
        return frozenset(str(path[0]) for path in self._targets)

    @property
    def updated_projection(self) -> Projection:
        """A projection of the paths the update touched (for UPDATED_OLD/UPDATED_NEW)."""
        if self._projection is None:
            self._projection = Projection(self._targets)
        return self._projection

    def apply(self, item: Mapping[str, Any] | None) -> dict[str, Any]:
        """The item after the update; ``item`` None means it does not exist yet."""
        old: Mapping[str, Any] = {} if item is None else item
        env = self._env
        values = [(path, fn(old, env)) for path, fn in self._sets]
        new = dict(old)
        owned = {id(new)}
        for path, value in values:
            parent = _parent(new, path, owned, "SET")
            _put(parent, path[-1], _clone(value))
        for path, value in self._adds:
            _add(new, path, value, owned)
        removes = self._removes
        emptied = [path for path, value in self._deletes if _delete(new, path, value, owned)]
        if emptied:
            removes = sorted([*removes, *emptied], reverse=True)
        for path in removes:
            _remove(new, path, owned, item is None)
        return new

    def __repr__(self) -> str:
        return f"Update({self.text!r})"
