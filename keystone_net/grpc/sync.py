"""The blocking client: :class:`SyncClient`, made by :func:`connect`.

A :class:`~keystone_net.grpc.client.Client` running on an event loop in a
background thread (an anyio blocking portal): every method blocks until the
async call it starts is over, so a ``SyncClient`` can be shared by any
number of threads, and it satisfies ``keystone.Store``, so code written
for a local ``keystone.Database`` runs unchanged on a server::

    import keystone_net

    with keystone_net.connect("127.0.0.1:50051") as db:   # a keystone.Store
        db.put({"pk": "user#1", "sk": "profile", "name": "Ada"})
        db.get("user#1", "profile")

    db = keystone_net.connect(
        "https://db.example:50051", ca_file="ca.pem", auth_token=token, timeout=5
    )
    db.query("user#1", timeout=0.5)   # this call only

Connection options, timeouts, retries and exceptions are the async
client's (see ``keystone_net.grpc.client`` and ``keystone_net.grpc.transport``).
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from keystone import SortKeyCondition, Store
from keystone.checks import OnConditionFailure
from keystone.database import PutReturns, TransactPart, UpdateReturns
from keystone.errors import DatabaseClosed
from keystone.paging import every_item
from keystone.reads import Select
from keystone.schema import GlobalIndex, LocalIndex, Schema, StreamConfig
from keystone.sk import KeyValue
from keystone.table import Page
from keystone.types import Item
from keystone_net.grpc.calls import check_limit
from keystone_net.grpc.client import _KEEP, Client
from keystone_net.grpc.compression import DEFAULT_MIN_BYTES
from keystone_net.grpc.retry import DEFAULT_RETRIES, Retry
from keystone_net.grpc.transport import DEFAULT_PORT, DEFAULT_TIMEOUT, UNSET, TimeoutArg
from keystone_net.serving.tls import StrPath

__all__ = ["SyncClient", "connect"]


async def _next(pages: AsyncIterator[Page]) -> Page | None:
    try:
        return await pages.__anext__()
    except StopAsyncIteration:
        return None


async def _aclose(pages: Any) -> None:
    await pages.aclose()


#: How long closing may wait for the connection to shut down before the loop is stopped anyway.
CLOSE_TIMEOUT = 5.0


def _stop_portal(portal_cm: Any, client: Client, portal: BlockingPortal) -> None:
    """Close the connection (bounded by :data:`CLOSE_TIMEOUT`), then stop the loop's thread."""
    with contextlib.suppress(Exception):
        portal.start_task_soon(client.close).result(CLOSE_TIMEOUT)
    with contextlib.suppress(Exception):
        portal_cm.__exit__(None, None, None)


def _close_unclosed(portal_cm: Any, client: Client, portal: BlockingPortal, url: str) -> None:
    """The finalizer of a client nobody closed: warn as an unclosed file does, then close it.

    It runs when the client is garbage collected, or at interpreter exit at
    the latest (``atexit``), while the loop's thread still runs: a client
    left open never keeps the process alive.
    """
    with contextlib.suppress(Exception):
        warnings.warn(
            f"unclosed keystone_net.SyncClient of {url}: call close() or use `with`",
            ResourceWarning,
            stacklevel=2,
        )
    _stop_portal(portal_cm, client, portal)


class SyncClient:
    """A blocking client: a :class:`Client` running on an event loop in a background thread.

    It has the methods of ``keystone.Database`` (and satisfies
    ``keystone.Store``), each with a keyword-only ``timeout=``, is safe to
    share between threads, and is a context manager. Create one with
    :func:`connect`; the options are :class:`Client`'s.
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
        client = Client(
            url,
            partition_key=partition_key,
            sort_key=sort_key,
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
        portal_cm = start_blocking_portal()
        portal = portal_cm.__enter__()
        self._client = client
        self._root = self  # a table handle's root is the client it came from
        self._portal: BlockingPortal | None = portal
        self._lock = threading.Lock()
        self._stop = functools.partial(_stop_portal, portal_cm, client, portal)
        # Also at interpreter exit: once Python finalizes, the loop's daemon
        # thread is frozen and a close from then on would wait for it forever.
        self._finalizer = weakref.finalize(self, _close_unclosed, portal_cm, client, portal, url)

    def __repr__(self) -> str:
        return repr(self._client).replace("keystone_net.Client", "keystone_net.SyncClient")

    @property
    def closed(self) -> bool:
        return self._root._portal is None

    @property
    def name(self) -> str:
        """The name of the table this client acts on (``"default"`` for the default table)."""
        return self._client.name

    def close(self) -> None:
        """Close the connection and stop the background thread (idempotent).

        On a table handle (:meth:`table`) it does nothing: close the client.
        """
        if self._root is not self:
            return
        with self._lock:
            if self._portal is None:
                return
            self._portal = None
        self._finalizer.detach()
        self._stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        portal = self._root._portal
        if portal is None:
            raise DatabaseClosed("the client is closed")
        return portal.call(functools.partial(func, *args, **kwargs))

    # -- single items ----------------------------------------------------------

    def get(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Item | None:
        """The item with this key, or ``None``. ``projection`` picks attributes."""
        result: Item | None = self._run(
            self._client.get, pk, sk, projection, names, timeout=timeout
        )
        return result

    def put(
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
        result: Item | None = self._run(
            self._client.put,
            item,
            condition,
            names,
            values,
            returns,
            return_values_on_condition_check_failure,
            timeout=timeout,
        )
        return result

    def delete(
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
        result: Item | None = self._run(
            self._client.delete,
            pk,
            sk,
            condition,
            names,
            values,
            returns,
            return_values_on_condition_check_failure,
            timeout=timeout,
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
        return_values_on_condition_check_failure: OnConditionFailure = "NONE",
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Item | None:
        """Apply an update expression (creating the item if absent, as DynamoDB does)."""
        result: Item | None = self._run(
            self._client.update,
            pk,
            sk,
            update,
            condition,
            names,
            values,
            returns,
            return_values_on_condition_check_failure,
            timeout=timeout,
        )
        return result

    # -- queries and scans ---------------------------------------------------

    def query(
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
        """Items of partition ``pk`` in sort-key order, one page at a time
        (or of ``key_condition``; ``select="COUNT"``: only the counts)."""
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
            key_condition,
            select,
            timeout=timeout,
        )
        return page

    def query_all(
        self, pk: KeyValue | None = None, sk: SortKeyCondition | None = None, **kwargs: Any
    ) -> Iterator[Item]:
        """Every matching item of :meth:`query`, following ``last_key`` across pages."""
        yield from every_item(
            lambda start: self.query(pk, sk, start=start, **kwargs), kwargs.pop("start", None)
        )

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
        select: Select | None = None,
        *,
        timeout: TimeoutArg = UNSET,
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
            select,
            timeout=timeout,
        )
        return page

    def scan_all(self, **kwargs: Any) -> Iterator[Item]:
        """Every matching item of :meth:`scan`, streamed (``limit`` only sizes pages)."""
        check_limit(kwargs.pop("limit", None))
        pages = self._client.scan_pages(**kwargs)
        try:
            while True:
                page: Page | None = self._run(_next, pages)
                if page is None:
                    return
                yield from page.items
        finally:
            portal = self._root._portal
            if portal is not None:
                with contextlib.suppress(Exception):
                    portal.call(_aclose, pages)

    # -- batches and transactions --------------------------------------------

    def batch_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> list[Item]:
        """The items with these keys, in request order (missing ones left out)."""
        items: list[Item] = self._run(
            self._client.batch_get, keys, projection, names, timeout=timeout
        )
        return items

    def batch_write(
        self,
        puts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[object] = (),
        *,
        timeout: TimeoutArg = UNSET,
    ) -> None:
        """Put and delete many items in one atomic commit (no conditions)."""
        self._run(self._client.batch_write, puts, deletes, timeout=timeout)

    def transact_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> list[Item | None]:
        """The items with these keys from one snapshot, in order (``None`` for missing)."""
        items: list[Item | None] = self._run(
            self._client.transact_get, keys, projection, names, timeout=timeout
        )
        return items

    def transact_write(
        self,
        parts: Iterable[TransactPart],
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        token: str | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> None:
        """Apply every part in one commit, or none (``TransactionCanceled`` has the reasons)."""
        self._run(self._client.transact_write, parts, names, values, token, timeout=timeout)

    # -- PartiQL ---------------------------------------------------------------

    def execute(
        self,
        statement: str,
        parameters: Sequence[Any] | None = None,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> Page:
        """Run one PartiQL statement; ``?`` takes ``parameters`` in order."""
        page: Page = self._run(self._client.execute, statement, parameters, timeout=timeout)
        return page

    # -- tables ------------------------------------------------------------------

    def _handle(self, client: Client) -> SyncClient:
        handle = SyncClient.__new__(SyncClient)
        handle._client = client
        handle._root = self._root
        handle._lock = self._lock
        return handle

    def table(self, name: str, *, timeout: TimeoutArg = UNSET) -> SyncClient:
        """A handle of the server's table ``name`` (``NotFound`` if there is none): a
        ``keystone.Store`` acting on that table over this client's connection."""
        return self._handle(self._run(self._client.table, name, timeout=timeout))

    def tables(self, *, timeout: TimeoutArg = UNSET) -> list[str]:
        """The names of the server's tables, sorted (``"default"`` among them)."""
        names: list[str] = self._run(self._client.tables, timeout=timeout)
        return names

    def create_table(
        self, name: str, schema: Schema | None = None, *, timeout: TimeoutArg = UNSET
    ) -> SyncClient:
        """Create table ``name`` (default ``Schema()``); returns its handle."""
        return self._handle(self._run(self._client.create_table, name, schema, timeout=timeout))

    def describe_table(self, name: str, *, timeout: TimeoutArg = UNSET) -> dict[str, Any]:
        """The table as DynamoDB's ``DescribeTable`` shows it (a ``TableDescription`` dict)."""
        description: dict[str, Any] = self._run(self._client.describe_table, name, timeout=timeout)
        return description

    def describe(self, *, timeout: TimeoutArg = UNSET) -> dict[str, Any]:
        """``describe_table`` of the table this client acts on."""
        return self.describe_table(self.name, timeout=timeout)

    def update_table(
        self,
        name: str,
        add_indexes: Sequence[LocalIndex | GlobalIndex] = (),
        drop_indexes: Sequence[str] = (),
        stream: StreamConfig | None = _KEEP,
        *,
        timeout: TimeoutArg = UNSET,
    ) -> dict[str, Any]:
        """Add and drop indexes, set the stream (``None``: off; left out: kept)."""
        description: dict[str, Any] = self._run(
            self._client.update_table, name, add_indexes, drop_indexes, stream, timeout=timeout
        )
        return description

    def delete_table(self, name: str, *, timeout: TimeoutArg = UNSET) -> None:
        """Delete table ``name`` and its items, indexes and stream."""
        self._run(self._client.delete_table, name, timeout=timeout)


if TYPE_CHECKING:

    def _sync_client_is_a_store(client: SyncClient) -> Store:
        return client  # mypy checks here that SyncClient satisfies keystone.Store


def connect(
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
) -> SyncClient:
    """A :class:`SyncClient` of the server at ``url``; the connection opens on the first call.

    ``url``: ``"host:port"`` or ``"http://host:port"`` (plaintext), or
    ``"https://host:port"`` (TLS; ``ca_file`` is the CA that signed the
    server certificate, default the system's; ``cert_file``/``key_file`` a
    client certificate for servers that require one; or your own
    ``ssl_context``). ``auth_token`` is sent as ``authorization: Bearer
    <token>``. ``partition_key``/``sort_key`` name the table's key
    attributes (default ``"pk"``/``"sk"``), used to turn key dicts and
    tuples into wire keys. ``timeout`` is the default of every call in
    seconds (``None``: none); ``retries`` how often a call that could not
    reach the server is tried again (an int or a ``keystone_net.Retry``).
    ``compression`` (``"gzip"``/``"deflate"``) compresses requests of at
    least ``compression_min_bytes`` and accepts compressed replies.

    ``"dynamodb://TABLE?region=...&endpoint=..."`` returns a
    ``keystone_net.dynamodb.DynamoStore`` instead (Amazon DynamoDB or a
    compatible service, through boto3); the other arguments do not apply.
    """
    if url.startswith("dynamodb://"):
        from ..dynamodb.store import connect_dynamodb

        return connect_dynamodb(url)  # type: ignore[return-value]  # also a keystone.Store
    return SyncClient(
        url,
        partition_key=partition_key,
        sort_key=sort_key,
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
