"""Operations on one table's bytes inside one LMDB transaction.

:class:`Storage` knows a table's key schema, its sub-databases and its key
prefix (see :mod:`keystone.catalog`); every method takes an open
transaction, so the same code serves single calls, batches,
``transact_write`` and ``Database.transaction()``, in any table. Every
change of an item goes through :meth:`Storage.store` or
:meth:`Storage.remove`: that is the one place where whatever must commit
together with the item is written. Key values become key bytes here
(:mod:`keystone.keys` checks their types).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from itertools import chain
from typing import Any, Final
from zlib import crc32

from . import codec, keys
from .catalog import DEFAULT_TABLE, Entry, count_prefix
from .codec import _HEADER, EXT_HOOK, HAS_SK, KEY_OVERHEAD, NO_SK, key_bytes, prefix_end, unpackb
from .engine import Engine
from .errors import NotFound, ValidationError
from .groups import Exact, Groups
from .indexes import Index
from .schema import Schema
from .sk import SortKeyCondition
from .streams import Stream
from .ttl import TtlQueue, expired, now_ms
from .types import Item, check_unicode

#: The largest encoded item (msgpack bytes), like DynamoDB's 400 KB.
MAX_ITEM_BYTES: Final = 400 * 1024
#: A query or scan page stops after reading this many stored bytes (DynamoDB's 1 MB).
MAX_PAGE_BYTES: Final = 1 << 20

#: A partition key up to this long is stored as is in a table other than the
#: default one (longer ones as their SHA-256), which leaves any such key at
#: least 438 bytes for its sort key.
INLINE_PK: Final = 64
#: The ``len`` field of a hashed partition key.
HASHED_PK: Final = 0xFFFF
#: Bytes of SHA-256 after the kept part of a long sort key.
_SK_HASH: Final = 16
#: A long sort key keeps at least this many bytes (else the key is refused).
_MIN_GROUP: Final = 64
#: ``group_len`` where there are no long sort keys: longer than any key.
_NO_GROUP: Final = 1 << 20

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


def _utf8(value: str, attr: str | None) -> bytes:
    """A str key value's UTF-8 bytes; a lone surrogate is a ValidationError."""
    try:
        return value.encode()
    except UnicodeEncodeError:
        pass
    check_unicode(value, f"key attribute {attr!r}")
    raise ValidationError(f"key attribute {attr!r}: not valid Unicode")


class Storage:
    """The key schema and storage of one table of a database file."""

    def __init__(self, engine: Engine, schema: Schema, entry: Entry | None = None) -> None:
        self.engine = engine
        #: Set when the table is deleted: handles to it raise NotFound.
        self.dropped = False
        self.configure(schema, entry or Entry(DEFAULT_TABLE, schema))

    def configure(self, schema: Schema, entry: Entry) -> None:
        """Take on ``schema`` (``update_table``: inside its write, so later writes see it)."""
        engine = self.engine
        self.schema = schema
        self.entry = entry
        self.name = entry.name
        items_name, index_names, ttl_name, stream_name = entry.sub_databases()
        self.prefix = entry.prefix
        self.items_db = engine.db(items_name)
        self.meta = engine.meta
        self.exists_key = entry.exists_key
        self.pk_attr = schema.partition_key
        self.sk_attr = schema.sort_key
        self.pk_type = schema.partition_key_type
        self.sk_type = schema.sort_key_type
        self.typed = schema.typed
        if self.typed:
            self.key = self._key_typed
        else:
            self.key = self._key_prefixed if self.prefix else self._key_default
        self.max_key_bytes = engine.max_key_size - KEY_OVERHEAD - len(self.prefix)
        #: Longer partition keys are stored as their hash (see :meth:`head`). The
        #: default table keeps every key format 2 could store inline.
        self.inline_pk = self.max_key_bytes if not self.prefix else INLINE_PK
        self.ttl_attr = schema.ttl_attribute
        self.indexes: dict[str, Index] = {
            d.name: Index(
                d,
                schema.partition_key,
                schema.sort_key,
                schema.ttl_attribute,
                engine.db(index_names[d.name]),
                engine.max_key_size,
                entry.index_prefix(d.name),
            )
            for d in schema.indexes
        }
        self.ttl = (
            TtlQueue(schema.ttl_attribute, engine.db(ttl_name), self.prefix)
            if schema.ttl_attribute
            else None
        )
        self.stream = (
            Stream(schema.stream, engine.db(stream_name), engine.meta, self.prefix, entry.seq_key)
            if schema.stream
            else None
        )
        #: Whether writes must maintain more than the item itself.
        self.hooks = (
            bool(self.indexes)
            or self.ttl is not None
            or self.stream is not None
            or self.exists_key is not None
        )

    # -- keys --------------------------------------------------------------

    #: The stored key for key values ``(pk, sk=None)``, validated: one of the
    #: ``_key_*`` methods, picked by :meth:`configure` (the default table's is
    #: the hot path of every read).
    key: Callable[..., bytes]

    def _key_default(self, pk: object, sk: object = None) -> bytes:
        """:attr:`key` of an untyped table without key prefix (the default table)."""
        p = (
            _utf8(pk, self.pk_attr)
            if type(pk) is str
            else key_bytes(pk, f"partition key {self.pk_attr!r}")
        )
        if sk is None:
            if not p or len(p) > self.max_key_bytes:
                return self._compose(p, None)  # empty, or long enough to be hashed
            return _HEADER.pack(crc32(p) & 0xFFFF, len(p)) + p + NO_SK
        if self.sk_attr is None:
            raise ValidationError("this table has no sort key, but a sort key value was given")
        s = (
            _utf8(sk, self.sk_attr)
            if type(sk) is str
            else key_bytes(sk, f"sort key {self.sk_attr!r}")
        )
        if not p or not s or len(p) + len(s) > self.max_key_bytes:
            return self._compose(p, s)
        return _HEADER.pack(crc32(p) & 0xFFFF, len(p)) + p + HAS_SK + s

    def _key_prefixed(self, pk: object, sk: object = None) -> bytes:
        """:attr:`key` of an untyped table of the shared sub-databases."""
        p = (
            _utf8(pk, self.pk_attr)
            if type(pk) is str
            else key_bytes(pk, f"partition key {self.pk_attr!r}")
        )
        if sk is None:
            return self.prefix + self._compose(p, None)
        if self.sk_attr is None:
            raise ValidationError("this table has no sort key, but a sort key value was given")
        s = (
            _utf8(sk, self.sk_attr)
            if type(sk) is str
            else key_bytes(sk, f"sort key {self.sk_attr!r}")
        )
        return self.prefix + self._compose(p, s)

    def head(self, p: bytes) -> bytes:
        """``stripe | len | p``: the partition's part of its item keys (no table prefix).

        A partition key longer than :attr:`inline_pk` bytes is replaced by
        its SHA-256 (``len`` then reads ``FFFF``): partitions need no order,
        the stripe still comes from the value itself, and the stored item
        holds the full value.
        """
        if len(p) <= self.inline_pk:
            return _HEADER.pack(crc32(p) & 0xFFFF, len(p)) + p
        return _HEADER.pack(crc32(p) & 0xFFFF, HASHED_PK) + sha256(p).digest()

    def _compose(self, p: bytes, s: bytes | None) -> bytes:
        """The item key (no table prefix) of key bytes ``p``/``s``, with every size check."""
        if not p or s == b"":
            self._bad_key(p, s if s is not None else b"-")
        if len(p) > keys.MAX_PARTITION_KEY_BYTES:
            raise ValidationError(keys.PARTITION_TOO_LONG)
        if s is not None and len(s) > keys.MAX_SORT_KEY_BYTES:
            raise ValidationError(keys.SORT_TOO_LONG)
        head = self.head(p)
        size = len(head) - _HEADER.size + (0 if s is None else len(s))
        if s is not None and size > self.max_key_bytes:
            group = self.group_len(head)
            if group < _NO_GROUP:  # a long sort key: its first bytes and a hash
                return head + HAS_SK + s[:group] + sha256(s).digest()[:_SK_HASH]
        if size > self.max_key_bytes:
            hashed = (
                " (the partition key stored as its 32-byte hash)" if len(p) > self.inline_pk else ""
            )
            raise ValidationError(
                f"partition key + sort key is {size} bytes{hashed}; the limit is "
                f"{self.max_key_bytes} bytes (LMDB's key size limit, less the key's header)"
            )
        return head + (NO_SK if s is None else HAS_SK + s)

    def _key_typed(self, pk: object, sk: object = None) -> bytes:
        """:attr:`key` of a typed table."""
        return self._typed_key(pk, sk, False)

    def _typed_key(self, pk: object, sk: object, in_item: bool) -> bytes:
        """The stored key of a typed table (``in_item``: the values come from a put's item)."""
        p = keys.key_value(pk, self.pk_attr, self.pk_type, in_item, keys.PARTITION)  # type: ignore[arg-type]
        if self.sk_attr is None:
            if sk is not None:
                raise ValidationError(keys.schema_mismatch("this table has no sort key"))
            return self.prefix + self._compose(p, None)
        if sk is None:
            raise ValidationError(
                keys.missing_key(self.sk_attr)
                if in_item
                else keys.schema_mismatch(f"the key needs the sort key {self.sk_attr!r}")
            )
        s = keys.key_value(sk, self.sk_attr, self.sk_type, in_item, keys.SORT)  # type: ignore[arg-type]
        return self.prefix + self._compose(p, s)

    def partition(self, pk: object) -> bytes:
        """The prefix of every item key of partition ``pk`` (a query's partition value)."""
        if self.typed:
            p = keys.condition_value(pk, self.pk_attr, self.pk_type)  # type: ignore[arg-type]
            if len(p) > keys.MAX_PARTITION_KEY_BYTES:
                raise ValidationError(keys.PARTITION_TOO_LONG)
            return self.prefix + self.head(p)
        return self.key(pk)[:-1]  # the key without its NO_SK flag

    def groups(self, part: bytes) -> TableGroups | None:
        """How partition ``part``'s keys hold long sort keys (``None``: no sort key)."""
        if self.sk_attr is None:
            return None
        return TableGroups(self, part)

    def query_range(
        self, part: bytes, cond: SortKeyCondition | None
    ) -> tuple[bytes, bytes | None, Exact | None]:
        """The item keys of partition ``part`` (see :meth:`partition`) that ``cond`` selects.

        A bound longer than :meth:`group_len` cannot be placed exactly among
        the keys (its group is ordered only when read): the range then takes
        the bound's whole group, and the third value is the exact test of
        the full sort key that reads apply to every item
        (:meth:`keystone.groups.Groups.key_range`).
        """
        if cond is None:
            return part + NO_SK, part + b"\x02", None
        if self.typed:
            if self.sk_attr is None:
                raise ValidationError(
                    "this table has no sort key; a query takes no sort key condition"
                )
            v, u = keys.condition_values(cond, self.sk_attr, self.sk_type)  # type: ignore[arg-type]
        else:
            v = key_bytes(cond.value, "sort key condition value")
            u = None
            if cond.op == "between":
                u = key_bytes(cond.upper, "sort key condition upper bound")
        for bound in (v, u):
            if bound is not None and len(bound) > keys.MAX_SORT_KEY_BYTES:
                raise ValidationError(keys.SORT_TOO_LONG)
        groups = TableGroups(self, part)
        if cond.op == "eq" and groups.place(v) is None:  # one key, found from the value
            exact_key = part + self._compose_tail(part, v)
            return exact_key, exact_key + b"\x00", None
        lo, hi, exact = groups.key_range(cond.op, v, u, part + HAS_SK, part + b"\x02")
        longest = max(len(lo), len(hi or b""))
        if longest > self.engine.max_key_size:  # (only beside a very long partition key)
            raise ValidationError(
                f"partition key + sort key is {longest - len(self.prefix) - KEY_OVERHEAD} bytes; "
                f"the limit is {self.max_key_bytes} bytes"
            )
        return lo, hi, exact

    def _compose_tail(self, part: bytes, s: bytes) -> bytes:
        """The item key of sort key bytes ``s`` in partition ``part``, less ``part``."""
        head = part[len(self.prefix) :]
        return HAS_SK + s[: self.group_len(head)] + sha256(s).digest()[:_SK_HASH]

    def segment_range(self, first: bytes, end: bytes | None) -> tuple[bytes, bytes | None]:
        """A scan segment's key range in this table (``first``/``end``: stripe bounds)."""
        if not self.prefix:
            return first, end
        return self.prefix + first, self.prefix + end if end is not None else prefix_end(
            self.prefix
        )

    def group_len(self, head: bytes) -> int:
        """How many sort key bytes a long sort key keeps in partition ``head``'s item keys.

        Sort keys longer than this share their group (the keys with the same
        first bytes) with every key of the partition that passes this length;
        reads sort each group by the full sort key (see :meth:`read_range`).
        Beside a partition key too long to leave room for that, sort keys are
        stored whole only, and this is a length no key reaches.
        """
        group = self.max_key_bytes - (len(head) - _HEADER.size) - _SK_HASH
        return group if group >= _MIN_GROUP else _NO_GROUP

    def sort_bytes(self, item: Mapping[str, Any]) -> bytes:
        """The sort key of a stored item as it orders (its key bytes, in full)."""
        value = item.get(self.sk_attr)  # type: ignore[arg-type]
        if type(value) is str:
            return value.encode()
        if isinstance(value, bytes):
            return value
        if value is None:
            return b""
        return codec.number_key(value)

    def _bad_key(self, p: bytes, s: bytes) -> None:
        """Raise for an empty key value (``s`` is ``b"-"`` when there is no sort key)."""
        attr = self.pk_attr if not p else self.sk_attr
        raise ValidationError(
            "One or more parameter values are not valid. The AttributeValue for a key "
            f"attribute cannot contain an empty string value. Key: {attr}"
        )

    def key_of_item(self, item: Mapping[str, Any]) -> bytes:
        """The stored key of a (normalised) item; raises if key attributes are missing or bad."""
        if self.pk_attr not in item:
            if self.typed:
                raise ValidationError(keys.missing_key(self.pk_attr))
            raise ValidationError(f"the item has no partition key attribute {self.pk_attr!r}")
        sk = item.get(self.sk_attr) if self.sk_attr is not None else None
        if self.typed:
            return self._typed_key(item[self.pk_attr], sk, True)
        return self.key(item[self.pk_attr], sk)

    def key_from_dict(self, key: Mapping[str, Any], what: str = "key") -> bytes:
        """The stored key of a key dict such as ``{"pk": "a", "sk": "b"}``."""
        if not isinstance(key, Mapping):
            raise ValidationError(
                f"{what} must be a dict of key attributes, got {type(key).__name__}"
            )
        if self.pk_attr not in key:
            if self.typed:
                raise ValidationError(
                    keys.schema_mismatch(f"{what} has no partition key attribute {self.pk_attr!r}")
                )
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
        self.check_exists(txn)
        entries = [(idx, idx.entry(item, key, data)) for idx in self.indexes.values()]
        prev_raw = txn.replace(key, data, db=self.items_db)
        prev = None if prev_raw is None else unpackb(prev_raw, ext_hook=EXT_HOOK, raw=False)
        for idx, entry in entries:
            if prev is not None:
                for stale in idx.stale_keys(prev, key):
                    txn.delete(stale, db=idx.db)
            if entry is not None:
                txn.put(entry[0], entry[1], db=idx.db)
        if self.ttl is not None:
            self.ttl.update(txn, key, prev, item)
        if self.stream is not None:
            self.stream.append(
                txn, "INSERT" if old is None else "MODIFY", self.key_dict(item), old, item
            )

    def check_exists(self, txn: Any) -> None:
        """Raise :class:`NotFound` if the table was deleted (by this process or another)."""
        if self.dropped or (
            self.exists_key is not None and txn.get(self.exists_key, db=self.meta) is None
        ):
            raise NotFound(f"table {self.name!r} does not exist (it was deleted)")

    def count(self, txn: Any) -> int:
        """How many items the table holds (expired ones not yet swept included)."""
        if not self.prefix:
            return int(txn.stat(self.items_db)["entries"])
        return count_prefix(txn, self.items_db, self.prefix)

    def remove(self, txn: Any, key: bytes, old: Item, by_ttl: bool = False) -> None:
        """Delete the item ``old`` stored at ``key`` (and everything that follows it)."""
        if self.exists_key is not None:
            self.check_exists(txn)
        txn.delete(key, db=self.items_db)
        if not self.hooks:
            return
        for idx in self.indexes.values():
            for stale in idx.stale_keys(old, key):
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
        groups: Groups | None = None,
        exact: Exact | None = None,
        fetch: Callable[[Item], Item | None] | None = None,
    ) -> Page:
        """Read items with ``lo <= key < hi`` (``hi=None``: to the end).

        ``after`` resumes strictly past that key in the reading direction.
        Stops after ``limit`` items were read or :data:`MAX_PAGE_BYTES`.
        ``groups`` (a query): the partition's groups of long sort keys, each
        read whole and sorted by the full sort key (:mod:`keystone.groups`).
        ``exact`` (given with ``groups``) tests the full sort key and stored
        key of every item (a bound or a resume point inside a group); items
        it rejects are not counted as read.
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
        # Keys that may be in a group (longer than ``groups.shortest``) are
        # tested; at the first one that is, the loop switches to reading
        # through ``groups.in_order``, which sorts each group.
        longest = (1 << 30) if groups is None else groups.shortest
        sort_bytes = self.sort_bytes if groups is None else groups.sort_bytes
        source: Iterator[tuple[bytes, bytes]] | None = entries
        while source is not None:
            resumed, source = source, None
            for k, v in resumed:
                if (stop_at is not None and k >= stop_at) or (
                    stop_below is not None and k < stop_below
                ):
                    break
                if len(k) > longest and groups is not None and groups.lead(k) is not None:
                    longest = 1 << 30
                    source = groups.in_order(chain(((k, v),), resumed), reverse)
                    break
                if scanned == limit or nbytes >= MAX_PAGE_BYTES:
                    more = True
                    break
                item = unpackb(v, ext_hook=EXT_HOOK, raw=False)
                if exact is not None and not exact(sort_bytes(item), k):
                    continue
                scanned += 1
                nbytes += len(v)
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


class TableGroups(Groups):
    """The groups of long sort keys in one partition of a table (:mod:`keystone.groups`).

    A sort key longer than ``group`` bytes (see :meth:`Storage.group_len`)
    is kept as its first ``group`` bytes and 16 bytes of its SHA-256; every
    key longer than ``shortest`` (which a stored short key of ``group + 1``
    to ``group + 16`` bytes can be too) belongs to the group of its first
    ``shortest`` bytes.
    """

    __slots__ = ("_sort", "base", "group", "shortest")

    def __init__(self, table: Storage, part: bytes) -> None:
        self.base = part + HAS_SK
        self.group = table.group_len(part[len(table.prefix) :])
        self.shortest = len(self.base) + self.group
        self._sort = table.sort_bytes

    def sort_bytes(self, item: Mapping[str, Any]) -> bytes:
        return self._sort(item)

    def lead(self, key: bytes) -> bytes | None:
        return key[: self.shortest]

    def place(self, v: bytes) -> tuple[bytes, bytes] | None:
        if len(v) > self.group:
            return None
        return self.base + v, self.base + v + b"\x00"

    def lead_of(self, v: bytes) -> bytes:
        return self.base + v[: self.group]

    def prefix(self, v: bytes) -> bytes:
        return self.base + v


__all__ = ["MAX_ITEM_BYTES", "MAX_PAGE_BYTES", "Page", "Storage"]
