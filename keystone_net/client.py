"""Clients of the KeystoneDB gRPC service: :class:`Client` (async) and :class:`SyncClient`.

Both have the methods of ``keystone.Database`` with the same arguments,
return types and exceptions (``keystone.ValidationError``,
``ConditionalCheckFailed``, ``TransactionCanceled`` with its ``reasons``,
...; rebuilt from the gRPC status by ``convert.exception_for``), so code
written against ``keystone.Store`` runs unchanged on a server::

    import keystone_net

    with keystone_net.connect("127.0.0.1:50051") as db:   # a keystone.Store
        db.put({"pk": "user#1", "sk": "profile", "name": "Ada"})
        db.get("user#1", "profile")

    async with keystone_net.Client("http://127.0.0.1:50051") as db:
        await db.get("user#1", "profile")

URLs are ``http://host:port`` or ``host:port`` (TLS is not supported yet;
put a TLS-terminating proxy in front, see the docs).

Key attribute names. The wire carries keys as bytes; key dicts and
``(pk, sk)`` tuples (``batch_get``, ``transact_get``, ``batch_write``
deletes, ``start=``) are turned into those bytes with the table's key
attribute names, which the client cannot ask the server for. They default to
``"pk"`` and ``"sk"``; pass ``connect(url, partition_key="id",
sort_key="ts")`` for a table with another key schema.

Connections. One client keeps one HTTP/2 connection and multiplexes every
call on it (the async client serves any number of concurrent calls; the sync
client is thread-safe). After the server restarts, the next call connects
again; reads (get, query, scan, batch_get, transact_get) are retried once
on a connection error, writes only when the request was never sent. A call
that cannot reach the server raises ``keystone.Unavailable``; one that
outlives ``timeout`` seconds (default 60; ``None`` waits forever) raises
``keystone.Timeout``. For scans the timeout bounds each streamed message.

Scans. The server streams a scan as messages of at most ~1 MiB, each with
the key to resume from. ``scan()`` returns one page like the local one: it
reads messages until ``limit`` items were read or about ``MAX_PAGE_BYTES``
arrived, then stops the stream; ``scan_all()`` (and ``Client.scan_pages``)
read one stream to its end, resuming once after a connection error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal
from grpclib.client import Channel
from grpclib.const import Cardinality
from grpclib.exceptions import GRPCError, StreamTerminatedError

from keystone import ConditionCheck, Delete, Put, SortKeyCondition, Store, Update
from keystone.database import PutReturns, TransactPart, UpdateReturns
from keystone.errors import DatabaseClosed, KeystoneError, Timeout, Unavailable, ValidationError
from keystone.table import MAX_PAGE_BYTES, Page
from keystone.types import Item
from keystone_net import convert
from keystone_net._proto import keystone as pb
from keystone_net.convert import RawMessage

__all__ = ["DEFAULT_PORT", "DEFAULT_TIMEOUT", "Client", "SyncClient", "connect", "parse_url"]

#: The port of ``host``-only URLs.
DEFAULT_PORT: Final = 50051
#: Seconds a call may take before it raises ``keystone.Timeout``.
DEFAULT_TIMEOUT: Final = 60.0

_SERVICE: Final = "/keystone.KeystoneDB/"
_UINT32_MAX: Final = 2**32 - 1
_PUT_RETURNS: Final = ("NONE", "ALL_OLD")
_UPDATE_RETURNS: Final = ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")
# A server that went away shows up as one of these.
_CONNECTION_ERRORS: Final = (OSError, StreamTerminatedError, EOFError)
_BINARY_KEYS: Final = "keystone-binary-keys"  # see keystone_net.server

T = TypeVar("T")


def parse_url(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``"http://host:port"``, ``"host:port"``, ``"host"`` or ``"[::1]:port"``."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"the server URL must be a non-empty str like 'host:port', got {url!r}")
    text = url.strip()
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() != "http":
            raise ValueError(
                f"unsupported URL scheme {scheme!r} in {url!r}: use http://host:port "
                "(TLS is not supported; terminate it in a proxy)"
            )
    text = text.rstrip("/")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"the port in {url!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"the port in {url!r} is out of range")
    return host or "127.0.0.1", port


# --------------------------------------------------------------------------
# Argument checks: what the wire cannot carry is refused here, with the
# local database's words; everything else is checked by the server.
# --------------------------------------------------------------------------


def _opt_str(value: object, what: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise ValidationError(f"{what} must be a str, got {type(value).__name__}")


def _names(names: Mapping[str, str] | None) -> dict[str, str]:
    if not names:
        return {}
    if not isinstance(names, Mapping):
        raise ValidationError(f"names must be a dict of '#name' -> attribute name, got {names!r}")
    for key, value in names.items():
        if type(key) is not str or type(value) is not str:
            raise ValidationError(f"names must map str to str, got {key!r}: {value!r}")
    return dict(names)


def _limit(limit: object) -> int | None:
    if limit is None:
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationError(f"limit must be a positive int, got {limit!r}")
    return min(limit, _UINT32_MAX)


def _uint32(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{what} must be an int, got {value!r}")
    if not 0 <= value <= _UINT32_MAX:
        raise ValidationError(f"{what} is out of range, got {value}")
    return value


def _returns(returns: object, allowed: Sequence[str]) -> str:
    if type(returns) is not str:
        raise ValidationError(f"returns must be one of {', '.join(allowed)}; got {returns!r}")
    return returns


def _item_arg(item: object, where: str = "") -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise ValidationError(
            f"{where}an item must be a dict of attributes, got {type(item).__name__}"
        )
    return item


def _binary(value: object) -> bool:
    return value is not None and type(value) is not str


def _parameters(statement: str, parameters: Sequence[Any] | None) -> bytes:
    """``ExecuteStatementRequest.parameters`` (field 100), one ``Value`` per ``?``."""
    if parameters is None:
        return b""
    if not isinstance(parameters, Sequence) or isinstance(
        parameters, (str, bytes, bytearray, memoryview)
    ):
        raise ValidationError(
            "parameters must be a list of values, one for each ? in the statement; "
            f"got {type(parameters).__name__}"
        )
    out = []
    for i, value in enumerate(parameters):
        try:
            out.append(convert.len_field(100, convert.value_to_bytes(value, "?")))
        except ValidationError as exc:
            # A value the wire cannot carry: name it as the server would.
            message = str(exc).removeprefix("?")
            raise ValidationError(_parameter_label(statement, i) + message) from None
    return b"".join(out)


def _parameter_label(statement: str, index: int) -> str:
    """How the database names the ``index``-th ``?`` of a statement in errors."""
    from keystone.partiql.lexer import PARAM, tokenize

    marks = [token for token in tokenize(statement) if token.kind == PARAM]
    if index >= len(marks):
        return f"parameter {index + 1}"
    mark = marks[index]
    return f"parameter {index + 1} (line {mark.line}, column {mark.column})"


# --------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------


def _page(data: bytes, start: int, end: int, pk: str, sk: str) -> Page:
    """A Page of a QueryResponse, ScanResponse or SelectResult (same field numbers)."""
    rest, found = convert.split_fields(data, (1,), start, end)
    items = convert.items_from_spans(data, found.get(1, ()))
    envelope = pb.QueryResponse.parse(rest)
    last_key = convert.last_key_from_proto(envelope.last_evaluated_key, pk, sk)
    return Page(items, envelope.count, envelope.scanned_count, last_key)


def _optional_item(data: bytes, field: int) -> Item | None:
    return convert.item_from_spans(data, convert.split_fields(data, (field,))[1].get(field, ()))


class Client:
    """An async client of one KeystoneDB server (a grpclib channel).

    The methods are those of ``keystone.Database``, as coroutines;
    ``query_all``, ``scan_all`` and :meth:`scan_pages` are async iterators.
    Create it anywhere; it connects on the first call, in the running loop.
    """

    def __init__(
        self,
        url: str = f"127.0.0.1:{DEFAULT_PORT}",
        *,
        partition_key: str = "pk",
        sort_key: str = "sk",
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self._host, self._port = parse_url(url)
        self._pk = partition_key
        self._sk = sort_key
        self._timeout = timeout
        self._channel: Channel | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<keystone_net.Client {self._host}:{self._port} {state}>"

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Close the connection (idempotent); later calls raise ``DatabaseClosed``."""
        self._closed = True
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- calls ---------------------------------------------------------------

    def _live_channel(self) -> Channel:
        if self._closed:
            raise DatabaseClosed("the client is closed")
        channel = self._channel
        if channel is None:
            channel = self._channel = Channel(self._host, self._port)
        return channel

    def _drop(self, channel: Channel) -> None:
        """Forget a broken connection; the next call opens a new one."""
        if self._channel is channel:
            self._channel = None
            channel.close()

    def _unavailable(self, method: str, err: BaseException) -> Unavailable:
        detail = str(err) or type(err).__name__
        return Unavailable(
            f"{method}: cannot reach the server at {self._host}:{self._port}: {detail}"
        )

    async def _unary(
        self,
        method: str,
        data: bytes,
        *,
        idempotent: bool,
        metadata: Mapping[str, str] | None = None,
    ) -> bytes:
        route = _SERVICE + method
        for attempt in (0, 1):
            channel = self._live_channel()
            stream = channel.request(
                route,
                Cardinality.UNARY_UNARY,
                RawMessage,
                RawMessage,
                timeout=self._timeout,
                metadata=metadata,
            )
            sent = False
            try:
                async with stream:
                    await stream.send_request()
                    sent = True
                    await stream.send_message(RawMessage(data), end=True)
                    reply = await stream.recv_message()
            except GRPCError as err:
                raise convert.exception_for(
                    err.status, err.message, stream.trailing_metadata
                ) from None
            except TimeoutError:
                raise Timeout(f"{method} did not finish within {self._timeout} s") from None
            except _CONNECTION_ERRORS as err:
                self._drop(channel)
                if attempt == 0 and (idempotent or not sent):
                    continue
                raise self._unavailable(method, err) from None
            if reply is None:
                raise KeystoneError(f"{method}: the server sent no reply")
            return reply.data
        raise AssertionError("unreachable")  # pragma: no cover

    async def _stream(self, data: bytes) -> AsyncGenerator[bytes, None]:
        """The messages of one Scan call (a connection error raises ``Unavailable``)."""
        channel = self._live_channel()
        stream = channel.request(
            _SERVICE + "Scan", Cardinality.UNARY_STREAM, RawMessage, RawMessage
        )
        try:
            async with stream:
                await stream.send_request()
                await stream.send_message(RawMessage(data), end=True)
                while True:
                    async with asyncio.timeout(self._timeout):
                        message = await stream.recv_message()
                    if message is None:
                        return
                    yield message.data
        except GRPCError as err:
            raise convert.exception_for(err.status, err.message, stream.trailing_metadata) from None
        except TimeoutError:
            raise Timeout(f"Scan sent nothing for {self._timeout} s") from None
        except _CONNECTION_ERRORS as err:
            self._drop(channel)
            raise self._unavailable("Scan", err) from None

    # -- single items ----------------------------------------------------------

    async def get(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Item | None:
        """The item with this key, or ``None``. ``projection`` picks attributes."""
        pk_bytes, sk_bytes = convert.key_to_proto(pk, sk)
        request = pb.GetRequest(
            partition_key=pk_bytes,
            sort_key=sk_bytes,
            projection_expression=_opt_str(projection, "projection"),
            expression_names=_names(names),
        )
        reply = await self._unary("Get", bytes(request), idempotent=True)
        return _optional_item(reply, 1)

    async def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
    ) -> Item | None:
        """Store ``item`` if ``condition`` holds; the old item with ``returns="ALL_OLD"``."""
        returned = _returns(returns, _PUT_RETURNS)
        envelope = pb.PutRequest(
            condition_expression=_opt_str(condition, "condition"),
            expression_names=_names(names),
            return_values=None if returned == "NONE" else returned,
        )
        data = (
            bytes(envelope)
            + convert.values_field(5, values)
            + convert.item_field(3, _item_arg(item))
        )
        reply = await self._unary("Put", data, idempotent=False)
        return _optional_item(reply, 100)

    async def delete(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
    ) -> Item | None:
        """Delete the item with this key if ``condition`` holds (no error if absent)."""
        returned = _returns(returns, _PUT_RETURNS)
        pk_bytes, sk_bytes = convert.key_to_proto(pk, sk)
        envelope = pb.DeleteRequest(
            partition_key=pk_bytes,
            sort_key=sk_bytes,
            condition_expression=_opt_str(condition, "condition"),
            expression_names=_names(names),
            return_values=None if returned == "NONE" else returned,
        )
        data = bytes(envelope) + convert.values_field(4, values)
        reply = await self._unary("Delete", data, idempotent=False)
        return _optional_item(reply, 100)

    async def update(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        update: str | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: UpdateReturns = "ALL_NEW",
    ) -> Item | None:
        """Apply an update expression (creating the item if absent, as DynamoDB does)."""
        returned = _returns(returns, _UPDATE_RETURNS)
        pk_bytes, sk_bytes = convert.key_to_proto(pk, sk)
        envelope = pb.UpdateRequest(
            partition_key=pk_bytes,
            sort_key=sk_bytes,
            update_expression=update if type(update) is str else "",
            condition_expression=_opt_str(condition, "condition"),
            expression_names=_names(names),
            return_values=None if returned == "ALL_NEW" else returned,
        )
        data = bytes(envelope) + convert.values_field(5, values)
        binary = [name for name, key in (("pk", pk), ("sk", sk)) if _binary(key)]
        metadata = {_BINARY_KEYS: ",".join(binary)} if binary else None
        reply = await self._unary("Update", data, idempotent=False, metadata=metadata)
        return _optional_item(reply, 1)

    # -- queries and scans ---------------------------------------------------

    def _start(self, start: Mapping[str, Any] | None) -> pb.LastKey | None:
        if start is None:
            return None
        if not isinstance(start, Mapping):
            raise ValidationError(
                f"start must be a dict of key attributes, got {type(start).__name__}"
            )
        return convert.last_key_to_proto(start, self._pk, self._sk)

    async def query(
        self,
        pk: str | bytes,
        sk: SortKeyCondition | None = None,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        reverse: bool = False,
    ) -> Page:
        """Items of partition ``pk`` in sort-key order, one page at a time."""
        condition = None
        if sk is not None:
            if not isinstance(sk, SortKeyCondition):
                raise ValidationError(
                    "sk must be a condition from keystone.sk, e.g. sk.begins_with('a')"
                )
            bounds = (sk.value,) if sk.op != "between" else (sk.value, sk.upper)
            condition = convert.sort_key_condition_to_proto(sk.op, *bounds)
        envelope = pb.QueryRequest(
            partition_key=convert.key_to_proto(pk)[0],
            sort_key_condition=condition,
            filter_expression=_opt_str(filter, "filter"),
            index_name=_opt_str(index, "index"),
            limit=_limit(limit),
            exclusive_start_key=self._start(start),
            scan_forward=False if reverse else None,
            expression_names=_names(names),
            projection_expression=_opt_str(projection, "projection"),
        )
        data = bytes(envelope) + convert.values_field(4, values)
        reply = await self._unary("Query", data, idempotent=True)
        return _page(reply, 0, len(reply), self._pk, self._sk)

    async def query_all(
        self, pk: str | bytes, sk: SortKeyCondition | None = None, **kwargs: Any
    ) -> AsyncGenerator[Item, None]:
        """Every matching item of :meth:`query`, following ``last_key`` across pages."""
        start = kwargs.pop("start", None)
        while True:
            page = await self.query(pk, sk, start=start, **kwargs)
            for item in page.items:
                yield item
            if page.last_key is None:
                return
            start = page.last_key

    def _scan_request(
        self,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        segment: int = 0,
        total_segments: int = 1,
    ) -> tuple[pb.ScanRequest, bytes]:
        segment = _uint32(segment, "segment")
        total_segments = _uint32(total_segments, "total_segments")
        envelope = pb.ScanRequest(
            filter_expression=_opt_str(filter, "filter"),
            limit=_limit(limit),
            exclusive_start_key=self._start(start),
            index_name=_opt_str(index, "index"),
            segment=segment if segment or total_segments != 1 else None,
            total_segments=total_segments if segment or total_segments != 1 else None,
            expression_names=_names(names),
            projection_expression=_opt_str(projection, "projection"),
        )
        return envelope, convert.values_field(2, values)

    async def _pages(
        self, envelope: pb.ScanRequest, values: bytes
    ) -> AsyncGenerator[tuple[Page, int], None]:
        """``(page, message bytes)`` of each Scan message; resumes once after a lost connection."""
        received = 0
        for attempt in (0, 1):
            try:
                messages = self._stream(bytes(envelope) + values)
                async with contextlib.aclosing(messages):
                    async for data in messages:
                        received += 1
                        page = _page(data, 0, len(data), self._pk, self._sk)
                        yield page, len(data)
                        if page.last_key is not None:
                            envelope.exclusive_start_key = self._start(page.last_key)
                            if envelope.limit is not None:
                                envelope.limit -= page.scanned_count
                return
            except Unavailable:
                if attempt or (received and envelope.limit == 0):
                    raise

    async def scan(
        self,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        segment: int = 0,
        total_segments: int = 1,
    ) -> Page:
        """Every item, one page at a time (up to ``limit`` items read, or about 1 MiB)."""
        envelope, values_bytes = self._scan_request(
            filter, names, values, projection, index, limit, start, segment, total_segments
        )
        out = Page()
        size = 0
        async with contextlib.aclosing(self._pages(envelope, values_bytes)) as pages:
            async for page, nbytes in pages:
                out.items.extend(page.items)
                out.count += page.count
                out.scanned_count += page.scanned_count
                out.last_key = page.last_key
                size += nbytes
                if size >= MAX_PAGE_BYTES:
                    break
        return out

    async def scan_pages(self, **kwargs: Any) -> AsyncGenerator[Page, None]:
        """The pages of one streamed scan (``scan``'s arguments), to the end of the table.

        ``limit`` bounds the items read across all pages; each page's
        ``last_key`` is where a later ``scan(start=...)`` would resume.
        """
        envelope, values = self._scan_request(**kwargs)
        async with contextlib.aclosing(self._pages(envelope, values)) as pages:
            async for page, _ in pages:
                yield page

    async def scan_all(self, **kwargs: Any) -> AsyncGenerator[Item, None]:
        """Every matching item of :meth:`scan`, in one stream.

        As for ``Database.scan_all``, ``limit`` only sizes pages, so every
        matching item is returned.
        """
        _limit(kwargs.pop("limit", None))
        async with contextlib.aclosing(self.scan_pages(**kwargs)) as pages:
            async for page in pages:
                for item in page.items:
                    yield item

    # -- batches and transactions --------------------------------------------

    def _key_of(self, key: object, what: str) -> tuple[bytes, bytes | None]:
        """The wire bytes of a key given as a key dict, ``(pk, sk)``, ``(pk,)`` or a bare pk."""
        try:
            if isinstance(key, Mapping):
                if self._pk not in key:
                    raise ValidationError(f"has no partition key attribute {self._pk!r}")
                extra = set(key) - {self._pk, self._sk}
                if extra:
                    raise ValidationError(
                        f"has attributes that are not key attributes: {sorted(extra)}"
                    )
                return convert.key_to_proto(key[self._pk], key.get(self._sk))
            if isinstance(key, tuple):
                if len(key) == 1:
                    return convert.key_to_proto(key[0])
                if len(key) == 2:
                    return convert.key_to_proto(key[0], key[1])
                raise ValidationError(f"must be (pk,) or (pk, sk), got a tuple of {len(key)}")
            return convert.key_to_proto(key)  # type: ignore[arg-type]
        except ValidationError as exc:
            sep = " " if str(exc).startswith(("has ", "must ")) else ": "
            raise ValidationError(f"{what}{sep}{exc}") from None

    def _key_list(self, keys: Iterable[object], what: str) -> bytes:
        if isinstance(keys, (str, bytes, Mapping)):
            raise ValidationError(f"{what}: keys must be a list of (pk, sk) tuples or key dicts")
        key_of, key_field = self._key_of, convert.key_field
        return b"".join(
            [key_field(1, *key_of(key, f"{what} keys[{i}]")) for i, key in enumerate(keys)]
        )

    async def batch_get(self, keys: Iterable[object]) -> list[Item]:
        """The items with these keys, in request order (missing ones left out)."""
        reply = await self._unary("BatchGet", self._key_list(keys, "batch_get"), idempotent=True)
        found = convert.split_fields(reply, (1,))[1]
        return convert.items_from_spans(reply, found.get(1, ()))

    async def batch_write(
        self,
        puts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[object] = (),
    ) -> None:
        """Put and delete many items in one atomic commit (no conditions)."""
        if isinstance(puts, Mapping):
            raise ValidationError("batch_write: puts must be a list of items, not one item")
        if isinstance(deletes, (str, bytes, Mapping)):
            raise ValidationError(
                "batch_write: deletes must be a list of (pk, sk) tuples or key dicts"
            )
        writes = []
        for i, item in enumerate(puts):
            where = f"batch_write puts[{i}]: "
            try:
                body = convert.item_field(3, _item_arg(item, where))
            except ValidationError as exc:
                message = str(exc)
                raise ValidationError(
                    message if message.startswith(where) else where + message
                ) from None
            writes.append(convert.len_field(1, convert.len_field(1, body)))
        for i, key in enumerate(deletes):
            pk_bytes, sk_bytes = self._key_of(key, f"batch_write deletes[{i}]")
            body = bytes(pb.DeleteKey(partition_key=pk_bytes, sort_key=sk_bytes))
            writes.append(convert.len_field(1, convert.len_field(2, body)))
        if not writes:
            return
        await self._unary("BatchWrite", b"".join(writes), idempotent=False)

    async def transact_get(self, keys: Iterable[object]) -> list[Item | None]:
        """The items with these keys from one snapshot, in order (``None`` for missing)."""
        reply = await self._unary(
            "TransactGet", self._key_list(keys, "transact_get"), idempotent=True
        )
        found = convert.split_fields(reply, (1,))[1]
        out: list[Item | None] = []
        for start, end in found.get(1, ()):
            inner = convert.split_fields(reply, (1,), start, end)[1]
            out.append(convert.item_from_spans(reply, inner.get(1, ())))
        return out

    async def transact_write(
        self,
        parts: Iterable[TransactPart],
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Apply every part in one commit, or none (``TransactionCanceled`` has the reasons)."""
        if isinstance(parts, (Put, Update, Delete, ConditionCheck)):
            raise ValidationError("transact_write: parts must be a list of parts, not one part")
        items = []
        binary: list[str] = []
        for i, part in enumerate(parts):
            where = f"transact_write part {i}: "
            try:
                field, body = self._transact_part(part, i, binary)
            except ValidationError as exc:
                raise ValidationError(where + str(exc)) from None
            items.append(convert.len_field(1, convert.len_field(field, body)))
        envelope = pb.TransactWriteRequest(expression_names=_names(names))
        data = b"".join(items) + bytes(envelope) + convert.values_field(100, values)
        metadata = {_BINARY_KEYS: ",".join(binary)} if binary else None
        await self._unary("TransactWrite", data, idempotent=False, metadata=metadata)

    @staticmethod
    def _transact_part(part: object, i: int, binary: list[str]) -> tuple[int, bytes]:
        if isinstance(part, Put):
            cond = _opt_str(part.condition, "condition")
            envelope = bytes(pb.TransactPut(condition_expression=cond))
            return 1, envelope + convert.item_field(3, _item_arg(part.item))
        if isinstance(part, Update):
            pk_bytes, sk_bytes = convert.key_to_proto(part.pk, part.sk)
            binary.extend(
                f"{i}.{name}" for name, k in (("pk", part.pk), ("sk", part.sk)) if _binary(k)
            )
            return 2, bytes(
                pb.TransactUpdate(
                    partition_key=pk_bytes,
                    sort_key=sk_bytes,
                    update_expression=part.update if type(part.update) is str else "",
                    condition_expression=_opt_str(part.condition, "condition"),
                )
            )
        if isinstance(part, Delete):
            pk_bytes, sk_bytes = convert.key_to_proto(part.pk, part.sk)
            return 3, bytes(
                pb.TransactDelete(
                    partition_key=pk_bytes,
                    sort_key=sk_bytes,
                    condition_expression=_opt_str(part.condition, "condition"),
                )
            )
        if isinstance(part, ConditionCheck):
            pk_bytes, sk_bytes = convert.key_to_proto(part.pk, part.sk)
            condition = part.condition if type(part.condition) is str else ""
            return 4, bytes(
                pb.ConditionCheck(
                    partition_key=pk_bytes, sort_key=sk_bytes, condition_expression=condition
                )
            )
        raise ValidationError(
            f"parts must be keystone.Put, Update, Delete or ConditionCheck, got {type(part).__name__}"
        )

    # -- PartiQL ---------------------------------------------------------------

    async def execute(self, statement: str, parameters: Sequence[Any] | None = None) -> Page:
        """Run one PartiQL statement; ``?`` takes ``parameters`` in order."""
        if type(statement) is not str:
            raise ValidationError(
                f"a PartiQL statement must be a str, got {type(statement).__name__}"
            )
        data = bytes(pb.ExecuteStatementRequest(statement=statement)) + _parameters(
            statement, parameters
        )
        reply = await self._unary("ExecuteStatement", data, idempotent=False)
        rest, found = convert.split_fields(reply, (1, 3))
        if 1 in found:
            start, end = found[1][-1]
            return _page(reply, start, end, self._pk, self._sk)
        if 3 in found:
            start, end = found[3][-1]
            inner = convert.split_fields(reply, (1,), start, end)[1]
            item = convert.item_from_spans(reply, inner.get(1, ()))
            return Page([item], 1, 1) if item is not None else Page()
        return Page()


# --------------------------------------------------------------------------
# The sync facade
# --------------------------------------------------------------------------


async def _next(pages: AsyncIterator[Page]) -> Page | None:
    try:
        return await pages.__anext__()
    except StopAsyncIteration:
        return None


async def _aclose(pages: Any) -> None:
    await pages.aclose()


def _stop_portal(portal_cm: Any, client: Client, portal: BlockingPortal) -> None:
    with contextlib.suppress(Exception):
        portal.call(client.close)
    with contextlib.suppress(Exception):
        portal_cm.__exit__(None, None, None)


class SyncClient:
    """A blocking client: a :class:`Client` running on an event loop in a background thread.

    It has the methods of ``keystone.Database`` (and satisfies
    ``keystone.Store``), is safe to share between threads, and is a context
    manager. Create one with :func:`connect`.
    """

    def __init__(
        self,
        url: str = f"127.0.0.1:{DEFAULT_PORT}",
        *,
        partition_key: str = "pk",
        sort_key: str = "sk",
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        client = Client(url, partition_key=partition_key, sort_key=sort_key, timeout=timeout)
        portal_cm = start_blocking_portal()
        portal = portal_cm.__enter__()
        self._client = client
        self._portal: BlockingPortal | None = portal
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _stop_portal, portal_cm, client, portal)
        self._finalizer.atexit = False

    def __repr__(self) -> str:
        return repr(self._client).replace("keystone_net.Client", "keystone_net.SyncClient")

    @property
    def closed(self) -> bool:
        return self._portal is None

    def close(self) -> None:
        """Close the connection and stop the background thread (idempotent)."""
        with self._lock:
            if self._portal is None:
                return
            self._portal = None
        self._finalizer()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, func: Any, *args: Any) -> Any:
        portal = self._portal
        if portal is None:
            raise DatabaseClosed("the client is closed")
        return portal.call(func, *args)

    # -- single items ----------------------------------------------------------

    def get(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> Item | None:
        """The item with this key, or ``None``. ``projection`` picks attributes."""
        result: Item | None = self._run(self._client.get, pk, sk, projection, names)
        return result

    def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
    ) -> Item | None:
        """Store ``item`` if ``condition`` holds; the old item with ``returns="ALL_OLD"``."""
        result: Item | None = self._run(self._client.put, item, condition, names, values, returns)
        return result

    def delete(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
    ) -> Item | None:
        """Delete the item with this key if ``condition`` holds (no error if absent)."""
        result: Item | None = self._run(
            self._client.delete, pk, sk, condition, names, values, returns
        )
        return result

    def update(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        update: str | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: UpdateReturns = "ALL_NEW",
    ) -> Item | None:
        """Apply an update expression (creating the item if absent, as DynamoDB does)."""
        result: Item | None = self._run(
            self._client.update, pk, sk, update, condition, names, values, returns
        )
        return result

    # -- queries and scans ---------------------------------------------------

    def query(
        self,
        pk: str | bytes,
        sk: SortKeyCondition | None = None,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        reverse: bool = False,
    ) -> Page:
        """Items of partition ``pk`` in sort-key order, one page at a time."""
        page: Page = self._run(
            self._client.query,
            pk,
            sk,
            filter,
            names,
            values,
            projection,
            index,
            limit,
            start,
            reverse,
        )
        return page

    def query_all(
        self, pk: str | bytes, sk: SortKeyCondition | None = None, **kwargs: Any
    ) -> Iterator[Item]:
        """Every matching item of :meth:`query`, following ``last_key`` across pages."""
        start = kwargs.pop("start", None)
        while True:
            page = self.query(pk, sk, start=start, **kwargs)
            yield from page.items
            if page.last_key is None:
                return
            start = page.last_key

    def scan(
        self,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        segment: int = 0,
        total_segments: int = 1,
    ) -> Page:
        """Every item, one page at a time (up to ``limit`` items read, or about 1 MiB)."""
        page: Page = self._run(
            self._client.scan,
            filter,
            names,
            values,
            projection,
            index,
            limit,
            start,
            segment,
            total_segments,
        )
        return page

    def scan_all(self, **kwargs: Any) -> Iterator[Item]:
        """Every matching item of :meth:`scan`, streamed (``limit`` only sizes pages)."""
        _limit(kwargs.pop("limit", None))
        pages = self._client.scan_pages(**kwargs)
        try:
            while True:
                page: Page | None = self._run(_next, pages)
                if page is None:
                    return
                yield from page.items
        finally:
            portal = self._portal
            if portal is not None:
                with contextlib.suppress(Exception):
                    portal.call(_aclose, pages)

    # -- batches and transactions --------------------------------------------

    def batch_get(self, keys: Iterable[object]) -> list[Item]:
        """The items with these keys, in request order (missing ones left out)."""
        items: list[Item] = self._run(self._client.batch_get, keys)
        return items

    def batch_write(
        self, puts: Iterable[Mapping[str, Any]] = (), deletes: Iterable[object] = ()
    ) -> None:
        """Put and delete many items in one atomic commit (no conditions)."""
        self._run(self._client.batch_write, puts, deletes)

    def transact_get(self, keys: Iterable[object]) -> list[Item | None]:
        """The items with these keys from one snapshot, in order (``None`` for missing)."""
        items: list[Item | None] = self._run(self._client.transact_get, keys)
        return items

    def transact_write(
        self,
        parts: Iterable[TransactPart],
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Apply every part in one commit, or none (``TransactionCanceled`` has the reasons)."""
        self._run(self._client.transact_write, parts, names, values)

    # -- PartiQL ---------------------------------------------------------------

    def execute(self, statement: str, parameters: Sequence[Any] | None = None) -> Page:
        """Run one PartiQL statement; ``?`` takes ``parameters`` in order."""
        page: Page = self._run(self._client.execute, statement, parameters)
        return page


if TYPE_CHECKING:

    def _sync_client_is_a_store(client: SyncClient) -> Store:
        return client  # mypy checks here that SyncClient satisfies keystone.Store


def connect(
    url: str = f"127.0.0.1:{DEFAULT_PORT}",
    *,
    partition_key: str = "pk",
    sort_key: str = "sk",
    timeout: float | None = DEFAULT_TIMEOUT,
) -> SyncClient:
    """A :class:`SyncClient` of the server at ``url`` (``"http://host:port"`` or ``"host:port"``).

    ``partition_key``/``sort_key`` name the table's key attributes (default
    ``"pk"``/``"sk"``), used to turn key dicts and tuples into wire keys.
    The connection opens on the first call.
    """
    return SyncClient(url, partition_key=partition_key, sort_key=sort_key, timeout=timeout)
