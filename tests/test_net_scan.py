"""Scan over the wire: a server stream of bounded messages, each resumable."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality

from keystone import MAX_PAGE_BYTES
from keystone_net import Client
from keystone_net._proto import keystone as pb
from keystone_net.grpc import convert
from keystone_net.grpc.convert import RawMessage
from keystone_net.grpc.server import SCAN_MESSAGE_ITEMS


@pytest.fixture
def remote(remote_store: Any) -> Any:
    remote_store.fresh()
    return remote_store


def fill(client: Any, n: int, size: int = 0, pk: str = "u") -> None:
    items = [{"pk": f"{pk}{i:05d}", "i": i, "pad": "x" * size} for i in range(n)]
    for start in range(0, n, 500):
        client.batch_write(puts=items[start : start + 500])


def stream(port: int, request: pb.ScanRequest) -> list[tuple[int, pb.ScanResponse]]:
    """Every message of one Scan call: ``(encoded size, message)``."""

    async def run() -> list[tuple[int, pb.ScanResponse]]:
        channel = Channel("127.0.0.1", port)
        try:
            async with channel.request(
                "/keystone.KeystoneDB/Scan",
                Cardinality.UNARY_STREAM,
                pb.ScanRequest,
                RawMessage,
                timeout=60,
            ) as s:
                await s.send_message(request, end=True)
                return [(len(m.data), pb.ScanResponse.parse(m.data)) async for m in s]
        finally:
            channel.close()

    return asyncio.run(run())


def items_of(messages: list[tuple[int, pb.ScanResponse]]) -> list[dict[str, Any]]:
    return [convert.item_from_proto(i) for _, m in messages for i in m.items]


def test_a_big_table_streams_as_several_messages_each_with_its_resume_key(remote: Any) -> None:
    n = 2 * SCAN_MESSAGE_ITEMS + 500
    fill(remote.client, n)
    messages = stream(remote.server.port, pb.ScanRequest())
    assert len(messages) == 3
    assert [m.count for _, m in messages] == [SCAN_MESSAGE_ITEMS, SCAN_MESSAGE_ITEMS, 500]
    assert all(m.last_evaluated_key is not None for _, m in messages[:-1])
    assert messages[-1][1].last_evaluated_key is None
    assert sorted(i["i"] for i in items_of(messages)) == list(range(n))
    # Each message's key resumes exactly after it.
    resume = messages[0][1].last_evaluated_key
    rest = stream(remote.server.port, pb.ScanRequest(exclusive_start_key=resume))
    assert len(items_of(rest)) == n - SCAN_MESSAGE_ITEMS


def test_messages_are_bounded_in_size(remote: Any) -> None:
    fill(remote.client, 300, size=10_000)  # ~3 MB of items
    messages = stream(remote.server.port, pb.ScanRequest())
    assert len(messages) >= 3
    assert max(size for size, _ in messages) < 2 * MAX_PAGE_BYTES
    assert len(items_of(messages)) == 300


def test_limit_bounds_the_items_read_across_the_whole_stream(remote: Any) -> None:
    fill(remote.client, 2 * SCAN_MESSAGE_ITEMS + 10)
    limit = SCAN_MESSAGE_ITEMS + 7
    messages = stream(remote.server.port, pb.ScanRequest(limit=limit))
    assert sum(m.scanned_count for _, m in messages) == limit
    assert len(items_of(messages)) == limit
    assert messages[-1][1].last_evaluated_key is not None  # more items remain
    # A filter counts what was read, not what matched.
    request = pb.ScanRequest(
        limit=40,
        filter_expression="i < :n",
        expression_values={":n": pb.Value(number_value="10")},
    )
    messages = stream(remote.server.port, request)
    assert sum(m.scanned_count for _, m in messages) == 40
    assert all(i["i"] < 10 for i in items_of(messages))


def test_segments_stream_disjoint_parts_that_cover_the_table(remote: Any) -> None:
    fill(remote.client, 1500)
    seen: list[int] = []
    for segment in range(3):
        request = pb.ScanRequest(segment=segment, total_segments=3)
        part = [i["i"] for i in items_of(stream(remote.server.port, request))]
        assert 200 < len(part) < 800
        seen.extend(part)
    assert sorted(seen) == list(range(1500))


def test_client_scan_returns_about_one_page_and_pages_through_everything(remote: Any) -> None:
    fill(remote.client, 600, size=5_000)  # ~3 MB
    client = remote.client
    first = client.scan()
    assert first.last_key is not None
    assert 100 <= first.count < 600
    seen, start = [], None
    for _ in range(50):
        page = client.scan(start=start)
        seen.extend(i["i"] for i in page)
        if page.last_key is None:
            break
        start = page.last_key
    assert sorted(seen) == list(range(600))
    assert sorted(i["i"] for i in client.scan_all(projection="i")) == list(range(600))


def test_async_scan_pages_follow_the_stream(remote: Any) -> None:
    fill(remote.client, SCAN_MESSAGE_ITEMS + 1)

    async def run() -> list[int]:
        async with Client(remote.server.url, timeout=30) as client:
            counts = [page.count async for page in client.scan_pages(segment=0, total_segments=1)]
            total = [i async for i in client.scan_all(limit=3)]
            assert len(total) == SCAN_MESSAGE_ITEMS + 1
            return counts

    assert asyncio.run(run()) == [SCAN_MESSAGE_ITEMS, 1]


def test_stopping_a_scan_early_leaves_the_connection_usable(remote: Any) -> None:
    fill(remote.client, 3 * SCAN_MESSAGE_ITEMS)
    client = remote.client
    for _ in range(3):
        for n, _item in enumerate(client.scan_all()):
            if n == 10:
                break
    assert client.scan(limit=5).count == 5
