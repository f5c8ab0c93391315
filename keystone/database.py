"""``Database``: an open KeystoneDB file, its lifetime and its tables.

:class:`Database` opens (or creates, or upgrades) the file, closes it,
runs the background worker (TTL sweeps, stream trimming, deleting dropped
tables) and creates, lists, describes, changes and deletes tables
(:mod:`keystone.catalog` says where their bytes live). It is also its
default table (named ``"default"``, the one table of older files): it is a
:class:`~keystone.handles.Table`, whose operations are in
:mod:`keystone.handles`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from . import catalog
from . import engine as _engine
from .catalog import DEFAULT_TABLE, MAX_TABLES, SHARED_DBS, Entry
from .checks import (
    PutReturns,
    UpdateReturns,
)
from .engine import Durability
from .errors import (
    Corruption,
    DatabaseClosed,
    NotFound,
    ValidationError,
)
from .handles import MAX_SEGMENTS, Table
from .indexes import build_indexes
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
from .sweeper import Sweeper
from .table import Storage
from .ttl import now_ms, requeue_ttl
from .types import shown
from .writes import (
    ConditionCheck,
    Delete,
    Put,
    Transaction,
    TransactPart,
    Update,
)

#: Keys of deleted tables removed per background commit.
DROP_BATCH: Final = 2000
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

    def create_table(
        self,
        name: str,
        schema: Schema | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> Table:
        """Create the table ``name`` with ``schema`` (default ``Schema()``) in one commit.

        Names follow DynamoDB's rule: 3-255 characters of letters, digits,
        ``_``, ``-`` and ``.``. An existing name raises ``ValidationError``.
        ``properties`` are stored with it in the same commit (see
        :meth:`set_table_properties`).
        """
        self._check_open()
        check_table_name(name)
        schema = Schema() if schema is None else schema
        if not isinstance(schema, Schema):
            raise ValidationError(f"schema must be a keystone.Schema, got {type(schema).__name__}")
        check_new_index_names(schema.indexes)
        if properties is not None and not isinstance(properties, Mapping):
            raise ValidationError(f"properties must be a mapping, got {type(properties).__name__}")
        props = catalog.encode_properties(dict(properties or {}))  # (before any sub-database)
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
            catalog.put_properties(txn, meta, name, props)
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

    def table_properties(self, name: str) -> dict[str, Any]:
        """What was stored about table ``name`` with :meth:`set_table_properties` (``{}`` if nothing)."""
        self._check_open()
        table = self._storage(name)
        with self._engine.read() as txn:
            table.check_exists(txn)
            return catalog.read_properties(txn, self._engine.meta, name)

    def set_table_properties(
        self, name: str, values: Mapping[str, Any], remove: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Set (and remove) top-level properties of table ``name`` in one commit; returns them all.

        Properties are the caller's facts about a table kept beside its
        schema: a mapping of ``str`` keys to JSON-like values (``None``,
        bool, int, float, str, lists, dicts with ``str`` keys), at most 64
        KiB encoded. The DynamoDB endpoint keeps a table's billing mode,
        throughput and tags there. They go when the table is deleted.
        """
        self._check_open()
        if not isinstance(values, Mapping):
            raise ValidationError(f"values must be a mapping, got {type(values).__name__}")
        if isinstance(remove, str) or not isinstance(remove, (list, tuple, set, frozenset)):
            raise ValidationError("remove takes a list of property names")
        for key in remove:
            if not isinstance(key, str):
                raise ValidationError(f"remove: property names are str, got {type(key).__name__}")
        changes = dict(values)

        def change(props: dict[str, Any]) -> dict[str, Any]:
            for key in remove:
                props.pop(key, None)
            props.update(changes)
            return props

        return self.change_table_properties(name, change)

    def change_table_properties(
        self, name: str, change: Callable[[dict[str, Any]], Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Replace the properties of table ``name`` by ``change(current)``, in one write transaction.

        A read-modify-write that loses no other change made meanwhile (by
        another handle or another process): ``change`` is called inside the
        write transaction with the stored properties (a dict of its own to
        modify) and returns them whole, as they are to be stored; what it
        raises aborts the commit and propagates, and nothing changes. It may
        be called more than once (when the file's map grows first), so it
        must do nothing else. Returns the stored properties.
        """
        self._check_open()
        if not callable(change):
            raise ValidationError(f"change must be a function, got {type(change).__name__}")
        table = self._storage(name)
        meta = self._engine.meta

        def write(txn: Any) -> dict[str, Any]:
            table.check_exists(txn)
            props = change(catalog.read_properties(txn, meta, name))
            if not isinstance(props, Mapping):
                raise ValidationError(
                    f"change must return the properties (a mapping), got {type(props).__name__}"
                )
            props = dict(props)
            catalog.put_properties(txn, meta, name, catalog.encode_properties(props))
            return props

        return self._engine.write(write)

    def update_table(
        self,
        name: str,
        add_indexes: Sequence[LocalIndex | GlobalIndex] = (),
        drop_indexes: Sequence[str] = (),
        stream: StreamConfig | None = _KEEP,
        ttl_attribute: str | None = _KEEP,
    ) -> dict[str, Any]:
        """Add indexes (built from the items in the same commit), drop indexes, set the stream or TTL.

        ``stream=StreamConfig(...)`` turns the stream on (or changes its
        settings), ``stream=None`` turns it off; leave it out to keep it.
        ``ttl_attribute="expires"`` makes items expire by that attribute
        (the items already there included, queued in the same commit),
        ``ttl_attribute=None`` turns expiry off; leave it out to keep it.
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
        ttl_changed = ttl_attribute is not _KEEP and ttl_attribute != old.ttl_attribute
        if ttl_changed:
            schema = schema.replace_ttl(ttl_attribute)
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
            old_queue = table.ttl
            table.configure(schema, entry)
            build_indexes(table, txn, added)
            if ttl_changed:
                requeue_ttl(table, txn, old_queue)
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
