"""Change streams: one record per committed change, written in the same commit.

Records live in the ``stream`` sub-database under their sequence number
(8 bytes, big-endian). The last sequence number handed out is kept in
``meta`` so numbers strictly increase across restarts even after every
record was trimmed. Retention (a count, or an age) is applied as records
are appended, a bounded number of deletions per commit.
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

    def __init__(self, config: StreamConfig, handle: Any, meta: Any) -> None:
        self.config = config
        self.db = handle
        self.meta = meta
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
        raw = txn.get(SEQ_KEY, db=self.meta)
        seq = (_SEQ.unpack(raw)[0] if raw is not None else 0) + 1
        txn.put(SEQ_KEY, _SEQ.pack(seq), db=self.meta)
        now = now_ms()
        record = [
            event,
            keys,
            new if self.new else None,
            old if self.old else None,
            now,
            by_ttl,
        ]
        txn.put(_SEQ.pack(seq), codec.encode_value(record), db=self.db)
        if self.max_count is not None or self.max_age_ms is not None:
            self.trim(txn, now)

    def trim(self, txn: Any, now: int) -> int:
        """Delete the oldest records beyond the retention (at most a few per call)."""
        removed = 0
        count = txn.stat(self.db)["entries"]
        cur = txn.cursor(db=self.db)
        if not cur.first():
            return 0
        while removed < _TRIM_PER_COMMIT and cur.key():
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
        start = _SEQ.pack((after or 0) + 1) if after is not None else b""
        if not cur.set_range(start):
            return out
        for k, v in cur.iternext():
            if limit is not None and len(out) >= limit:
                break
            event, keys, new, old, ts, by_ttl = codec.decode(v)
            out.append(
                StreamRecord(_SEQ.unpack(k)[0], event, keys, new, old, ms_to_datetime(ts), by_ttl)
            )
        return out


__all__ = ["Stream", "StreamRecord"]
