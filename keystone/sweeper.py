"""The background sweeper: deletes expired items and trims old stream records.

One daemon thread per open ``Database`` whose schema has a TTL attribute or
an age-based stream retention. It wakes every ``interval`` seconds and
deletes due items in small batches, each batch one commit, through the
table's removal path (so index entries and ``by_ttl`` stream records follow).
``stop()`` (called by ``Database.close``) ends and joins it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

from .engine import Engine
from .errors import DatabaseClosed
from .table import Table
from .ttl import now_ms

_log = logging.getLogger(__name__)


class Sweeper:
    """A daemon thread that deletes expired items and trims old stream records."""

    BATCH: Final = 100

    def __init__(self, engine: Engine, table: Table, interval: float) -> None:
        self._engine = engine
        self._table = table
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keystone-sweeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        table = self._table
        while not self._stop.wait(self._interval):
            try:
                while not self._stop.is_set():
                    done = self._engine.write(self._one_batch)
                    if done < self.BATCH:
                        break
            except DatabaseClosed:
                return
            except Exception:  # keep sweeping; a failure must not kill the thread
                _log.exception("TTL sweep of %s failed", table.engine.path)

    def _one_batch(self, txn: Any) -> int:
        table = self._table
        done = table.sweep(txn, self.BATCH)
        if table.stream is not None and table.stream.max_age_ms is not None:
            table.stream.trim(txn, now_ms())
        return done

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
