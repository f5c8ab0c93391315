"""``AsyncDynamoStore``: the async face of :class:`~.store.DynamoStore`, shaped like
``keystone_net.Client``.

Each call runs the blocking boto3 call on a worker thread
(``anyio.to_thread``), at most ``concurrency`` at once. Measured against
aiobotocore on moto's server (``benches/dynamo_store.py``, 400 gets 16 at a
time: 125 vs 83 calls/s; docs/performance.md), the thread pool was faster
and needs no second HTTP stack (aiohttp) nor a second copy of the retry
and error handling, so it is the choice. boto3 clients
are thread-safe; one client serves every thread.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread

from keystone.errors import Timeout
from keystone.paging import every_item_async, every_page_async
from keystone.sk import KeyValue, SortKeyCondition
from keystone.streams import StreamRecord
from keystone.table import Page
from keystone.types import Item
from keystone.writes import TransactPart

from .store import DynamoStore, connect_dynamodb


class AsyncDynamoStore:
    """``await store.get(...)`` on DynamoDB: the methods of ``keystone_net.Client``.

    Every call takes ``timeout=`` (seconds) as the async client's do; the
    other keyword arguments are :class:`DynamoStore`'s.
    """

    def __init__(self, store: DynamoStore, *, concurrency: int = 32) -> None:
        self.store = store
        self._limiter = anyio.CapacityLimiter(concurrency)

    @classmethod
    def connect(cls, url: str, *, concurrency: int = 32, **kwargs: Any) -> AsyncDynamoStore:
        """The async store of a ``dynamodb://TABLE?region=...&endpoint=...`` URL."""
        return cls(connect_dynamodb(url, **kwargs), concurrency=concurrency)

    async def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``store.method(*args, **kwargs)`` on a worker thread.

        ``timeout=`` (seconds, as the async client takes it) raises
        ``keystone.Timeout`` when the call has not returned by then; like a
        network call past its deadline, a write may still be applied.
        """
        timeout = kwargs.pop("timeout", None)
        call = functools.partial(getattr(self.store, method), *args, **kwargs)
        if timeout is None:
            return await anyio.to_thread.run_sync(call, limiter=self._limiter)
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(
                    call, limiter=self._limiter, abandon_on_cancel=True
                )
        except TimeoutError:
            raise Timeout(f"{method} did not finish within {timeout} s") from None

    @property
    def closed(self) -> bool:
        return self.store.closed

    async def close(self) -> None:
        self.store.close()

    async def __aenter__(self) -> AsyncDynamoStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def get(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> Item | None:
        result: Item | None = await self._run("get", pk, sk, projection, names, timeout=timeout)
        return result

    async def put(self, item: Mapping[str, Any], **kwargs: Any) -> Item | None:
        result: Item | None = await self._run("put", item, **kwargs)
        return result

    async def delete(
        self, pk: str | bytes, sk: str | bytes | None = None, **kwargs: Any
    ) -> Item | None:
        result: Item | None = await self._run("delete", pk, sk, **kwargs)
        return result

    async def update(
        self,
        pk: str | bytes,
        sk: str | bytes | None = None,
        update: str | None = None,
        **kwargs: Any,
    ) -> Item | None:
        result: Item | None = await self._run("update", pk, sk, update, **kwargs)
        return result

    async def query(
        self, pk: KeyValue | None = None, sk: SortKeyCondition | None = None, **kwargs: Any
    ) -> Page:
        page: Page = await self._run("query", pk, sk, **kwargs)
        return page

    async def query_all(
        self, pk: KeyValue | None = None, sk: SortKeyCondition | None = None, **kwargs: Any
    ) -> AsyncGenerator[Item, None]:
        async for item in every_item_async(
            lambda start: self.query(pk, sk, start=start, **kwargs), kwargs.pop("start", None)
        ):
            yield item

    async def scan(self, **kwargs: Any) -> Page:
        page: Page = await self._run("scan", **kwargs)
        return page

    async def scan_pages(self, **kwargs: Any) -> AsyncGenerator[Page, None]:
        async for page in every_page_async(
            lambda start: self.scan(start=start, **kwargs), kwargs.pop("start", None)
        ):
            yield page

    async def scan_all(self, **kwargs: Any) -> AsyncGenerator[Item, None]:
        async for page in self.scan_pages(**kwargs):
            for item in page.items:
                yield item

    async def batch_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> list[Item]:
        items: list[Item] = await self._run("batch_get", keys, projection, names, timeout=timeout)
        return items

    async def batch_write(
        self,
        puts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[object] = (),
        *,
        timeout: float | None = None,
    ) -> None:
        await self._run("batch_write", puts, deletes, timeout=timeout)

    async def transact_get(
        self,
        keys: Iterable[object],
        projection: str | None = None,
        names: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> list[Item | None]:
        items: list[Item | None] = await self._run(
            "transact_get", keys, projection, names, timeout=timeout
        )
        return items

    async def transact_write(
        self,
        parts: Iterable[TransactPart],
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        token: str | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        await self._run("transact_write", parts, names, values, token, timeout=timeout)

    async def execute(
        self,
        statement: str,
        parameters: Sequence[Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Page:
        page: Page = await self._run("execute", statement, parameters, timeout=timeout)
        return page

    async def stream(
        self, after: int | None = None, limit: int | None = None
    ) -> list[StreamRecord]:
        records: list[StreamRecord] = await self._run("stream", after, limit)
        return records


__all__ = ["AsyncDynamoStore"]
