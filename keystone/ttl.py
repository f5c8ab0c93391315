"""Time to live: which items have expired, and the queue the sweeper deletes from.

An item expires when its TTL attribute (epoch seconds as a number, or an
aware datetime) lies in the past. Expired items are invisible to every read
at once (the table checks :func:`expired` wherever it decodes an item);
the sweeper deletes them later, in small batches, through the table's one
removal path so index entries and stream records follow.

The ``ttl`` sub-database holds one entry per item that has a TTL:
``expiry in ms (8 bytes, big-endian) | item key`` -> empty, so the sweeper
reads only what is due, oldest first. Tables other than the default one
share one such sub-database, each entry prefixed with its table's id.
"""

from __future__ import annotations

import datetime as _dt
import struct
import time
from decimal import Decimal
from typing import Any, Final

from . import codec
from .types import Item, datetime_to_ms

_MS: Final = struct.Struct(">Q")
_MAX_MS: Final = 2**64 - 1


def expiry_ms(item: Item | None, attr: str) -> int | None:
    """The expiry of ``item`` in ms since the epoch, or ``None`` if it never expires."""
    if item is None:
        return None
    value = item.get(attr)
    t = type(value)
    if t is int or t is Decimal:
        ms = int(value * 1000)  # type: ignore[operator]
        return ms if 0 <= ms <= _MAX_MS else None
    if t is _dt.datetime:
        return datetime_to_ms(value)  # type: ignore[arg-type]
    return None


def now_ms() -> int:
    return int(time.time() * 1000)


def expired(item: Item, attr: str, now: int | None = None) -> bool:
    """Whether ``item`` has expired (``now`` in ms; default the current time)."""
    ms = expiry_ms(item, attr)
    return ms is not None and ms <= (now_ms() if now is None else now)


class TtlQueue:
    """The ``ttl`` sub-database: items ordered by expiry."""

    def __init__(self, attr: str, handle: Any, prefix: bytes = b"") -> None:
        self.attr = attr
        self.db = handle
        self.prefix = prefix

    def update(self, txn: Any, key: bytes, prev: Item | None, new: Item | None) -> None:
        """Move ``key``'s queue entry from ``prev``'s expiry to ``new``'s."""
        old_ms = expiry_ms(prev, self.attr)
        new_ms = expiry_ms(new, self.attr)
        if old_ms == new_ms:
            return
        if old_ms is not None:
            txn.delete(self.prefix + _MS.pack(old_ms) + key, db=self.db)
        if new_ms is not None:
            txn.put(self.prefix + _MS.pack(new_ms) + key, b"", db=self.db)

    def due(self, txn: Any, now: int, limit: int) -> list[bytes]:
        """Item keys whose expiry is at or before ``now``, oldest first."""
        out: list[bytes] = []
        cur = txn.cursor(db=self.db)
        prefix = self.prefix
        if not cur.set_range(prefix):
            return out
        skip = len(prefix)
        for k in cur.iternext(keys=True, values=False):
            if not k.startswith(prefix) or _MS.unpack_from(k, skip)[0] > now or len(out) >= limit:
                break
            out.append(k[skip + _MS.size :])
        return out


def requeue_ttl(table: Any, txn: Any, old: TtlQueue | None) -> None:
    """After a table's TTL attribute changed (``update_table``): its queue, rebuilt.

    ``old`` is the queue of the previous attribute (``None``: there was
    none); its entries go, and every item with an expiry under the new
    attribute (``table.ttl``) is queued, inside the schema's write.
    """
    if old is not None:
        cur = txn.cursor(db=old.db)
        prefix = old.prefix
        if cur.set_range(prefix):
            while True:  # (each delete moves to the next key: one turn per entry)
                key = cur.key()
                if not key or not key.startswith(prefix) or not cur.delete():
                    break
    new = table.ttl
    if new is None:
        return
    cur = txn.cursor(db=table.items_db)
    prefix = table.prefix
    if not cur.set_range(prefix):
        return
    for key, raw in cur.iternext():
        if prefix and not key.startswith(prefix):
            break
        new.update(txn, key, None, codec.unpackb(raw, ext_hook=codec.EXT_HOOK, raw=False))


__all__ = ["TtlQueue", "expired", "expiry_ms", "now_ms", "requeue_ttl"]
