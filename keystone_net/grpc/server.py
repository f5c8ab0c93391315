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
* Keys arrive as bytes, which find an item whichever type it was written
  with. An Update that *creates* its item stores the key attributes as
  ``str`` when the bytes are valid UTF-8, else as ``bytes``; the keystone
  client sends the request metadata ``keystone-binary-keys`` (``pk``/``sk``,
  or ``<part>.pk``/``<part>.sk`` for TransactWrite) for keys the caller gave
  as ``bytes``, so those stay ``bytes``.
* A Query of an index whose partition key value is a number sends it in
  ``index_partition_key`` (a ``Value``, field 102) with ``partition_key``
  empty; sort key conditions are ``Value`` already, so numbers need nothing.
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
        schema = db.schema
        self._pk: str = schema.partition_key
        self._sk: str | None = schema.sort_key

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
        req = _parse(pb.GetRequest, data)
        item = self._db.get(
            req.partition_key,
            req.sort_key,
            req.projection_expression,
            req.expression_names or None,
        )
        return b"" if item is None else convert.item_field(1, item)

    def _put(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (3, 5))
        req = _parse(pb.PutRequest, rest)
        item = self._item_with_key(data, found.get(3), req.partition_key, req.sort_key)
        old = self._db.put(
            item,
            req.condition_expression,
            req.expression_names or None,
            convert.values_from_spans(data, found[5]) if 5 in found else None,
            "NONE" if req.return_values is None else req.return_values,
        )
        return _SUCCESS if old is None else _SUCCESS + convert.item_field(100, old)

    def _item_with_key(
        self, data: bytes, spans: list[convert.Span] | None, pk: bytes, sk: bytes | None
    ) -> Item:
        item = convert.item_from_spans(data, spans or ()) or {}
        if sk is not None and self._sk is None:
            raise ValidationError("this table has no sort key, but the request has a sort_key")
        return convert.item_with_key(item, pk, sk, self._pk, self._sk or "")

    def _delete(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (4,))
        req = _parse(pb.DeleteRequest, rest)
        old = self._db.delete(
            req.partition_key,
            req.sort_key,
            req.condition_expression,
            req.expression_names or None,
            convert.values_from_spans(data, found[4]) if 4 in found else None,
            "NONE" if req.return_values is None else req.return_values,
        )
        return _SUCCESS if old is None else _SUCCESS + convert.item_field(100, old)

    def _update(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (5,))
        req = _parse(pb.UpdateRequest, rest)
        binary = _binary_keys(metadata)
        sk = req.sort_key
        result = self._db.update(
            _text_key(req.partition_key, "pk" in binary),
            None if sk is None else _text_key(sk, "sk" in binary),
            req.update_expression,
            req.condition_expression,
            req.expression_names or None,
            convert.values_from_spans(data, found[5]) if 5 in found else None,
            "ALL_NEW" if req.return_values is None else req.return_values,
        )
        if result is None:
            return b""
        image = convert.item_field(1, result)  # `item` (the original field) and `attributes`
        return image + convert.item_field(100, result)

    # -- queries and scans ---------------------------------------------------------

    def _query(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (4,))
        req = _parse(pb.QueryRequest, rest)
        sk_name = self._sk or ""
        number = req.index_partition_key  # (ours) an index's partition key that is a number
        page = self._db.query(
            req.partition_key
            if number is None
            else convert.value_from_proto(number, "index_partition_key"),
            _sk_condition(req.sort_key_condition),
            filter=req.filter_expression,
            names=req.expression_names or None,
            values=convert.values_from_spans(data, found[4]) if 4 in found else None,
            projection=req.projection_expression,
            index=req.index_name,
            limit=req.limit,
            start=convert.last_key_from_proto(req.exclusive_start_key, self._pk, sk_name),
            reverse=req.scan_forward is False,
        )
        return _page_reply(page, self._pk, sk_name)

    def _scan_args(self, data: bytes) -> tuple[dict[str, Any], int | None]:
        rest, found = convert.split_fields(data, (2,))
        req = _parse(pb.ScanRequest, rest)
        args = {
            "filter": req.filter_expression,
            "names": req.expression_names or None,
            "values": convert.values_from_spans(data, found[2]) if 2 in found else None,
            "projection": req.projection_expression,
            "index": req.index_name,
            "start": convert.last_key_from_proto(req.exclusive_start_key, self._pk, self._sk or ""),
            "segment": 0 if req.segment is None else req.segment,
            "total_segments": 1 if req.total_segments is None else req.total_segments,
        }
        return args, req.limit

    def _scan_page(self, args: dict[str, Any], limit: int) -> tuple[bytes, keystone.Page]:
        page = self._db.scan(limit=limit, **args)
        return _page_reply(page, self._pk, self._sk or ""), page

    async def _scan(self, stream: Stream[Any, Any]) -> None:
        route = _SERVICE + "Scan"
        run = self._pool.run
        request = await stream.recv_message()
        try:
            if request is None:
                raise ValidationError("the request has no message")
            args, remaining = await run(self._scan_args, request.data)
        except Exception as exc:
            await self._send_error(stream, route, exc)
            return
        while True:
            limit = SCAN_MESSAGE_ITEMS if remaining is None else min(remaining, SCAN_MESSAGE_ITEMS)
            try:  # a call under way: its next page waits for a worker, never refused
                reply, page = await run(self._scan_page, args, limit, admit=False)
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

    def _batch_get(self, data: bytes, metadata: Any) -> bytes:
        keys = convert.keys_from_spans(data, convert.split_fields(data, (1,))[1].get(1, ()))
        items = self._db.batch_get(keys)
        item_field = convert.item_field
        body = b"".join([item_field(1, item) for item in items])
        return body + bytes(pb.BatchGetResponse(count=len(items)))

    def _batch_write(self, data: bytes, metadata: Any) -> bytes:
        _, found = convert.split_fields(data, (1,))
        puts: list[Item] = []
        deletes: list[tuple[bytes, bytes | None]] = []
        for i, (start, end) in enumerate(found.get(1, ())):
            rest, put = convert.split_fields(data, (1,), start, end)
            if 1 in put:
                s, e = put[1][-1]
                put_rest, item_spans = convert.split_fields(data, (3,), s, e)
                msg = _parse(pb.PutItem, put_rest)
                try:
                    puts.append(
                        self._item_with_key(
                            data, item_spans.get(3), msg.partition_key, msg.sort_key
                        )
                    )
                except ValidationError as exc:
                    raise ValidationError(f"batch_write writes[{i}]: {exc}") from None
                continue
            delete = _parse(pb.WriteRequest, rest).delete
            if delete is None:
                raise ValidationError(f"batch_write writes[{i}]: neither put nor delete is set")
            deletes.append((delete.partition_key, delete.sort_key))
        self._db.batch_write(puts=puts, deletes=deletes)
        return _SUCCESS

    def _transact_get(self, data: bytes, metadata: Any) -> bytes:
        keys = convert.keys_from_spans(data, convert.split_fields(data, (1,))[1].get(1, ()))
        items = self._db.transact_get(keys)
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
            parts.append(self._transact_part(data, start, end, i, binary))
        self._db.transact_write(
            parts,
            names=req.expression_names or None,
            values=convert.values_from_spans(data, found[100]) if 100 in found else None,
        )
        return _SUCCESS

    def _transact_part(
        self, data: bytes, start: int, end: int, i: int, binary: Collection[str]
    ) -> TransactPart:
        rest, put = convert.split_fields(data, (1,), start, end)
        if 1 in put:
            s, e = put[1][-1]
            put_rest, item_spans = convert.split_fields(data, (3,), s, e)
            msg = _parse(pb.TransactPut, put_rest)
            try:
                item = self._item_with_key(data, item_spans.get(3), msg.partition_key, msg.sort_key)
            except ValidationError as exc:
                raise ValidationError(f"transact_write part {i}: {exc}") from None
            return keystone.Put(item, msg.condition_expression)
        part = _parse(pb.TransactWriteItem, rest)
        if part.update is not None:
            u = part.update
            return keystone.Update(
                _text_key(u.partition_key, f"{i}.pk" in binary),
                None if u.sort_key is None else _text_key(u.sort_key, f"{i}.sk" in binary),
                u.update_expression,
                u.condition_expression,
            )
        if part.delete is not None:
            d = part.delete
            return keystone.Delete(d.partition_key, d.sort_key, d.condition_expression)
        if part.condition_check is not None:
            c = part.condition_check
            return keystone.ConditionCheck(c.partition_key, c.sort_key, c.condition_expression)
        raise ValidationError(f"transact_write part {i}: no put, update, delete or condition_check")

    # -- PartiQL --------------------------------------------------------------------

    def _execute(self, data: bytes, metadata: Any) -> bytes:
        rest, found = convert.split_fields(data, (100,))
        req = _parse(pb.ExecuteStatementRequest, rest)
        parameters = [
            convert.value_from_bytes(data[s:e], f"parameters[{i}]")
            for i, (s, e) in enumerate(found.get(100, ()))
        ]
        page = self._db.execute(req.statement, parameters or None)
        return _statement_reply(req.statement, page, self._pk, self._sk or "")


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
