"""What a query, scan or batch read asks for, checked by DynamoDB's rules.

This module owns the read-side request rules that are not the storage's
business: ``select`` (DynamoDB's ``Select``, including the count-only
``"COUNT"``), the ``KeyConditionExpression`` form of a query
(``key_condition="pk = :p AND begins_with(sk, :x)"``), start keys, and
which index reads must fetch attributes from the table (a local secondary
index asked for what it does not project; a global one never fetches).
``Database`` only threads parameters through to these helpers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from .errors import ValidationError
from .expressions import KEY_CONDITION, Placeholders, condition, projection
from .expressions.ast import And, Between, Comparison, ConditionNode, Function, Path, ValueRef
from .expressions.parser import invalid, parse_condition
from .expressions.paths import resolve
from .indexes import Index
from .sk import SortKeyCondition
from .table import Filter, Page, Project, Storage
from .types import Item, shown

Select = Literal["ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT"]
SELECT_VALUES: Final = (
    "ALL_ATTRIBUTES",
    "ALL_PROJECTED_ATTRIBUTES",
    "SPECIFIC_ATTRIBUTES",
    "COUNT",
)

_FLIPPED: Final = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SK_OPS: Final = {"=": "eq", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}


def check_select(select: object, proj: str | None, index: Index | None) -> str | None:
    """``select`` if DynamoDB accepts it with this projection and index, else ValidationError."""
    if select is None:
        return None
    if type(select) is not str or select not in SELECT_VALUES:
        raise ValidationError(
            f"1 validation error detected: Value {shown(select)} at 'select' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(SELECT_VALUES)}]"
        )
    if select == "SPECIFIC_ATTRIBUTES" and proj is None:
        raise ValidationError(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
            "SPECIFIC_ATTRIBUTES"
        )
    if select != "SPECIFIC_ATTRIBUTES" and proj is not None:
        what = "only the Count" if select == "COUNT" else select
        raise ValidationError(
            f"Cannot specify the ProjectionExpression when choosing to get {what}"
        )
    if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
        raise ValidationError(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
        )
    if select == "ALL_ATTRIBUTES" and index is not None and not index.local and index.projected:
        raise ValidationError(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not "
            f"supported for global secondary index {index.name} because its projection "
            "type is not ALL"
        )
    return select


def counted(page: Page, select: str | None) -> Page:
    """The page as ``select`` asks for it: with ``"COUNT"``, the counts and no items."""
    if select == "COUNT":
        page.items = []
    return page


def table_fetch(
    table: Storage,
    txn: Any,
    index: Index | None,
    proj: Project | None,
    select: str | None,
    filt: Filter | None = None,
) -> tuple[Callable[[Item], Item | None] | None, Project | None]:
    """How an index read completes its entries from the table, and what it returns.

    As in DynamoDB, a local secondary index fetches the item from the table
    when the request wants attributes the index does not project (a
    projection or a filter naming them, or ``select="ALL_ATTRIBUTES"``); a
    read that fetches only for its filter still returns what the index
    projects. A global index never fetches: a projection or a filter naming
    what it does not project is refused (:func:`check_projected`).
    Returns ``(fetch, projection)``; ``fetch`` is ``None`` when nothing is fetched.
    """
    if index is None or index.projected is None:
        return None, proj
    projected = index.projected
    wanted: frozenset[str] = getattr(proj, "top_level_names", frozenset())
    read: frozenset[str] = getattr(filt, "top_level_names", frozenset())
    if not index.local:
        check_projected(index, wanted, read)
    elif select == "ALL_ATTRIBUTES" or not wanted <= projected or not read <= projected:

        def fetch(entry: Item) -> Item | None:
            return table.load(txn, table.key_of_item(entry))

        if proj is None and select != "ALL_ATTRIBUTES":
            return fetch, _only(projected)
        return fetch, proj
    if proj is None and index.keep != projected:
        return None, _only(projected)  # (entries keep the TTL attribute besides)
    return None, proj


def _only(names: frozenset[str]) -> Project:
    def projected(item: Item) -> Item:
        return {k: v for k, v in item.items() if k in names}

    return projected


def check_projected(index: Index, wanted: frozenset[str], read: frozenset[str]) -> None:
    """A global index read may name only what the index projects (DynamoDB's messages)."""
    projected = index.projected
    if projected is None:
        return
    missing = sorted(wanted - projected)
    if missing:
        raise ValidationError(
            "One or more parameter values were invalid: Global secondary index "
            f"{index.name} does not project [{', '.join(missing)}]"
        )
    missing = sorted(read - projected)
    if missing:
        raise ValidationError(
            f"One or more parameter values were invalid: Secondary index {index.name} does "
            f"not project one or more filter attributes: [{', '.join(missing)}]"
        )


def check_filter_keys(filt: Filter | None, key_attrs: tuple[str | None, ...]) -> None:
    """A query's filter may not name the queried key attributes (DynamoDB's rule and message:
    "A FilterExpression does not allow key attributes")."""
    read: frozenset[str] = getattr(filt, "top_level_names", frozenset())
    keys = sorted(a for a in key_attrs if a is not None and a in read)
    if keys:
        raise ValidationError(
            "Filter Expression can only contain non-primary key attributes: "
            f"Primary key attribute: {keys[0]}"
        )


def start_key(table: Storage, index: Index | None, start: object) -> bytes:
    """The stored key a ``start`` (a page's ``last_key``) points at.

    It must hold exactly the key attributes of the table (and of the index,
    for an index read); anything else is DynamoDB's "The provided starting
    key is invalid".
    """
    if not isinstance(start, Mapping):
        raise ValidationError(
            "The provided starting key is invalid: start must be the last_key dict of a "
            f"previous page, got {type(start).__name__}"
        )
    allowed = {table.pk_attr, table.sk_attr}
    if index is not None:
        allowed |= {index.pk_attr, index.sk_attr}
    extra = sorted(str(k) for k in start if k not in allowed)
    if extra:
        raise ValidationError(
            "The provided starting key is invalid: The provided key element does not match "
            f"the schema; not key attributes: {', '.join(extra)}"
        )
    try:
        base = table.key_from_dict(
            {k: v for k, v in start.items() if k in (table.pk_attr, table.sk_attr)}, "start"
        )
        if index is None:
            return base
        return index.key_from_dict(dict(start), base)
    except ValidationError as exc:
        raise ValidationError(f"The provided starting key is invalid: {exc}") from None


@dataclass(frozen=True, slots=True)
class KeyCondition:
    """A ``KeyConditionExpression`` resolved: the partition key value and the sort key condition."""

    pk: Any
    sk: SortKeyCondition | None


def bind_read(
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    *,
    key_text: str | None = None,
    key_attrs: tuple[str, str | None] = ("pk", None),
    filt: str | None = None,
    proj: str | None = None,
) -> tuple[KeyCondition | None, Filter | None, Project | None]:
    """Bind a read's expressions to one set of placeholders; refuse unused ones."""
    if key_text is None and filt is None and proj is None and not names and not values:
        return None, None, None
    ph = Placeholders(names, values)
    key = key_condition(key_text, ph, *key_attrs) if key_text is not None else None
    f = condition(filt, ph, "FilterExpression") if filt is not None else None
    p = projection(proj, ph) if proj is not None else None
    ph.check_all_used()
    return key, f, p


def key_condition(text: str, ph: Placeholders, pk_attr: str, sk_attr: str | None) -> KeyCondition:
    """Resolve ``text`` by DynamoDB's rules: ``pk = :v`` and at most one sort key condition."""
    condition(text, ph, KEY_CONDITION)  # parses (cached), checks placeholders and constants
    tree = parse_condition(text, KEY_CONDITION)
    parts: tuple[ConditionNode, ...] = tree.operands if isinstance(tree, And) else (tree,)
    env = ph.env
    found: dict[str, tuple[str, tuple[Any, ...]]] = {}
    for part in parts:
        attr, op, args = _key_part(part, env)
        if attr in found:
            raise invalid(
                KEY_CONDITION, "KeyConditionExpressions must only contain one condition per key"
            )
        found[attr] = (op, args)
    if pk_attr not in found:
        raise ValidationError(f"Query condition missed key schema element: {pk_attr}")
    pk_op, pk_args = found.pop(pk_attr)
    if pk_op != "eq":
        raise ValidationError("Query key condition not supported")
    sk_cond = None
    if found:
        attr, (op, args) = next(iter(found.items()))
        if attr != sk_attr or len(found) > 1:
            raise ValidationError("Query key condition not supported")
        sk_cond = SortKeyCondition(op, *args)  # type: ignore[arg-type]
    return KeyCondition(pk_args[0], sk_cond)


def _key_part(node: ConditionNode, env: Mapping[str, Any]) -> tuple[str, str, tuple[Any, ...]]:
    """One ``AND``-ed part of a key condition as (attribute, sort key op, values)."""
    if isinstance(node, Comparison):
        if node.op not in _SK_OPS:
            raise invalid(
                KEY_CONDITION, f"Invalid operator used in KeyConditionExpression: {node.op}"
            )
        path, value, op = node.left, node.right, node.op
        if isinstance(path, ValueRef) and isinstance(value, Path):
            path, value, op = value, path, _FLIPPED[op]
        return _attr(path, env), _SK_OPS[op], (_value(value, env),)
    if isinstance(node, Between):
        return _attr(node.operand, env), "between", (_value(node.low, env), _value(node.high, env))
    if isinstance(node, Function) and node.name == "begins_with":
        return _attr(node.args[0], env), "begins_with", (_value(node.args[1], env),)
    word = node.name if isinstance(node, Function) else type(node).__name__.upper()
    raise invalid(KEY_CONDITION, f"Invalid operator used in KeyConditionExpression: {word}")


def _attr(node: object, env: Mapping[str, Any]) -> str:
    if not isinstance(node, Path) or len(node.elements) != 1:
        raise ValidationError("Query key condition not supported")
    return str(resolve(node, env)[0])


def _value(node: object, env: Mapping[str, Any]) -> Any:
    if not isinstance(node, ValueRef):
        raise ValidationError("Query key condition not supported")
    return env[node.key]


__all__ = [
    "SELECT_VALUES",
    "KeyCondition",
    "Select",
    "bind_read",
    "check_filter_keys",
    "check_select",
    "counted",
    "key_condition",
    "start_key",
    "table_fetch",
]
