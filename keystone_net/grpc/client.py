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

Each method is: arguments to request bytes (``keystone_net.grpc.calls``), the
bytes to the server and back (``keystone_net.grpc.transport``: the URL forms,
TLS, the bearer token, deadlines, which calls are retried and how), reply
bytes to keystone values (``keystone_net.grpc.calls`` again). The blocking
facade is ``keystone_net.grpc.sync``.

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
from keystone.checks import (
    PUT_RETURNS,
    UPDATE_RETURNS,
    OnConditionFailure,
    PutReturns,
    UpdateReturns,
    check_returns,
)
from keystone.database import TransactPart
from keystone.errors import NotFound, Unavailable, ValidationError
from keystone.paging import every_item_async
from keystone.reads import Select
from keystone.schema import GlobalIndex, LocalIndex, Schema, StreamConfig
from keystone.sk import KeyValue
from keystone.table import MAX_PAGE_BYTES, Page
from keystone.types import Item
from keystone_net._proto import keystone as pb
from keystone_net.grpc import calls, convert
from keystone_net.grpc.compression import DEFAULT_MIN_BYTES
from keystone_net.grpc.retry import DEFAULT_RETRIES, Retry
from keystone_net.grpc.transport import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    UNSET,
    Backoff,
    PermanentUnavailable,
    TimeoutArg,
    Transport,
)
from keystone_net.serving.tls import StrPath

__all__ = ["Client"]

_KEEP: Final[Any] = object()  # update_table: leave the stream as it is
_DEFAULT_TABLE: Final = "default"


def _missing(table: str) -> str:
    """The message of a missing table (DynamoDB's ResourceNotFoundException)."""
    return f"Requested resource not found: Table: {table} not found"


def _key_names(description: Mapping[str, Any]) -> calls.KeySchema:
    """The key attribute names of a table description (``KeySchema``)."""
    pk, sk = "pk", ""
    for part in description.get("KeySchema") or ():
        if part.get("KeyType") == "HASH":
            pk = part.get("AttributeName", pk)
        elif part.get("KeyType") == "RANGE":
            sk = part.get("AttributeName", sk)
    return calls.KeySchema(pk, sk)


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
    own (``keystone_net.serving.tls.client_context`` makes one). ``auth_token`` is
    sent as ``authorization: Bearer <token>`` on every call. ``timeout``
    is the default of every call, in seconds (``None``: no limit).
    ``retries`` is how many times a call that could not reach the server is
    tried again (an int, or a :class:`keystone_net.Retry` policy; 0 never).
    ``compression`` (``"gzip"`` or ``"deflate"``) compresses requests of at
    least ``compression_min_bytes`` and tells the server it may compress its
    replies (which it does if started with ``--compression``).
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
        compression: str | None = None,
        compression_min_bytes: int = DEFAULT_MIN_BYTES,
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
            compression=compression,
            compression_min_bytes=compression_min_bytes,
        )
        self._keys = calls.KeySchema(partition_key, sort_key)
        #: The table this client acts on (``None``: the server's default table).
        self._table: str | None = None
        #: The key attribute names of tables named in batches, shared by handles.
        self._schemas: dict[str, calls.KeySchema] = {}
        self._handle = False

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        table = "" if self._table is None else f" table {self._table!r}"
        return f"<keystone_net.Client {self._transport.address}{table} {state}>"

    @property
    def name(self) -> str:
        """The name of the table this client acts on (``"default"`` for the default table)."""
        return _DEFAULT_TABLE if self._table is None else self._table

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
        """Close the connection (idempotent); later calls raise ``DatabaseClosed``.

        On a table handle (:meth:`table`) it does nothing: close the client.
        """
        if not self._handle:
            self._transport.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _unary(self, rpc: str, data: bytes, **kwargs: Any) -> bytes:
        """An item call of this client's table (see :meth:`_gone`)."""
        try:
            return await self._transport.unary(rpc, data, **kwargs)
        except NotFound as exc:
            raise self._gone(exc) from None

    def _gone(self, exc: NotFound) -> NotFound:
        """A handle's own table is missing: it was deleted since the handle was
        made (which found it), and the error says so, as a local handle's does."""
        if self._handle and self._table is not None and str(exc) == _missing(self._table):
            return NotFound(f"table {self._table!r} does not exist (it was deleted)")
        return exc

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
        pk_bytes, sk_bytes, typed = convert.typed_key(pk, sk, 104, 105)
        request = pb.GetRequest(
            partition_key=pk_bytes,
            sort_key=sk_bytes,
            projection_expression=calls.opt_str(projection, "projection"),
            expression_names=calls.names_arg(names),
            table=self._table,
        )
        reply = await self._unary("Get", bytes(request) + typed, idempotent=True, timeout=timeout)
        return calls.optional_item(reply, 1)

    async def put(
        self,
        item: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Item | None:
        """Store ``item`` if ``condition`` holds; the old item with ``returns="ALL_OLD"``."""
        returned = check_returns(returns, PUT_RETURNS)
        envelope = pb.PutRequest(
            condition_expression=calls.opt_str(condition, "condition"),
            expression_names=calls.names_arg(names),
            return_values=None if returned == "NONE" else returned,
            table=self._table,
            return_values_on_condition_check_failure=calls.on_failure_arg(
                return_values_on_condition_check_failure
            ),
        )
        data = (
            bytes(envelope)
            + convert.values_field(5, values)
            + convert.item_field(3, calls.item_arg(item))
        )
        reply = await self._unary("Put", data, idempotent=False, timeout=timeout)
        return calls.optional_item(reply, 100)

    async def delete(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: PutReturns = "NONE",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Item | None:
        """Delete the item with this key if ``condition`` holds (no error if absent)."""
        returned = check_returns(returns, PUT_RETURNS)
        pk_bytes, sk_bytes, typed = convert.typed_key(pk, sk, 105, 106)
        envelope = pb.DeleteRequest(
            partition_key=pk_bytes,
            sort_key=sk_bytes,
            condition_expression=calls.opt_str(condition, "condition"),
            expression_names=calls.names_arg(names),
            return_values=None if returned == "NONE" else returned,
            table=self._table,
            return_values_on_condition_check_failure=calls.on_failure_arg(
                return_values_on_condition_check_failure
            ),
        )
        data = bytes(envelope) + typed + convert.values_field(4, values)
        reply = await self._unary("Delete", data, idempotent=False, timeout=timeout)
        return calls.optional_item(reply, 100)

    async def update(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        update: str | None = None,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        returns: UpdateReturns = "ALL_NEW",
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Item | None:
        """Apply an update expression (creating the item if absent, as DynamoDB does)."""
        returned = check_returns(returns, UPDATE_RETURNS)
        pk_bytes, sk_bytes, typed = convert.typed_key(pk, sk, 105, 106)
        envelope = pb.UpdateRequest(
            partition_key=pk_bytes,
            sort_key=sk_bytes,
            update_expression=update if type(update) is str else "",
            condition_expression=calls.opt_str(condition, "condition"),
            expression_names=calls.names_arg(names),
            return_values=None if returned == "ALL_NEW" else returned,
            table=self._table,
            return_values_on_condition_check_failure=calls.on_failure_arg(
                return_values_on_condition_check_failure
            ),
        )
        data = bytes(envelope) + typed + convert.values_field(5, values)
        reply = await self._unary("Update", data, idempotent=False, timeout=timeout)
        return calls.optional_item(reply, 1)

    # -- queries and scans ---------------------------------------------------

    async def query(
        self,
        pk: KeyValue | None = None,
        sk: SortKeyCondition | None = None,
        filter: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        projection: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start: Mapping[str, Any] | None = None,
        reverse: bool = False,
        key_condition: str | None = None,
        select: Select | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Page:
        """Items of partition ``pk`` in sort-key order, one page at a time.

        ``key_condition`` (DynamoDB's KeyConditionExpression) may take the
        place of ``pk``/``sk``; ``select="COUNT"`` returns only the counts.
        """
        condition = None
        if sk is not None:
            if not isinstance(sk, SortKeyCondition):
                raise ValidationError(
                    "sk must be a condition from keystone.sk, e.g. sk.begins_with('a')"
                )
            bounds = (sk.value,) if sk.op != "between" else (sk.value, sk.upper)
            condition = convert.sort_key_condition_to_proto(sk.op, *bounds)
        # The partition key travels as a Value (field 102, ours: the server hands
        # the library exactly this value) and as its bytes (the original field).
        envelope = pb.QueryRequest(
            partition_key=b"" if pk is None else convert.wire_bytes(pk),
            index_partition_key=None
            if pk is None
            else pb.Value.parse(convert.key_value_bytes(pk, "partition key")),
            sort_key_condition=condition,
            filter_expression=calls.opt_str(filter, "filter"),
            index_name=calls.opt_str(index, "index"),
            limit=calls.check_limit(limit),
            exclusive_start_key=self._keys.last_key(start),
            scan_forward=False if reverse else None,
            expression_names=calls.names_arg(names),
            projection_expression=calls.opt_str(projection, "projection"),
            table=self._table,
            key_condition_expression=calls.opt_str(key_condition, "key_condition"),
            select=calls.opt_str(select, "select"),
        )
        data = bytes(envelope) + convert.values_field(4, values)
        reply = await self._unary("Query", data, idempotent=True, timeout=timeout)
        return self._keys.page(reply)

    async def query_all(
        self, pk: KeyValue | None = None, sk: SortKeyCondition | None = None, **kwargs: Any
    ) -> AsyncGenerator[Item, None]:
        """Every matching item of :meth:`query`, following ``last_key`` across pages."""
        async for item in every_item_async(
            lambda start: self.query(pk, sk, start=start, **kwargs), kwargs.pop("start", None)
        ):
            yield item

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
                        page = self._keys.page(data)
                        yield page, len(data)
                        if page.last_key is not None:
                            envelope.exclusive_start_key = self._keys.last_key(page.last_key)
                            if envelope.limit is not None:
                                envelope.limit -= page.scanned_count
                return
            except NotFound as exc:
                raise self._gone(exc) from None
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
        select: Select | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Page:
        """Every item, one page at a time (up to ``limit`` items read, or about 1 MiB)."""
        envelope, values_bytes = calls.scan_request(
            self._keys,
            filter,
            names,
            values,
            projection,
            index,
            limit,
            start,
            segment,
            total_segments,
            select,
            self._table,
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
        envelope, values = calls.scan_request(self._keys, **kwargs, table=self._table)
        async with contextlib.aclosing(self._pages(envelope, values, timeout)) as pages:
            async for page, _ in pages:
                yield page

    async def scan_all(self, **kwargs: Any) -> AsyncGenerator[Item, None]:
        """Every matching item of :meth:`scan`, in one stream.

        As for ``Database.scan_all``, ``limit`` only sizes pages, so every
        matching item is returned.
        """
        calls.check_limit(kwargs.pop("limit", None))
        async with contextlib.aclosing(self.scan_pages(**kwargs)) as pages:
            async for page in pages:
                for item in page.items:
                    yield item

    # -- batches and transactions --------------------------------------------

    async def _schemas_of(self, keys: Iterable[object]) -> dict[str, calls.KeySchema]:
        """The key attribute names of the tables ``(table, key dict)`` pairs name.

        Asked of the server once per table (DescribeTable) and kept.
        """
        for name in calls.tables_with_key_dicts(keys):
            if name not in self._schemas:
                if name == self.name:
                    self._schemas[name] = self._keys
                else:
                    self._schemas[name] = _key_names(await self.describe_table(name))
        return self._schemas

    async def _get_request(
        self,
        keys: Iterable[object],
        what: str,
        projection: str | None,
        names: Mapping[str, str] | None,
    ) -> bytes:
        if not isinstance(keys, (str, bytes, Mapping, list, tuple)) and isinstance(keys, Iterable):
            keys = list(keys)  # read twice below
        schemas = await self._schemas_of(keys)
        envelope = pb.BatchGetRequest(  # (TransactGetRequest has the same fields)
            projection_expression=calls.opt_str(projection, "projection"),
            expression_names=calls.names_arg(names),
            table=self._table,
        )
        return self._keys.key_list(keys, what, schemas) + bytes(envelope)

    async def batch_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> list[Item]:
        """The items with these keys, in request order (missing ones left out).

        A key may be a ``(table, key)`` pair naming another table.
        """
        data = await self._get_request(keys, "batch_get", projection, names)
        reply = await self._unary("BatchGet", data, idempotent=True, timeout=timeout)
        found = convert.split_fields(reply, (1,))[1]
        return convert.items_from_spans(reply, found.get(1, ()))

    async def batch_write(
        self,
        puts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[object] = (),
        *,
        timeout: TimeoutArg = UNSET,
    ) -> None:
        """Put and delete many items in one atomic commit (no conditions).

        A put may be ``keystone.Put(item, table=...)``, a delete
        ``keystone.Delete(pk, sk, table=...)`` or a ``(table, key)`` pair.
        """
        if isinstance(puts, Mapping):
            raise ValidationError("batch_write: puts must be a list of items, not one item")
        if isinstance(deletes, (str, bytes, Mapping)):
            raise ValidationError(
                "batch_write: deletes must be a list of (pk, sk) tuples or key dicts"
            )
        deletes = list(deletes)
        schemas = await self._schemas_of(deletes)
        writes = []
        for i, item in enumerate(puts):
            where = f"batch_write puts[{i}]: "
            table: str | None = None
            try:
                if isinstance(item, Put):
                    if item.condition is not None:
                        raise ValidationError(
                            "batch_write takes no conditions (use transact_write)"
                        )
                    table = calls.table_arg(item.table)
                    item = item.item
                body = convert.item_field(3, calls.item_arg(item, where))
            except ValidationError as exc:
                message = str(exc)
                raise ValidationError(
                    message if message.startswith(where) else where + message
                ) from None
            if table is not None:
                body += bytes(pb.PutItem(table=table))
            writes.append(convert.len_field(1, convert.len_field(1, body)))
        for i, key in enumerate(deletes):
            what = f"batch_write deletes[{i}]"
            table = calls.table_of_pair(key)
            if isinstance(key, Delete):
                if key.condition is not None:
                    raise ValidationError(f"{what}: batch_write takes no conditions")
                table = calls.table_arg(key.table)
                pk_bytes, sk_bytes, typed = convert.typed_key(key.pk, key.sk, 104, 105)
            elif table is not None:
                pair: Any = key
                pk_bytes, sk_bytes, typed = schemas.get(table, self._keys).key(pair[1], what)
            else:
                pk_bytes, sk_bytes, typed = self._keys.key(key, what)
            body = bytes(pb.DeleteKey(partition_key=pk_bytes, sort_key=sk_bytes, table=table))
            body += typed
            writes.append(convert.len_field(1, convert.len_field(2, body)))
        if not writes:
            return
        envelope = bytes(pb.BatchWriteRequest(table=self._table))
        await self._unary(
            "BatchWrite", b"".join(writes) + envelope, idempotent=False, timeout=timeout
        )

    async def transact_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> list[Item | None]:
        """The items with these keys from one snapshot, in order (``None`` for missing)."""
        data = await self._get_request(keys, "transact_get", projection, names)
        reply = await self._unary("TransactGet", data, idempotent=True, timeout=timeout)
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
        token: str | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> None:
        """Apply every part in one commit, or none (``TransactionCanceled`` has the reasons).

        ``token`` is DynamoDB's ClientRequestToken: with it the call is
        idempotent for 10 minutes (and so it is retried like a read).
        """
        if isinstance(parts, (Put, Update, Delete, ConditionCheck)):
            raise ValidationError("transact_write: parts must be a list of parts, not one part")
        items = []
        for i, part in enumerate(parts):
            where = f"transact_write part {i}: "
            try:
                field, body = calls.transact_part(part)
            except ValidationError as exc:
                raise ValidationError(where + str(exc)) from None
            items.append(convert.len_field(1, convert.len_field(field, body)))
        envelope = pb.TransactWriteRequest(
            expression_names=calls.names_arg(names),
            table=self._table,
            client_request_token=calls.token_arg(token),
        )
        data = b"".join(items) + bytes(envelope) + convert.values_field(100, values)
        await self._unary("TransactWrite", data, idempotent=token is not None, timeout=timeout)

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
        envelope = pb.ExecuteStatementRequest(statement=statement, table=self._table)
        data = bytes(envelope) + calls.parameters_field(statement, parameters)
        reply = await self._unary(
            "ExecuteStatement", data, idempotent=calls.is_select(statement), timeout=timeout
        )
        rest, found = convert.split_fields(reply, (1, 3))
        if 1 in found:
            start, end = found[1][-1]
            return self._keys.page(reply, start, end)
        if 3 in found:
            start, end = found[3][-1]
            inner = convert.split_fields(reply, (1,), start, end)[1]
            item = convert.item_from_spans(reply, inner.get(1, ()))
            return Page([item], 1, 1) if item is not None else Page()
        return Page()

    # -- tables ------------------------------------------------------------------

    def _for_table(self, name: str, description: Mapping[str, Any]) -> Client:
        """A handle of table ``name``: this client's connection, that table's key names."""
        handle = Client.__new__(Client)
        handle._transport = self._transport
        handle._keys = _key_names(description)
        handle._table = None if name == _DEFAULT_TABLE else name
        handle._schemas = self._schemas
        handle._handle = True
        self._schemas[name] = handle._keys
        return handle

    async def _description(self, rpc: str, request: bytes, timeout: TimeoutArg) -> dict[str, Any]:
        reply = await self._transport.unary(
            rpc, request, idempotent=rpc == "DescribeTable", timeout=timeout
        )
        return calls.optional_item(reply, 1) or {}

    async def table(self, name: str, *, timeout: TimeoutArg = UNSET) -> Client:
        """A handle of the server's table ``name`` (``NotFound`` if there is none).

        It has every method of this client (a ``keystone.Store`` through the
        blocking client), acting on that table over the same connection.
        """
        return self._for_table(name, await self.describe_table(name, timeout=timeout))

    async def tables(self, *, timeout: TimeoutArg = UNSET) -> list[str]:
        """The names of the server's tables, sorted (``"default"`` among them)."""
        reply = await self._transport.unary("ListTables", b"", idempotent=True, timeout=timeout)
        return list(pb.ListTablesResponse.parse(reply).tables)

    async def create_table(
        self, name: str, schema: Schema | None = None, *, timeout: TimeoutArg = UNSET
    ) -> Client:
        """Create table ``name`` (default ``Schema()``); returns its handle.

        An existing name raises ``ValidationError`` (ALREADY_EXISTS on the wire).
        """
        if type(name) is not str:
            raise ValidationError(f"a table name is a str, got {type(name).__name__}")
        if schema is not None and not isinstance(schema, Schema):
            raise ValidationError(f"schema must be a keystone.Schema, got {type(schema).__name__}")
        request = pb.CreateTableRequest(
            table=name, schema=None if schema is None else convert.schema_to_proto(schema)
        )
        description = await self._description("CreateTable", bytes(request), timeout)
        return self._for_table(name, description)

    async def describe_table(self, name: str, *, timeout: TimeoutArg = UNSET) -> dict[str, Any]:
        """The table as DynamoDB's ``DescribeTable`` shows it (a ``TableDescription`` dict)."""
        if type(name) is not str:
            raise ValidationError(f"a table name is a str, got {type(name).__name__}")
        request = bytes(pb.DescribeTableRequest(table=name))
        return await self._description("DescribeTable", request, timeout)

    async def describe(self, *, timeout: TimeoutArg = UNSET) -> dict[str, Any]:
        """``describe_table`` of the table this client acts on."""
        return await self.describe_table(self.name, timeout=timeout)

    async def update_table(
        self,
        name: str,
        add_indexes: Sequence[LocalIndex | GlobalIndex] = (),
        drop_indexes: Sequence[str] = (),
        stream: StreamConfig | None = _KEEP,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> dict[str, Any]:
        """Add and drop indexes, set the stream (``None``: off; left out: kept); the new description."""
        if isinstance(add_indexes, (LocalIndex, GlobalIndex)) or isinstance(drop_indexes, str):
            raise ValidationError("update_table: add_indexes and drop_indexes take lists")
        local, global_ = convert.indexes_to_proto(add_indexes)
        change = None
        if stream is None:
            change = pb.StreamChange(enabled=False)
        elif stream is not _KEEP:
            if not isinstance(stream, StreamConfig):
                raise ValidationError(
                    f"stream must be a keystone.StreamConfig or None, got {type(stream).__name__}"
                )
            change = pb.StreamChange(enabled=True, specification=convert.stream_to_proto(stream))
        drops = list(drop_indexes)
        for drop in drops:
            if type(drop) is not str:
                raise ValidationError(f"update_table: an index name is a str, got {drop!r}")
        request = pb.UpdateTableRequest(
            table=name,
            add_local_indexes=local,
            add_global_indexes=global_,
            drop_indexes=drops,
            stream=change,
        )
        return await self._description("UpdateTable", bytes(request), timeout)

    async def delete_table(self, name: str, *, timeout: TimeoutArg = UNSET) -> None:
        """Delete table ``name`` and its items, indexes and stream."""
        if type(name) is not str:
            raise ValidationError(f"a table name is a str, got {type(name).__name__}")
        await self._transport.unary(
            "DeleteTable",
            bytes(pb.DeleteTableRequest(table=name)),
            idempotent=False,
            timeout=timeout,
        )
        self._schemas.pop(name, None)
