"""Planning: which database operation runs a statement, decided once per text.

This module owns the planning rules (``docs/partiql.md``):

* a SELECT whose WHERE fixes the partition key with ``=`` (one of the
  top-level ANDed predicates) is a ``query`` of that partition; the first
  pushable sort-key predicate (``= < <= > >=``, ``BETWEEN``, ``begins_with``
  against values) becomes the query's key condition and the rest its filter;
* with the full key of the table and nothing else, it is a ``get``;
* anything else is a ``scan`` with the whole WHERE as its filter;
* UPDATE and DELETE need the full key (``pk = v`` and, with a sort key,
  ``sk = v``); the other predicates become the write's condition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from ..errors import ValidationError
from ..schema import Schema
from ..table import Page
from .ast import (
    VALUE_TYPES,
    And,
    Between,
    Comparison,
    Condition,
    Delete,
    Function,
    Insert,
    MapValue,
    Param,
    Path,
    Select,
    Statement,
    Target,
    Update,
    Value,
    Where,
)
from .lexer import error_at
from .parser import CACHE_SIZE, parse
from .plans import (
    Bindings,
    DeletePlan,
    GetPlan,
    InsertPlan,
    Key,
    Plan,
    ReadPlan,
    SortKeyPlan,
    UpdatePlan,
)
from .translate import Emitter, explain, flatten, label, source

if TYPE_CHECKING:
    from .plans import Database

_SORT_KEY_OPS: Final = {"=": "eq", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_FLIPPED: Final = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


@dataclass(frozen=True, slots=True)
class Keys:
    """The key attributes a statement is planned against: the table's or an index's."""

    partition: str
    sort: str | None
    index: str | None = None

    def describe(self) -> str:
        return "the table" if self.index is None else f"index {self.index!r}"


@lru_cache(maxsize=CACHE_SIZE)
def cached_plan(text: str, partition: str, sort: str | None) -> Plan:
    """The plan of statement ``text`` on a table with these key attributes (cached)."""
    statement = parse(text)
    if isinstance(statement, Select) and statement.target.index is not None:
        return IndexSelectPlan(
            Bindings(statement.param_count, None, (), {}), text, statement.target
        )
    return plan(statement, Keys(partition, sort))


@lru_cache(maxsize=CACHE_SIZE)
def statement_table(text: str) -> str:
    """The table a statement names (``FROM t``, ``INTO t``, ``UPDATE t``), cached."""
    return parse(text).target.table


@lru_cache(maxsize=CACHE_SIZE)
def _cached_index_plan(text: str, keys: Keys) -> Plan:
    return plan(parse(text), keys)


@dataclass(frozen=True, slots=True)
class IndexSelectPlan:
    """A SELECT from an index, planned when run against the index's key attributes.

    The index's keys come from the schema of the database at hand, so the
    plan proper is cached by the statement text *and* those keys.
    """

    bindings: Bindings
    text: str
    target: Target

    def run(self, db: Database, params: Sequence[Any]) -> Page:
        inner = _cached_index_plan(self.text, index_keys(db.schema, self.target))
        try:
            return inner.run(db, params)
        except ValidationError as exc:
            better = explain(exc, inner.bindings.labels)
            if better is exc:
                raise
            raise better from None


def index_keys(schema: Schema, target: Target) -> Keys:
    """The key attributes of the index ``target`` names, from ``schema``."""
    name = target.index
    for gsi in getattr(schema, "global_indexes", ()):
        if gsi.name == name:
            return Keys(gsi.partition_key, gsi.sort_key, name)
    for lsi in getattr(schema, "local_indexes", ()):
        if lsi.name == name:
            return Keys(schema.partition_key, lsi.sort_key, name)
    known = [
        i.name for kind in ("global_indexes", "local_indexes") for i in getattr(schema, kind, ())
    ]
    listed = ", ".join(map(repr, known))
    raise error_at(
        target.line,
        target.column,
        f"index {name!r} does not exist; "
        + (f"the indexes are {listed}" if known else "the table has no indexes"),
    )


def plan(statement: Statement, keys: Keys) -> Plan:
    """The plan of ``statement`` for a table (or index) with these key attributes."""
    if isinstance(statement, Select):
        return _select(statement, keys)
    if statement.target.index is not None:
        verb = type(statement).__name__.upper()
        target = statement.target
        raise error_at(target.line, target.column, f"{verb} writes to the table, not to an index")
    if isinstance(statement, Insert):
        return _insert(statement, keys)
    if isinstance(statement, Update):
        return _update(statement, keys)
    return _delete(statement, keys)


def _bindings(emitter: Emitter, param_count: int) -> Bindings:
    return Bindings(param_count, emitter.names or None, emitter.sources(), emitter.labels())


# -- key predicates ------------------------------------------------------------


def _value_against(node: Comparison, attribute: str) -> tuple[str, Value] | None:
    """``(op, value)`` if ``node`` compares the bare ``attribute`` with a value (either side)."""
    left, right = node.left, node.right
    if isinstance(left, Path) and left.attribute == attribute and isinstance(right, VALUE_TYPES):
        return node.op, right
    if isinstance(right, Path) and right.attribute == attribute and isinstance(left, VALUE_TYPES):
        flipped = _FLIPPED.get(node.op)
        return None if flipped is None else (flipped, left)
    return None


def _take_equality(
    conjuncts: list[Condition], attribute: str
) -> tuple[Value | None, list[Condition]]:
    """The first ``attribute = value`` among ``conjuncts``, and the others."""
    for i, node in enumerate(conjuncts):
        if isinstance(node, Comparison) and node.op == "=":
            found = _value_against(node, attribute)
            if found is not None:
                return found[1], conjuncts[:i] + conjuncts[i + 1 :]
    return None, conjuncts


def _sort_key_predicate(node: Condition, attribute: str) -> tuple[str, tuple[Value, ...]] | None:
    if isinstance(node, Comparison):
        found = _value_against(node, attribute)
        if found is not None and found[0] in _SORT_KEY_OPS:
            return _SORT_KEY_OPS[found[0]], (found[1],)
    elif isinstance(node, Between):
        operand, low, high = node.operand, node.low, node.high
        if (
            isinstance(operand, Path)
            and operand.attribute == attribute
            and isinstance(low, VALUE_TYPES)
            and isinstance(high, VALUE_TYPES)
        ):
            return "between", (low, high)
    elif isinstance(node, Function) and node.name == "begins_with":
        path, prefix = node.args
        if (
            isinstance(path, Path)
            and path.attribute == attribute
            and isinstance(prefix, VALUE_TYPES)
        ):
            return "begins_with", (prefix,)
    return None


def _take_sort_key(
    conjuncts: list[Condition], attribute: str
) -> tuple[tuple[str, tuple[Value, ...]] | None, list[Condition]]:
    """The first pushable sort-key predicate among ``conjuncts``, and the others."""
    for i, node in enumerate(conjuncts):
        found = _sort_key_predicate(node, attribute)
        if found is not None:
            return found, conjuncts[:i] + conjuncts[i + 1 :]
    return None, conjuncts


def _key_label(node: Value, attribute: str) -> str:
    return f"{label(node)}, the sort key {attribute!r},"


# -- SELECT --------------------------------------------------------------------


def _select(statement: Select, keys: Keys) -> Plan:
    emitter = Emitter()
    where = statement.where
    conjuncts = flatten(where.condition, And) if where is not None else []
    pk_node, rest = _take_equality(conjuncts, keys.partition)
    order = statement.order_by
    if order is not None:
        path = order.path
        if keys.sort is None:
            raise error_at(
                path.line, path.column, f"ORDER BY needs a sort key; {keys.describe()} has none"
            )
        if path.attribute != keys.sort:
            raise error_at(
                path.line,
                path.column,
                f"ORDER BY orders by the sort key {keys.sort!r} only, not {str(path)!r}",
            )
        if pk_node is None:
            raise error_at(
                path.line,
                path.column,
                "ORDER BY needs a query: the WHERE clause must fix the partition key "
                f"{keys.partition!r} with '=' (a scan has no order)",
            )
    reverse = order is not None and order.descending

    def projection() -> str | None:
        if statement.projection is None:
            return None
        return emitter.projection(statement.projection)

    if pk_node is None:
        filter_text = emitter.condition(where.condition) if where is not None else None
        projection_text = projection()
        return ReadPlan(
            bindings=_bindings(emitter, statement.param_count),
            pk=None,
            sort_key=None,
            index=keys.index,
            filter=filter_text,
            projection=projection_text,
            reverse=False,
            limit=statement.limit,
            offset=statement.offset,
        )
    sort_key = None
    if keys.sort is not None:
        sort_key, rest = _take_sort_key(rest, keys.sort)
    exact = keys.sort is None or (sort_key is not None and sort_key[0] == "eq")
    if keys.index is None and exact and not rest:
        sk_node = None if sort_key is None else sort_key[1][0]
        projection_text = projection()
        return GetPlan(
            bindings=_bindings(emitter, statement.param_count),
            pk=source(pk_node),
            sk=None if sk_node is None else source(sk_node),
            sk_label="" if sk_node is None else _key_label(sk_node, keys.sort or ""),
            projection=projection_text,
            limit=statement.limit,
            offset=statement.offset,
        )
    sort_key_plan = None
    if sort_key is not None:
        op, nodes = sort_key
        sort_key_plan = SortKeyPlan(
            op,
            tuple(source(node) for node in nodes),
            tuple(_key_label(node, keys.sort or "") for node in nodes),
            numbers=keys.index is not None,
        )
    filter_text = emitter.conjunction(rest)
    projection_text = projection()
    return ReadPlan(
        bindings=_bindings(emitter, statement.param_count),
        pk=source(pk_node),
        sort_key=sort_key_plan,
        index=keys.index,
        filter=filter_text,
        projection=projection_text,
        reverse=reverse,
        limit=statement.limit,
        offset=statement.offset,
    )


# -- writes --------------------------------------------------------------------


def _insert(statement: Insert, keys: Keys) -> Plan:
    value = statement.value
    if not isinstance(value, MapValue | Param):
        raise error_at(
            value.line, value.column, "INSERT takes one item: a map such as {'pk': 'a', ...} or ?"
        )
    emitter = Emitter()
    condition = f"attribute_not_exists({emitter.name(keys.partition)})"
    return InsertPlan(
        bindings=_bindings(emitter, statement.param_count),
        item=source(value),
        item_label=label(value),
        condition=condition,
    )


def _full_key(where: Where, keys: Keys, verb: str) -> tuple[Key, list[Condition]]:
    """The key an UPDATE or DELETE addresses, and the WHERE's other predicates."""
    conjuncts = flatten(where.condition, And)
    pk_node, rest = _take_equality(conjuncts, keys.partition)
    sk_node = None
    if keys.sort is not None:
        sk_node, rest = _take_equality(rest, keys.sort)
    missing: Sequence[str] = [
        attr
        for attr, node in ((keys.partition, pk_node), (keys.sort, sk_node))
        if attr is not None and node is None
    ]
    if pk_node is None or missing:
        needed = " AND ".join(f"{a} = <value>" for a in (keys.partition, keys.sort) if a)
        raise error_at(
            where.line,
            where.column,
            f"{verb} needs the item's full key in WHERE, ANDed with any other condition "
            f"({needed}); missing: {', '.join(missing)}",
        )
    key = Key(
        source(pk_node),
        None if sk_node is None else source(sk_node),
        "" if sk_node is None else _key_label(sk_node, keys.sort or ""),
    )
    return key, rest


def _update(statement: Update, keys: Keys) -> Plan:
    key, rest = _full_key(statement.where, keys, "UPDATE")
    emitter = Emitter()
    update_text = emitter.update(statement.sets, statement.removes)
    # PartiQL's UPDATE changes an existing item; it never creates one.
    condition = f"attribute_exists({emitter.name(keys.partition)})"
    extra = emitter.conjunction(rest)
    if extra is not None:
        condition = f"{condition} AND ({extra})"
    return UpdatePlan(
        bindings=_bindings(emitter, statement.param_count),
        key=key,
        update=update_text,
        condition=condition,
    )


def _delete(statement: Delete, keys: Keys) -> Plan:
    key, rest = _full_key(statement.where, keys, "DELETE")
    emitter = Emitter()
    condition = emitter.conjunction(rest)
    return DeletePlan(
        bindings=_bindings(emitter, statement.param_count),
        key=key,
        condition=condition,
    )


__all__ = ["IndexSelectPlan", "Keys", "cached_plan", "index_keys", "plan"]
