"""Executable plans: what a statement does, bound per execution to its parameters.

A plan is built once per statement text and key schema (see :mod:`.planner`)
and is immutable. ``plan.run(db, params)`` binds the ``?`` parameters (one
function call per value) and calls the public operations of the database:
``get``, ``query``, ``scan``, ``put``, ``update`` and ``delete``. It never
touches storage itself, so anything offering those operations can run one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol

from .. import sk as _sk
from ..errors import ValidationError
from ..sk import SortKeyCondition
from ..table import Page
from .translate import Source

if TYPE_CHECKING:  # keystone.store imports keystone.database, which may import this package
    from ..schema import Schema
    from ..store import Store

    class Database(Store, Protocol):
        """What a plan runs against: the operations of ``keystone.Store`` and the schema."""

        @property
        def schema(self) -> Schema: ...


#: With a filter and a LIMIT, the first page reads at least this many items...
FIRST_CHUNK: Final = 64
#: ... and each following page twice as many, up to this many.
MAX_CHUNK: Final = 65536

_SORT_KEY_CONDITIONS: Final = {
    "eq": _sk.eq,
    "lt": _sk.lt,
    "le": _sk.le,
    "gt": _sk.gt,
    "ge": _sk.ge,
    "begins_with": _sk.begins_with,
}


@dataclass(frozen=True, slots=True)
class Bindings:
    """The placeholders of a plan's expressions and how to fill them."""

    #: How many ``?`` the statement has.
    param_count: int
    #: ``#pN`` -> attribute name (``None`` when there are none).
    names: dict[str, str] | None
    #: ``(":pN", source)`` for every value placeholder.
    values: tuple[tuple[str, Source], ...]
    #: What each placeholder stands for, to rewrite error messages.
    labels: dict[str, str]

    def bind(self, params: Sequence[Any]) -> dict[str, Any] | None:
        """The ``:pN`` values of one execution."""
        if not self.values:
            return None
        return {key: src(params) for key, src in self.values}


class Plan(Protocol):
    """A planned statement."""

    @property
    def bindings(self) -> Bindings: ...

    def run(self, db: Database, params: Sequence[Any]) -> Page: ...


@dataclass(frozen=True, slots=True)
class Key:
    """The sources of an item's full key (``sk`` None for a table without sort key)."""

    pk: Source
    sk: Source | None
    sk_label: str

    def __call__(self, params: Sequence[Any]) -> tuple[Any, Any]:
        if self.sk is None:
            return self.pk(params), None
        # None would address the item *without* a sort key: refuse it.
        return self.pk(params), _key_value(self.sk(params), self.sk_label)


def _key_value(value: Any, what: str) -> Any:
    if type(value) is str or isinstance(value, bytes | bytearray | memoryview):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value  # a number key (N); the table checks it has that type
    raise ValidationError(f"{what} must be str or bytes, got {type(value).__name__}")


@dataclass(frozen=True, slots=True, kw_only=True)
class GetPlan:
    """``SELECT`` of one item by its full key, without a filter: a ``get``."""

    bindings: Bindings
    pk: Source
    sk: Source | None
    sk_label: str
    projection: str | None
    limit: int | None
    offset: int

    def run(self, db: Database, params: Sequence[Any]) -> Page:
        # The hot path of point reads: kept flat (no helper calls) on purpose.
        pk = self.pk(params)
        sk = None
        if self.sk is not None:
            sk = self.sk(params)
            if type(sk) is not str:
                _key_value(sk, self.sk_label)  # None would address the item without sort key
        if self.projection is None:
            item = db.get(pk, sk)
        else:
            item = db.get(pk, sk, projection=self.projection, names=self.bindings.names)
        if item is None:
            return Page([], 0, 0, None)
        if self.offset or self.limit == 0:
            return Page([], 0, 1, None)
        return Page([item], 1, 1, None)


@dataclass(frozen=True, slots=True)
class SortKeyPlan:
    """The pushed-down sort key condition of a query: an ``sk`` op and its value sources."""

    op: str  # eq, lt, le, gt, ge, between, begins_with
    values: tuple[Source, ...]
    labels: tuple[str, ...]
    numbers: bool = False  # an index's sort key, which may also be a number

    def __call__(self, params: Sequence[Any]) -> SortKeyCondition:
        values = [
            value
            if self.numbers and isinstance(value, int | float | Decimal)
            else _key_value(value, what)
            for value, what in zip([src(params) for src in self.values], self.labels, strict=True)
        ]
        if self.op == "between":
            return _sk.between(values[0], values[1])
        return _SORT_KEY_CONDITIONS[self.op](values[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadPlan:
    """``SELECT`` as a query (``pk`` set) or a scan, following pages until done.

    LIMIT and OFFSET apply to the matching items; reading stops as soon as
    OFFSET + LIMIT of them were collected.
    """

    bindings: Bindings
    pk: Source | None
    sort_key: SortKeyPlan | None
    index: str | None
    filter: str | None
    projection: str | None
    reverse: bool
    limit: int | None
    offset: int

    def run(self, db: Database, params: Sequence[Any]) -> Page:
        want = None if self.limit is None else self.offset + self.limit
        if want == 0:
            return Page([], 0, 0, None)
        common: dict[str, Any] = {
            "filter": self.filter,
            "names": self.bindings.names,
            "values": self.bindings.bind(params),
            "projection": self.projection,
            "index": self.index,
        }
        if self.pk is not None:
            pk = self.pk(params)
            cond = None if self.sort_key is None else self.sort_key(params)
            reverse = self.reverse
            # A WHERE clause may name key attributes, which DynamoDB's FilterExpression
            # (and so ``query``) may not: a local table's ``_query`` takes them.
            run_query: Any = getattr(db, "_query", db.query)

            def read(start: Mapping[str, Any] | None, limit: int | None) -> Page:
                page: Page = run_query(
                    pk, cond, start=start, limit=limit, reverse=reverse, **common
                )
                return page

        else:

            def read(start: Mapping[str, Any] | None, limit: int | None) -> Page:
                return db.scan(start=start, limit=limit, **common)

        items: list[Any] = []
        scanned = 0
        start: Mapping[str, Any] | None = None
        pages = 0
        while True:
            limit = None
            if want is not None:
                remaining = want - len(items)
                if self.filter is None:
                    limit = remaining  # every item read is a result: read no more than needed
                else:
                    limit = min(max(remaining, FIRST_CHUNK) << pages, MAX_CHUNK)
            page = read(start, limit)
            pages += 1
            scanned += page.scanned_count
            items.extend(page.items)
            if page.last_key is None or (want is not None and len(items) >= want):
                break
            start = page.last_key
        items = items[self.offset : want]
        return Page(items, len(items), scanned, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class InsertPlan:
    """``INSERT``: a put that fails if an item with the same key exists."""

    bindings: Bindings
    item: Source
    item_label: str
    condition: str

    def run(self, db: Database, params: Sequence[Any]) -> Page:
        item = self.item(params)
        if not isinstance(item, Mapping):
            raise ValidationError(
                f"{self.item_label}: INSERT takes a map of attributes, got {type(item).__name__}"
            )
        db.put(item, condition=self.condition, names=self.bindings.names)
        return Page([], 0, 0, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdatePlan:
    """``UPDATE``: an update of an existing item; returns the new item."""

    bindings: Bindings
    key: Key
    update: str
    condition: str

    def run(self, db: Database, params: Sequence[Any]) -> Page:
        pk, sk = self.key(params)
        new = db.update(
            pk,
            sk,
            update=self.update,
            condition=self.condition,
            names=self.bindings.names,
            values=self.bindings.bind(params),
            returns="ALL_NEW",
        )
        items = [] if new is None else [new]
        return Page(items, len(items), len(items), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletePlan:
    """``DELETE``: a delete of one item, conditional on the rest of the WHERE."""

    bindings: Bindings
    key: Key
    condition: str | None

    def run(self, db: Database, params: Sequence[Any]) -> Page:
        pk, sk = self.key(params)
        b = self.bindings
        db.delete(pk, sk, condition=self.condition, names=b.names, values=b.bind(params))
        return Page([], 0, 0, None)


__all__ = [
    "Bindings",
    "DeletePlan",
    "GetPlan",
    "InsertPlan",
    "Key",
    "Plan",
    "ReadPlan",
    "SortKeyPlan",
    "UpdatePlan",
]
