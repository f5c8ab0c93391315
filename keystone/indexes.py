"""Secondary indexes: the layout of index entries and their key ranges.

Each index lives in its own sub-database (``idx:<name>``). An entry's key is

    stripe(ipk) | len(ipk) | ipk | flag | isk 00 00 | base item key

where ``ipk``/``isk`` are the index's key attribute values as bytes and the
base item key makes entries of items that share index keys distinct and
ordered. Index key values are strings, binaries or numbers:

* ``ipk``: a string's UTF-8 or a binary's bytes (so ``"a"`` and ``b"a"`` are
  one partition, as for the table's keys), or a number's
  :func:`keystone.codec.number_key`. ``flag`` says whether entries have a
  sort key and whether ``ipk`` is a number (``NO_SK``/``HAS_SK``, plus 2 for
  a number), so a number never shares a partition with a binary whose bytes
  happen to equal its encoding.
* ``isk``: a string or binary escaped (``00`` -> ``00 FF``), or ``00 01`` and
  a number's escaped ``number_key``, then the terminator ``00 00``: entries
  order by sort key whatever follows, numbers numerically and before every
  string and binary (an escaped string never starts with ``00 01``).

A local index is an index whose partition key is the table's. An entry's
value is the projected item (msgpack), which always keeps the table's and
the index's key attributes (and the TTL attribute, so expired items stay
invisible in index reads too).

Items lacking an index key attribute are absent from that index. A typed
index (declared ``S``/``N``/``B`` keys) rejects a wrong-typed or empty key
value with DynamoDB's message (:func:`keystone.keys.index_value`); an
untyped index, as files of format 2 have them, leaves such items out.

In a table other than the default one, every entry key starts with the
table's and the index's ids (``prefix``, see :mod:`keystone.catalog`). A
partition key value past ``inline_pk`` bytes is stored as its SHA-256
(``stripe | FFFF | digest``), and an entry that would pass LMDB's key limit
ends with the SHA-256 of the item key instead of the item key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from hashlib import sha256
from typing import TYPE_CHECKING, Any, Final
from zlib import crc32

from . import codec, keys
from .catalog import count_prefix
from .codec import _HEADER, HAS_SK, NO_SK, prefix_end
from .errors import ValidationError
from .groups import MIN_GROUP, Exact, Groups
from .schema import GlobalIndex, LocalIndex
from .sk import SortKeyCondition
from .types import Item, normalize_number

if TYPE_CHECKING:
    from .table import Storage

_TERM: Final = b"\x00\x00"
_NUMBER: Final = b"\x00\x01"  # starts a number sort key
_TEXT: Final = b"\x00\x02"  # every string or binary sort key is above this
_NUMBER_PK: Final = 2  # added to the flag when the partition key is a number
_DIGEST: Final = 32  # an item key too long for an entry is stored as its SHA-256
_LONG: Final = b"\x00\x03"  # ends the lead of a sort key too long to store whole


def _escape(raw: bytes) -> bytes:
    return raw.replace(b"\x00", b"\x00\xff")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _given_key(value: object, what: str) -> tuple[bytes, bool]:
    """``(bytes, is_number)`` of a key value a caller gives (a query's)."""
    if _is_number(value):
        return codec.number_key(normalize_number(value, what)), True
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return codec.key_bytes(value, what), False
    raise ValidationError(f"{what} must be a str, bytes or number, got {type(value).__name__}")


def _sort_bytes(raw: bytes, number: bool) -> bytes:
    """An index sort key as it orders in entry keys (before its terminator)."""
    return _NUMBER + _escape(raw) if number else _escape(raw)


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
        prefix: bytes = b"",
    ) -> None:
        self.definition = definition
        self.prefix = prefix
        self.name = definition.name
        self.local = isinstance(definition, LocalIndex)
        self.pk_attr = table_pk if isinstance(definition, LocalIndex) else definition.partition_key
        self.sk_attr = definition.sort_key
        self.pk_type = (
            definition.partition_key_type if isinstance(definition, GlobalIndex) else None
        )
        self.sk_type = definition.sort_key_type
        self.typed = definition.typed
        self.table_pk = table_pk
        self.table_sk = table_sk
        self.db = handle
        self.max_key_size = max_key_size
        #: Longer index partition keys are stored as their hash (:meth:`_hashed`);
        #: the default table's indexes keep every key format 2 could store.
        self.inline_pk = max_key_size if not prefix else 64
        # The flag after the partition key: is there a sort key; is ipk a number.
        self._flags = (
            NO_SK if self.sk_attr is None else HAS_SK,
            bytes([(NO_SK if self.sk_attr is None else HAS_SK)[0] + _NUMBER_PK]),
        )
        keys = frozenset(
            a for a in (table_pk, table_sk, self.pk_attr, self.sk_attr) if a is not None
        )
        projection = definition.projection
        #: What the index projects, as DynamoDB says it (``None``: everything):
        #: the table's and the index's keys, and an INCLUDE list.
        self.projected: frozenset[str] | None
        if projection == "ALL":
            self.projected = None
        elif projection == "KEYS_ONLY":
            self.projected = keys
        else:
            self.projected = keys | frozenset(projection)
        #: What an entry stores: what it projects, and the TTL attribute (so that
        #: expired items stay invisible in index reads too).
        self.keep: frozenset[str] | None = (
            None
            if self.projected is None
            else self.projected | ({ttl_attr} if ttl_attr is not None else set())
        )

    # -- entries -------------------------------------------------------------

    def entry_key(self, item: Item, base_key: bytes) -> bytes | None:
        """The key of ``item``'s entry, or ``None`` when the item is not in the index."""
        parts = self._parts(item)
        return None if parts is None else self._finish(parts[0], parts[1], base_key)

    def stale_keys(self, item: Item, base_key: bytes) -> tuple[bytes, ...]:
        """Every key ``item``'s entry may be stored at (to delete it).

        That is :meth:`entry_key`, and for a long sort key also the whole
        form that earlier code wrote when the item key was short enough to
        fit beside it (see docs/design.md, "Index entries").
        """
        parts = self._parts(item)
        if parts is None:
            return ()
        head, srt = parts
        key = self._finish(head, srt, base_key)
        front = len(head) + len(srt) + len(_TERM)
        if front + _DIGEST > self.max_key_size and front + len(base_key) <= self.max_key_size:
            whole = head + srt + _TERM + base_key
            if whole != key:
                return key, whole
        return (key,)

    def _parts(self, item: Item) -> tuple[bytes, bytes] | None:
        """``(head, sort)`` of ``item``'s entry (the sort key as it orders, without its
        terminator; empty without a sort key), or ``None`` when it is not in the index."""
        if self.typed:
            return self._typed_parts(item)
        # (Written out for the common str case: every write runs it per index.)
        value = item.get(self.pk_attr)
        if type(value) is str:
            ipk = value.encode()
            flag = self._flags[0]
        elif type(value) is bytes:
            ipk, flag = value, self._flags[0]
        elif type(value) is int or type(value) is Decimal:
            ipk, flag = codec.number_key(value), self._flags[1]
        else:
            return None
        if not ipk:
            return None
        if len(ipk) > self.inline_pk:
            self._check_size(ipk, self.pk_attr, keys.MAX_PARTITION_KEY_BYTES)
            head = self.prefix + self._hashed(ipk) + flag
        else:
            head = self.prefix + _HEADER.pack(crc32(ipk) & 0xFFFF, len(ipk)) + ipk + flag
        if self.sk_attr is None:
            return head, b""
        value = item.get(self.sk_attr)
        if type(value) is str:
            raw = value.encode()
        elif type(value) is bytes:
            raw = value
        elif type(value) is int or type(value) is Decimal:
            return head, _NUMBER + _escape(codec.number_key(value))
        else:
            return None
        if not raw:
            return None
        if len(raw) > keys.MAX_SORT_KEY_BYTES:
            self._check_size(raw, self.sk_attr, keys.MAX_SORT_KEY_BYTES)
        return head, raw.replace(b"\x00", b"\x00\xff")

    def _check_size(self, raw: bytes, attr: str, limit: int) -> None:
        """An index key value past DynamoDB's size for it is refused with DynamoDB's message."""
        if len(raw) > limit:
            raise ValidationError(
                "One or more parameter values were invalid: Size limit exceeded for Index Key "
                f"{attr} Actual Size: {len(raw)} bytes Max Size: {limit} bytes "
                f"IndexName: {self.name}"
            )

    def _finish(self, head: bytes, srt: bytes, base_key: bytes) -> bytes:
        """The entry key of index keys ``head``/``srt`` and the item key, within LMDB's limit.

        The item key only makes entries with equal index keys distinct, so
        when it does not fit whole it is replaced by its SHA-256 (an entry
        key is always computed from the item, never parsed). A sort key too
        long to leave room for that is kept as its group's lead and the
        SHA-256 of the whole entry key (:class:`IndexGroups`).
        """
        front = head if self.sk_attr is None else head + srt + _TERM
        size = len(front)
        limit = self.max_key_size
        if size + _DIGEST <= limit:
            if size + len(base_key) <= limit:
                return front + base_key
            return front + sha256(base_key).digest()
        group = self.group_len(head)
        if self.sk_attr is not None and group is not None:
            return head + _lead(srt, group) + _LONG + sha256(front + base_key).digest()
        if size + len(base_key) <= limit:  # (no groups in this partition: whole, as ever)
            return front + base_key
        raise ValidationError(
            f"the entry of this item in index {self.name!r} would have a "
            f"{size + _DIGEST}-byte key; the limit is {self.max_key_size} bytes "
            "(shorten the index key values)"
        )

    def group_len(self, head: bytes) -> int | None:
        """How many bytes of an escaped sort key stay whole beside ``head`` (its lead
        is at most this long), or ``None`` if too few remain to keep groups small."""
        group = self.max_key_size - len(head) - len(_TERM) - _DIGEST
        return group if group >= MIN_GROUP else None

    def _typed_parts(self, item: Item) -> tuple[bytes, bytes] | None:
        """:meth:`_parts` of a typed index: a present key value must have its declared type."""
        if self.pk_attr not in item:
            return None
        pk_type = self.pk_type or "S"
        if self.local:
            ipk, number = _given_key(item[self.pk_attr], "the partition key")
        else:
            ipk = keys.index_value(item[self.pk_attr], self.pk_attr, pk_type, self.name)
            number = pk_type == "N"
            self._check_size(ipk, self.pk_attr, keys.MAX_PARTITION_KEY_BYTES)
        head = self._head(ipk, number)
        if self.sk_attr is None:
            return head, b""
        if self.sk_attr not in item:
            return None
        isk = keys.index_value(item[self.sk_attr], self.sk_attr, self.sk_type, self.name)  # type: ignore[arg-type]
        self._check_size(isk, self.sk_attr, keys.MAX_SORT_KEY_BYTES)
        return head, _sort_bytes(isk, self.sk_type == "N")

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

    def _head(self, ipk: bytes, number: bool) -> bytes:
        """``stripe | len | ipk | flag``: the prefix of every entry of partition ``ipk``."""
        if len(ipk) > self.inline_pk:
            return self.prefix + self._hashed(ipk) + self._flags[number]
        return self.prefix + _HEADER.pack(crc32(ipk) & 0xFFFF, len(ipk)) + ipk + self._flags[number]

    @staticmethod
    def _hashed(ipk: bytes) -> bytes:
        """``stripe | FFFF | SHA-256``: a long index partition key as its entries store it.

        Index partitions need no order, and no inline value has length FFFF.
        """
        return _HEADER.pack(crc32(ipk) & 0xFFFF, 0xFFFF) + sha256(ipk).digest()

    def partition(self, pk: object) -> bytes:
        """The prefix of every entry of the partition whose index key is ``pk``."""
        what = f"index {self.name!r}: the partition key value"
        if self.typed and not self.local:
            self._check_condition_type(pk, self.pk_type)
        return self._head(*_given_key(pk, what))

    def _check_condition_type(self, value: object, kind: object) -> None:
        """A query value of a typed index key must have the key's type (DynamoDB's rule)."""
        if kind is None:
            return
        if kind == "N":
            ok = _is_number(value)
        elif kind == "S":
            ok = isinstance(value, str)
        else:
            ok = isinstance(value, (bytes, bytearray, memoryview))
        if not ok:
            raise ValidationError(keys.CONDITION_TYPE)

    def segment_range(self, first: bytes, end: bytes | None) -> tuple[bytes, bytes | None]:
        """A scan segment's range of entry keys (``first``/``end``: stripe bounds)."""
        if not self.prefix:
            return first, end
        return self.prefix + first, self.prefix + end if end is not None else prefix_end(
            self.prefix
        )

    def groups(self, part: bytes) -> IndexGroups | None:
        """How partition ``part``'s entries hold long sort keys (``None``: they cannot)."""
        if self.sk_attr is None:
            return None
        group = self.group_len(part)
        return None if group is None else IndexGroups(self, part, group)

    def sort_bytes(self, item: Mapping[str, Any]) -> bytes:
        """The index sort key of an entry (or start key) as entries order it."""
        value = item.get(self.sk_attr)  # type: ignore[arg-type]
        if value is None:
            return b""
        return _sort_bytes(*_given_key(value, "the index sort key"))

    def query_range(
        self, pk: object, cond: SortKeyCondition | None
    ) -> tuple[bytes, bytes | None, Exact | None]:
        """The entries of partition ``pk`` that ``cond`` selects, as ``(lo, hi, exact)``
        (``exact``: the test of a bound inside a group, see :mod:`keystone.groups`)."""
        part = self.partition(pk)
        if cond is None:
            return part, prefix_end(part), None
        if self.sk_attr is None:
            raise ValidationError(
                f"index {self.name!r} has no sort key; drop the sort key condition"
            )
        what = f"index {self.name!r}: the sort key condition value"
        if self.typed:
            self._check_condition_type(cond.value, self.sk_type)
            if cond.op == "between":
                self._check_condition_type(cond.upper, self.sk_type)
        raw, number = _given_key(cond.value, what)
        if cond.op == "begins_with" and number:
            raise ValidationError(f"{what}: begins_with takes a str or bytes, not a number")
        self._check_size(raw, self.sk_attr, keys.MAX_SORT_KEY_BYTES)
        upper = None
        if cond.op == "between":
            top, upper_number = _given_key(cond.upper, what)
            if upper_number != number:
                raise ValidationError(f"{what}: between needs two numbers or two str/bytes")
            self._check_size(top, self.sk_attr, keys.MAX_SORT_KEY_BYTES)
            upper = _sort_bytes(top, number)
        value = _escape(raw) if cond.op == "begins_with" else _sort_bytes(raw, number)
        # Open ends stop at the edges of the value's type: a condition on a
        # number never matches a string sort key, nor the reverse.
        open_low = part + (_NUMBER if number else _TEXT)
        open_high = part + _TEXT if number else prefix_end(part)
        groups = self.groups(part) or IndexGroups(self, part, None)
        return groups.key_range(cond.op, value, upper, open_low, open_high)

    def count(self, txn: Any) -> int:
        """How many entries the index holds."""
        if not self.prefix:
            return int(txn.stat(self.db)["entries"])
        return count_prefix(txn, self.db, self.prefix)

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


def _lead(srt: bytes, group: int) -> bytes:
    """The lead of an escaped sort key: its first ``group`` bytes, less a split ``00 FF``."""
    cut = srt[:group]
    return cut[:-1] if cut.endswith(b"\x00") else cut


class IndexGroups(Groups):
    """The groups of long sort keys in one partition of an index (:mod:`keystone.groups`).

    An escaped sort key longer than ``group`` bytes is stored as its lead
    (:func:`_lead`), ``00 03`` and the SHA-256 of the whole entry key it
    would have had; the marker sits where a whole key has its terminator
    ``00 00``, so an entry is told grouped by reading its sort key's escape
    pairs up to the first ``00`` not followed by ``FF``. ``group`` ``None``:
    beside a partition key too long for groups, sort keys are whole only.
    """

    __slots__ = ("group", "index", "part", "shortest")

    def __init__(self, index: Index, part: bytes, group: int | None) -> None:
        self.index = index
        self.part = part
        self.group = group
        # A grouped entry is part | lead (group - 1 or group bytes) | 00 03 | digest.
        self.shortest = len(part) + group + _DIGEST if group is not None else 1 << 30

    def lead(self, key: bytes) -> bytes | None:
        i = len(self.part)
        if key.startswith(_NUMBER, i):
            return None  # a number is never long
        for _ in range(len(key)):  # (each pass moves past one escape pair)
            i = key.find(b"\x00", i)
            if i < 0 or i + 1 >= len(key):
                return None
            if key[i + 1] != 0xFF:
                return key[: i + 2] if key[i + 1] == _LONG[1] else None
            i += 2
        return None

    def sort_bytes(self, item: Mapping[str, Any]) -> bytes:
        return self.index.sort_bytes(item)

    def place(self, v: bytes) -> tuple[bytes, bytes] | None:
        if self.group is not None and len(v) > self.group:
            return None
        first = self.part + v + _TERM
        return first, prefix_end(first) or first

    def lead_of(self, v: bytes) -> bytes:
        assert self.group is not None
        return self.part + _lead(v, self.group) + _LONG

    def prefix(self, v: bytes) -> bytes:
        return self.part + v


_log = logging.getLogger(__name__)
_PROGRESS_EVERY: Final = 100_000


def build_indexes(table: Storage, txn: Any, added: Sequence[Any]) -> None:
    """Fill newly added indexes from the existing items (inside the schema's write).

    An item whose value does not fit a typed index's key type fails the
    build (and so the schema change), as DynamoDB's index backfill would
    report it.
    """
    indexes = [table.indexes[d.name] for d in added]
    total = table.count(txn)
    _log.info("building %d new index(es) over %d items", len(indexes), total)
    cur = txn.cursor(db=table.items_db)
    prefix = table.prefix
    if not cur.set_range(prefix):
        return
    for n, (key, raw) in enumerate(cur.iternext(), 1):
        if prefix and not key.startswith(prefix):
            break
        item = codec.unpackb(raw, ext_hook=codec.EXT_HOOK, raw=False)
        for idx in indexes:
            entry = idx.entry(item, key)
            if entry is not None:
                txn.put(entry[0], entry[1], db=idx.db)
        if n % _PROGRESS_EVERY == 0:
            _log.info("index build: %d of %d items", n, total)
    _log.info("index build done")


__all__ = ["Index", "IndexGroups", "build_indexes"]
