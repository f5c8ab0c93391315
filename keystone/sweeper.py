"""The background worker: deletes expired items, trims old stream records, empties deleted tables.

One daemon thread per open ``Database`` that has work of this kind: a
table with a TTL attribute or an age-based stream retention, or key ranges
of a deleted table (or dropped index) still to delete. It wakes every
``interval`` seconds, or at once when :meth:`Sweeper.wake` is called, and
works in small batches, each batch one commit, so writers of other tables
wait for at most one short commit and readers never wait. Expired items go
through the table's removal path (so index entries and ``by_ttl`` stream
records follow). ``stop()`` (called by ``Database.close``) ends and joins it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from .engine import Engine
from .errors import DatabaseClosed

_log = logging.getLogger(__name__)


class Sweeper:
    """A daemon thread running ``batch(txn) -> work done`` until a batch finds less than :data:`BATCH`."""

    #: Items (or keys of deleted tables) handled per commit.
    BATCH: Final = 100

    def __init__(self, engine: Engine, batch: Callable[[Any, int], int], interval: float) -> None:
        self._engine = engine
        self._batch = batch
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keystone-sweeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                while not self._stop.is_set():
                    done = self._engine.write(lambda txn: self._batch(txn, self.BATCH))
                    if done < self.BATCH:
                        break
            except DatabaseClosed:
                return
            except Exception:  # keep sweeping; a failure must not kill the thread
                _log.exception("background sweep of %s failed", self._engine.path)

    def wake(self) -> None:
        """Run a round now instead of at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
