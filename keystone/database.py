"""``Table`` and ``Database``: the public operations, composed from the engine and the storage.

A :class:`Table` is one table of an open file; its methods are every
``keystone.Store`` operation. :class:`Database` is the open file: it is
also its default table (named ``"default"``, the one table of older
files), and it creates, lists, describes, changes and deletes the others
(:mod:`keystone.catalog` says where their bytes live).

Each public method validates and binds its arguments (values normalised,
expressions parsed from the cache and bound to their placeholders) *before*
touching LMDB, then runs one read snapshot or one write transaction through
:class:`~keystone.table.Storage`. Nothing is written unless the whole call
succeeds. Batches and transactions may name other tables of the same file
per part (``table=``); they still run in one LMDB transaction.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from . import catalog
from . import engine as _engine
from .catalog import DEFAULT_TABLE, MAX_TABLES, SHARED_DBS, Entry
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
from .engine import Durability
from .errors import (
    Corruption,
    DatabaseClosed,
    NotFound,
    ValidationError,
)
from .groups import Groups, both
from .indexes import Index, build_indexes
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
    FORMAT_KEY,
    FORMAT_VERSION,
    SCHEMA_KEY,
    GlobalIndex,
    LocalIndex,
    Schema,
    StreamConfig,
    check_new_index_names,
    check_table_name,
)
from .sk import KeyValue, SortKeyCondition
from .streams import StreamRecord
from .sweeper import Sweeper
from .table import Page, Storage
from .ttl import now_ms
from .types import Item, normalize_item, shown
from .writes import (
    ConditionCheck,
    Delete,
    Put,
    Transaction,
    TransactPart,
    Update,
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

#: DynamoDB's limit on scan segments. The items have 65,536 hash stripes; with
#: more segments than stripes, some segments are simply empty (still disjoint
#: and together covering the table).
MAX_SEGMENTS: Final = 1_000_000
#: Keys of deleted tables removed per background commit.
DROP_BATCH: Final = 2000
T = TypeVar("T")
_KEEP: Any = object()  # update_table(stream=...) not given


def _format_version(raw: bytes | None) -> int:
    """The file's format version (``None``: a new file); refuses one newer than this library."""
    if raw is None:
        return FORMAT_VERSION
    try:
        version = int(raw)
    except ValueError:
        raise ValidationError(f"the file's format version {raw!r} is not a number") from None
    if version > FORMAT_VERSION:
        raise ValidationError(
            f"the file has format version {version}, newer than this keystone reads "
            f"(up to {FORMAT_VERSION}): upgrade keystonedb to open it"
        )
    return version


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
        start = kwargs.pop("start", None)
        while True:
            page = self.query(pk, sk, start=start, **kwargs)
            yield from page.items
            if page.last_key is None:
                return
            start = page.last_key

    def scan_all(self, **kwargs: Any) -> Iterator[Item]:
        """Every matching item of :meth:`scan`, following ``last_key`` across pages."""
        start = kwargs.pop("start", None)
        while True:
            page = self.scan(start=start, **kwargs)
            yield from page.items
            if page.last_key is None:
                return
            start = page.last_key

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


def _schema_to_read(
    path: str, stored: Schema | None, version: int, schema: Schema | None
) -> Schema:
    """The default table's schema in a file opened read-only: the stored one, unchanged."""
    if stored is None:
        raise Corruption(f"{path} holds no KeystoneDB schema: not a KeystoneDB database")
    if version < 2 and stored.indexes:
        raise ValidationError(
            f"{path} has the older format {version}, whose indexes are rebuilt on the first "
            "open for writing: open it once without read_only=True"
        )
    if schema is not None and schema.check_compatible(stored):
        raise ValidationError(
            f"the given schema adds indexes to {path}, which is opened read-only: "
            "open it for writing to build them"
        )
    return stored


class Database(Table):
    """A KeystoneDB database: one LMDB file holding many tables.

    Open one with :meth:`open` (a file) or :meth:`memory` (a temporary file
    removed on close). The database is its own default table (named
    ``"default"``): its item methods act on it, so code written for the
    one-table releases runs unchanged. :meth:`create_table`,
    :meth:`table`, :meth:`tables`, :meth:`describe_table`,
    :meth:`update_table` and :meth:`delete_table` manage the others. All
    methods are safe to call from many threads.
    """

    def __init__(
        self,
        engine: _engine.Engine,
        schema: Schema,
        temp_dir: str | None = None,
        sweep_interval: float = 1.0,
    ) -> None:
        self._engine = engine
        self._db = self
        self._table = Storage(engine, schema)
        self._temp_dir = temp_dir
        self._closed = False
        self._close_lock = threading.Lock()
        self._catalog_lock = threading.RLock()
        self._tables: dict[str, Storage] = {}
        self._sweep_interval = sweep_interval
        self._sweeper: Sweeper | None = None
        with engine.read() as txn:
            for entry in catalog.read_entries(txn, engine.meta):
                self._tables[entry.name] = self._open_storage(entry)
            pending = catalog.pending_drops(txn, engine.meta)
        self._start_sweeper(bool(pending))

    def _open_storage(self, entry: Entry) -> Storage:
        return Storage(self._engine, entry.schema, entry)

    def _needs_sweeper(self) -> bool:
        return any(
            t.ttl is not None or (t.stream is not None and t.stream.max_age_ms is not None)
            for t in (self._table, *self._tables.values())
        )

    def _start_sweeper(self, wake: bool = False) -> None:
        """Start the background worker if some table needs it (or ``wake``: deletions wait)."""
        if self._engine.read_only:
            return  # nothing may be written: expired items stay hidden, not swept
        with self._catalog_lock:
            if self._sweeper is None and (wake or self._needs_sweeper()):
                self._sweeper = Sweeper(self._engine, self._background, self._sweep_interval)
            if wake and self._sweeper is not None:
                self._sweeper.wake()

    def _background(self, txn: Any, limit: int) -> int:
        """One commit of background work: expired items, old stream records, deleted tables."""
        done = 0
        now = now_ms()
        for table in (self._table, *list(self._tables.values())):
            if table.ttl is not None:
                done = max(done, table.sweep(txn, limit))
            if table.stream is not None and table.stream.max_age_ms is not None:
                table.stream.trim(txn, now)
        if catalog.delete_dropped(txn, self._engine, DROP_BATCH) >= DROP_BATCH:
            return limit  # more to delete: run again at once
        return done

    # -- lifetime ----------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        schema: Schema | None = None,
        *,
        create: bool = True,
        durability: Durability = "sync",
        sweep_interval: float = 1.0,
        map_size: int | None = None,
        group_commit: bool | None = None,
        read_only: bool = False,
    ) -> Database:
        """Open (by default create) the database file at ``path``.

        ``schema`` is the default table's (see :meth:`create_table` for the
        others). ``read_only=True`` opens an existing file for reading only
        (also on read-only media or an immutable file): every write raises
        :class:`~keystone.ReadOnly`, nothing is created. A path that cannot
        be opened raises a ``KeystoneError`` naming it and the cause
        (``NotFound``: no such file, or its directory is missing, which is
        never created; ``Corruption``: not a database, an empty file
        included; ``ValidationError``: a directory; ``ReadOnly``: the file
        or its directory cannot be written) and leaves nothing behind.
        ``durability="sync"`` (default) makes every write durable
        on disk before the call returns; ``"async"`` leaves flushing to the
        operating system: a process crash loses nothing, a power loss may
        lose the last writes. ``sweep_interval`` is how often (seconds) the
        TTL sweeper looks for expired items. ``map_size`` sets the initial
        size of the memory map in bytes (default 64 MiB or twice the file);
        the map still grows by itself, but a large import inside one
        ``transaction()`` should reserve room up front, because the map
        cannot grow while a transaction is open. It applies when this
        process opens the file first. ``group_commit`` (default: on with
        ``"sync"`` durability) lets concurrent writes from many threads share
        one commit and one fsync, each keeping its own condition and result.
        """
        if map_size is not None and (not isinstance(map_size, int) or map_size <= 0):
            raise ValidationError(f"map_size must be a positive int, got {shown(map_size)}")
        engine = _engine.acquire(
            os.fspath(path),
            durability=durability,
            create=create and not read_only,
            map_size=map_size,
            group_commit=group_commit,
            read_only=read_only,
        )
        try:
            stored = cls._load_schema(engine, schema)
            return cls(engine, stored, sweep_interval=sweep_interval)
        except BaseException:
            engine.release()
            raise

    @classmethod
    def memory(cls, schema: Schema | None = None, *, sweep_interval: float = 1.0) -> Database:
        """A temporary database, deleted when closed."""
        temp_dir = tempfile.mkdtemp(prefix="keystone-")
        path = os.path.join(temp_dir, "memory.keystone")
        engine = _engine.acquire(path, durability="async")
        try:
            stored = cls._load_schema(engine, schema)
            return cls(engine, stored, temp_dir, sweep_interval)
        except BaseException:
            engine.release()
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise

    @staticmethod
    def _load_schema(engine: _engine.Engine, schema: Schema | None) -> Schema:
        """The default table's schema: the stored one, or ``schema`` stored (and upgraded to).

        A file of an older format is upgraded in the same commit: format 1
        has its indexes rebuilt; format 2 needs nothing but the new format
        number (its one table is the default table, its keys untyped).
        """
        if schema is not None and not isinstance(schema, Schema):
            raise ValidationError(f"schema must be a keystone.Schema, got {type(schema).__name__}")
        with engine.read() as txn:
            raw = txn.get(SCHEMA_KEY, db=engine.meta)
            version = _format_version(txn.get(FORMAT_KEY, db=engine.meta))
        stored = None if raw is None else Schema.decode(raw)
        if engine.read_only:
            stored = _schema_to_read(engine.path, stored, version, schema)
            if version == FORMAT_VERSION:  # older files have no other tables
                for name in SHARED_DBS:
                    engine.db(name)
            return stored
        for name in SHARED_DBS:  # the other tables' sub-databases, opened outside any write
            engine.db(name)
        if (
            stored is not None
            and version == FORMAT_VERSION
            and (schema is None or not schema.check_compatible(stored))
        ):
            return stored
        chosen = schema or stored or Schema()
        for d in chosen.indexes:  # open the sub-databases outside the write below
            engine.db(b"idx:" + d.name.encode())
        if chosen.ttl_attribute:
            engine.db(b"ttl")
        if chosen.stream:
            engine.db(b"stream")

        def init(txn: Any) -> Schema:
            raw = txn.get(SCHEMA_KEY, db=engine.meta)
            if raw is None:
                check_new_index_names(chosen.indexes)
            else:
                stored = Schema.decode(raw)
                added = chosen.check_compatible(stored)
                check_new_index_names(added)
                table = Storage(engine, chosen)
                old_version = _format_version(txn.get(FORMAT_KEY, db=engine.meta))
                if old_version < 2:
                    # Format 1: every index is built again from the items.
                    for idx in table.indexes.values():
                        txn.drop(idx.db, delete=False)
                    added = list(chosen.indexes)
                elif not added and old_version == FORMAT_VERSION:
                    return stored
                build_indexes(table, txn, added)
            txn.put(SCHEMA_KEY, chosen.encode(), db=engine.meta)
            txn.put(FORMAT_KEY, str(FORMAT_VERSION).encode(), db=engine.meta)
            return chosen

        return engine.write(init)

    def close(self) -> None:
        """Close the database (idempotent). A memory database is deleted."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._sweeper is not None:
            self._sweeper.stop()
        self._engine.release()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def path(self) -> str:
        return self._engine.path

    def __enter__(self) -> Database:
        return self

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<keystone.Database {self._engine.path!r} {state}>"

    # -- tables ------------------------------------------------------------

    def _storage(self, name: object, missing_ok: bool = False) -> Storage:
        """The storage of table ``name`` (read from the file if another process made it)."""
        if name == DEFAULT_TABLE:
            return self._table
        if not isinstance(name, str):
            raise ValidationError(f"a table name is a str, got {type(name).__name__}")
        found = self._tables.get(name)
        if found is not None:
            return found
        with self._engine.read() as txn:
            entry = catalog.read_entry(txn, self._engine.meta, name)
        if entry is None:
            if missing_ok:
                return None  # type: ignore[return-value]  # (only _statement_table asks)
            raise NotFound(f"Requested resource not found: Table: {name} not found")
        with self._catalog_lock:
            found = self._tables.get(name)
            if found is None:
                self._open_dbs(entry)
                found = self._tables[name] = self._open_storage(entry)
        self._start_sweeper()
        return found

    def _open_dbs(self, entry: Entry) -> None:
        """Open the sub-databases a table needs (outside any write transaction)."""
        items, index_dbs, ttl, stream = entry.sub_databases()
        for name in (items, *index_dbs.values()):
            self._engine.db(name)
        if entry.schema.ttl_attribute:
            self._engine.db(ttl)
        if entry.schema.stream is not None:
            self._engine.db(stream)

    def table(self, name: str) -> Table:
        """The table called ``name`` (``NotFound`` if the file has none)."""
        self._check_open()
        if name == DEFAULT_TABLE:
            return self
        storage = self._storage(name)
        if storage.exists_key is not None:
            with self._engine.read() as txn:
                gone = txn.get(storage.exists_key, db=self._engine.meta) is None
            if gone:  # deleted by another process (maybe made again): forget, look again
                with self._catalog_lock:
                    storage.dropped = True
                    if self._tables.get(name) is storage:
                        del self._tables[name]
                storage = self._storage(name)
        return Table(self, storage)

    def tables(self) -> list[str]:
        """The names of the file's tables, sorted (``"default"`` among them)."""
        self._check_open()
        with self._engine.read() as txn:
            names = [e.name for e in catalog.read_entries(txn, self._engine.meta)]
        return sorted([DEFAULT_TABLE, *names])

    def create_table(self, name: str, schema: Schema | None = None) -> Table:
        """Create the table ``name`` with ``schema`` (default ``Schema()``) in one commit.

        Names follow DynamoDB's rule: 3-255 characters of letters, digits,
        ``_``, ``-`` and ``.``. An existing name raises ``ValidationError``.
        """
        self._check_open()
        check_table_name(name)
        schema = Schema() if schema is None else schema
        if not isinstance(schema, Schema):
            raise ValidationError(f"schema must be a keystone.Schema, got {type(schema).__name__}")
        check_new_index_names(schema.indexes)
        meta = self._engine.meta
        probe = Entry(name, schema, 0)
        probe.assign_index_ids()
        self._engine.check_writable()  # before opening (creating) its sub-databases
        self._open_dbs(probe)

        def create(txn: Any) -> Entry:
            if name == DEFAULT_TABLE or catalog.read_entry(txn, meta, name) is not None:
                raise ValidationError(f"Table already exists: {name}")
            if catalog.count_tables(txn, meta) + 1 >= MAX_TABLES:
                raise ValidationError(f"a file holds at most {MAX_TABLES} tables")
            entry = Entry(name, schema, catalog.allocate_id(txn, meta), created=now_ms())
            entry.assign_index_ids()
            catalog.put_entry(txn, meta, entry)
            return entry

        with self._catalog_lock:
            entry = self._engine.write(create)
            storage = self._tables[name] = self._open_storage(entry)
        self._start_sweeper()
        return Table(self, storage)

    def describe_table(self, name: str) -> dict[str, Any]:
        """The table as DynamoDB's ``DescribeTable`` shows it (a ``TableDescription`` dict)."""
        self._check_open()
        table = self._storage(name)
        with self._engine.read() as txn:
            return catalog.describe(table, txn)

    def update_table(
        self,
        name: str,
        add_indexes: Sequence[LocalIndex | GlobalIndex] = (),
        drop_indexes: Sequence[str] = (),
        stream: StreamConfig | None = _KEEP,
    ) -> dict[str, Any]:
        """Add indexes (built from the items in the same commit), drop indexes, set the stream.

        ``stream=StreamConfig(...)`` turns the stream on (or changes its
        settings), ``stream=None`` turns it off; leave it out to keep it.
        Returns the new description.
        """
        self._check_open()
        table = self._storage(name)
        old = table.schema
        if isinstance(add_indexes, (LocalIndex, GlobalIndex)) or isinstance(drop_indexes, str):
            raise ValidationError("update_table: add_indexes and drop_indexes take lists")
        unknown = [n for n in drop_indexes if n not in table.indexes]
        if unknown:
            raise ValidationError(f"update_table: no index {unknown[0]!r} to drop")
        check_new_index_names(add_indexes)
        kept = [d for d in old.indexes if d.name not in set(drop_indexes)]
        schema = old.replace_indexes([*kept, *add_indexes])
        if stream is not _KEEP:
            schema = schema.replace_stream(stream)
        entry = Entry(
            name,
            schema,
            table.entry.id,
            {k: v for k, v in table.entry.index_ids.items() if k not in set(drop_indexes)},
            table.entry.next_index,
            table.entry.created,
        )
        entry.assign_index_ids()
        self._engine.check_writable()
        self._open_dbs(entry)
        added = [d for d in schema.indexes if d.name not in {i.name for i in kept}]
        dropped = [table.indexes[n] for n in drop_indexes]
        meta = self._engine.meta

        def change(txn: Any) -> None:
            table.check_exists(txn)
            table.configure(schema, entry)
            build_indexes(table, txn, added)
            if entry.id is None:
                for idx in dropped:
                    txn.drop(idx.db, delete=False)
                txn.put(SCHEMA_KEY, schema.encode(), db=meta)
            else:
                for idx in dropped:
                    catalog.queue_drop(txn, meta, idx.prefix, [(catalog.INDEX_DB, idx.prefix)])
                catalog.put_entry(txn, meta, entry)

        with self._catalog_lock:
            try:
                self._engine.write(change)
            except BaseException:
                table.configure(old, table.entry)
                raise
        self._start_sweeper(wake=bool(dropped) and entry.id is not None)
        return self.describe_table(name)

    def delete_table(self, name: str) -> None:
        """Delete the table ``name`` and its items, indexes and stream.

        One short commit takes it out of the file; its keys are then deleted
        in the background, a bounded number per commit, and their pages
        reused. The default table cannot be deleted.
        """
        self._check_open()
        if name == DEFAULT_TABLE:
            raise ValidationError("the default table cannot be deleted (delete its items instead)")
        table = self._storage(name)
        meta = self._engine.meta

        def drop(txn: Any) -> None:
            table.check_exists(txn)
            catalog.remove_entry(txn, meta, table.entry)

        with self._catalog_lock:
            self._engine.write(drop)
            table.dropped = True
            self._tables.pop(name, None)
        self._start_sweeper(wake=True)

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosed("the database is closed")

    # -- maintenance ---------------------------------------------------------

    def backup(self, path: str | os.PathLike[str]) -> None:
        """Write a consistent copy of the database to ``path`` while others keep working."""
        self._check()
        dest = os.fspath(path)
        if os.path.exists(dest):
            raise ValidationError(f"backup destination {dest} already exists")
        self._engine.copy(dest)

    def sync(self) -> None:
        """Flush everything written so far to disk (useful with ``durability="async"``)."""
        self._check()
        self._engine.sync()


__all__ = [
    "MAX_SEGMENTS",
    "ConditionCheck",
    "Database",
    "Table",
    "Delete",
    "Put",
    "PutReturns",
    "Transaction",
    "TransactPart",
    "Update",
    "UpdateReturns",
]
