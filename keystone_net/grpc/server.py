"""The gRPC service: requests in, one ``keystone.Database``, replies out.

:class:`KeystoneService` implements the eleven RPCs of ``protos/keystone.proto``
(PROTOCOL.md) over one database. Each call is: bytes from grpclib ->
``convert`` -> the database call -> ``convert`` -> bytes to grpclib. The
whole middle part runs in a worker thread (:class:`keystone_net.serving.limits.WorkerPool`:
``workers`` threads and a bounded queue in front, beyond which a new call is
refused with RESOURCE_EXHAUSTED "server overloaded"), so the event loop only
moves bytes and a slow call never stalls the others. Short calls go to the
threads in batches (:class:`keystone_net.serving.limits.Batches`): those arriving
while one batch runs go together in the next, one hand-off for them all.
There are two lanes: reads (Get, BatchGet, TransactGet) and writes (Put,
Delete, Update, BatchWrite, TransactWrite), whose batches run in
``Database.commit_together``, one commit (one fsync) for the batch, each
call keeping its own condition and outcome. That is the server's group
commit; with ``--no-group-commit`` each write commits on its own.

Errors become gRPC statuses through :func:`keystone_net.grpc.convert.status_for`
(``TransactionCanceled`` reasons travel in the trailing metadata
``keystone-cancellation-reasons``); an unexpected exception is logged here
with its traceback and reaches the client as INTERNAL without one.

Scan is a server stream: the service calls ``db.scan`` page by page (at most
:data:`SCAN_MESSAGE_ITEMS` items, and the database's 1 MiB, per page) and
sends each page as one message carrying its ``last_evaluated_key``; the
request's ``limit`` bounds the items read across the whole stream.

Wire rules beyond the original protocol:

* A put whose item lacks its key attributes takes them from
  ``partition_key``/``sort_key`` as ``bytes``; if it has them their bytes
  must match (``convert.item_with_key``).
* The keystone clients send every key value also as a ``Value`` (the
  fields ``partition_key_value``/``sort_key_value`` of ours; a Query's
  partition key in ``index_partition_key``, 102), which the service hands to
  the database as it is: the key is refused or found exactly as the local
  call would. Sort key conditions are ``Value`` already.
* Keys that arrive only as bytes (clients of the original protocol) are read
  by the table's declared key type; an untyped key stays bytes, which find
  an item whichever type it was written with. An Update that *creates* its
  item then stores untyped key attributes as ``str`` when the bytes are
  valid UTF-8, else as ``bytes`` (``bytes`` too for the keys an older
  keystone client named in the request metadata ``keystone-binary-keys``:
  ``pk``/``sk``, or ``<part>.pk``/``<part>.sk`` for TransactWrite).
* ExecuteStatement answers ``select`` for every statement whose result is not
  exactly what the statement-specific reply can carry (an INSERT or DELETE
  with an empty result, an UPDATE returning exactly one item), so the client
  rebuilds the same ``Page`` as the local ``execute``.

:func:`serve` runs a server process's worth (``python -m keystone_net serve``,
settings in :class:`keystone_net.serving.config.ServerConfig`): it opens the
database, builds the service and handles SIGTERM/SIGINT around
:func:`keystone_net.serving.run`, which serves it with the health and
reflection services and metrics of ``keystone_net.serving.metrics``, TLS
(``keystone_net.serving.tls``), every call through :class:`keystone_net.grpc.gate.CallGate`
(auth token, connection and rate limits, trace ids, request log, metrics)
and every connection tracked by :class:`keystone_net.serving.limits.ConnectionTable`
(TCP options, idle timeout), then drains: not ready, no new connections,
calls in flight finish (new ones get UNAVAILABLE); last, the database is
closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Final

from grpclib.const import Cardinality, Handler, Status
from grpclib.server import Stream

import keystone
from keystone import sk as sk_conditions
from keystone.catalog import DEFAULT_TABLE
from keystone.database import TransactPart
from keystone.errors import ValidationError
from keystone.types import Item
from keystone_net._proto import keystone as pb
from keystone_net.grpc import convert
from keystone_net.grpc import runner as serving
from keystone_net.grpc.convert import RawMessage
from keystone_net.grpc.gate import MetricsSink
from keystone_net.serving.config import DEFAULT_WORKERS, ServerConfig
from keystone_net.serving.limits import WorkerPool

__all__ = [
    "BINARY_KEYS_METADATA",
    "DEFAULT_WORKERS",
    "SCAN_MESSAGE_ITEMS",
    "KeystoneService",
    "serve",
]

logger = logging.getLogger(__name__)

#: The most items one Scan message carries (the database also caps a page at 1 MiB).
SCAN_MESSAGE_ITEMS: Final = 1000
#: Request metadata naming the keys the caller gave as ``bytes`` (see the module docstring).
BINARY_KEYS_METADATA: Final = "keystone-binary-keys"

_SERVICE: Final = "/keystone.KeystoneDB/"
_SUCCESS: Final = bytes(pb.PutResponse(success=True))  # also Delete/BatchWrite/TransactWrite
#: Short calls, run in batches (``keystone_net.serving.limits.Batches``): reads, and
#: writes (a batch of them shares one commit). Query, Scan and
#: ExecuteStatement, which may read a lot, get a worker thread each.
_READS: Final = frozenset({"Get", "BatchGet", "TransactGet"})
_WRITES: Final = frozenset({"Put", "Delete", "Update", "BatchWrite", "TransactWrite"})

Op = Callable[[bytes, Any], bytes]


def _parse(cls: type[Any], data: bytes) -> Any:
    """A betterproto2 message of ``data``; a malformed one is INVALID_ARGUMENT."""
    try:
        msg = cls.parse(data)
    except Exception as exc:  # betterproto2 raises whatever the bytes provoke
        raise ValidationError(f"malformed {cls.__name__}: {exc}") from None
    convert.check_parsed(msg, cls.__name__)  # (betterproto2 does not check field types)
    return msg


def _text_key(raw: bytes, binary: bool) -> str | bytes:
    """A key value for an item the server creates: ``str`` unless marked or not UTF-8."""
    if binary:
        return raw
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


def _binary_keys(metadata: Any) -> frozenset[str]:
    if not metadata:
        return frozenset()
    value = metadata.get(BINARY_KEYS_METADATA)
    if not isinstance(value, str):
        return frozenset()
    return frozenset(part.strip() for part in value.split(","))


def _sk_condition(msg: pb.SortKeyCondition | None) -> keystone.SortKeyCondition | None:
    if msg is None:
        return None
    op, values = convert.sort_key_condition_from_proto(msg)
    make: Callable[..., keystone.SortKeyCondition] = getattr(sk_conditions, op)
    return make(*values)


def _on_failure(value: str | None) -> Any:
    """``return_values_on_condition_check_failure`` of a request (absent = ``"NONE"``)."""
    return "NONE" if value is None else value


def _key_names(table: keystone.Table) -> tuple[str, str]:
    schema = table.schema
    return schema.partition_key, schema.sort_key or ""


def _typed_key(
    table: keystone.Table, pk: bytes, sk: bytes | None, where: str = ""
) -> tuple[Any, Any]:
    """A request's key bytes read by the table's declared key types (PROTOCOL.md).

    An untyped (legacy) key stays bytes, which find the item whichever type
    it was written with.
    """
    schema = table.schema
    if not schema.typed:
        return pk, sk
    return (
        convert.key_value(pk, schema.partition_key_type, f"{where}partition_key"),
        None if sk is None else convert.key_value(sk, schema.sort_key_type, f"{where}sort_key"),
    )


def _key_of(table: keystone.Table, msg: Any, where: str = "") -> tuple[Any, Any]:
    """The key of a request or part: its typed key fields (ours) when set, as
    the caller gave them, else its key bytes read by the declared key types."""
    return _key_with(
        table,
        msg.partition_key,
        msg.sort_key,
        convert.ABSENT if msg.partition_key_value is None else msg.partition_key_value,
        convert.ABSENT if msg.sort_key_value is None else msg.sort_key_value,
        where,
    )


def _spanned_key(
    table: keystone.Table, req: Any, data: bytes, found: dict[int, list[Any]], field: int
) -> tuple[Any, Any]:
    """The key of a request whose typed key fields (``field``, ``field + 1``) were cut
    out by ``convert.split_fields`` (decoding them here is much cheaper than
    betterproto2's nested messages, on the path of every Get)."""

    def value(number: int, what: str) -> Any:
        spans = found.get(number)
        if not spans:
            return convert.ABSENT
        start, end = spans[-1]
        return convert.key_value_from_bytes(data[start:end], what)

    return _key_with(
        table,
        req.partition_key,
        req.sort_key,
        value(field, "partition_key_value"),
        value(field + 1, "sort_key_value"),
        "",
    )


def _key_with(
    table: keystone.Table, pk: bytes, sk: bytes | None, pk_value: Any, sk_value: Any, where: str
) -> tuple[Any, Any]:
    """A key of bytes and typed values (each a ``pb.Value``, a decoded value,
    or ``convert.ABSENT``): a typed value wins over the bytes."""
    absent = convert.ABSENT
    if pk_value is absent and sk_value is absent:
        return _typed_key(table, pk, sk, where)
    schema = table.schema
    typed = schema.typed
    if pk_value is absent:
        key_pk = (
            convert.key_value(pk, schema.partition_key_type, f"{where}partition_key")
            if typed
            else pk
        )
    else:
        key_pk = _typed_value(pk_value, f"{where}partition_key_value")
    if sk_value is not absent:
        key_sk = _typed_value(sk_value, f"{where}sort_key_value")
    elif sk is None or not typed:
        key_sk = sk
    else:
        key_sk = convert.key_value(sk, schema.sort_key_type, f"{where}sort_key")
    return key_pk, key_sk


def _typed_value(value: Any, what: str) -> Any:
    return convert.key_value_from_proto(value, what) if isinstance(value, pb.Value) else value


def _query_pk(table: keystone.Table, raw: bytes, index: str | None) -> Any:
    """A Query's ``partition_key`` bytes, read by the type of the key it queries by."""
    schema = table.schema
    kind = schema.partition_key_type
    if index is not None:
        kind = None
        for idx in schema.indexes:
            if idx.name == index:
                kind = getattr(idx, "partition_key_type", schema.partition_key_type)
    return convert.key_value(raw, kind, "partition_key")


def _start_key(table: keystone.Table, msg: pb.LastKey | None) -> dict[str, Any] | None:
    schema = table.schema
    return convert.last_key_from_proto(
        msg,
        schema.partition_key,
        schema.sort_key or "",
        schema.partition_key_type,
        schema.sort_key_type,
    )


def _page_reply(page: keystone.Page, pk_name: str, sk_name: str) -> bytes:
    """A QueryResponse/ScanResponse (same fields) of a page."""
    envelope = pb.QueryResponse(
        count=page.count,
        scanned_count=page.scanned_count,
        last_evaluated_key=convert.last_key_to_proto(page.last_key, pk_name, sk_name),
    )
    item_field = convert.item_field
    return bytes(envelope) + b"".join([item_field(1, item) for item in page.items])


class KeystoneService:
    """The ``keystone.KeystoneDB`` gRPC service over one database (a grpclib handler)."""

    def __init__(
        self,
        db: keystone.Database,
        *,
        workers: int = DEFAULT_WORKERS,
        max_queue: int | None = None,
        on_shed: Callable[[], None] | None = None,
        pool: WorkerPool | None = None,
    ) -> None:
        self._db = db
        self._pool = pool or WorkerPool(workers, max_queue, on_shed)
        self._reads = self._pool.batches()
        self._writes = self._pool.batches(db.commit_together)

    def _table(self, name: str | None) -> keystone.Table:
        """The table a request names (``table`` field 103; absent or empty: the default)."""
        if not name:
            return self._db
        return self._db.table(name)

    # -- grpclib --------------------------------------------------------------

    def __mapping__(self) -> dict[str, Handler]:
        unary: dict[str, Op] = {
            "Put": self._put,
            "Get": self._get,
            "Delete": self._delete,
            "Query": self._query,
            "BatchGet": self._batch_get,
            "BatchWrite": self._batch_write,
            "TransactGet": self._transact_get,
            "TransactWrite": self._transact_write,
            "Update": self._update,
            "ExecuteStatement": self._execute,
            "CreateTable": self._create_table,
            "DescribeTable": self._describe_table,
            "ListTables": self._list_tables,
            "UpdateTable": self._update_table,
            "DeleteTable": self._delete_table,
        }
        mapping = {
            _SERVICE + name: Handler(
                self._unary_handler(_SERVICE + name, op, self._runner(name)),
                Cardinality.UNARY_UNARY,
                RawMessage,
                RawMessage,
            )
            for name, op in unary.items()
        }
        mapping[_SERVICE + "Scan"] = Handler(
            self._scan, Cardinality.UNARY_STREAM, RawMessage, RawMessage
        )
        return mapping

    def _runner(self, name: str) -> Callable[..., Awaitable[Any]]:
        """How the calls of method ``name`` get to a worker thread."""
        if name in _READS:
            return self._reads.run
        if name in _WRITES:
            return self._writes.run
        return self._pool.run

    def _unary_handler(
        self, route: str, op: Op, run: Callable[..., Awaitable[Any]]
    ) -> Callable[[Stream[Any, Any]], Awaitable[None]]:

        async def handle(stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            try:
                if request is None:
                    raise ValidationError("the request has no message")
                reply = await run(op, request.data, stream.metadata)
            except Exception as exc:
                await self._send_error(stream, route, exc)
                return
            await stream.send_message(RawMessage(reply))

        return handle

    async def _send_error(self, stream: Stream[Any, Any], route: str, exc: BaseException) -> None:
        status, message, metadata = convert.status_for(exc)
        if status is Status.INTERNAL and not isinstance(exc, keystone.KeystoneError):
            logger.error("%s failed unexpectedly", route, exc_info=exc)
        try:
            await stream.send_trailing_metadata(
                status=status, status_message=message, metadata=metadata
            )
        except Exception as err:  # the client is gone; nobody to tell
            logger.debug("%s: could not send %s: %s", route, status.name, err)

    # -- the worker pool ---------------------------------------------------------

    @property
    def queue_length(self) -> int:
        """The calls waiting for a worker thread right now."""
        return self._pool.queue_length

    # -- single items -----------------------------------------------------------

    def _get(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (104, 105))  # (the typed key: see _spanned_key)
        req = _parse(pb.GetRequest, rest)
        table = self._table(req.table)
        item = table.get(
            *_spanned_key(table, req, data, found, 104),
            req.projection_expression,
            req.expression_names or None,
        )
        return b"" if item is None else convert.item_field(1, item)

    def _put(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (3, 5))
        req = _parse(pb.PutRequest, rest)
        table = self._table(req.table)
        item = self._item_with_key(table, data, found.get(3), req.partition_key, req.sort_key)
        old = table.put(
            item,
            req.condition_expression,
            req.expression_names or None,
            convert.values_from_spans(data, found[5]) if 5 in found else None,
            "NONE" if req.return_values is None else req.return_values,
            _on_failure(req.return_values_on_condition_check_failure),
        )
        return _SUCCESS if old is None else _SUCCESS + convert.item_field(100, old)

    def _item_with_key(
        self,
        table: keystone.Table,
        data: bytes,
        spans: list[convert.Span] | None,
        pk: bytes,
        sk: bytes | None,
    ) -> Item:
        item = convert.item_from_spans(data, spans or ()) or {}
        schema = table.schema
        if sk is not None and schema.sort_key is None:
            raise ValidationError("this table has no sort key, but the request has a sort_key")
        return convert.item_with_key(
            item,
            pk,
            sk,
            schema.partition_key,
            schema.sort_key or "",
            schema.partition_key_type,
            schema.sort_key_type,
        )

    def _delete(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (4, 105, 106))
        req = _parse(pb.DeleteRequest, rest)
        table = self._table(req.table)
        old = table.delete(
            *_spanned_key(table, req, data, found, 105),
            req.condition_expression,
            req.expression_names or None,
            convert.values_from_spans(data, found[4]) if 4 in found else None,
            "NONE" if req.return_values is None else req.return_values,
            _on_failure(req.return_values_on_condition_check_failure),
        )
        return _SUCCESS if old is None else _SUCCESS + convert.item_field(100, old)

    def _update(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (5, 105, 106))
        req = _parse(pb.UpdateRequest, rest)
        table = self._table(req.table)
        if 105 in found:
            pk, sk = _spanned_key(table, req, data, found, 105)
        else:
            pk, sk = self._update_key(table, req, _binary_keys(metadata))
        result = table.update(
            pk,
            sk,
            req.update_expression,
            req.condition_expression,
            req.expression_names or None,
            convert.values_from_spans(data, found[5]) if 5 in found else None,
            "ALL_NEW" if req.return_values is None else req.return_values,
            _on_failure(req.return_values_on_condition_check_failure),
        )
        if result is None:
            return b""
        image = convert.item_field(1, result)  # `item` (the original field) and `attributes`
        return image + convert.item_field(100, result)

    @staticmethod
    def _update_key(
        table: keystone.Table, msg: Any, binary: Collection[str], part: str = ""
    ) -> tuple[Any, Any]:
        """The key of an update, which may create the item: the typed key fields
        as given; else typed keys are read by type and an untyped key is ``str``
        unless marked binary (``keystone-binary-keys``, older clients) or not UTF-8."""
        if msg.partition_key_value is not None or table.schema.typed:
            return _key_of(table, msg)
        pk, sk = msg.partition_key, msg.sort_key
        return (
            _text_key(pk, f"{part}pk" in binary),
            None if sk is None else _text_key(sk, f"{part}sk" in binary),
        )

    # -- queries and scans ---------------------------------------------------------

    def _query(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (4,))
        req = _parse(pb.QueryRequest, rest)
        table = self._table(req.table)
        pk_name, sk_name = _key_names(table)
        number = req.index_partition_key  # (ours) an index's partition key that is a number
        if number is not None:
            pk = convert.key_value_from_proto(number, "index_partition_key")
        elif not req.partition_key:
            pk = None  # the key condition names it, or the database says it is missing
        else:
            pk = _query_pk(table, req.partition_key, req.index_name)
        page = table.query(
            pk,
            _sk_condition(req.sort_key_condition),
            filter=req.filter_expression,
            names=req.expression_names or None,
            values=convert.values_from_spans(data, found[4]) if 4 in found else None,
            projection=req.projection_expression,
            index=req.index_name,
            limit=req.limit,
            start=_start_key(table, req.exclusive_start_key),
            reverse=req.scan_forward is False,
            key_condition=req.key_condition_expression,
            select=req.select,  # (the library checks it)
        )
        return _page_reply(page, pk_name, sk_name)

    def _scan_args(self, data: bytes) -> tuple[keystone.Table, dict[str, Any], int | None]:
        rest, found = convert.split_fields(data, (2,))
        req = _parse(pb.ScanRequest, rest)
        table = self._table(req.table)
        args = {
            "filter": req.filter_expression,
            "names": req.expression_names or None,
            "values": convert.values_from_spans(data, found[2]) if 2 in found else None,
            "projection": req.projection_expression,
            "index": req.index_name,
            "start": _start_key(table, req.exclusive_start_key),
            "segment": 0 if req.segment is None else req.segment,
            "total_segments": 1 if req.total_segments is None else req.total_segments,
            "select": req.select,
        }
        return table, args, req.limit

    @staticmethod
    def _scan_page(
        table: keystone.Table, args: dict[str, Any], limit: int
    ) -> tuple[bytes, keystone.Page]:
        page = table.scan(limit=limit, **args)
        return _page_reply(page, *_key_names(table)), page

    async def _scan(self, stream: Stream[Any, Any]) -> None:
        route = _SERVICE + "Scan"
        run = self._pool.run
        request = await stream.recv_message()
        try:
            if request is None:
                raise ValidationError("the request has no message")
            table, args, remaining = await run(self._scan_args, request.data)
        except Exception as exc:
            await self._send_error(stream, route, exc)
            return
        while True:
            limit = SCAN_MESSAGE_ITEMS if remaining is None else min(remaining, SCAN_MESSAGE_ITEMS)
            try:  # a call under way: its next page waits for a worker, never refused
                reply, page = await run(self._scan_page, table, args, limit, admit=False)
            except Exception as exc:
                await self._send_error(stream, route, exc)
                return
            await stream.send_message(RawMessage(reply))
            if remaining is not None:
                remaining -= page.scanned_count
            if page.last_key is None or remaining == 0:
                return
            args["start"] = page.last_key

    # -- batches and transactions ---------------------------------------------------

    def _get_keys(self, data: bytes, what: str) -> tuple[list[tuple[str, tuple[Any, ...]]], Any]:
        """The ``(table, key)`` pairs of a BatchGet/TransactGet request, and the request."""
        rest, found = convert.split_fields(data, (1,))
        req = _parse(pb.BatchGetRequest, rest)  # (TransactGetRequest has the same fields)
        tables: dict[str, keystone.Table] = {}
        keys: list[tuple[str, tuple[Any, ...]]] = []
        spans = found.get(1, ())
        for i, (pk, sk, name, pk_value, sk_value) in enumerate(
            convert.table_keys_from_spans(data, spans)
        ):
            name = name or req.table or DEFAULT_TABLE
            table = tables.get(name)
            if table is None:
                table = tables[name] = self._table(name)
            key = _key_with(table, pk, sk, pk_value, sk_value, f"{what} keys[{i}].")
            keys.append((name, key if key[1] is not None else key[:1]))
        return keys, req

    def _batch_get(self, data: bytes, metadata: Any) -> bytes:
        keys, req = self._get_keys(data, "batch_get")
        items = self._db.batch_get(keys, req.projection_expression, req.expression_names or None)
        item_field = convert.item_field
        body = b"".join([item_field(1, item) for item in items])
        return body + bytes(pb.BatchGetResponse(count=len(items)))

    def _batch_write(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (1,))
        default = _parse(pb.BatchWriteRequest, rest).table or None
        puts: list[keystone.Put] = []
        deletes: list[keystone.Delete] = []
        for i, (start, end) in enumerate(found.get(1, ())):
            rest, put = convert.split_fields(data, (1,), start, end)
            if 1 in put:
                s, e = put[1][-1]
                put_rest, item_spans = convert.split_fields(data, (3,), s, e)
                msg = _parse(pb.PutItem, put_rest)
                name = msg.table or default
                try:
                    item = self._item_with_key(
                        self._table(name), data, item_spans.get(3), msg.partition_key, msg.sort_key
                    )
                except ValidationError as exc:
                    raise ValidationError(f"batch_write writes[{i}]: {exc}") from None
                puts.append(keystone.Put(item, table=name))
                continue
            delete = _parse(pb.WriteRequest, rest).delete
            if delete is None:
                raise ValidationError(f"batch_write writes[{i}]: neither put nor delete is set")
            name = delete.table or default
            pk, sk = _key_of(self._table(name), delete, f"writes[{i}].")
            deletes.append(keystone.Delete(pk, sk, table=name))
        self._db.batch_write(puts=puts, deletes=deletes)  # type: ignore[arg-type]
        return _SUCCESS

    def _transact_get(self, data: bytes, metadata: Any) -> bytes:
        keys, req = self._get_keys(data, "transact_get")
        items = self._db.transact_get(keys, req.projection_expression, req.expression_names or None)
        len_field, item_field = convert.len_field, convert.item_field
        return b"".join(
            [len_field(1, b"" if item is None else item_field(1, item)) for item in items]
        )

    def _transact_write(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (1, 100))
        req = _parse(pb.TransactWriteRequest, rest)
        binary = _binary_keys(metadata)
        parts: list[TransactPart] = []
        for i, (start, end) in enumerate(found.get(1, ())):
            parts.append(self._transact_part(data, start, end, i, binary, req.table or None))
        self._db.transact_write(
            parts,
            names=req.expression_names or None,
            values=convert.values_from_spans(data, found[100]) if 100 in found else None,
            token=req.client_request_token,
        )
        return _SUCCESS

    def _transact_part(
        self,
        data: bytes,
        start: int,
        end: int,
        i: int,
        binary: Collection[str],
        default: str | None,
    ) -> TransactPart:
        rest, put = convert.split_fields(data, (1,), start, end)
        if 1 in put:
            s, e = put[1][-1]
            put_rest, item_spans = convert.split_fields(data, (3,), s, e)
            msg = _parse(pb.TransactPut, put_rest)
            name = msg.table or default
            try:
                item = self._item_with_key(
                    self._table(name), data, item_spans.get(3), msg.partition_key, msg.sort_key
                )
            except ValidationError as exc:
                raise ValidationError(f"transact_write part {i}: {exc}") from None
            return keystone.Put(
                item,
                msg.condition_expression,
                name,
                _on_failure(msg.return_values_on_condition_check_failure),
            )
        part = _parse(pb.TransactWriteItem, rest)
        where = f"transact_write part {i}: "
        if part.update is not None:
            u = part.update
            name = u.table or default
            pk, sk = self._update_key(self._table(name), u, binary, f"{i}.")
            return keystone.Update(
                pk,
                sk,
                u.update_expression,
                u.condition_expression,
                name,
                _on_failure(u.return_values_on_condition_check_failure),
            )
        if part.delete is not None:
            d = part.delete
            name = d.table or default
            pk, sk = _key_of(self._table(name), d, where)
            return keystone.Delete(
                pk,
                sk,
                d.condition_expression,
                name,
                _on_failure(d.return_values_on_condition_check_failure),
            )
        if part.condition_check is not None:
            c = part.condition_check
            name = c.table or default
            pk, sk = _key_of(self._table(name), c, where)
            return keystone.ConditionCheck(
                pk,
                sk,
                c.condition_expression,
                name,
                _on_failure(c.return_values_on_condition_check_failure),
            )
        raise ValidationError(f"transact_write part {i}: no put, update, delete or condition_check")

    # -- PartiQL --------------------------------------------------------------------

    def _execute(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (100,))
        req = _parse(pb.ExecuteStatementRequest, rest)
        table = self._table(req.table)
        parameters = [
            convert.value_from_bytes(data[s:e], f"parameters[{i}]")
            for i, (s, e) in enumerate(found.get(100, ()))
        ]
        page = table.execute(req.statement, parameters or None)
        return _statement_reply(req.statement, page, *_key_names(table))

    # -- table management (ours) ------------------------------------------------------

    def _description_reply(self, description: dict[str, Any]) -> bytes:
        return convert.item_field(1, description)

    def _create_table(self, data: bytes, metadata: Any) -> bytes:
        req = _parse(pb.CreateTableRequest, data)
        schema = None if req.schema is None else convert.schema_from_proto(req.schema)
        self._db.create_table(req.table, schema)
        return self._description_reply(self._db.describe_table(req.table))

    def _describe_table(self, data: bytes, metadata: Any) -> bytes:
        req = _parse(pb.DescribeTableRequest, data)
        return self._description_reply(self._db.describe_table(req.table or DEFAULT_TABLE))

    def _list_tables(self, data: bytes, metadata: Any) -> bytes:
        _parse(pb.ListTablesRequest, data)
        return bytes(pb.ListTablesResponse(tables=self._db.tables()))

    def _update_table(self, data: bytes, metadata: Any) -> bytes:
        req = _parse(pb.UpdateTableRequest, data)
        add: list[Any] = [convert.local_index_from_proto(i) for i in req.add_local_indexes]
        add += [convert.global_index_from_proto(i) for i in req.add_global_indexes]
        name = req.table or DEFAULT_TABLE
        if req.stream is None:
            description = self._db.update_table(name, add, list(req.drop_indexes))
        else:
            spec = req.stream.specification
            if req.stream.enabled:
                stream = (
                    keystone.StreamConfig() if spec is None else convert.stream_from_proto(spec)
                )
            elif spec is not None:
                raise ValidationError("stream: a specification goes with enabled = true")
            else:
                stream = None
            description = self._db.update_table(name, add, list(req.drop_indexes), stream)
        return self._description_reply(description)

    def _delete_table(self, data: bytes, metadata: Any) -> bytes:
        req = _parse(pb.DeleteTableRequest, data)
        self._db.delete_table(req.table)
        return b""


def _statement_reply(statement: str, page: keystone.Page, pk_name: str, sk_name: str) -> bytes:
    words = statement.split(None, 1)
    verb = words[0].upper() if words else ""
    plain = page.last_key is None
    if verb in ("INSERT", "DELETE") and plain and not page.items and not page.scanned_count:
        if verb == "INSERT":
            return bytes(pb.ExecuteStatementResponse(insert=pb.InsertResult(success=True)))
        return bytes(pb.ExecuteStatementResponse(delete=pb.DeleteResult(success=True)))
    if verb == "UPDATE" and plain and page.count == 1 == page.scanned_count:
        return convert.len_field(3, convert.item_field(1, page.items[0]))
    return convert.len_field(1, _page_reply(page, pk_name, sk_name))


# --------------------------------------------------------------------------
# Running a server (the machinery is in keystone_net.grpc.runner)
# --------------------------------------------------------------------------


def _dynamodb_doors(
    db: keystone.Database,
    config: ServerConfig,
    metrics: MetricsSink,
    ssl_context: Any,
    pool: WorkerPool,
) -> serving.DoorFactory | None:
    """The DynamoDB endpoint's door, when ``config`` has it on."""
    bind = config.dynamodb_bind
    if bind is None:
        return None

    def make(connections: Any, gate: Any) -> list[serving.Door]:
        from keystone_net.dynamodb.serve import door_for

        return [door_for(db, config, bind, connections, gate, metrics, ssl_context, pool)]

    return make


async def serve(
    db_path: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 50051,
    *,
    workers: int = DEFAULT_WORKERS,
    durability: str = "sync",
    grace: float = 30.0,
    stop: asyncio.Event | None = None,
    config: ServerConfig | None = None,
    metrics: MetricsSink | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> None:
    """Serve a database until SIGTERM/SIGINT or ``stop``.

    Either ``config`` (every setting, see :class:`keystone_net.serving.config.ServerConfig`)
    or ``db_path`` and the few keyword settings (then the metrics endpoint is
    off). The database file is created if missing, as ``keystone.Database.open``
    does: in an existing directory (none is created). Logs ``listening on
    HOST:PORT`` once ready (``port=0`` picks a free port; the log line, and
    ``on_listening(port)``, have the real one). ``metrics`` replaces
    ``keystone_net.serving.metrics.Metrics(db)``.

    On shutdown it tells the metrics it is not ready, stops accepting
    connections, refuses new calls (UNAVAILABLE), lets the calls in flight
    finish (up to ``shutdown_timeout`` seconds; a second signal stops
    waiting), closes the connections and the database.
    """
    if config is None:
        if db_path is None:
            raise TypeError("serve() needs db_path or config")
        config = ServerConfig(
            db_path=os.fspath(db_path),
            host=host,
            port=port,
            workers=workers,
            durability=durability,  # type: ignore[arg-type]
            shutdown_timeout=grace,
            metrics_port=0,
        )
    stop = stop or asyncio.Event()
    force = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            logger.warning("second %s: not waiting for calls in flight", name)
            force.set()
        else:
            logger.info("%s: shutting down", name)
            stop.set()

    # Handlers first: a signal that comes right after "listening on" must stop
    # the server cleanly, not kill it.
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
    try:
        ssl_context = serving.tls_context(config)
        db = keystone.Database.open(
            config.db_path,
            durability=config.durability,
            group_commit=None if config.group_commit else False,
        )
        try:
            sink = metrics or serving.metrics_of(db)
            pool = WorkerPool(
                config.workers, config.queue_limit, lambda: sink.rate_limited("overload")
            )
            service = KeystoneService(db, pool=pool)
            sink.set_queue_length(lambda: pool.queue_length)
            doors = _dynamodb_doors(db, config, sink, ssl_context, pool)
            await serving.run(service, config, sink, ssl_context, stop, force, on_listening, doors)
        except BaseException:
            db.close()  # quietly: the error that stopped the server is what to report
            raise
        db.close()
        logger.info("stopped; database closed")
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
