"""Secondary indexes: the layout of index entries and their key ranges.

Each index lives in its own sub-database (``idx:<name>``). An entry's key is

    stripe(ipk) | len(ipk) | ipk | flag | escaped(isk) 00 00 | base item key

where ``ipk``/``isk`` are the index's key attribute values (as bytes) and
the base item key makes entries of items that share index keys distinct and
ordered. The sort key is escaped (``00`` -> ``00 FF``) and terminated by
``00 00`` so the byte order of entries is the byte order of the sort keys,
whatever follows. A local index is an index whose partition key is the
table's. Its value is the projected item (msgpack), which always keeps the
table's and the index's key attributes (and the TTL attribute, so expired
items stay invisible in index reads too).

Items lacking an index key attribute, or whose index key value is not a
string or binary, are absent from that index.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from zlib import crc32

from . import codec
from .codec import _HEADER, HAS_SK, NO_SK, prefix_end
from .errors import ValidationError
from .schema import GlobalIndex, LocalIndex
from .sk import SortKeyCondition
from .types import Item

if TYPE_CHECKING:
    from .table import Table

_TERM: Final = b"\x00\x00"


def _escape(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff")


def _key_value(value: object) -> bytes | None:
    if type(value) is str:
        return value.encode() or None
    if type(value) is bytes:
        return value or None
    return None


class Index:
    """One secondary index of the table."""

    def __init__(
        self,
        definition: LocalIndex | GlobalIndex,
        table_pk: str,
        table_sk: str | None,
        ttl_attr: str | None,
        handle: Any,
        max_key_size: int,
    ) -> None:
        self.definition = definition
        self.name = definition.name
        self.local = isinstance(definition, LocalIndex)
        self.pk_attr = table_pk if isinstance(definition, LocalIndex) else definition.partition_key
        self.sk_attr = definition.sort_key
        self.table_pk = table_pk
        self.table_sk = table_sk
        self.db = handle
        self.max_key_size = max_key_size
        keys = frozenset(
            a for a in (table_pk, table_sk, self.pk_attr, self.sk_attr, ttl_attr) if a is not None
        )
        projection = definition.projection
        if projection == "ALL":
            self.keep: frozenset[str] | None = None
        elif projection == "KEYS_ONLY":
            self.keep = keys
        else:
            self.keep = keys | frozenset(projection)

    # -- entries -------------------------------------------------------------

    def entry_key(self, item: Item, base_key: bytes) -> bytes | None:
        """The key of ``item``'s entry, or ``None`` when the item is not in the index."""
        ipk = _key_value(item.get(self.pk_attr))
        if ipk is None:
            return None
        head = _HEADER.pack(crc32(ipk) & 0xFFFF, len(ipk)) + ipk
        if self.sk_attr is None:
            key = head + NO_SK + base_key
        else:
            isk = _key_value(item.get(self.sk_attr))
            if isk is None:
                return None
            key = head + HAS_SK + _escape(isk) + _TERM + base_key
        if len(key) > self.max_key_size:
            raise ValidationError(
                f"the entry of this item in index {self.name!r} would have a {len(key)}-byte key; "
                f"the limit is {self.max_key_size} bytes (shorten the index or table key values)"
            )
        return key

    def entry(
        self, item: Item, base_key: bytes, data: bytes | None = None
    ) -> tuple[bytes, bytes] | None:
        """Key and value of ``item``'s entry (``data``: the item already encoded, reused for ALL)."""
        key = self.entry_key(item, base_key)
        if key is None:
            return None
        keep = self.keep
        if keep is None:
            return key, data if data is not None else codec.encode_item(item)
        return key, codec.encode_item({k: v for k, v in item.items() if k in keep})

    # -- reads -----------------------------------------------------------------

    def partition(self, pk: object) -> bytes:
        ipk = _key_value(pk)
        if ipk is None:
            raise ValidationError(
                f"index {self.name!r}: the partition key value must be a non-empty str or bytes"
            )
        return _HEADER.pack(crc32(ipk) & 0xFFFF, len(ipk)) + ipk

    def query_range(self, pk: object, cond: SortKeyCondition | None) -> tuple[bytes, bytes | None]:
        part = self.partition(pk)
        if cond is None:
            return part, prefix_end(part)
        if self.sk_attr is None:
            raise ValidationError(
                f"index {self.name!r} has no sort key; drop the sort key condition"
            )
        base = part + HAS_SK
        if cond.op == "begins_with":
            lo = base + _escape(codec.key_bytes(cond.value, "sort key condition value"))
            return lo, prefix_end(lo)
        low, low_inc, high, high_inc = cond.key_range()
        if low is None:
            lo = base
        else:
            exact = base + _escape(low) + _TERM
            lo = exact if low_inc else prefix_end(exact) or exact
        if high is None:
            hi = prefix_end(base)
        else:
            exact = base + _escape(high) + _TERM
            hi = prefix_end(exact) if high_inc else exact
        return lo, hi

    def key_dict(self, entry: Item) -> dict[str, Any]:
        """The ``last_key`` of an entry: the table's and the index's key attributes."""
        out = {}
        for attr in (self.table_pk, self.table_sk, self.pk_attr, self.sk_attr):
            if attr is not None and attr in entry:
                out[attr] = entry[attr]
        return out

    def key_from_dict(self, key: dict[str, Any], base_key: bytes) -> bytes:
        """The entry key a ``last_key`` dict points at."""
        missing = [a for a in (self.pk_attr, self.sk_attr) if a is not None and a not in key]
        if missing:
            raise ValidationError(
                f"start for index {self.name!r} must hold its key attributes; missing {missing}"
            )
        found = self.entry_key(key, base_key)
        if found is None:
            raise ValidationError(f"start is not a key of index {self.name!r}")
        return found


_log = logging.getLogger(__name__)
_PROGRESS_EVERY: Final = 100_000


def build_indexes(table: Table, txn: Any, added: Sequence[Any]) -> None:
    """Fill newly added indexes from the existing items (inside the schema's write)."""
    indexes = [table.indexes[d.name] for d in added]
    total = txn.stat(table.items_db)["entries"]
    _log.info("building %d new index(es) over %d items", len(indexes), total)
    cur = txn.cursor(db=table.items_db)
    for n, (key, raw) in enumerate(cur.iternext(), 1):
        item = codec.unpackb(raw, ext_hook=codec.EXT_HOOK, raw=False)
        for idx in indexes:
            entry = idx.entry(item, key)
            if entry is not None:
                txn.put(entry[0], entry[1], db=idx.db)
        if n % _PROGRESS_EVERY == 0:
            _log.info("index build: %d of %d items", n, total)
    _log.info("index build done")


__all__ = ["Index", "build_indexes"]
