"""The LMDB environment: one file, named sub-databases, transactions, growth.

This module owns everything LMDB-specific that is not about items:

* one :class:`Engine` per file path in a process (LMDB forbids opening the
  same file twice in one process), shared by reference count;
* the named sub-databases (``items``, ``meta``, and the ones later features
  ask for by name);
* read transactions and the single writer (a process-local lock in front of
  LMDB's own, so Python threads queue fairly and a ``transaction()`` can
  hold it);
* automatic growth of the memory map. ``set_mapsize`` needs every
  transaction of the process closed, so every transaction passes through a
  :class:`_Gate`; a write that runs out of room aborts, waits for the gate to
  be empty, doubles the map and runs again. A map grown by another process
  is picked up the same way (``MapResizedError``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from threading import get_ident
from typing import Any, Final, Literal, TypeVar

import lmdb

from . import paths
from .errors import (
    Corruption,
    DatabaseClosed,
    KeystoneError,
    ReadOnly,
    ResourceExhausted,
    ValidationError,
)
from .groupcommit import GroupCommit, Pending

log = logging.getLogger(__name__)

T = TypeVar("T")
Durability = Literal["sync", "async"]

_INITIAL_MAP_SIZE: Final = 64 << 20
_MAX_GROWTH_STEP: Final = 4 << 30
_MAX_MAP_SIZE: Final = 1 << 40
_MAX_DBS: Final = 128
_MAX_READERS: Final = 1024


class _Gate:
    """Counts the transactions open in each thread so the map can be resized when none are.

    Entering and leaving are two dict operations on the calling thread's own
    key, which the GIL makes atomic and sequentially consistent: a reader
    first registers, then looks at ``exclusive``; a resizer first sets
    ``exclusive``, then waits for the registry to empty. Either the reader
    sees the flag and steps back, or the resizer sees the reader and waits.
    The fast path takes no lock. Resizes are rare, so the resizer polls.
    """

    __slots__ = ("active", "exclusive", "closed", "_cond", "_resizer")

    def __init__(self) -> None:
        self.active: dict[int, int] = {}
        self.exclusive = False
        self.closed = False
        self._cond = threading.Condition()
        self._resizer = threading.Lock()

    def enter(self) -> None:
        me = get_ident()
        active = self.active
        active[me] = active.get(me, 0) + 1
        if self.exclusive or self.closed:
            self._step_back(me)

    def leave(self) -> None:
        me = get_ident()
        active = self.active
        n = active.get(me, 0) - 1
        if n > 0:
            active[me] = n
        else:
            active.pop(me, None)

    def _step_back(self, me: int) -> None:
        """Called registered; returns registered, or raises unregistered."""
        if self.active[me] > 1 and not self.closed:
            return  # this thread already holds a transaction; the resizer waits for it
        self.leave()
        if self.closed:
            raise DatabaseClosed("the database is closed")
        with self._cond:
            while self.exclusive:
                self._cond.wait(0.05)
        if self.closed:
            raise DatabaseClosed("the database is closed")
        self.enter()

    @contextmanager
    def exclusive_section(self, close: bool = False) -> Iterator[None]:
        """Hold every other transaction back until no transaction is open, then run the body."""
        with self._resizer:
            me = get_ident()
            if self.active.get(me):
                raise RuntimeError("a thread cannot resize the map while it holds a transaction")
            self.exclusive = True
            if close:
                self.closed = True
            try:
                delay = 0.0001
                while self.active:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.01)
                yield
            finally:
                with self._cond:
                    self.exclusive = False
                    self._cond.notify_all()


class Engine:
    """One open LMDB file. Obtain it with :func:`acquire`; give it back with :meth:`release`."""

    def __init__(
        self,
        path: str,
        durability: Durability,
        create: bool,
        map_size: int | None,
        group_commit: bool | None = None,
        read_only: bool = False,
    ) -> None:
        if durability not in ("sync", "async"):
            raise ValidationError(f"durability must be 'sync' or 'async', got {durability!r}")
        exists = paths.check(path, create=create, read_only=read_only)
        size = os.path.getsize(path) if exists else 0
        initial = map_size or max(_INITIAL_MAP_SIZE, _round_up(size * 2))
        self.path = path
        self.durability: Durability = durability
        #: Opened with ``read_only=True``: every write raises :class:`ReadOnly`.
        self.read_only = read_only
        had_lock = os.path.exists(paths.lock_path(path))
        try:
            self.env = lmdb.open(
                path,
                subdir=False,
                map_size=initial,
                max_dbs=_MAX_DBS,
                max_readers=_MAX_READERS,
                sync=durability == "sync",
                metasync=durability == "sync",
                readahead=False,
                lock=True,
                create=create and not read_only,
                readonly=read_only,
            )
        except lmdb.Error as exc:
            paths.remove_new_lock(path, had_lock)
            raise paths.lmdb_error(path, exc) from None
        self.max_key_size: int = self.env.max_key_size()
        self.write_lock = threading.RLock()
        #: Group commit pays off only when commits fsync.
        use_group = durability == "sync" if group_commit is None else group_commit
        use_group = use_group and not read_only
        self._group = GroupCommit(self._commit_many) if use_group else None
        self._txn_thread: int | None = None
        # write_together: the thread whose writes go into the shared transaction
        self._shared_thread: int | None = None
        self._shared_txn: Any = None
        self._shared_full = False  # a shared write ran out of map
        self._gate = _Gate()
        self._dbs: dict[bytes, Any] = {}
        self._dbs_lock = threading.Lock()
        self.refs = 0
        try:
            self.items = self.db(b"items")
            self.meta = self.db(b"meta")
        except BaseException:
            self.env.close()
            paths.remove_new_lock(path, had_lock)
            raise

    # -- sub-databases -----------------------------------------------------

    def db(self, name: bytes) -> Any:
        """The handle of the named sub-database, created on first use."""
        handle = self._dbs.get(name)
        if handle is not None:
            return handle
        with self._dbs_lock:
            handle = self._dbs.get(name)
            if handle is None:
                with self.write_lock:
                    handle = self._retry(lambda: self._open_db(name))
                self._dbs[name] = handle
            return handle

    def _open_db(self, name: bytes) -> Any:
        self._gate.enter()
        try:
            return self.env.open_db(name, create=not self.read_only)
        except lmdb.NotFoundError:  # read-only: the file never had it
            raise Corruption(
                f"{self.path} has no {name.decode(errors='replace')!r} sub-database: "
                "not a KeystoneDB database, or one not yet written to (open it for writing)"
            ) from None
        finally:
            self._gate.leave()

    def drop_db(self, txn: Any, name: bytes) -> None:
        """Empty the named sub-database inside ``txn``."""
        txn.drop(self.db(name), delete=False)

    # -- transactions --------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Any]:
        """A read-only snapshot transaction."""
        gate = self._gate
        gate.enter()
        try:
            try:
                txn = self.env.begin()
            except lmdb.MapResizedError:
                txn = self._begin_after_resize()
            try:
                yield txn
            finally:
                txn.abort()
        finally:
            gate.leave()

    def get(self, key: bytes, db: Any) -> bytes | None:
        """The stored value at ``key`` in sub-database ``db`` (the hot read path).

        The gate's enter/leave are inlined here: this is the one call where
        their cost shows.
        """
        gate = self._gate
        active = gate.active
        me = get_ident()
        active[me] = active.get(me, 0) + 1
        if gate.exclusive or gate.closed:
            gate._step_back(me)
        try:
            try:
                txn = self.env.begin(db=db)
            except lmdb.MapResizedError:
                txn = self._begin_after_resize(db)
            try:
                value: bytes | None = txn.get(key)
                return value
            finally:
                txn.abort()
        finally:
            n = active.get(me, 0) - 1
            if n > 0:
                active[me] = n
            else:
                active.pop(me, None)

    def _begin_after_resize(self, db: Any = None) -> Any:
        """Another process grew the map: adopt its size (outside the gate), begin again."""
        self._gate.leave()
        try:
            self._adopt_new_size()
        finally:
            self._gate.enter()
        return self.env.begin(db=db)

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(txn)`` in a write transaction and commit it (durably, per durability).

        With group commit on, concurrent calls share one commit; each keeps
        its own outcome. ``fn`` may run more than once (after the map
        grows), so it must not have effects outside the transaction.
        """
        if self._shared_thread == get_ident():
            return self._write_shared(fn)
        self.check_writable()
        if self._group is not None:
            self._not_in_transaction()
            return self._group.submit(fn)
        return self._write_alone(fn)

    def write_together(self, fn: Callable[[], T]) -> T:
        """``fn()``, the writes it makes on this thread sharing one transaction and one commit.

        Group commit for one thread holding several independent writes (the
        server's batch of write calls): each write runs in a nested
        transaction, so it keeps its own condition and outcome and a failed
        one rolls back alone; all are committed once, when ``fn`` returns.
        Until this returns they are not committed: do not report them
        before. If the commit fails this raises, and none of them happened.
        ``fn`` may run more than once (after the map grows). Without group
        commit ``fn`` simply runs, each write committing on its own.
        """
        self.check_writable()
        if self._group is None or self._shared_thread == get_ident():
            return fn()
        return self._share(fn)

    def _share(self, fn: Callable[[], T]) -> T:
        def run(txn: Any) -> T:
            self._shared_thread, self._shared_txn, self._shared_full = get_ident(), txn, False
            try:
                result = fn()
            finally:
                self._shared_thread, self._shared_txn = None, None
            if self._shared_full:
                raise lmdb.MapFullError("a write of the group ran out of map")
            return result

        return self._write_alone(run)

    def _write_shared(self, fn: Callable[[Any], T]) -> T:
        """``fn`` in a transaction nested in the shared one (see :meth:`write_together`)."""
        child = self.env.begin(write=True, parent=self._shared_txn)
        try:
            result = fn(child)
            child.commit()
        except lmdb.MapFullError:
            child.abort()
            self._shared_full = True  # the whole group runs again once the map has grown
            raise
        except BaseException:
            child.abort()
            raise
        return result

    def _commit_many(self, batch: list[Pending[Any]]) -> None:
        """Run every pending write in one transaction, each in a nested one; commit once."""
        if len(batch) == 1:
            p = batch[0]
            try:
                p.result = self._write_alone(p.fn)
            except BaseException as exc:
                p.error = exc
            return

        def run_all() -> None:
            for p in batch:
                p.result, p.error = None, None
                try:
                    p.result = self._write_shared(p.fn)
                except Exception as exc:
                    p.error = exc

        self._share(run_all)

    def _write_alone(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(txn)`` in one write transaction of its own and commit it.

        ``fn`` may run more than once (after the map grows), so it must not
        have effects outside the transaction before it returns. Whatever it
        raises aborts the transaction and propagates.
        """
        gate = self._gate
        self._not_in_transaction()
        with self.write_lock:
            for _ in range(64):
                gate.enter()
                try:
                    txn = self.env.begin(write=True)
                except lmdb.MapResizedError:
                    gate.leave()
                    self._adopt_new_size()
                    continue
                except BaseException:
                    gate.leave()
                    raise
                try:
                    result = fn(txn)
                    txn.commit()
                    return result
                except lmdb.MapFullError:
                    txn.abort()
                except BaseException:
                    txn.abort()
                    raise
                finally:
                    gate.leave()
                self._grow()
            raise ResourceExhausted("the database could not grow its map to fit the write")

    @contextmanager
    def write_txn(self) -> Iterator[Any]:
        """A write transaction held open by the caller (``Database.transaction``).

        The map cannot grow while it is open: a write that runs out of room
        raises :class:`ResourceExhausted` after growing the map for the next
        attempt.
        """
        self.check_writable()
        self._not_in_transaction()
        with self.write_lock:
            self._gate.enter()
            try:
                txn = self.env.begin(write=True)
            except BaseException:
                self._gate.leave()
                raise
            grow = False
            self._txn_thread = get_ident()
            try:
                yield txn
                txn.commit()
            except lmdb.MapFullError:
                txn.abort()
                grow = True
            except BaseException:
                txn.abort()
                raise
            finally:
                self._txn_thread = None
                self._gate.leave()
            if grow:
                self._grow()
                raise ResourceExhausted(
                    "the transaction outgrew the database map; the map has grown, run it again"
                )

    def check_writable(self) -> None:
        """Raise :class:`ReadOnly` if the file is open read-only."""
        if self.read_only:
            raise ReadOnly(f"{self.path} is open read-only (read_only=True): nothing was written")

    def _not_in_transaction(self) -> None:
        if self._txn_thread == get_ident():
            raise KeystoneError(
                "this thread is inside `with db.transaction() as tx`: write through tx "
                "(tx.put, tx.update, tx.delete) until the block ends"
            )

    def _retry(self, fn: Callable[[], T]) -> T:
        for _ in range(64):
            try:
                return fn()
            except lmdb.MapFullError:
                self._grow()
            except lmdb.MapResizedError:
                self._adopt_new_size()
        raise ResourceExhausted("the database could not grow its map")

    def _grow(self) -> None:
        with self._gate.exclusive_section():
            current = self.env.info()["map_size"]
            new = min(current + min(current, _MAX_GROWTH_STEP), _MAX_MAP_SIZE)
            if new <= current:
                raise ResourceExhausted(
                    f"the database reached its maximum size of {_MAX_MAP_SIZE} bytes"
                )
            log.info("growing the map of %s from %d to %d bytes", self.path, current, new)
            self.env.set_mapsize(new)

    def _adopt_new_size(self) -> None:
        with self._gate.exclusive_section():
            self.env.set_mapsize(0)

    # -- lifetime ----------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        info = self.env.info()
        return {
            "path": self.path,
            "file_bytes": os.path.getsize(self.path),
            "map_bytes": info["map_size"],
            "durability": self.durability,
            "max_key_bytes": self.max_key_size,
        }

    def copy(self, dest: str) -> None:
        """A consistent copy of the file at ``dest`` (taken from one snapshot)."""
        self._gate.enter()
        try:
            self.env.copy(dest, compact=True)
        finally:
            self._gate.leave()

    def sync(self) -> None:
        self._gate.enter()
        try:
            self.env.sync(True)
        finally:
            self._gate.leave()

    def release(self) -> None:
        """Drop one reference; the last one closes the file."""
        with _REGISTRY_LOCK:
            self.refs -= 1
            if self.refs > 0:
                return
            _REGISTRY.pop(self.path, None)
        with self._gate.exclusive_section(close=True):
            if self.durability == "async" and not self.read_only:
                self.env.sync(True)
            self.env.close()


def _round_up(n: int) -> int:
    size = _INITIAL_MAP_SIZE
    while size < n:
        size *= 2
    return size


_REGISTRY: dict[str, Engine] = {}
_REGISTRY_LOCK = threading.Lock()


def acquire(
    path: str,
    *,
    durability: Durability = "sync",
    create: bool = True,
    map_size: int | None = None,
    group_commit: bool | None = None,
    read_only: bool = False,
) -> Engine:
    """The process's engine for ``path``, opened on first use (which sets its options)."""
    real = os.path.realpath(path)
    with _REGISTRY_LOCK:
        engine = _REGISTRY.get(real)
        if engine is None:
            engine = Engine(real, durability, create, map_size, group_commit, read_only)
            _REGISTRY[real] = engine
        elif engine.durability != durability:
            raise ValidationError(
                f"{path} is already open in this process with durability={engine.durability!r}"
            )
        elif engine.read_only != read_only:
            mode = "read-only" if engine.read_only else "for writing"
            raise ValidationError(
                f"{path} is already open {mode} in this process: close it first "
                "(a file is opened in one mode per process)"
            )
        engine.refs += 1
        return engine
