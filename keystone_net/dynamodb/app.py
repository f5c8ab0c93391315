"""The DynamoDB endpoint as a plain ASGI application: HTTP in, an operation, HTTP out.

:class:`DynamoApp` answers DynamoDB's JSON 1.0 protocol: ``POST /`` with
``X-Amz-Target: DynamoDB_20120810.<Operation>`` (or
``DynamoDBStreams_20120810.<Operation>``) and a JSON body. For each request:

1. admission through the server's shared :class:`keystone_net.grpc.gate.CallGate`
   (drain, connection limit, per-connection and global rates: a refusal is
   DynamoDB's ThrottlingException, which SDKs retry; 503 while draining);
2. the body, at most :data:`MAX_BODY` bytes (DynamoDB's 16 MB; more is
   refused with 413 before it is all read), parsed with orjson;
3. the signature, when the server has credentials (:mod:`.sigv4`);
4. the request checked against DynamoDB's service model (:mod:`.model`);
5. the operation (:mod:`.operations`) in a worker thread: short reads and
   writes in batches (:class:`keystone_net.serving.limits.Batches`; a batch
   of writes shares one commit), the rest one thread each;
6. the response: JSON, ``x-amzn-RequestId`` and ``x-amz-crc32`` (of the
   body, as DynamoDB sends it), and one request-log line and metric.

Any error is DynamoDB's error body (:mod:`.errors`); nothing a client sends
produces a traceback on the wire. ``GET /`` answers ``healthy: ...`` as
DynamoDB does.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson

from keystone_net.grpc.gate import CallGate, MetricsSink
from keystone_net.serving.limits import Connection, ConnectionTable, WorkerPool, peer_label
from keystone_net.serving.logs import log_call, request_id

from . import errors, model
from .operations import INLINE, READS, WRITES, Operations
from .sigv4 import Verifier

__all__ = ["MAX_BODY", "DynamoApp"]

logger = logging.getLogger(__name__)

#: The largest request body (DynamoDB's limit).
MAX_BODY: Final = 16 * 1024 * 1024
_JSON: Final = b"application/x-amz-json-1.0"
_HEALTHY: Final = b"healthy: dynamodb.keystone.local "

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _TooLarge(Exception):
    pass


class DynamoApp:
    """The ASGI application of one server's DynamoDB endpoint."""

    def __init__(
        self,
        operations: Operations,
        pool: WorkerPool,
        gate: CallGate,
        connections: ConnectionTable,
        metrics: MetricsSink,
        verifier: Verifier | None = None,
    ) -> None:
        self._pool = pool
        self._reads = pool.batches()
        self._writes = pool.batches(operations.db.commit_together)
        self._gate = gate
        self._connections = connections
        self._metrics = metrics
        self._verifier = verifier
        self._models = {m.target_prefix: m for m in (model.DYNAMODB(), model.STREAMS())}
        self._runs: dict[str, Callable[..., Awaitable[Any]]] = {}
        # Each operation both the model and the operations know, by its target prefix.
        self._handlers: dict[str, dict[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
            prefix: {
                name: handler
                for name in service.operations
                if (handler := operations.handler(name)) is not None
            }
            for prefix, service in self._models.items()
        }

    def _run_of(self, operation: str) -> Callable[..., Awaitable[Any]]:
        run = self._runs.get(operation)
        if run is None:
            if operation in READS:
                run = self._reads.run
            elif operation in WRITES:
                run = self._writes.run
            else:
                run = self._pool.run
            self._runs[operation] = run
        return run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            return
        start = time.perf_counter()
        peer = scope.get("client")
        conn = self._connections.get(tuple(peer) if peer else None)
        headers: dict[bytes, bytes] = dict(scope["headers"])  # (names come lowercased)
        given = headers.get(b"x-request-id")
        trace = request_id({"x-request-id": given.decode("latin-1")} if given else None)
        operation = "DynamoDB"
        status = "OK"
        self._gate.begin(conn)
        try:
            if scope["method"] != "POST":
                if scope["method"] in ("GET", "HEAD") and scope["path"] == "/":
                    await _send(send, 200, _HEALTHY, trace, b"text/plain")
                    return
                err = errors.DynamoError(
                    "UnknownOperationException", f"{scope['method']} is not a DynamoDB request"
                )
                status = err.code
                await _send_error(send, err, trace)
                return
            target = headers.get(b"x-amz-target", b"").decode("latin-1")
            prefix, _, operation = target.partition(".")
            try:
                body = await self._call(scope, receive, conn, headers, prefix, operation or target)
            except _TooLarge as exc:
                status = "RequestEntityTooLarge"
                await _send(
                    send,
                    413,
                    orjson.dumps(
                        {
                            "__type": errors.PREFIX + "RequestEntityTooLarge",
                            "message": str(exc),
                        }
                    ),
                    trace,
                    _JSON,
                    close=True,
                )
                return
            except Exception as exc:
                err = errors.error_for(exc, operation)
                status = err.code
                await _send_error(send, err, trace)
                return
            await _send(send, 200, body, trace, _JSON)
        finally:
            self._gate.end(conn)
            seconds = time.perf_counter() - start
            name = operation or "DynamoDB"
            self._metrics.observe(name, status, seconds)
            log_call(name, status, seconds, trace, conn.label if conn else peer_label(peer))

    async def _call(
        self,
        scope: Scope,
        receive: Receive,
        conn: Connection | None,
        headers: dict[bytes, bytes],
        prefix: str,
        operation: str,
    ) -> bytes:
        refusal = self._gate.admission(conn)
        if refusal is not None:
            raise refusal
        handler = self._handlers.get(prefix, {}).get(operation)
        if handler is None:
            raise errors.unknown_operation(headers.get(b"x-amz-target", b"").decode("latin-1"))
        service = self._models[prefix]
        _check_declared(headers.get(b"content-length"))
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body"):
            raw = message.get("body", b"")  # (the whole body in one message: the usual case)
            if len(raw) > MAX_BODY:
                raise _TooLarge(f"Request size exceeded {MAX_BODY} bytes")
        else:
            raw = await _read_body(receive, message)
        if self._verifier is not None:
            self._verifier.check(
                scope["method"],
                scope.get("raw_path", b"/").decode("latin-1").split("?", 1)[0] or "/",
                scope.get("query_string", b"").decode("latin-1"),
                {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
                raw,
            )
        try:
            request = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise errors.serialization("The request body is not valid JSON") from None
        if type(request) is not dict:
            raise errors.serialization("Start of structure or map expected")
        service.check(operation, request)
        if operation == "DescribeEndpoints":
            request["__host"] = headers.get(b"host", b"localhost").decode("latin-1")
        if operation in INLINE:
            return _respond(handler, request)
        result = await self._run_of(operation)(_respond, handler, request)
        return result  # type: ignore[no-any-return]


def _respond(handler: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any]) -> bytes:
    """In a worker thread: the operation, and its response encoded."""
    return orjson.dumps(handler(request))


def _check_declared(declared: bytes | None) -> None:
    """Refuse a body whose ``content-length`` is over :data:`MAX_BODY` before any of it is read."""
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise _TooLarge(f"Request size {declared.decode()} exceeded {MAX_BODY} bytes")


async def _read_body(receive: Receive, message: dict[str, Any]) -> bytes:
    """The body of a request whose first message (``message``) does not hold it all."""
    chunks = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise errors.serialization("The request body ended early")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge(f"Request size exceeded {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
        message = await receive()
    return b"".join(chunks)


async def _send(
    send: Send, status: int, body: bytes, trace: str, content_type: bytes, close: bool = False
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", trace.encode()),
        (b"x-amz-crc32", str(zlib.crc32(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, err: errors.DynamoError, trace: str) -> None:
    await _send(send, err.status, orjson.dumps(err.body()), trace, _JSON)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
