"""Per-call timeouts: ``timeout=`` on every call, sent as the gRPC deadline, raised as Timeout."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from grpclib.const import Cardinality, Handler
from grpclib.server import Server, Stream
from netsupport import quiet_args

import keystone
from keystone_net import Client, connect
from keystone_net._proto import keystone as pb
from keystone_net.grpc.convert import RawMessage

SLOW_SELECT = "SELECT * FROM t WHERE v = -1"  # reads every item, returns none


@pytest.fixture
def silent_port() -> Any:
    """A port that accepts connections and never answers (no HTTP/2 at all)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def test_a_call_timeout_overrides_the_client_default(silent_port: int) -> None:
    with connect(f"127.0.0.1:{silent_port}", timeout=60) as db:
        calls = [
            lambda: db.get("a", timeout=0.2),
            lambda: db.put({"pk": "a"}, timeout=0.2),
            lambda: db.query("a", timeout=0.2),
            lambda: db.scan(timeout=0.2),
            lambda: db.batch_get([("a",)], timeout=0.2),
            lambda: db.transact_write([keystone.Delete("a")], timeout=0.2),
            lambda: db.execute(SLOW_SELECT, timeout=0.2),
            lambda: list(db.query_all("a", timeout=0.2)),
            lambda: list(db.scan_all(timeout=0.2)),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(keystone.Timeout):
                call()
            assert time.monotonic() - started < 5
    assert issubclass(keystone.Timeout, TimeoutError)


def test_the_deadline_reaches_the_server() -> None:
    """The server sees the call's deadline (grpc-timeout) and gives up on it too."""
    seen: list[float] = []
    finished: list[bool] = []

    class Slow:
        def __mapping__(self) -> dict[str, Handler]:
            return {
                "/keystone.KeystoneDB/Get": Handler(
                    self.get, Cardinality.UNARY_UNARY, RawMessage, RawMessage
                )
            }

        async def get(self, stream: Stream[Any, Any]) -> None:
            await stream.recv_message()
            assert stream.deadline is not None
            seen.append(stream.deadline.time_remaining())
            await asyncio.sleep(5)  # cancelled by the server at the deadline
            finished.append(True)
            await stream.send_message(RawMessage(bytes(pb.GetResponse())))

    async def main() -> None:
        server = Server([Slow()])
        await server.start("127.0.0.1", 0)
        port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with Client(f"127.0.0.1:{port}", timeout=60) as db:
                started = time.monotonic()
                with pytest.raises(keystone.Timeout):
                    await db.get("a", timeout=0.3)
                assert time.monotonic() - started < 3
                await asyncio.sleep(0.2)
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 30))
    assert len(seen) == 1 and 0 < seen[0] <= 0.3
    assert finished == []


def test_a_call_queued_behind_slow_calls_times_out(tmp_path: Path, start_server: Any) -> None:
    """One worker busy with full-table SELECTs: a get with a short timeout gives up."""
    path = tmp_path / "big.keystone"
    with keystone.Database.open(path, durability="async") as db:
        for b in range(40):
            db.batch_write(puts=[{"pk": f"p{b}", "sk": f"{i:05d}", "v": i} for i in range(5000)])
    server = start_server(path, 0, "--workers", "1", *quiet_args())
    with connect(server.url, timeout=60) as db:
        started = time.monotonic()
        assert db.execute(SLOW_SELECT).scanned_count == 200_000
        one_select = time.monotonic() - started

        # The client default is shorter than a SELECT; timeout=None lifts it for one call.
        with connect(server.url, timeout=one_select / 10) as hurried:
            with pytest.raises(keystone.Timeout):
                hurried.execute(SLOW_SELECT)
            assert hurried.execute(SLOW_SELECT, timeout=None).scanned_count == 200_000

        results: list[int] = []
        busy = [
            threading.Thread(target=lambda: results.append(db.execute(SLOW_SELECT).scanned_count))
            for _ in range(3)
        ]
        for thread in busy:
            thread.start()
        time.sleep(one_select / 4)  # the SELECTs hold the worker and its queue
        started = time.monotonic()
        with pytest.raises(keystone.Timeout):
            db.get("p1", "00001", timeout=one_select / 4)
        assert time.monotonic() - started < one_select + 2
        for thread in busy:
            thread.join(60)
        assert results == [200_000] * 3  # the slow calls were not disturbed
        assert db.get("p1", "00001", timeout=10) == {"pk": "p1", "sk": "00001", "v": 1}
