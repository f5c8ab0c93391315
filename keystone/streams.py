"""Change streams: one record per committed change, written in the same commit.

Records live in the ``stream`` sub-database under their sequence number
(8 bytes, big-endian); tables other than the default one share one such
sub-database, each key prefixed with its table's id. The last sequence
number handed out is kept in ``meta`` (one key per table) so numbers
strictly increase across restarts even after every record was trimmed.
Records are trimmed only from the oldest end, so a table's records are
the consecutive numbers from its first one to the last handed out.
Retention (a count, or an age) is applied as records are appended, a
bounded number of deletions per commit.
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass
from typing import Any, Final, Literal

from . import codec
from .schema import StreamConfig
from .ttl import now_ms
from .types import Item, ms_to_datetime

_SEQ: Final = struct.Struct(">Q")
SEQ_KEY: Final = b"stream_seq"
_TRIM_PER_COMMIT: Final = 64

Event = Literal["INSERT", "MODIFY", "REMOVE"]


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One committed change."""

    sequence: int
    event: Event
    keys: dict[str, Any]
    new_image: Item | None
    old_image: Item | None
    timestamp: _dt.datetime
    by_ttl: bool = False


class Stream:
    """The ``stream`` sub-database of a table with a :class:`StreamConfig`."""

    def __init__(
        self,
        config: StreamConfig,
        handle: Any,
        meta: Any,
        prefix: bytes = b"",
        seq_key: bytes = SEQ_KEY,
    ) -> None:
        self.config = config
        self.db = handle
        self.meta = meta
        self.prefix = prefix
        self.seq_key = seq_key
        self.new = config.view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
        self.old = config.view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES")
        r = config.retention
        self.max_count = r if isinstance(r, int) else None
        self.max_age_ms = int(r.total_seconds() * 1000) if isinstance(r, _dt.timedelta) else None

    def append(
        self,
        txn: Any,
        event: Event,
        keys: dict[str, Any],
        old: Item | None,
        new: Item | None,
        by_ttl: bool = False,
    ) -> None:
        raw = txn.get(self.seq_key, db=self.meta)
        seq = (_SEQ.unpack(raw)[0] if raw is not None else 0) + 1
        txn.put(self.seq_key, _SEQ.pack(seq), db=self.meta)
        now = now_ms()
        record = [
            event,
            keys,
            new if self.new else None,
            old if self.old else None,
            now,
            by_ttl,
        ]
        txn.put(self.prefix + _SEQ.pack(seq), codec.encode_value(record), db=self.db)
        if self.max_count is not None or self.max_age_ms is not None:
            self.trim(txn, now)

    def count(self, txn: Any) -> int:
        """How many records the table's stream holds."""
        cur = txn.cursor(db=self.db)
        prefix = self.prefix
        if not cur.set_range(prefix) or not cur.key().startswith(prefix):
            return 0
        first = _SEQ.unpack_from(cur.key(), len(prefix))[0]
        raw = txn.get(self.seq_key, db=self.meta)
        last = _SEQ.unpack(raw)[0] if raw is not None else first
        return int(last - first + 1)

    def trim(self, txn: Any, now: int) -> int:
        """Delete the oldest records beyond the retention (at most a few per call)."""
        removed = 0
        count = self.count(txn) if self.max_count is not None else 0
        cur = txn.cursor(db=self.db)
        prefix = self.prefix
        if not cur.set_range(prefix):
            return 0
        while removed < _TRIM_PER_COMMIT and cur.key() and cur.key().startswith(prefix):
            over = self.max_count is not None and count - removed > self.max_count
            if not over and self.max_age_ms is not None:
                ts = codec.decode(cur.value())[4]
                over = ts < now - self.max_age_ms
            if not over:
                break
            if not cur.delete():
                break
            removed += 1
        return removed

    def read(self, txn: Any, after: int | None, limit: int | None) -> list[StreamRecord]:
        out: list[StreamRecord] = []
        cur = txn.cursor(db=self.db)
        prefix = self.prefix
        start = prefix + (_SEQ.pack((after or 0) + 1) if after is not None else b"")
        if not cur.set_range(start):
            return out
        skip = len(prefix)
        for k, v in cur.iternext():
            if (limit is not None and len(out) >= limit) or not k.startswith(prefix):
                break
            event, keys, new, old, ts, by_ttl = codec.decode(v)
            seq = _SEQ.unpack_from(k, skip)[0]
            out.append(StreamRecord(seq, event, keys, new, old, ms_to_datetime(ts), by_ttl))
        return out


__all__ = ["Stream", "StreamRecord"]
