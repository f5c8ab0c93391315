"""The async client of the KeystoneDB gRPC service: :class:`Client`.

It has the methods of ``keystone.Database``, as coroutines, with the same
arguments, return types and exceptions (``keystone.ValidationError``,
``ConditionalCheckFailed``, ``TransactionCanceled`` with its ``reasons``,
...; rebuilt from the gRPC status by ``convert.exception_for``), so code
written against the local database runs unchanged on a server::

    async with keystone_net.Client("https://db.example:50051", ca_file="ca.pem",
                                   auth_token=token) as db:
        await db.put({"pk": "user#1", "sk": "profile", "name": "Ada"})
        await db.get("user#1", "profile", timeout=0.5)

This module turns arguments into request bytes and reply bytes into keystone
values; how the bytes travel (the URL forms, TLS, the bearer token,
deadlines, which calls are retried and how) is ``keystone_net.transport``'s
job, and the blocking facade is ``keystone_net.sync``.

Key attribute names. The wire carries keys as bytes; key dicts and
``(pk, sk)`` tuples (``batch_get``, ``transact_get``, ``batch_write``
deletes, ``start=``) are turned into those bytes with the table's key
attribute names, which the client cannot ask the server for. They default to
``"pk"`` and ``"sk"``; pass ``Client(url, partition_key="id",
sort_key="ts")`` for a table with another key schema.

Connections. One client keeps one HTTP/2 connection and multiplexes every
call on it (it serves any number of concurrent calls). After the server
restarts, the next call connects again. Every method takes ``timeout=``
(seconds, ``None`` for no limit) overriding the client's ``timeout``
(default 60): an expired call raises ``keystone.Timeout``; one that cannot
reach the server, after the retries ``retries=`` allows (reads always,
writes only if the request never left), raises ``keystone.Unavailable``.

Scans. The server streams a scan as messages of at most ~1 MiB, each with
the key to resume from. ``scan()`` returns one page like the local one: it
reads messages until ``limit`` items were read or about ``MAX_PAGE_BYTES``
arrived, then stops the stream; ``scan_all()`` (and :meth:`Client.scan_pages`)
read one stream to its end, resuming from the last key received after a
lost connection. For scans, ``timeout`` bounds the wait for each message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from typing import Any, Final

from keystone import ConditionCheck, Delete, Put, SortKeyCondition, Update
from keystone.database import PutReturns, TransactPart, UpdateReturns
from keystone.errors import Unavailable, ValidationError
from keystone.table import MAX_PAGE_BYTES, Page
from keystone.types import Item
from keystone_net import convert
from keystone_net._proto import keystone as pb
from keystone_net.retry import DEFAULT_RETRIES, Retry
from keystone_net.tls import StrPath
from keystone_net.transport import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    UNSET,
    Backoff,
    PermanentUnavailable,
    TimeoutArg,
    Transport,
)

__all__ = ["Client"]

_UINT32_MAX: Final = 2**32 - 1
_PUT_RETURNS: Final = ("NONE", "ALL_OLD")
_UPDATE_RETURNS: Final = ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")
_BINARY_KEYS: Final = "keystone-binary-keys"  # see keystone_net.server


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


def _is_select(statement: str) -> bool:
    """A PartiQL SELECT: read-only, so it may be retried (anything else is a write)."""
    head = statement.lstrip()[:7]
    return head[:6].upper() == "SELECT" and not (head[6:].isalnum() or head[6:] == "_")


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
    """An async client of one KeystoneDB server (one HTTP/2 connection).

    The methods are those of ``keystone.Database``, as coroutines, each with
    a keyword-only ``timeout=``; ``query_all``, ``scan_all`` and
    :meth:`scan_pages` are async iterators. Create it anywhere; it connects
    on the first call, in the running loop.

    ``url``: ``"host:port"`` or ``"http://host:port"`` (plaintext), or
    ``"https://host:port"`` (TLS). ``ca_file`` is the CA that signed the
    server certificate (default: the system's CAs); ``cert_file`` and
    ``key_file`` are the client certificate for a server that requires one
    (mutual TLS); ``ssl_context`` replaces all three with a context of your
    own (``keystone_net.tls.client_context`` makes one). ``auth_token`` is
    sent as ``authorization: Bearer <token>`` on every call. ``timeout``
    is the default of every call, in seconds (``None``: no limit).
    ``retries`` is how many times a call that could not reach the server is
    tried again (an int, or a :class:`keystone_net.Retry` policy; 0 never).
    """

    def __init__(
        self,
        url: str = f"127.0.0.1:{DEFAULT_PORT}",
        *,
        partition_key: str = "pk",
        sort_key: str = "sk",
        timeout: float | None = DEFAULT_TIMEOUT,
        retries: int | Retry | None = DEFAULT_RETRIES,
        ca_file: StrPath | None = None,
        cert_file: StrPath | None = None,
        key_file: StrPath | None = None,
        ssl_context: ssl.SSLContext | None = None,
        auth_token: str | None = None,
    ) -> None:
        self._transport = Transport(
            url,
            timeout=timeout,
            retries=retries,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            ssl_context=ssl_context,
            auth_token=auth_token,
        )
        self._pk = partition_key
        self._sk = sort_key

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<keystone_net.Client {self._transport.address} {state}>"

    @property
    def closed(self) -> bool:
        return self._transport.closed

    @property
    def timeout(self) -> float | None:
        """The default timeout of a call, in seconds (``None``: no limit)."""
        return self._transport.timeout

    @property
    def retries(self) -> Retry:
        """The retry policy of calls that could not reach the server."""
        return self._transport.retry

    async def close(self) -> None:
        """Close the connection (idempotent); later calls raise ``DatabaseClosed``."""
        self._transport.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- single items ----------------------------------------------------------

    async def get(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Item | None:
        """The item with this key, or ``None``. ``projection`` picks attributes."""
        pk_bytes, sk_bytes = convert.key_to_proto(pk, sk)
        request = pb.GetRequest(
            partition_key=pk_bytes,
            sort_key=sk_bytes,
            projection_expression=_opt_str(projection, "projection"),
            expression_names=_names(names),
        )
        reply = await self._transport.unary("Get", bytes(request), idempotent=True, timeout=timeout)
        return _optional_item(reply, 1)

    async def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        *,
        timeout: TimeoutArg = UNSET,
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
        reply = await self._transport.unary("Put", data, idempotent=False, timeout=timeout)
        return _optional_item(reply, 100)

    async def delete(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        *,
        timeout: TimeoutArg = UNSET,
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
        reply = await self._transport.unary("Delete", data, idempotent=False, timeout=timeout)
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
        *,
        timeout: TimeoutArg = UNSET,
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
        metadata = ((_BINARY_KEYS, ",".join(binary)),) if binary else None
        reply = await self._transport.unary(
            "Update", data, idempotent=False, timeout=timeout, metadata=metadata
        )
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
        *,
        timeout: TimeoutArg = UNSET,
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
        reply = await self._transport.unary("Query", data, idempotent=True, timeout=timeout)
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
        self, envelope: pb.ScanRequest, values: bytes, timeout: TimeoutArg
    ) -> AsyncGenerator[tuple[Page, int], None]:
        """``(page, message bytes)`` of each Scan message.

        After a lost connection the stream starts again from the last key
        received, as the client's ``retries`` allow (a stream that made
        progress gets a fresh budget).
        """
        backoff = Backoff(self._transport.retry)
        while True:
            received = False
            try:
                messages = self._transport.stream("Scan", bytes(envelope) + values, timeout=timeout)
                async with contextlib.aclosing(messages):
                    async for data in messages:
                        received = True
                        page = _page(data, 0, len(data), self._pk, self._sk)
                        yield page, len(data)
                        if page.last_key is not None:
                            envelope.exclusive_start_key = self._start(page.last_key)
                            if envelope.limit is not None:
                                envelope.limit -= page.scanned_count
                return
            except PermanentUnavailable:
                raise
            except Unavailable:
                if received:
                    if envelope.limit == 0:
                        return  # every item asked for arrived; only the end was lost
                    backoff.progress()
                wait = backoff.next_wait()
                if wait is None:
                    raise
                await asyncio.sleep(wait)

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
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Page:
        """Every item, one page at a time (up to ``limit`` items read, or about 1 MiB)."""
        envelope, values_bytes = self._scan_request(
            filter, names, values, projection, index, limit, start, segment, total_segments
        )
        out = Page()
        size = 0
        async with contextlib.aclosing(self._pages(envelope, values_bytes, timeout)) as pages:
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
        timeout = kwargs.pop("timeout", UNSET)
        envelope, values = self._scan_request(**kwargs)
        async with contextlib.aclosing(self._pages(envelope, values, timeout)) as pages:
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

    async def batch_get(self, keys: Iterable[object], *, timeout: TimeoutArg = UNSET) -> list[Item]:
        """The items with these keys, in request order (missing ones left out)."""
        reply = await self._transport.unary(
            "BatchGet", self._key_list(keys, "batch_get"), idempotent=True, timeout=timeout
        )
        found = convert.split_fields(reply, (1,))[1]
        return convert.items_from_spans(reply, found.get(1, ()))

    async def batch_write(
        self,
        puts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[object] = (),
        *,
        timeout: TimeoutArg = UNSET,
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
        await self._transport.unary(
            "BatchWrite", b"".join(writes), idempotent=False, timeout=timeout
        )

    async def transact_get(
        self, keys: Iterable[object], *, timeout: TimeoutArg = UNSET
    ) -> list[Item | None]:
        """The items with these keys from one snapshot, in order (``None`` for missing)."""
        reply = await self._transport.unary(
            "TransactGet", self._key_list(keys, "transact_get"), idempotent=True, timeout=timeout
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
        *,
        timeout: TimeoutArg = UNSET,
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
        metadata = ((_BINARY_KEYS, ",".join(binary)),) if binary else None
        await self._transport.unary(
            "TransactWrite", data, idempotent=False, timeout=timeout, metadata=metadata
        )

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

    async def execute(
        self,
        statement: str,
        parameters: Sequence[Any] | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Page:
        """Run one PartiQL statement; ``?`` takes ``parameters`` in order."""
        if type(statement) is not str:
            raise ValidationError(
                f"a PartiQL statement must be a str, got {type(statement).__name__}"
            )
        data = bytes(pb.ExecuteStatementRequest(statement=statement)) + _parameters(
            statement, parameters
        )
        reply = await self._transport.unary(
            "ExecuteStatement", data, idempotent=_is_select(statement), timeout=timeout
        )
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
