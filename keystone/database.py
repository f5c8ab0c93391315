"""``Database``: the public operations, composed from the engine and the table.

Each public method validates and binds its arguments (values normalised,
expressions parsed from the cache and bound to their placeholders) *before*
touching LMDB, then runs one read snapshot or one write transaction through
:class:`~keystone.table.Table`. Nothing is written unless the whole call
succeeds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from . import engine as _engine
from .checks import (
    PUT_RETURNS,
    UPDATE_RETURNS,
    PutReturns,
    UpdateReturns,
    check_limit,
    check_returns,
)
from .codec import HAS_SK, NO_SK, STRIPES, prefix_end, stripe_key
from .engine import Durability
from .errors import (
    ConditionalCheckFailed,
    Corruption,
    DatabaseClosed,
    TransactionCanceled,
    ValidationError,
)
from .expressions import Placeholders, condition
from .indexes import Index, build_indexes
from .partiql import execute as _execute_partiql
from .schema import FORMAT_KEY, FORMAT_VERSION, SCHEMA_KEY, Schema
from .sk import KeyValue, SortKeyCondition
from .streams import StreamRecord
from .sweeper import Sweeper
from .table import Page, Table
from .types import Item, normalize_item
from .writes import (
    ConditionCheck,
    Delete,
    Put,
    Step,
    Transaction,
    TransactPart,
    Update,
    bind,
    do_delete,
    do_put,
    do_update,
    prepare_put,
    prepare_update,
)

MAX_SEGMENTS: Final = STRIPES
T = TypeVar("T")


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


def _schema_to_read(
    path: str, stored: Schema | None, version: int, schema: Schema | None
) -> Schema:
    """The schema of a file opened read-only: the stored one, which nothing may change."""
    if stored is None:
        raise Corruption(f"{path} holds no KeystoneDB schema: not a KeystoneDB database")
    if version < FORMAT_VERSION and stored.indexes:
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


class Database:
    """A KeystoneDB database: one table in one LMDB file.

    Open one with :meth:`open` (a file) or :meth:`memory` (a temporary file
    removed on close). All methods are safe to call from many threads.
    """

    def __init__(
        self,
        engine: _engine.Engine,
        schema: Schema,
        temp_dir: str | None = None,
        sweep_interval: float = 1.0,
    ) -> None:
        self._engine = engine
        self._table = Table(engine, schema)
        self._items_db = engine.items
        self._temp_dir = temp_dir
        self._closed = False
        self._close_lock = threading.Lock()
        self._sweeper: Sweeper | None = None
        # Read-only, nothing may be written: expired items stay hidden, not swept.
        if not engine.read_only and (
            self._table.ttl is not None
            or (self._table.stream is not None and self._table.stream.max_age_ms is not None)
        ):
            self._sweeper = Sweeper(engine, self._table, sweep_interval)

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

        ``read_only=True`` opens an existing file for reading only (also on
        read-only media or an immutable file): every write raises
        :class:`~keystone.ReadOnly`, nothing is created. A path that cannot
        be opened raises a ``KeystoneError`` naming it and the cause
        (``NotFound``: no such file, or its directory is missing, which is
        never created; ``Corruption``: not a database, an empty file
        included; ``ValidationError``: a directory; ``ReadOnly``: the file
        or its directory cannot be written) and leaves nothing behind.

        ``durability="sync"`` (default) makes every write durable on disk
        before the call returns; ``"async"`` leaves flushing to the operating
        system: a process crash loses nothing, a power loss may lose the
        last writes. ``sweep_interval`` is how often (seconds) the TTL
        sweeper looks for expired items. ``map_size`` sets the initial size
        of the memory map in bytes (default 64 MiB or twice the file); the
        map still grows by itself, but a large import inside one
        ``transaction()`` should reserve room up front, because the map
        cannot grow while a transaction is open. It applies when this
        process opens the file first. ``group_commit`` (default: on with
        ``"sync"`` durability) lets concurrent writes from many threads share
        one commit and one fsync, each keeping its own condition and result.
        """
        if map_size is not None and (not isinstance(map_size, int) or map_size <= 0):
            raise ValidationError(f"map_size must be a positive int, got {map_size!r}")
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
        except BaseException:
            engine.release()
            raise
        return cls(engine, stored, sweep_interval=sweep_interval)

    @classmethod
    def memory(cls, schema: Schema | None = None, *, sweep_interval: float = 1.0) -> Database:
        """A temporary database, deleted when closed."""
        temp_dir = tempfile.mkdtemp(prefix="keystone-")
        path = os.path.join(temp_dir, "memory.keystone")
        engine = _engine.acquire(path, durability="async")
        try:
            stored = cls._load_schema(engine, schema)
        except BaseException:
            engine.release()
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        return cls(engine, stored, temp_dir, sweep_interval)

    @staticmethod
    def _load_schema(engine: _engine.Engine, schema: Schema | None) -> Schema:
        if schema is not None and not isinstance(schema, Schema):
            raise ValidationError(f"schema must be a keystone.Schema, got {type(schema).__name__}")
        with engine.read() as txn:
            raw = txn.get(SCHEMA_KEY, db=engine.meta)
            version = _format_version(txn.get(FORMAT_KEY, db=engine.meta))
        stored = None if raw is None else Schema.decode(raw)
        if engine.read_only:
            return _schema_to_read(engine.path, stored, version, schema)
        if (
            stored is not None
            and (version == FORMAT_VERSION or not stored.indexes)
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
            if raw is not None:
                stored = Schema.decode(raw)
                added = chosen.check_compatible(stored)
                table = Table(engine, chosen)
                if _format_version(txn.get(FORMAT_KEY, db=engine.meta)) < FORMAT_VERSION:
                    # An older layout: every index is built again from the items.
                    for idx in table.indexes.values():
                        txn.drop(idx.db, delete=False)
                    added = list(chosen.indexes)
                elif not added:
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
    def schema(self) -> Schema:
        return self._table.schema

    @property
    def path(self) -> str:
        return self._engine.path

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<keystone.Database {self._engine.path!r} {state}>"

    def _check(self) -> Table:
        if self._closed:
            raise DatabaseClosed("the database is closed")
        return self._table

    # -- single items --------------------------------------------------------

    def get(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Item | None:
        """The item with this key, or ``None``. ``projection`` picks attributes."""
        if self._closed:
            raise DatabaseClosed("the database is closed")
        table = self._table
        if projection is not None or names:
            proj = bind(names, None, proj=projection)[2]
            with self._engine.read() as txn:
                found = table.load(txn, table.key(pk, sk))
            return None if found is None or proj is None else proj(found)
        return table.visible(self._engine.get(table.key(pk, sk), self._items_db))

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
    ) -> Item | None:
        """Store ``item`` (replacing any item with its key) if ``condition`` holds.

        Returns the replaced item with ``returns="ALL_OLD"``, else ``None``.
        """
        table = self._check()
        check_returns(returns, PUT_RETURNS)
        key, new, data, cond = prepare_put(table, item, condition, names, values)
        old = self._engine.write(lambda txn: do_put(table, txn, key, new, data, cond))
        return old if returns == "ALL_OLD" else None

    def delete(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
    ) -> Item | None:
        """Delete the item with this key if ``condition`` holds (no error if absent)."""
        table = self._check()
        check_returns(returns, PUT_RETURNS)
        key = table.key(pk, sk)
        cond = bind(names, values, cond=condition)[0]
        old = self._engine.write(lambda txn: do_delete(table, txn, key, cond))
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
    ) -> Item | None:
        """Apply an update expression; returns the image ``returns`` asks for.

        As in DynamoDB, a missing item is created (with its key attributes)
        unless the update only removes. ``ALL_NEW`` (default) and ``ALL_OLD``
        return the whole item after/before; ``UPDATED_NEW``/``UPDATED_OLD`` only
        the paths the update touched; ``NONE`` nothing. An image that would be
        empty comes back as ``None``. A failed condition raises
        ``ConditionalCheckFailed``; an update of a key attribute, overlapping
        paths or a type mismatch raise ``ValidationError``: the item is unchanged.
        """
        table = self._check()
        check_returns(returns, UPDATE_RETURNS)
        key = table.key(pk, sk)
        prepared = prepare_update(table, pk, sk, update, condition, names, values)

        old, new = self._engine.write(lambda txn: do_update(table, txn, key, prepared))
        return prepared.result(returns, old, new)

    # -- queries and scans -------------------------------------------------

    def query(
        self,
        pk: KeyValue,
        sk: SortKeyCondition | None = None,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        reverse: bool = False,
    ) -> Page:
        """Items of partition ``pk`` in sort-key order, one page at a time.

        ``limit`` bounds the items *read* (before ``filter``), as in DynamoDB;
        pass ``page.last_key`` as ``start`` to continue.
        """
        table = self._check()
        if sk is not None and not isinstance(sk, SortKeyCondition):
            raise ValidationError(
                "sk must be a condition from keystone.sk, e.g. sk.begins_with('a')"
            )
        check_limit(limit)
        idx = self._index(table, index)
        if idx is None:
            part = table.key(pk)[:-1]  # the partition's prefix: the key without its NO_SK flag
            lo, hi = self._query_range(table, part, sk)
        else:
            part = idx.partition(pk)
            lo, hi = idx.query_range(pk, sk)
        after = None
        if start is not None:
            after = self._start_key(table, idx, start)
            if not after.startswith(part):
                raise ValidationError("start is not a key of the queried partition")
        _, filt, proj = bind(names, values, filt=filter, proj=projection)
        with self._engine.read() as txn:
            return table.read_range(
                txn,
                lo,
                hi,
                reverse=reverse,
                after=after,
                limit=limit,
                filt=filt,
                proj=proj,
                index=idx,
            )

    @staticmethod
    def _index(table: Table, name: str | None) -> Index | None:
        if name is None:
            return None
        idx = table.indexes.get(name)
        if idx is None:
            known = ", ".join(sorted(table.indexes)) or "none"
            raise ValidationError(f"index {name!r} does not exist (indexes: {known})")
        return idx

    @staticmethod
    def _start_key(table: Table, idx: Index | None, start: Mapping[str, Any]) -> bytes:
        if idx is None:
            return table.key_from_dict(start, "start")
        if not isinstance(start, Mapping):
            raise ValidationError("start must be the last_key dict of a previous page")
        base = {k: v for k, v in start.items() if k in (table.pk_attr, table.sk_attr)}
        return idx.key_from_dict(dict(start), table.key_from_dict(base, "start"))

    @staticmethod
    def _query_range(
        table: Table, part: bytes, cond: SortKeyCondition | None
    ) -> tuple[bytes, bytes | None]:
        if cond is None:
            return part + NO_SK, part + b"\x02"
        base = part + HAS_SK
        if cond.op == "begins_with":
            lo = base + cond.key_range()[0]  # type: ignore[operator]
            return lo, prefix_end(lo)
        low, low_inc, high, high_inc = cond.key_range()
        lo = base if low is None else (base + low if low_inc else base + low + b"\x00")
        hi = (
            part + b"\x02" if high is None else (base + high + b"\x00" if high_inc else base + high)
        )
        if table.sk_attr is not None:
            size = len(part) - 4 + max(len(low or b""), len(high or b""))
            if size > table.max_key_bytes:
                raise ValidationError(
                    f"partition key + sort key is {size} bytes; the limit is {table.max_key_bytes} bytes"
                )
        return lo, hi

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
    ) -> Page:
        """Every item, one page at a time, in storage (hash) order.

        ``segment``/``total_segments`` split the table into disjoint parts
        that together cover it, for parallel scans; each reads only its part.
        """
        table = self._check()
        check_limit(limit)
        idx = self._index(table, index)
        lo, hi = self._segment_range(segment, total_segments)
        after = None
        if start is not None:
            after = self._start_key(table, idx, start)
            if after < lo or (hi is not None and after >= hi):
                raise ValidationError(
                    f"start is not in segment {segment} of {total_segments}; "
                    "pass the last_key of a page of the same segment"
                )
        _, filt, proj = bind(names, values, filt=filter, proj=projection)
        with self._engine.read() as txn:
            return table.read_range(
                txn, lo, hi, after=after, limit=limit, filt=filt, proj=proj, index=idx
            )

    @staticmethod
    def _segment_range(segment: int, total_segments: int) -> tuple[bytes, bytes | None]:
        for name, value in (("segment", segment), ("total_segments", total_segments)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValidationError(f"{name} must be an int, got {value!r}")
        if not 1 <= total_segments <= MAX_SEGMENTS:
            raise ValidationError(
                f"total_segments must be between 1 and {MAX_SEGMENTS}, got {total_segments}"
            )
        if not 0 <= segment < total_segments:
            raise ValidationError(
                f"segment must be between 0 and total_segments - 1 ({total_segments - 1}), got {segment}"
            )
        first = segment * STRIPES // total_segments
        end = (segment + 1) * STRIPES // total_segments
        return stripe_key(first) or b"", stripe_key(end)

    def query_all(
        self, pk: KeyValue, sk: SortKeyCondition | None = None, **kwargs: Any
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

    def batch_get(self, keys: Iterable[object]) -> list[Item]:
        """The items with these keys (``(pk, sk)`` tuples or key dicts), in request order.

        Missing items are left out; a key given twice raises ``ValidationError``.
        """
        table = self._check()
        encoded = self._distinct_keys(table, keys, "batch_get")
        with self._engine.read() as txn:
            loaded = [table.load(txn, k) for k in encoded]
        return [item for item in loaded if item is not None]

    def batch_write(
        self,
        puts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[object] = (),
    ) -> None:
        """Put and delete many items in one atomic commit (no conditions).

        Any number of items; a key given twice (in ``puts``, ``deletes`` or
        both) raises ``ValidationError`` and nothing is written.
        """
        table = self._check()
        if isinstance(puts, Mapping):
            raise ValidationError("batch_write: puts must be a list of items, not one item")
        if isinstance(deletes, (str, bytes, Mapping)):
            raise ValidationError(
                "batch_write: deletes must be a list of (pk, sk) tuples or key dicts"
            )
        prepared: list[tuple[str, bytes, Item | None, bytes | None]] = []
        seen: set[bytes] = set()
        for i, raw in enumerate(puts):
            try:
                item = normalize_item(raw)
                key = table.key_of_item(item)
                data = table.encode(item)
            except ValidationError as exc:
                raise ValidationError(f"batch_write puts[{i}]: {exc}") from None
            self._no_duplicate(seen, key, f"batch_write puts[{i}]")
            prepared.append((f"puts[{i}]", key, item, data))
        for i, k in enumerate(deletes):
            try:
                key = table.key_from_arg(k, f"deletes[{i}]")
            except ValidationError as exc:
                raise ValidationError(f"batch_write deletes[{i}]: {exc}") from None
            self._no_duplicate(seen, key, f"batch_write deletes[{i}]")
            prepared.append((f"deletes[{i}]", key, None, None))
        if not prepared:
            return

        def op(txn: Any) -> None:
            for where, key, item, data in prepared:
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
    def _no_duplicate(seen: set[bytes], key: bytes, where: str) -> None:
        if key in seen:
            raise ValidationError(f"{where}: the same key appears twice in one request")
        seen.add(key)

    def _distinct_keys(self, table: Table, keys: Iterable[object], what: str) -> list[bytes]:
        if isinstance(keys, (str, bytes, Mapping)):
            raise ValidationError(f"{what}: keys must be a list of (pk, sk) tuples or key dicts")
        out: list[bytes] = []
        seen: set[bytes] = set()
        for i, k in enumerate(keys):
            key = table.key_from_arg(k, f"{what} keys[{i}]")
            self._no_duplicate(seen, key, f"{what} keys[{i}]")
            out.append(key)
        return out

    # -- transactions --------------------------------------------------------

    def transact_get(self, keys: Iterable[object]) -> list[Item | None]:
        """The items with these keys from one snapshot, in order (``None`` for missing).

        Unlike ``batch_get``, a key may be given more than once.
        """
        table = self._check()
        if isinstance(keys, (str, bytes, Mapping)):
            raise ValidationError(
                "transact_get: keys must be a list of (pk, sk) tuples or key dicts"
            )
        encoded = [table.key_from_arg(k, f"transact_get keys[{i}]") for i, k in enumerate(keys)]
        with self._engine.read() as txn:
            return [table.load(txn, k) for k in encoded]

    def transact_write(
        self,
        parts: Iterable[TransactPart],
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Apply every part in one commit, or none of them.

        If any part's condition fails (or its result is invalid), raises
        :class:`TransactionCanceled` whose ``reasons`` has one entry per part.
        """
        table = self._check()
        if isinstance(parts, (Put, Update, Delete, ConditionCheck)):
            raise ValidationError("transact_write: parts must be a list of parts, not one part")
        ph = Placeholders(names, values)
        steps: list[Step] = []
        seen: set[bytes] = set()
        for i, part in enumerate(parts):
            where = f"transact_write part {i}"
            try:
                step = self._prepare_part(table, part, ph)
            except ValidationError as exc:
                raise ValidationError(f"{where}: {exc}") from None
            self._no_duplicate(seen, step.key, where)
            steps.append(step)
        ph.check_all_used()
        if not steps:
            return

        def op(txn: Any) -> None:
            # Parts have distinct keys, so writing each part as it passes does
            # not change what a later part sees; one failure aborts them all.
            reasons: list[str | None] = []
            for step in steps:
                old = table.load(txn, step.key)
                try:
                    new, data = step.run(old, table)
                    if new is not None:
                        table.store(txn, step.key, old, new, data)  # type: ignore[arg-type]
                    elif step.kind == "delete" and old is not None:
                        table.remove(txn, step.key, old)
                except ConditionalCheckFailed:
                    reasons.append("ConditionalCheckFailed")
                except ValidationError:  # a result too large, a type mismatch, an index key
                    reasons.append("ValidationError")
                else:
                    reasons.append(None)
            if any(r is not None for r in reasons):
                raise TransactionCanceled(reasons)

        self._engine.write(op)

    def _prepare_part(self, table: Table, part: object, ph: Placeholders) -> Step:
        if isinstance(part, Put):
            item = normalize_item(part.item)
            key = table.key_of_item(item)
            data = table.encode(item)
            cond = condition(part.condition, ph) if part.condition is not None else None
            return Step("put", key, cond, new=item, data=data)
        if isinstance(part, Update):
            key = table.key(part.pk, part.sk)
            prepared = prepare_update(
                table, part.pk, part.sk, part.update, part.condition, None, None, ph
            )
            return Step("update", key, prepared.cond, update=prepared)
        if isinstance(part, Delete):
            key = table.key(part.pk, part.sk)
            cond = condition(part.condition, ph) if part.condition is not None else None
            return Step("delete", key, cond)
        if isinstance(part, ConditionCheck):
            if not isinstance(part.condition, str) or not part.condition.strip():
                raise ValidationError("ConditionCheck needs a condition")
            key = table.key(part.pk, part.sk)
            return Step("check", key, condition(part.condition, ph))
        raise ValidationError(
            f"parts must be keystone.Put, Update, Delete or ConditionCheck, got {type(part).__name__}"
        )

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
            tx = Transaction(table, txn)
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

    def _snapshot_items(self, table: Table) -> Iterator[Item]:
        visible = table.visible
        with self._engine.read() as txn:
            for _, raw in txn.cursor(db=table.items_db):
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
            raise ValidationError(f"after must be a sequence number (int >= 0), got {after!r}")
        check_limit(limit)
        with self._engine.read() as txn:
            return table.stream.read(txn, after, limit)

    # -- PartiQL ------------------------------------------------------------

    def execute(self, statement: str, parameters: Sequence[Any] | None = None) -> Page:
        """Run one PartiQL statement (SPEC section 6); ``?`` takes ``parameters`` in order."""
        self._check()
        return _execute_partiql(self, statement, parameters)

    # -- maintenance ---------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts and sizes: items, file and map bytes, key schema, durability."""
        table = self._check()
        info = self._engine.stats()
        with self._engine.read() as txn:
            info["items"] = txn.stat(table.items_db)["entries"]
            info["indexes"] = {
                name: txn.stat(idx.db)["entries"] for name, idx in table.indexes.items()
            }
            if table.stream is not None:
                info["stream_records"] = txn.stat(table.stream.db)["entries"]
        info["partition_key"] = table.pk_attr
        info["sort_key"] = table.sk_attr
        return info

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
    "Delete",
    "Put",
    "PutReturns",
    "Transaction",
    "TransactPart",
    "Update",
    "UpdateReturns",
]
