"""Operations on the table inside one LMDB transaction.

:class:`Table` knows the key schema and the sub-databases; every method
takes an open transaction, so the same code serves single calls, batches,
``transact_write`` and ``Database.transaction()``. Every change of an item
goes through :meth:`Table.store` or :meth:`Table.remove`: that is the one
place where whatever must commit together with the item is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from zlib import crc32

from . import codec
from .codec import _HEADER, EXT_HOOK, HAS_SK, KEY_OVERHEAD, NO_SK, key_bytes, unpackb
from .engine import Engine
from .errors import ValidationError
from .indexes import Index
from .schema import Schema
from .streams import Stream
from .ttl import TtlQueue, expired, now_ms
from .types import Item, check_unicode

#: The largest encoded item (msgpack bytes), like DynamoDB's 400 KB.
MAX_ITEM_BYTES: Final = 400 * 1024
#: A query or scan page stops after reading this many stored bytes (DynamoDB's 1 MB).
MAX_PAGE_BYTES: Final = 1 << 20

Filter = Callable[[Item | None], bool]
Project = Callable[[Item], Item]


@dataclass(slots=True)
class Page:
    """One page of a query or scan.

    ``items`` are the items that passed the filter (projected), ``count`` is
    their number, ``scanned_count`` the number of items read before the
    filter, and ``last_key`` the key to pass as ``start=`` for the next page
    (``None`` on the last page). Iterating a page iterates its items.
    """

    items: list[Item] = field(default_factory=list)
    count: int = 0
    scanned_count: int = 0
    last_key: dict[str, Any] | None = None

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _not_unicode(value: str, attr: str | None) -> ValidationError:
    """The error for a key value that is not valid Unicode (a lone surrogate)."""
    try:
        check_unicode(value, f"key attribute {attr!r}")
    except ValidationError as exc:
        return exc
    return ValidationError(f"key attribute {attr!r}: not valid Unicode")


class Table:
    """The key schema and storage of the one table in a database file."""

    def __init__(self, engine: Engine, schema: Schema) -> None:
        self.engine = engine
        self.schema = schema
        self.items_db = engine.items
        self.pk_attr = schema.partition_key
        self.sk_attr = schema.sort_key
        self.max_key_bytes = engine.max_key_size - KEY_OVERHEAD
        self.ttl_attr = schema.ttl_attribute
        self.indexes: dict[str, Index] = {
            d.name: Index(
                d,
                schema.partition_key,
                schema.sort_key,
                schema.ttl_attribute,
                engine.db(b"idx:" + d.name.encode()),
                engine.max_key_size,
            )
            for d in schema.indexes
        }
        self.ttl = (
            TtlQueue(schema.ttl_attribute, engine.db(b"ttl")) if schema.ttl_attribute else None
        )
        self.stream = (
            Stream(schema.stream, engine.db(b"stream"), engine.meta) if schema.stream else None
        )
        #: Whether writes must maintain more than the item itself.
        self.hooks = bool(self.indexes) or self.ttl is not None or self.stream is not None

    # -- keys --------------------------------------------------------------

    def key(self, pk: object, sk: object = None) -> bytes:
        """The stored key for key values ``pk``/``sk`` (validated)."""
        if type(pk) is str:
            try:
                p = pk.encode()
            except UnicodeEncodeError:
                raise _not_unicode(pk, self.pk_attr) from None
        else:
            p = key_bytes(pk, f"partition key {self.pk_attr!r}")
        if sk is None:
            if not p or len(p) > self.max_key_bytes:
                self._bad_key(p, b"-")
            return _HEADER.pack(crc32(p) & 0xFFFF, len(p)) + p + NO_SK
        if self.sk_attr is None:
            raise ValidationError("this table has no sort key, but a sort key value was given")
        if type(sk) is str:
            try:
                s = sk.encode()
            except UnicodeEncodeError:
                raise _not_unicode(sk, self.sk_attr) from None
        else:
            s = key_bytes(sk, f"sort key {self.sk_attr!r}")
        if not p or not s or len(p) + len(s) > self.max_key_bytes:
            self._bad_key(p, s)
        return _HEADER.pack(crc32(p) & 0xFFFF, len(p)) + p + HAS_SK + s

    def _bad_key(self, p: bytes, s: bytes) -> None:
        if not p:
            raise ValidationError(
                "One or more parameter values are not valid. The AttributeValue for a key "
                f"attribute cannot contain an empty string value. Key: {self.pk_attr}"
            )
        if s == b"" and len(p) <= self.max_key_bytes and self.sk_attr is not None:
            raise ValidationError(
                "One or more parameter values are not valid. The AttributeValue for a key "
                f"attribute cannot contain an empty string value. Key: {self.sk_attr}"
            )
        raise ValidationError(
            f"partition key + sort key is {len(p) + len(s)} bytes; "
            f"the limit is {self.max_key_bytes} bytes"
        )

    def key_of_item(self, item: Mapping[str, Any]) -> bytes:
        """The stored key of a (normalised) item; raises if key attributes are missing or bad."""
        if self.pk_attr not in item:
            raise ValidationError(f"the item has no partition key attribute {self.pk_attr!r}")
        sk = item.get(self.sk_attr) if self.sk_attr is not None else None
        return self.key(item[self.pk_attr], sk)

    def key_from_dict(self, key: Mapping[str, Any], what: str = "key") -> bytes:
        """The stored key of a key dict such as ``{"pk": "a", "sk": "b"}``."""
        if not isinstance(key, Mapping):
            raise ValidationError(
                f"{what} must be a dict of key attributes, got {type(key).__name__}"
            )
        if self.pk_attr not in key:
            raise ValidationError(
                "The provided key element does not match the schema; "
                f"{what} has no partition key attribute {self.pk_attr!r}"
            )
        extra = set(key) - {self.pk_attr, self.sk_attr}
        if extra:
            raise ValidationError(
                "The provided key element does not match the schema; "
                f"{what} has attributes that are not key attributes: {sorted(map(str, extra))}"
            )
        return self.key(key[self.pk_attr], key.get(self.sk_attr) if self.sk_attr else None)

    def key_from_arg(self, key: object, what: str = "key") -> bytes:
        """A key given as ``(pk, sk)``, ``(pk,)``, a bare ``pk`` or a key dict."""
        if isinstance(key, Mapping):
            return self.key_from_dict(key, what)
        if isinstance(key, tuple):
            if len(key) == 1:
                return self.key(key[0])
            if len(key) == 2:
                return self.key(key[0], key[1])
            raise ValidationError(f"{what} must be (pk,) or (pk, sk), got a tuple of {len(key)}")
        return self.key(key)

    def key_dict(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The key attributes of a stored item."""
        out = {self.pk_attr: item[self.pk_attr]}
        sk_attr = self.sk_attr
        if sk_attr is not None and sk_attr in item:
            out[sk_attr] = item[sk_attr]
        return out

    # -- items -------------------------------------------------------------

    @staticmethod
    def encode(item: Item) -> bytes:
        """Encode a normalised item, enforcing the item size limit."""
        data = codec.encode_item(item)
        if len(data) > MAX_ITEM_BYTES:
            raise ValidationError(
                f"the item is {len(data)} bytes encoded; the limit is {MAX_ITEM_BYTES} bytes"
            )
        return data

    def load(self, txn: Any, key: bytes) -> Item | None:
        """The item at ``key`` as readers see it (``None`` if absent or expired)."""
        return self.visible(txn.get(key, db=self.items_db))

    def visible(self, raw: bytes | None) -> Item | None:
        """The stored bytes ``raw`` as readers see them: decoded, ``None`` if absent or expired."""
        if raw is None:
            return None
        item: Item = unpackb(raw, ext_hook=EXT_HOOK, raw=False)
        if self.ttl_attr is not None and expired(item, self.ttl_attr):
            return None
        return item

    def store(self, txn: Any, key: bytes, old: Item | None, item: Item, data: bytes) -> None:
        """Write ``item`` (encoded as ``data``) at ``key``; ``old`` is the item readers saw.

        Index entries, the TTL queue and the stream record are written here,
        in the same transaction. Everything that can fail is computed before
        the first write, so a failure leaves the transaction untouched.
        """
        if not self.hooks:
            txn.put(key, data, db=self.items_db)
            return
        entries = [(idx, idx.entry(item, key, data)) for idx in self.indexes.values()]
        prev_raw = txn.replace(key, data, db=self.items_db)
        prev = None if prev_raw is None else unpackb(prev_raw, ext_hook=EXT_HOOK, raw=False)
        for idx, entry in entries:
            if prev is not None:
                stale = idx.entry_key(prev, key)
                if stale is not None:
                    txn.delete(stale, db=idx.db)
            if entry is not None:
                txn.put(entry[0], entry[1], db=idx.db)
        if self.ttl is not None:
            self.ttl.update(txn, key, prev, item)
        if self.stream is not None:
            self.stream.append(
                txn, "INSERT" if old is None else "MODIFY", self.key_dict(item), old, item
            )

    def remove(self, txn: Any, key: bytes, old: Item, by_ttl: bool = False) -> None:
        """Delete the item ``old`` stored at ``key`` (and everything that follows it)."""
        txn.delete(key, db=self.items_db)
        if not self.hooks:
            return
        for idx in self.indexes.values():
            stale = idx.entry_key(old, key)
            if stale is not None:
                txn.delete(stale, db=idx.db)
        if self.ttl is not None:
            self.ttl.update(txn, key, old, None)
        if self.stream is not None:
            self.stream.append(txn, "REMOVE", self.key_dict(old), old, None, by_ttl=by_ttl)

    def sweep(self, txn: Any, limit: int) -> int:
        """Delete up to ``limit`` expired items; returns how many."""
        if self.ttl is None:
            return 0
        now = now_ms()
        done = 0
        for key in self.ttl.due(txn, now, limit):
            raw = txn.get(key, db=self.items_db)
            if raw is None:
                continue
            item = unpackb(raw, ext_hook=EXT_HOOK, raw=False)
            if expired(item, self.ttl.attr, now):
                self.remove(txn, key, item, by_ttl=True)
                done += 1
        return done

    # -- ranges ------------------------------------------------------------

    def read_range(
        self,
        txn: Any,
        lo: bytes,
        hi: bytes | None,
        *,
        reverse: bool = False,
        after: bytes | None = None,
        limit: int | None = None,
        filt: Filter | None = None,
        proj: Project | None = None,
        index: Index | None = None,
        fetch: Callable[[Item], Item | None] | None = None,
    ) -> Page:
        """Read items with ``lo <= key < hi`` (``hi=None``: to the end).

        ``after`` resumes strictly past that key in the reading direction.
        Stops after ``limit`` items were read or :data:`MAX_PAGE_BYTES`.
        ``fetch`` completes an index entry from the table before the filter.
        """
        cur = txn.cursor(db=self.items_db if index is None else index.db)
        ttl_attr = self.ttl_attr
        now = now_ms()
        items: list[Item] = []
        scanned = 0
        nbytes = 0
        last: Item | None = None
        more = False
        # Position the cursor on the first key to read, and say where reading stops:
        # at ``hi`` going forward, below ``lo`` going backward.
        if not reverse:
            first = lo if after is None else max(lo, after + b"\x00")
            if not cur.set_range(first):
                return Page()
            entries, stop_at, stop_below = cur.iternext(), hi, None
        else:
            bound = hi if after is None else (after if hi is None else min(hi, after))
            if bound is None:
                positioned = cur.last()
            elif cur.set_range(bound):
                positioned = cur.prev()
            else:
                positioned = cur.last()
            if not positioned:
                return Page()
            entries, stop_at, stop_below = cur.iterprev(), None, lo
        for k, v in entries:
            if (stop_at is not None and k >= stop_at) or (
                stop_below is not None and k < stop_below
            ):
                break
            if scanned == limit or nbytes >= MAX_PAGE_BYTES:
                more = True
                break
            scanned += 1
            nbytes += len(v)
            item = unpackb(v, ext_hook=EXT_HOOK, raw=False)
            last = item
            if ttl_attr is not None and expired(item, ttl_attr, now):
                continue
            if fetch is not None:
                full = fetch(item)
                if full is None:
                    continue
                item = full
            if filt is None or filt(item):
                items.append(item if proj is None else proj(item))
        cur.close()
        last_key = None
        if more and last is not None:
            last_key = self.key_dict(last) if index is None else index.key_dict(last)
        return Page(items, len(items), scanned, last_key)


__all__ = ["MAX_ITEM_BYTES", "MAX_PAGE_BYTES", "Page", "Table"]
