"""``Table``: one table of an open file, with every ``keystone.Store`` operation.

A :class:`Table` handle borrows its :class:`~keystone.database.Database`'s
engine and names one table's :class:`~keystone.table.Storage`. Each public
method validates and binds its arguments (values normalised, expressions
parsed from the cache and bound to their placeholders) *before* touching
LMDB, then runs one read snapshot or one write transaction through the
storage. Nothing is written unless the whole call succeeds. Batches and
transactions may name other tables of the same file per part (``table=``);
they still run in one LMDB transaction. The file's lifetime and its tables
(open, close, create, delete) are :mod:`keystone.database`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar

from . import catalog
from . import engine as _engine
from .checks import (
    PUT_RETURNS,
    UPDATE_RETURNS,
    OnConditionFailure,
    PutReturns,
    UpdateReturns,
    check_limit,
    check_returns,
    keep_old_on_failure,
)
from .codec import STRIPES, stripe_key
from .errors import (
    DatabaseClosed,
    NotFound,
    ValidationError,
)
from .groups import Groups, both
from .indexes import Index
from .paging import every_item
from .partiql import execute as _execute_partiql
from .partiql.planner import statement_table
from .reads import (
    Select,
    bind_read,
    check_filter_keys,
    check_select,
    counted,
    start_key,
    table_fetch,
)
from .schema import (
    Schema,
)
from .sk import KeyValue, SortKeyCondition
from .streams import StreamRecord
from .table import Page, Storage
from .ttl import now_ms
from .types import Item, normalize_item, shown
from .writes import (
    Delete,
    Put,
    Transaction,
    TransactPart,
    bind,
    check_token,
    do_delete,
    do_put,
    do_update,
    fingerprint,
    part_list,
    prepare_put,
    prepare_transaction,
    prepare_update,
    run_transaction,
    run_with_token,
)

if TYPE_CHECKING:
    from .database import Database

#: DynamoDB's limit on scan segments. The items have 65,536 hash stripes; with
#: more segments than stripes, some segments are simply empty (still disjoint
#: and together covering the table).
MAX_SEGMENTS: Final = 1_000_000
T = TypeVar("T")


class Table:
    """One table of an open database file: every ``keystone.Store`` operation.

    Get one with ``db.table(name)`` or ``db.create_table(name, schema)``;
    the :class:`Database` itself is its default table. A handle borrows the
    database's file: it works until the database is closed or the table
    deleted (then it raises ``DatabaseClosed`` / ``NotFound``). Safe to use
    from many threads.
    """

    _db: Database
    _engine: _engine.Engine
    _table: Storage

    def __init__(self, db: Database, storage: Storage) -> None:
        self._db = db
        self._engine = db._engine
        self._table = storage

    @property
    def name(self) -> str:
        """The table's name (``"default"`` for the default table)."""
        return self._table.name

    @property
    def schema(self) -> Schema:
        return self._table.schema

    @property
    def database(self) -> Database:
        """The database file this table belongs to."""
        return self._db

    def describe(self) -> dict[str, Any]:
        """``db.describe_table(name)`` of this table."""
        return self._db.describe_table(self.name)

    def close(self) -> None:
        """Nothing to do: a handle holds nothing of its own (close the ``Database``)."""

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<keystone.Table {self.name!r} of {self._engine.path!r}>"

    def _check(self) -> Storage:
        if self._db._closed:
            raise DatabaseClosed("the database is closed")
        table = self._table
        if table.dropped:
            raise NotFound(f"table {table.name!r} does not exist (it was deleted)")
        return table

    def _part_table(self, name: object) -> Storage:
        """The storage a batch or transaction part names (``None``: this table)."""
        if name is None:
            return self._table
        return self._db._storage(name)

    # -- single items --------------------------------------------------------

    def get(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Item | None:
        """The item with this key, or ``None``. ``projection`` picks attributes."""
        table = self._table
        if self._db._closed or table.dropped:
            self._check()  # raises
        if projection is not None or names:
            proj = bind(names, None, proj=projection)[2]
            with self._engine.read() as txn:
                found = table.load(txn, table.key(pk, sk))
            return None if found is None or proj is None else proj(found)
        return table.visible(self._engine.get(table.key(pk, sk), table.items_db))

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
    ) -> Item | None:
        """Store ``item`` (replacing any item with its key) if ``condition`` holds.

        Returns the replaced item with ``returns="ALL_OLD"``, else ``None``. With
        ``return_values_on_condition_check_failure="ALL_OLD"`` a failed condition's
        ``ConditionalCheckFailed.item`` holds the item as it was.
        """
        table = self._check()
        check_returns(returns, PUT_RETURNS)
        keep = keep_old_on_failure(return_values_on_condition_check_failure)
        key, new, data, cond = prepare_put(table, item, condition, names, values)
        old = self._engine.write(lambda txn: do_put(table, txn, key, new, data, cond, keep))
        return old if returns == "ALL_OLD" else None

    def delete(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
    ) -> Item | None:
        """Delete the item with this key if ``condition`` holds (no error if absent)."""
        table = self._check()
        check_returns(returns, PUT_RETURNS)
        keep = keep_old_on_failure(return_values_on_condition_check_failure)
        key = table.key(pk, sk)
        cond = bind(names, values, cond=condition)[0]
        old = self._engine.write(lambda txn: do_delete(table, txn, key, cond, keep))
        return old if returns == "ALL_OLD" else None

    def update(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        update: str | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: UpdateReturns = "ALL_NEW",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
    ) -> Item | None:
        """Apply an update expression; returns the image ``returns`` asks for.

        As in DynamoDB, a missing item is created (with its key attributes; just
        them when the update only removes, or ``update`` is None). ``ALL_NEW``
        (default) and ``ALL_OLD``
        return the whole item after/before; ``UPDATED_NEW``/``UPDATED_OLD`` only
        the paths the update touched; ``NONE`` nothing. An image that would be
        empty comes back as ``None``. A failed condition raises
        ``ConditionalCheckFailed``; an update of a key attribute, overlapping
        paths or a type mismatch raise ``ValidationError``: the item is unchanged.
        """
        table = self._check()
        check_returns(returns, UPDATE_RETURNS)
        keep = keep_old_on_failure(return_values_on_condition_check_failure)
        key = table.key(pk, sk)
        prepared = prepare_update(table, pk, sk, update, condition, names, values, keep_old=keep)

        old, new = self._engine.write(lambda txn: do_update(table, txn, key, prepared))
        return prepared.result(returns, old, new)

    # -- queries and scans -------------------------------------------------

    def query(
        self,
        pk: KeyValue | None = None,
        sk: SortKeyCondition | None = None,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        reverse: bool = False,
        key_condition: str | None = None,
        select: Select | None = None,
    ) -> Page:
        """Items of partition ``pk`` in sort-key order, one page at a time.

        ``limit`` bounds the items *read* (before ``filter``), as in DynamoDB;
        pass ``page.last_key`` as ``start`` to continue. Instead of ``pk``/``sk``,
        ``key_condition`` takes DynamoDB's KeyConditionExpression text
        (``"pk = :p AND begins_with(sk, :x)"``). ``select="COUNT"`` returns only
        the counts; ``"ALL_ATTRIBUTES"`` on a local index fetches whole items.
        """
        return self._query(
            pk,
            sk,
            filter,
            names,
            values,
            projection,
            index,
            limit,
            start,
            reverse,
            key_condition,
            select,
            key_filter=False,
        )

    def _query(
        self,
        pk: KeyValue | None = None,
        sk: SortKeyCondition | None = None,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        reverse: bool = False,
        key_condition: str | None = None,
        select: Select | None = None,
        *,
        key_filter: bool = True,
    ) -> Page:
        """:meth:`query`; ``key_filter``: whether the filter may name the queried key
        attributes (PartiQL's WHERE may; DynamoDB's FilterExpression may not)."""
        table = self._check()
        if sk is not None and not isinstance(sk, SortKeyCondition):
            raise ValidationError(
                "sk must be a condition from keystone.sk, e.g. sk.begins_with('a')"
            )
        check_limit(limit)
        idx = self._index(table, index)
        check_select(select, projection, idx)
        key_attrs = (table.pk_attr, table.sk_attr) if idx is None else (idx.pk_attr, idx.sk_attr)
        keyc, filt, proj = bind_read(
            names, values, key_text=key_condition, key_attrs=key_attrs, filt=filter, proj=projection
        )
        if not key_filter:
            check_filter_keys(filt, key_attrs)
        if keyc is not None:
            if pk is not None or sk is not None:
                raise ValidationError("query takes either pk/sk or key_condition, not both")
            pk, sk = keyc.pk, keyc.sk
        elif pk is None:
            raise ValidationError("query needs a partition key: pk=... or key_condition=...")
        resumed = None
        groups: Groups | None
        if idx is None:
            part = table.partition(pk)
            # (eq reads one key, found from the value: no group to read in order)
            groups = table.groups(part) if sk is None or sk.op != "eq" else None
            lo, hi, exact = table.query_range(part, sk)
        else:
            part = idx.partition(pk)
            groups = idx.groups(part)
            lo, hi, exact = idx.query_range(pk, sk)
        after = None
        if start is not None:
            after = start_key(table, idx, start)
            if not after.startswith(part):
                raise ValidationError(
                    "The provided starting key is invalid: it is not a key of the queried partition"
                )
            if groups is not None:
                lo, hi, after, resumed = groups.resume(lo, hi, after, start, reverse)
        exact = both(exact, resumed)
        with self._engine.read() as txn:
            fetch, proj = table_fetch(table, txn, idx, proj, select, filt)
            page = table.read_range(
                txn,
                lo,
                hi,
                reverse=reverse,
                after=after,
                limit=limit,
                filt=filt,
                proj=proj,
                index=idx,
                groups=groups,
                exact=exact,
                fetch=fetch,
            )
        return counted(page, select)

    @staticmethod
    def _index(table: Storage, name: str | None) -> Index | None:
        if name is None:
            return None
        idx = table.indexes.get(name)
        if idx is None:
            known = ", ".join(sorted(table.indexes)) or "none"
            raise ValidationError(f"index {shown(name)} does not exist (indexes: {known})")
        return idx

    def scan(
        self,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        segment: int = 0,
        total_segments: int = 1,
        select: Select | None = None,
    ) -> Page:
        """Every item, one page at a time, in storage (hash) order.

        ``segment``/``total_segments`` split the table into disjoint parts
        that together cover it, for parallel scans; each reads only its part.
        ``select`` works as in :meth:`query`.
        """
        table = self._check()
        check_limit(limit)
        idx = self._index(table, index)
        check_select(select, projection, idx)
        lo, hi = self._segment_range(segment, total_segments)
        lo, hi = table.segment_range(lo, hi) if idx is None else idx.segment_range(lo, hi)
        after = None
        if start is not None:
            after = start_key(table, idx, start)
            if after < lo or (hi is not None and after >= hi):
                raise ValidationError(
                    f"The provided starting key is invalid: it is not in segment {segment} of "
                    f"{total_segments}; pass the last_key of a page of the same segment"
                )
        _, filt, proj = bind_read(names, values, filt=filter, proj=projection)
        with self._engine.read() as txn:
            fetch, proj = table_fetch(table, txn, idx, proj, select, filt)
            page = table.read_range(
                txn, lo, hi, after=after, limit=limit, filt=filt, proj=proj, index=idx, fetch=fetch
            )
        return counted(page, select)

    @staticmethod
    def _segment_range(segment: int, total_segments: int) -> tuple[bytes, bytes | None]:
        for name, value in (("segment", segment), ("total_segments", total_segments)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValidationError(f"{name} must be an int, got {shown(value)}")
        if not 1 <= total_segments <= MAX_SEGMENTS:
            bound = (
                "greater than or equal to 1"
                if total_segments < 1
                else (f"less than or equal to {MAX_SEGMENTS}")
            )
            raise ValidationError(
                f"1 validation error detected: Value '{total_segments}' at 'totalSegments' "
                f"failed to satisfy constraint: Member must have value {bound}"
            )
        if not 0 <= segment < total_segments:
            raise ValidationError(
                f"segment must be between 0 and total_segments - 1 ({total_segments - 1}), got {segment}"
            )
        first = segment * STRIPES // total_segments
        end = (segment + 1) * STRIPES // total_segments
        return stripe_key(first) or b"", stripe_key(end)

    def query_all(
        self, pk: KeyValue | None = None, sk: SortKeyCondition | None = None, **kwargs: Any
    ) -> Iterator[Item]:
        """Every matching item of :meth:`query`, following ``last_key`` across pages."""
        yield from every_item(
            lambda start: self.query(pk, sk, start=start, **kwargs), kwargs.pop("start", None)
        )

    def scan_all(self, **kwargs: Any) -> Iterator[Item]:
        """Every matching item of :meth:`scan`, following ``last_key`` across pages."""
        yield from every_item(
            lambda start: self.scan(start=start, **kwargs), kwargs.pop("start", None)
        )

    # -- batches -----------------------------------------------------------

    def batch_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> list[Item]:
        """The items with these keys, in request order, from one snapshot.

        A key is a ``(pk, sk)`` tuple, a key dict, or a ``(table, key)``
        pair naming another table of the file. Missing items are left out;
        a key given twice raises ``ValidationError``. ``projection`` (with
        ``names``) picks attributes, as in :meth:`get`.
        """
        self._check()
        encoded = self._distinct_keys(keys, "batch_get")
        proj = bind_read(names, None, proj=projection)[2]
        with self._engine.read() as txn:
            loaded = [table.load(txn, k) for table, k in encoded]
        return [item if proj is None else proj(item) for item in loaded if item is not None]

    def batch_write(
        self,
        puts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[object] = (),
    ) -> None:
        """Put and delete many items in one atomic commit (no conditions).

        Any number of items; a key given twice (in ``puts``, ``deletes`` or
        both) raises ``ValidationError`` and nothing is written. A put may be
        ``keystone.Put(item, table="orders")`` and a delete
        ``keystone.Delete(pk, sk, table="orders")`` or a ``(table, key)``
        pair, to write several tables of the file in the same commit.
        """
        self._check()
        if isinstance(puts, Mapping) or not isinstance(puts, Iterable):
            raise ValidationError("batch_write: puts must be a list of items, not one item")
        if isinstance(deletes, (str, bytes, Mapping)) or not isinstance(deletes, Iterable):
            raise ValidationError(
                "batch_write: deletes must be a list of (pk, sk) tuples or key dicts"
            )
        prepared: list[tuple[str, Storage, bytes, Item | None, bytes | None]] = []
        seen: set[tuple[str, bytes]] = set()
        for i, raw in enumerate(puts):
            try:
                if isinstance(raw, Put):
                    if raw.condition is not None:
                        raise ValidationError(
                            "batch_write takes no conditions (use transact_write)"
                        )
                    table, raw = self._part_table(raw.table), raw.item
                else:
                    table = self._table
                item = normalize_item(raw)
                key = table.key_of_item(item)
                data = table.encode(item)
            except ValidationError as exc:
                raise ValidationError(f"batch_write puts[{i}]: {exc}") from None
            self._no_duplicate(seen, table, key, f"batch_write puts[{i}]")
            prepared.append((f"puts[{i}]", table, key, item, data))
        for i, k in enumerate(deletes):
            try:
                table, key = self._table_key(k, f"deletes[{i}]")
            except ValidationError as exc:
                raise ValidationError(f"batch_write deletes[{i}]: {exc}") from None
            self._no_duplicate(seen, table, key, f"batch_write deletes[{i}]")
            prepared.append((f"deletes[{i}]", table, key, None, None))
        if not prepared:
            return

        def op(txn: Any) -> None:
            for where, table, key, item, data in prepared:
                if item is not None and not table.hooks:  # (no index, TTL or stream to keep)
                    txn.put(key, data, db=table.items_db)
                    continue
                old = table.load(txn, key)
                try:
                    if item is not None:
                        table.store(txn, key, old, item, data)  # type: ignore[arg-type]
                    elif old is not None:
                        table.remove(txn, key, old)
                except ValidationError as exc:  # e.g. an index key too long
                    raise ValidationError(f"batch_write {where}: {exc}") from None

        self._engine.write(op)

    @staticmethod
    def _no_duplicate(seen: set[tuple[str, bytes]], table: Storage, key: bytes, where: str) -> None:
        if (table.name, key) in seen:
            raise ValidationError(f"{where}: the same key appears twice in one request")
        seen.add((table.name, key))

    def _table_key(self, key: object, what: str) -> tuple[Storage, bytes]:
        """A key argument: ``(pk, sk)``, a key dict, a bare pk, ``(table, key)`` or a ``Delete``."""
        if isinstance(key, Delete):
            if key.condition is not None:
                raise ValidationError(f"{what}: batch_write takes no conditions")
            table = self._part_table(key.table)
            return table, table.key(key.pk, key.sk)
        if (
            isinstance(key, tuple)
            and len(key) == 2
            and isinstance(key[0], str)
            and isinstance(key[1], (tuple, Mapping))
        ):
            table = self._part_table(key[0])
            return table, table.key_from_arg(key[1], what)
        return self._table, self._table.key_from_arg(key, what)

    def _distinct_keys(self, keys: Iterable[object], what: str) -> list[tuple[Storage, bytes]]:
        if isinstance(keys, (str, bytes, Mapping)) or not isinstance(keys, Iterable):
            raise ValidationError(f"{what}: keys must be a list of (pk, sk) tuples or key dicts")
        out: list[tuple[Storage, bytes]] = []
        seen: set[tuple[str, bytes]] = set()
        for i, k in enumerate(keys):
            table, key = self._table_key(k, f"{what} keys[{i}]")
            self._no_duplicate(seen, table, key, f"{what} keys[{i}]")
            out.append((table, key))
        return out

    # -- transactions --------------------------------------------------------

    def transact_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> list[Item | None]:
        """The items with these keys from one snapshot, in order (``None`` for missing).

        Unlike ``batch_get``, a key may be given more than once. A key may be
        a ``(table, key)`` pair naming another table of the file. ``projection``
        (with ``names``) picks attributes, as in :meth:`get`.
        """
        self._check()
        if isinstance(keys, (str, bytes, Mapping)) or not isinstance(keys, Iterable):
            raise ValidationError(
                "transact_get: keys must be a list of (pk, sk) tuples or key dicts"
            )
        encoded = [self._table_key(k, f"transact_get keys[{i}]") for i, k in enumerate(keys)]
        proj = bind_read(names, None, proj=projection)[2]
        with self._engine.read() as txn:
            loaded = [table.load(txn, k) for table, k in encoded]
        if proj is None:
            return loaded
        return [None if item is None else proj(item) for item in loaded]

    def transact_write(
        self,
        parts: Iterable[TransactPart],
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> None:
        """Apply every part in one commit, or none of them.

        If any part's condition fails (or its result is invalid), raises
        :class:`TransactionCanceled` whose ``reasons`` has one entry per part.
        A part's ``table=`` names the table it acts on (this one if none).
        ``token`` is DynamoDB's ClientRequestToken: the same token with the
        same parts within 10 minutes succeeds without applying them again;
        with other parts it raises ``IdempotentParameterMismatch``.
        """
        self._check()
        parts = part_list(parts)
        tok = check_token(token) if token is not None else None
        steps = prepare_transaction(self._part_table, parts, names, values)
        if not steps:
            return
        if tok is None:
            self._engine.write(lambda txn: run_transaction(txn, steps))
            return
        digest = fingerprint(parts, names, values)
        now = now_ms()
        meta = self._engine.meta
        self._engine.write(lambda txn: run_with_token(txn, meta, steps, tok, digest, now))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A read-modify-write transaction: everything inside commits atomically.

        Reads inside see the transaction's own writes. An exception inside the
        block rolls everything back. The transaction holds the database's
        single writer lock for its whole duration, so keep it short: other
        writers (in this process and others) wait for it; readers do not.
        """
        table = self._check()
        with self._engine.write_txn() as txn:
            tx = Transaction(table, txn, self._part_table)
            try:
                yield tx
            finally:
                tx._done = True

    def commit_together(self, fn: Callable[[], T]) -> T:
        """Run ``fn()``; the writes it makes on this thread are committed together.

        Group commit for one thread that holds several independent writes
        at once (the network server runs each batch of write calls this
        way): every write keeps its own condition and its own result or
        exception, a failed one changes nothing, and all of them share one
        transaction and one commit (one fsync) when ``fn`` returns. They are
        durable only once this returns, so do not report their results
        before; if the commit fails this raises and none of them happened.
        ``fn`` may run more than once (if the map must grow), so it should
        only write. With group commit off (``group_commit=False``, or
        ``durability="async"`` by default) ``fn`` just runs and each write
        commits on its own. Other threads' writes wait until it returns.
        """
        self._check()
        return self._engine.write_together(fn)

    def snapshot_items(self) -> Iterator[Item]:
        """Every item, all read from one snapshot: the table as it was when iteration began.

        ``scan_all`` reads each page from a snapshot of its own, so writes
        made meanwhile may show in later pages; here they never do (an
        export, a consistency check). The iteration holds one read
        transaction until it ends: LMDB cannot reuse pages freed meanwhile
        and a growing map waits for it, so consume it promptly, in one
        thread, and ``close()`` it if you stop early. Expired TTL items are
        left out, as in every read. Storage (hash) order.
        """
        table = self._check()
        return self._snapshot_items(table)

    def _snapshot_items(self, table: Storage) -> Iterator[Item]:
        visible = table.visible
        prefix = table.prefix
        with self._engine.read() as txn:
            cur = txn.cursor(db=table.items_db)
            if not cur.set_range(prefix):
                return
            for key, raw in cur.iternext():
                if prefix and not key.startswith(prefix):
                    return
                item = visible(raw)
                if item is not None:
                    yield item

    # -- streams -----------------------------------------------------------------

    def stream(self, after: int | None = None, limit: int | None = None) -> list[StreamRecord]:
        """Stream records with a sequence number greater than ``after``, oldest first."""
        table = self._check()
        if table.stream is None:
            raise ValidationError("this table has no stream (Schema(stream=StreamConfig(...)))")
        if after is not None and (
            not isinstance(after, int) or isinstance(after, bool) or after < 0
        ):
            raise ValidationError(f"after must be a sequence number (int >= 0), got {shown(after)}")
        check_limit(limit)
        with self._engine.read() as txn:
            return table.stream.read(txn, after, limit)

    # -- PartiQL ------------------------------------------------------------

    def execute(self, statement: str, parameters: Sequence[Any] | None = None) -> Page:
        """Run one PartiQL statement (SPEC section 6); ``?`` takes ``parameters`` in order.

        ``FROM``/``INTO``/``UPDATE <table>`` names the table: a table of this
        file by that name, else this table (the one-table releases ignored
        the name, and statements written for them keep working).
        """
        self._check()
        target = self._statement_table(statement) if type(statement) is str else self
        return _execute_partiql(target, statement, parameters)

    def _statement_table(self, statement: str) -> Table:
        """The table a PartiQL statement names (see :meth:`execute`)."""
        name = statement_table(statement)
        if name == self._table.name:
            return self
        storage = self._db._storage(name, missing_ok=True)
        return self if storage is None else Table(self._db, storage)

    # -- maintenance ---------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: items, file and map bytes, key schema, durability."""
        table = self._check()
        info = self._engine.stats()
        with self._engine.read() as txn:
            info["items"] = table.count(txn)
            info["indexes"] = {name: idx.count(txn) for name, idx in table.indexes.items()}
            if table.stream is not None:
                info["stream_records"] = table.stream.count(txn)
            info["tables"] = 1 + catalog.count_tables(txn, self._engine.meta)
            info["tables_being_deleted"] = catalog.pending_drops(txn, self._engine.meta)
        info["table"] = table.name
        info["partition_key"] = table.pk_attr
        info["sort_key"] = table.sk_attr
        return info


__all__ = ["MAX_SEGMENTS", "Table"]
