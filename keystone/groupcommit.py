"""Group commit: concurrent writes share one LMDB transaction and one fsync.

With ``durability="sync"`` every commit pays an fsync, which dwarfs the
work of a put. When several threads write at once, the first to arrive
becomes the *leader*: it takes every write queued so far, runs each in its
own nested transaction (so a failed condition rolls back only that write),
commits the batch once, and hands each caller its own result or exception.
Callers that arrived while it was committing form the next batch, led by
the first of them. A lone writer is a batch of one and pays no nesting.

Each write still sees the writes committed before it (batches run in
arrival order), keeps its own condition and result, and returns only once
it is durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Pending(Generic[T]):
    """One queued write and, once its batch committed, its outcome."""

    __slots__ = ("fn", "result", "error", "lead", "_event")

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.result: T | None = None
        self.error: BaseException | None = None
        self.lead = False
        self._event = threading.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self) -> None:
        self._event.wait()
        self._event.clear()

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommit:
    """The queue of writes waiting for the next commit of one engine."""

    def __init__(self, commit_many: Callable[[list[Pending[Any]]], None]) -> None:
        self._commit_many = commit_many
        self._lock = threading.Lock()
        self._queue: list[Pending[Any]] = []
        self._leading = False
        self.batches = 0
        self.writes = 0

    def submit(self, fn: Callable[[Any], T]) -> T:
        me: Pending[T] = Pending(fn)
        with self._lock:
            self._queue.append(me)
            if not self._leading:
                self._leading = True
                me.lead = True
        if not me.lead:
            me.wait()  # woken either with an outcome or to lead the next batch
            if not me.lead:
                return me.outcome()
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._commit_many(batch)
        except BaseException as exc:
            for p in batch:
                if p.error is None:
                    p.error = exc
        self.batches += 1
        self.writes += len(batch)
        for p in batch:
            if p is not me:
                p.wake()
        with self._lock:
            if self._queue:
                nxt = self._queue[0]
                nxt.lead = True
                nxt.wake()
            else:
                self._leading = False
        return me.outcome()


__all__ = ["GroupCommit", "Pending"]
