"""The table catalog: which tables a file holds, where their bytes live, and deletions in progress.

A file has a *default* table, stored exactly as the one-table releases
stored it (sub-databases ``items``, ``idx:<index>``, ``ttl``, ``stream``;
schema in ``meta`` under ``b"schema"``), so files of format 2 open as they
are. Every other table shares four sub-databases, its keys prefixed with
the table's id (4 bytes, big-endian, never reused):

============== =====================================================
sub-database    key
============== =====================================================
``t:items``     table id | item key (as in the default table)
``t:idx``       table id | index id (2 bytes) | index entry key
``t:ttl``       table id | expiry ms | item key
``t:stream``    table id | sequence number
============== =====================================================

LMDB's cost per transaction grows with the number of named sub-databases
(``max_dbs`` and those opened), so the hot path stays as fast with 2,500
tables as with one. In ``meta``:

* ``table:<name>`` -> msgpack ``{"id", "schema", "index_ids", "next_index", "created"}``;
* ``table_id:<id>`` -> the name (a cheap "does this table still exist" check);
* ``next_table_id`` -> the next id (4 bytes);
* ``stream_seq:<id>`` -> a table's last stream sequence number;
* ``props:<name>`` -> msgpack dict of the table's properties (what a caller
  such as the DynamoDB endpoint keeps about a table beyond its schema:
  billing mode, throughput, tags), the default table's too; files without
  the key have none;
* ``dropping:<id>`` -> msgpack list of ``[sub-database, key prefix]`` ranges
  still to delete (a deleted table, or a dropped index of one): the
  background worker deletes them a bounded number of keys per commit, so
  deleting a huge table is one short commit and readers never wait.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import msgpack

from .codec import prefix_end
from .errors import Corruption, ResourceExhausted, ValidationError
from .schema import Schema
from .types import ms_to_datetime

if TYPE_CHECKING:
    from .engine import Engine
    from .table import Storage

DEFAULT_TABLE: Final = "default"
#: DynamoDB's default quota of tables per account and region.
MAX_TABLES: Final = 2500

ITEMS_DB: Final = b"t:items"
INDEX_DB: Final = b"t:idx"
TTL_DB: Final = b"t:ttl"
STREAM_DB: Final = b"t:stream"
SHARED_DBS: Final = (ITEMS_DB, INDEX_DB, TTL_DB, STREAM_DB)

_ID: Final = struct.Struct(">I")
_INDEX_ID: Final = struct.Struct(">H")
_TABLE: Final = b"table:"
_TABLE_ID: Final = b"table_id:"
_NEXT_ID: Final = b"next_table_id"
_DROPPING: Final = b"dropping:"
_PROPS: Final = b"props:"
#: The most bytes a table's properties take, encoded.
MAX_PROPERTIES_BYTES: Final = 64 * 1024
_MAX_PROPERTY_DEPTH: Final = 16
SEQ_PREFIX: Final = b"stream_seq:"


@dataclass(slots=True)
class Entry:
    """One table of the catalog (the default table has ``id`` ``None``)."""

    name: str
    schema: Schema
    id: int | None = None
    index_ids: dict[str, int] = field(default_factory=dict)
    next_index: int = 0
    created: int = 0

    @property
    def prefix(self) -> bytes:
        """The key prefix of the table's entries in the shared sub-databases."""
        return b"" if self.id is None else _ID.pack(self.id)

    def index_prefix(self, index: str) -> bytes:
        """The key prefix of one index's entries (empty in the default table's own sub-database)."""
        if self.id is None:
            return b""
        return self.prefix + _INDEX_ID.pack(self.index_ids[index])

    def encode(self) -> bytes:
        return msgpack.packb(  # type: ignore[no-any-return]
            {
                "id": self.id,
                "schema": self.schema.to_dict(),
                "index_ids": self.index_ids,
                "next_index": self.next_index,
                "created": self.created,
            },
            use_bin_type=True,
        )

    @classmethod
    def decode(cls, name: str, raw: bytes) -> Entry:
        try:
            data = msgpack.unpackb(raw, raw=False)
            return cls(
                name,
                Schema.from_dict(data["schema"]),
                data["id"],
                dict(data["index_ids"]),
                data["next_index"],
                data.get("created", 0),
            )
        except (KeyError, TypeError, ValueError, msgpack.UnpackException) as exc:
            raise Corruption(f"the catalog entry of table {name!r} cannot be read: {exc}") from None

    def assign_index_ids(self) -> None:
        """Give every index of the schema that has none an id of its own (ids are never reused)."""
        for idx in self.schema.indexes:
            if idx.name not in self.index_ids:
                self.index_ids[idx.name] = self.next_index
                self.next_index += 1
        if self.next_index > 0xFFFF:
            raise ResourceExhausted("this table has defined 65,536 indexes over its life")

    def sub_databases(self) -> tuple[bytes, dict[str, bytes], bytes, bytes]:
        """Names of the items, index (per index), TTL and stream sub-databases."""
        if self.id is None:
            return (
                b"items",
                {i.name: b"idx:" + i.name.encode() for i in self.schema.indexes},
                b"ttl",
                b"stream",
            )
        return ITEMS_DB, {i.name: INDEX_DB for i in self.schema.indexes}, TTL_DB, STREAM_DB

    @property
    def seq_key(self) -> bytes:
        """The ``meta`` key of the table's last stream sequence number."""
        return b"stream_seq" if self.id is None else SEQ_PREFIX + self.prefix

    @property
    def exists_key(self) -> bytes | None:
        """The ``meta`` key present while the table exists (``None`` for the default table)."""
        return None if self.id is None else _TABLE_ID + self.prefix


def entry_key(name: str) -> bytes:
    return _TABLE + name.encode()


def read_entries(txn: Any, meta: Any) -> Iterator[Entry]:
    """Every table of the catalog except the default one, by name."""
    cur = txn.cursor(db=meta)
    if not cur.set_range(_TABLE):
        return
    for key, raw in cur.iternext():
        if not key.startswith(_TABLE):
            break
        yield Entry.decode(key[len(_TABLE) :].decode(), raw)


def read_entry(txn: Any, meta: Any, name: str) -> Entry | None:
    raw = txn.get(entry_key(name), db=meta)
    return None if raw is None else Entry.decode(name, raw)


def count_tables(txn: Any, meta: Any) -> int:
    cur = txn.cursor(db=meta)
    n = 0
    if cur.set_range(_TABLE):
        for key in cur.iternext(keys=True, values=False):
            if not key.startswith(_TABLE):
                break
            n += 1
    return n


def allocate_id(txn: Any, meta: Any) -> int:
    raw = txn.get(_NEXT_ID, db=meta)
    tid = 1 if raw is None else _ID.unpack(raw)[0]
    if tid >= 0xFFFFFFFF:
        raise ResourceExhausted("this file has created 4,294,967,294 tables over its life")
    txn.put(_NEXT_ID, _ID.pack(tid + 1), db=meta)
    return tid


def put_entry(txn: Any, meta: Any, entry: Entry) -> None:
    txn.put(entry_key(entry.name), entry.encode(), db=meta)
    if entry.exists_key is not None:
        txn.put(entry.exists_key, entry.name.encode(), db=meta)


def remove_entry(txn: Any, meta: Any, entry: Entry) -> None:
    """Take the table out of the catalog and queue its keys for deletion."""
    txn.delete(entry_key(entry.name), db=meta)
    txn.delete(_PROPS + entry.name.encode(), db=meta)
    if entry.exists_key is not None:
        txn.delete(entry.exists_key, db=meta)
        txn.delete(entry.seq_key, db=meta)
        queue_drop(txn, meta, entry.prefix, [(db, entry.prefix) for db in SHARED_DBS])


def read_properties(txn: Any, meta: Any, name: str) -> dict[str, Any]:
    """Table ``name``'s properties (``{}`` when none were ever set)."""
    raw = txn.get(_PROPS + name.encode(), db=meta)
    if raw is None:
        return {}
    try:
        props = msgpack.unpackb(raw, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise Corruption(f"the properties of table {name!r} cannot be read: {exc}") from None
    if not isinstance(props, dict):
        raise Corruption(f"the properties of table {name!r} are not a mapping")
    return props


def put_properties(txn: Any, meta: Any, name: str, raw: bytes | None) -> None:
    """Store table ``name``'s properties as :func:`encode_properties` made them (``None``: none)."""
    key = _PROPS + name.encode()
    if raw is not None:
        txn.put(key, raw, db=meta)
    else:
        txn.delete(key, db=meta)


def encode_properties(props: dict[str, Any]) -> bytes | None:
    """``props`` as stored (``None`` for none): JSON-like values only (ValidationError naming
    what is not)."""
    if not props:
        return None
    _check_property("properties", props, 0)
    raw: bytes = msgpack.packb(props, use_bin_type=True)
    if len(raw) > MAX_PROPERTIES_BYTES:
        raise ValidationError(
            f"a table's properties take at most {MAX_PROPERTIES_BYTES} bytes encoded, "
            f"these take {len(raw)}"
        )
    return raw


def _check_property(where: str, value: Any, depth: int) -> None:
    if depth > _MAX_PROPERTY_DEPTH:
        raise ValidationError(f"{where}: nested more than {_MAX_PROPERTY_DEPTH} levels deep")
    if value is None or isinstance(value, (str, bool, float)):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ValidationError(f"{where}: the int {value} does not fit in 64 bits")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_property(f"{where}[{i}]", v, depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError(f"{where}: keys are str, got {type(k).__name__} {k!r:.40}")
            _check_property(f"{where}[{k!r}]", v, depth + 1)
        return
    raise ValidationError(
        f"{where}: a property value is None, bool, int, float, str, list or dict, "
        f"got {type(value).__name__}"
    )


def queue_drop(txn: Any, meta: Any, owner: bytes, ranges: list[tuple[bytes, bytes]]) -> None:
    """Queue key ranges (sub-database, prefix) for background deletion."""
    key = _DROPPING + owner
    raw = txn.get(key, db=meta)
    queued = [] if raw is None else [tuple(r) for r in msgpack.unpackb(raw, raw=False)]
    queued.extend(ranges)
    txn.put(key, msgpack.packb([list(r) for r in queued], use_bin_type=True), db=meta)


def pending_drops(txn: Any, meta: Any) -> int:
    """How many tables or indexes still have keys waiting to be deleted."""
    cur = txn.cursor(db=meta)
    n = 0
    if cur.set_range(_DROPPING):
        for key in cur.iternext(keys=True, values=False):
            if not key.startswith(_DROPPING):
                break
            n += 1
    return n


def delete_dropped(txn: Any, engine: Engine, limit: int) -> int:
    """Delete up to ``limit`` keys of queued ranges in ``txn``; returns how many were deleted."""
    meta = engine.meta
    done = 0
    cur = txn.cursor(db=meta)
    jobs: list[tuple[bytes, list[tuple[bytes, bytes]]]] = []
    if cur.set_range(_DROPPING):
        for key, raw in cur.iternext():
            if not key.startswith(_DROPPING):
                break
            jobs.append((key, [(bytes(d), bytes(p)) for d, p in msgpack.unpackb(raw, raw=False)]))
    for key, ranges in jobs:
        left: list[tuple[bytes, bytes]] = []
        for db_name, prefix in ranges:
            if done >= limit:
                left.append((db_name, prefix))
                continue
            n, more = _delete_range(txn, engine.db(db_name), prefix, limit - done)
            done += n
            if more:
                left.append((db_name, prefix))
        if left:
            txn.put(key, msgpack.packb([list(r) for r in left], use_bin_type=True), db=meta)
        else:
            txn.delete(key, db=meta)
        if done >= limit:
            break
    return done


def count_prefix(txn: Any, db: Any, prefix: bytes) -> int:
    """How many keys of ``db`` start with ``prefix`` (a walk over the keys)."""
    cur = txn.cursor(db=db)
    n = 0
    if cur.set_range(prefix):
        for k in cur.iternext(keys=True, values=False):
            if not k.startswith(prefix):
                break
            n += 1
    return n


def describe(table: Storage, txn: Any) -> dict[str, Any]:
    """``table`` as DynamoDB's ``DescribeTable`` returns it (``TableDescription``).

    Untyped (legacy) key attributes are described as ``S``. ``ItemCount``
    is exact here (DynamoDB's is refreshed every few hours). The TTL
    setting, which DynamoDB describes apart, is added as
    ``TimeToLiveDescription``.
    """
    schema = table.schema
    types = schema.attribute_definitions() if schema.typed else {}

    def key_schema(pk: str | None, sk: str | None) -> list[dict[str, str]]:
        out = [{"AttributeName": pk, "KeyType": "HASH"}] if pk else []
        if sk:
            out.append({"AttributeName": sk, "KeyType": "RANGE"})
        return out

    def projection(p: object) -> dict[str, Any]:
        if p in ("ALL", "KEYS_ONLY"):
            return {"ProjectionType": p}
        return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(p)}  # type: ignore[call-overload]

    attrs: dict[str, str] = {}
    for name in (schema.partition_key, schema.sort_key):
        if name is not None:
            attrs[name] = types.get(name, "S")
    local: list[dict[str, Any]] = []
    glob: list[dict[str, Any]] = []
    for d in schema.indexes:
        idx = table.indexes[d.name]
        pk = schema.partition_key if idx.local else idx.pk_attr
        for name in (pk, idx.sk_attr):
            if name is not None:
                attrs.setdefault(name, types.get(name, "S"))
        desc: dict[str, Any] = {
            "IndexName": d.name,
            "KeySchema": key_schema(pk, idx.sk_attr),
            "Projection": projection(d.projection),
            "ItemCount": idx.count(txn),
        }
        if idx.local:
            local.append(desc)
        else:
            desc["IndexStatus"] = "ACTIVE"
            glob.append(desc)
    out: dict[str, Any] = {
        "TableName": table.name,
        "TableStatus": "ACTIVE",
        "KeySchema": key_schema(schema.partition_key, schema.sort_key),
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t} for n, t in attrs.items()
        ],
        "ItemCount": table.count(txn),
        "CreationDateTime": ms_to_datetime(table.entry.created) if table.entry.created else None,
    }
    if local:
        out["LocalSecondaryIndexes"] = local
    if glob:
        out["GlobalSecondaryIndexes"] = glob
    if schema.stream is not None:
        out["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": schema.stream.view,
        }
    out["TimeToLiveDescription"] = (
        {"TimeToLiveStatus": "ENABLED", "AttributeName": schema.ttl_attribute}
        if schema.ttl_attribute
        else {"TimeToLiveStatus": "DISABLED"}
    )
    return out


def _delete_range(txn: Any, db: Any, prefix: bytes, limit: int) -> tuple[int, bool]:
    """Delete up to ``limit`` keys starting with ``prefix``; ``(deleted, more left)``."""
    cur = txn.cursor(db=db)
    end = prefix_end(prefix)
    n = 0
    if not cur.set_range(prefix):
        return 0, False
    while True:
        key = cur.key()
        if not key or (end is not None and key >= end):
            return n, False
        if n >= limit:
            return n, True
        if not cur.delete():
            return n, False
        n += 1


__all__ = [
    "DEFAULT_TABLE",
    "MAX_PROPERTIES_BYTES",
    "MAX_TABLES",
    "Entry",
    "allocate_id",
    "count_prefix",
    "count_tables",
    "describe",
    "delete_dropped",
    "encode_properties",
    "pending_drops",
    "put_entry",
    "put_properties",
    "queue_drop",
    "read_entries",
    "read_entry",
    "read_properties",
    "remove_entry",
]
