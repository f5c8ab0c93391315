"""The server in production: limits, overload, authentication, trace ids, logs, shutdown.

Each test runs a real ``python -m keystone_net serve`` process on loopback
with the options it is about, and a real client (the keystone client, or a
raw grpclib channel where the test needs the metadata). Every loop is bounded
in count and time.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from netsupport import free_port, wait_until

import keystone
from keystone_net import AuthenticationError, Client, connect
from keystone_net._proto import keystone as pb

ROUTE = "/keystone.KeystoneDB/"
TOKEN = "t0ken-for.tests"
HEX32 = re.compile(r"[0-9a-f]{32}")


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def gauge(port: int, name: str) -> float | None:
    """The value of an unlabelled metric of the server's /metrics."""
    status, body = fetch(port, "/metrics")
    assert status == 200
    match = re.search(rf"^{name} (\S+)$", body, re.M)
    return float(match.group(1)) if match else None


class Answer:
    """The outcome of one raw call: status, message, trailing metadata, reply."""

    def __init__(self) -> None:
        self.status = Status.OK
        self.message: str | None = None
        self.trailers: dict[str, Any] = {}
        self.reply: Any = None


async def raw_get(channel: Channel, pk: bytes = b"k", metadata: Any = None) -> Answer:
    """A Get with the generated messages and ``metadata``, as any gRPC client sends it."""
    answer = Answer()
    async with channel.request(
        ROUTE + "Get",
        Cardinality.UNARY_UNARY,
        pb.GetRequest,
        pb.GetResponse,
        timeout=20,
        metadata=metadata,
    ) as stream:
        await stream.send_message(pb.GetRequest(partition_key=pk), end=True)
        try:
            answer.reply = await stream.recv_message()
            await stream.recv_trailing_metadata()
        except GRPCError as err:
            answer.status, answer.message = err.status, err.message
        answer.trailers = dict(stream.trailing_metadata or {})
    return answer


def json_lines(server: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.output().splitlines() if line.strip()]


def access_lines(server: Any) -> list[dict[str, Any]]:
    return [r for r in json_lines(server) if r["logger"] == "keystone_net.access"]


# --------------------------------------------------------------------------
# Connection and rate limits
# --------------------------------------------------------------------------


def test_the_connection_over_the_limit_is_refused_while_the_others_keep_working(
    start_server: Any,
) -> None:
    server = start_server(None, 0, "--max-connections", "2", "--metrics-port", "0")
    first = connect(server.url, timeout=20)
    second = connect(server.url, timeout=20)
    third = connect(server.url, timeout=20, retries=0)
    try:
        first.put({"pk": "a"})
        second.put({"pk": "b"})
        with pytest.raises(keystone.ResourceExhausted, match="connection limit of 2 reached"):
            third.get("a")
        assert first.get("b") == {"pk": "b"}  # the admitted ones carry on
        assert second.get("a") == {"pk": "a"}
        with pytest.raises(keystone.ResourceExhausted, match="connection limit of 2"):
            third.put({"pk": "c"})
        first.close()  # a place frees up: the third gets it
        assert wait_until(lambda: _succeeds(third.get, "a"), timeout=10)
        assert second.get("c") is None  # the refused put never ran
    finally:
        for client in (first, second, third):
            client.close()
    assert "over the limit of 2 connections" in server.output()


def _succeeds(call: Any, *args: Any) -> bool:
    try:
        call(*args)
    except keystone.ResourceExhausted:
        return False
    return True


async def _burst(client: Client, n: int) -> list[BaseException | None]:
    """``n`` gets as fast as one connection carries them: None for each success."""
    out: list[BaseException | None] = []
    for _ in range(n):
        try:
            await client.get("k")
            out.append(None)
        except keystone.ResourceExhausted as exc:
            out.append(exc)
    return out


def test_a_connection_over_its_rate_is_refused_while_another_goes_on(start_server: Any) -> None:
    server = start_server(None, 0, "--max-rps-per-connection", "5", "--metrics-port", "0")

    async def run() -> None:
        async with (
            Client(server.url, timeout=20, retries=0) as hasty,
            Client(server.url, timeout=20, retries=0) as calm,
        ):
            began = time.monotonic()
            results = await _burst(hasty, 20)
            elapsed = time.monotonic() - began
            refused = [r for r in results if r is not None]
            # A full bucket of 5, then 5 more per second.
            assert 5 <= len(results) - len(refused) <= 5 + 5 * elapsed + 1
            assert results[:5] == [None] * 5 and refused
            assert all(
                "rate limit of 5 requests/s per connection exceeded" in str(r) for r in refused
            )
            assert await calm.get("k") is None  # its own bucket is full
            await asyncio.sleep(0.5)  # ~2.5 tokens back
            assert await hasty.get("k") is None

    asyncio.run(run())


def test_the_global_rate_is_shared_by_every_connection(start_server: Any) -> None:
    server = start_server(None, 0, "--max-rps-global", "5", "--metrics-port", "0")

    async def run() -> None:
        async with (
            Client(server.url, timeout=20, retries=0) as one,
            Client(server.url, timeout=20, retries=0) as two,
        ):
            began = time.monotonic()
            first = await _burst(one, 4)
            second = await _burst(two, 16)
            elapsed = time.monotonic() - began
            passed = [r for r in first + second if r is None]
            refused = [r for r in first + second if r is not None]
            assert first == [None] * 4
            assert 5 <= len(passed) <= 5 + 5 * elapsed + 1
            assert refused and all(
                "global rate limit of 5 requests/s exceeded" in str(r) for r in refused
            )
            assert second[-1] is not None  # the second connection ran dry too
            await asyncio.sleep(0.5)
            assert await two.get("k") is None

    asyncio.run(run())


def test_idle_connections_are_closed_and_the_client_reconnects(start_server: Any) -> None:
    server = start_server(None, 0, "--connection-timeout", "0.3", "--metrics-port", "0")
    with connect(server.url, timeout=20) as client:
        client.put({"pk": "a"})
        assert wait_until(lambda: "idle for" in server.output(), timeout=10)
        assert client.get("a") == {"pk": "a"}  # a new connection
    assert re.search(r"closing connection from 127\.0\.0\.1:\d+, idle for 0\.\d s", server.output())


def test_a_call_in_flight_keeps_its_connection_past_the_idle_timeout(start_server: Any) -> None:
    server = start_server(None, 0, "--connection-timeout", "0.2", "--metrics-port", "0")
    with connect(server.url, timeout=20) as client:
        client.batch_write(puts=[{"pk": f"k{i:03d}", "blob": b"x" * 2000} for i in range(200)])

    async def slow_scan() -> int:
        # A client that does not read: with a 64 KiB flow-control window the
        # server blocks sending the ~400 KB scan, so the call stays in flight.
        small = Configuration(http2_connection_window_size=65535, http2_stream_window_size=65535)
        channel = Channel("127.0.0.1", server.port, config=small)
        try:
            async with channel.request(
                ROUTE + "Scan",
                Cardinality.UNARY_STREAM,
                pb.ScanRequest,
                pb.ScanResponse,
                timeout=30,
            ) as stream:
                await stream.send_message(pb.ScanRequest(), end=True)
                await asyncio.sleep(0.7)  # three idle timeouts, but a call is in flight
                items = sum([len(reply.items) async for reply in stream])
            assert "idle for" not in server.output()
            # Once the call is over, the connection is idle: now it goes.
            assert await asyncio.to_thread(wait_until, lambda: "idle for" in server.output())
            return items
        finally:
            channel.close()

    assert asyncio.run(slow_scan()) == 200


# --------------------------------------------------------------------------
# Overload
# --------------------------------------------------------------------------


def test_a_burst_beyond_the_queue_is_shed_and_the_server_keeps_serving(
    start_server: Any,
) -> None:
    server = start_server(None, 0, "--workers", "1", "--metrics-port", "0")
    blob = "x" * 300
    with connect(server.url, timeout=60) as client:
        for start in range(0, 4000, 1000):
            client.batch_write(
                puts=[
                    {"pk": "big", "sk": f"{i:05d}", "v": blob} for i in range(start, start + 1000)
                ]
            )

    async def burst() -> list[Any]:
        async with Client(server.url, timeout=60, retries=0) as db:
            # Each query reads 1 MiB and returns nothing: slow for one worker.
            calls = [db.query("big", filter="v = :n", values={":n": "nope"}) for _ in range(16)]
            return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(burst())
    done = [r for r in results if isinstance(r, keystone.Page)]
    shed = [r for r in results if isinstance(r, keystone.ResourceExhausted)]
    assert len(done) + len(shed) == 16, results
    assert all(p.count == 0 and p.scanned_count > 0 for p in done)
    assert len(done) >= 5  # one with the worker and four waiting always get in
    assert shed  # the rest of the burst, arriving while the worker is busy
    assert all(
        re.search(r"server overloaded: \d+ calls already waiting for 1 worker; retry later", str(e))
        for e in shed
    )
    with connect(server.url, timeout=20) as client:  # still serving
        assert client.get("big", "00042") == {"pk": "big", "sk": "00042", "v": blob}


# --------------------------------------------------------------------------
# Authentication, trace ids, the request log in JSON, message sizes
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server requiring a token, logging JSON, taking messages up to 64 KiB."""
    from conftest import ServerProcess

    server = ServerProcess(
        tmp_path_factory.mktemp("guarded") / "db.keystone",
        0,
        "--auth-token",
        TOKEN,
        "--log-format",
        "json",
        "--max-message-bytes",
        "65536",
        "--metrics-port",
        "0",
    )
    yield server
    assert server.terminate() == 0


def test_calls_need_the_bearer_token(guarded: Any) -> None:
    async def run() -> None:
        channel = Channel("127.0.0.1", guarded.port)
        try:
            missing = await raw_get(channel)
            wrong = await raw_get(channel, metadata={"authorization": "Bearer nope"})
            scheme = await raw_get(channel, metadata={"authorization": f"Basic {TOKEN}"})
            right = await raw_get(channel, metadata={"authorization": f"Bearer {TOKEN}"})
        finally:
            channel.close()
        assert missing.status is Status.UNAUTHENTICATED
        assert "missing bearer token" in (missing.message or "")
        assert wrong.status is scheme.status is Status.UNAUTHENTICATED
        assert wrong.message == scheme.message == "invalid bearer token"
        assert right.status is Status.OK and right.reply.item is None

    asyncio.run(run())
    with (
        connect(guarded.url, timeout=20, auth_token="wrong") as client,
        pytest.raises(AuthenticationError, match="invalid bearer token"),
    ):
        client.put({"pk": "intruder"})
    with connect(guarded.url, timeout=20, auth_token=TOKEN) as client:
        assert client.get("intruder") is None
        client.put({"pk": "mine"})
        assert client.get("mine") == {"pk": "mine"}


def test_health_checks_need_no_token(guarded: Any) -> None:
    async def run() -> Any:
        channel = Channel("127.0.0.1", guarded.port)
        try:
            return await HealthStub(channel).Check(HealthCheckRequest(service=""), timeout=20)
        finally:
            channel.close()

    assert asyncio.run(run()).status == HealthCheckResponse.SERVING


def test_reflection_needs_the_token_as_the_keystone_service_does(guarded: Any) -> None:
    from grpclib.reflection.v1 import reflection_grpc, reflection_pb2

    async def list_services(metadata: Any) -> Any:
        channel = Channel("127.0.0.1", guarded.port)
        try:
            stub = reflection_grpc.ServerReflectionStub(channel)
            async with stub.ServerReflectionInfo.open(timeout=20, metadata=metadata) as stream:
                await stream.send_message(reflection_pb2.ServerReflectionRequest(list_services=""))
                reply = await stream.recv_message()
                await stream.end()
                return {s.name for s in reply.list_services_response.service}
        finally:
            channel.close()

    with pytest.raises(GRPCError) as refused:
        asyncio.run(list_services(None))
    assert refused.value.status is Status.UNAUTHENTICATED
    listed = asyncio.run(list_services({"authorization": f"Bearer {TOKEN}"}))
    assert "keystone.KeystoneDB" in listed and "grpc.health.v1.Health" in listed


def test_the_trace_id_comes_back_and_is_logged(guarded: Any) -> None:
    auth = ("authorization", f"Bearer {TOKEN}")

    async def run() -> list[Answer]:
        channel = Channel("127.0.0.1", guarded.port)
        try:
            return [
                await raw_get(channel, b"traced", [auth, ("x-request-id", "trace-abc.123")]),
                await raw_get(channel, b"untraced", [auth]),
                await raw_get(channel, b"garbled", [auth, ("x-request-id", "has space")]),
                await raw_get(channel, b"refused", [("x-request-id", "refused-1")]),
            ]
        finally:
            channel.close()

    traced, untraced, garbled, refused = asyncio.run(run())
    assert traced.trailers["x-request-id"] == "trace-abc.123"
    assert HEX32.fullmatch(untraced.trailers["x-request-id"])
    assert HEX32.fullmatch(garbled.trailers["x-request-id"])  # not put in a log line as is
    assert refused.status is Status.UNAUTHENTICATED
    assert refused.trailers["x-request-id"] == "refused-1"

    expected = {
        "trace-abc.123": "OK",
        untraced.trailers["x-request-id"]: "OK",
        "refused-1": "UNAUTHENTICATED",
    }
    assert wait_until(
        lambda: expected.keys() <= {r["trace_id"] for r in access_lines(guarded)}, timeout=10
    ), guarded.output()
    for line in access_lines(guarded):
        if line["trace_id"] in expected:
            assert line["method"] == "Get"
            assert line["status"] == expected[line["trace_id"]]
            assert isinstance(line["duration_ms"], float) and 0 <= line["duration_ms"] < 20_000
            assert re.fullmatch(r"127\.0\.0\.1:\d+", line["peer"])
            assert line["level"] == "INFO" and line["ts"].endswith("+00:00")
            assert "trace_id=" + line["trace_id"] in line["message"]


def test_the_json_log_is_one_object_per_line(guarded: Any) -> None:
    with connect(guarded.url, timeout=20, auth_token=TOKEN) as client:
        client.put({"pk": "logged"})
        with pytest.raises(keystone.ValidationError):
            client.query("logged", index="no-such-index")
    assert wait_until(
        lambda: any(
            r["status"] == "INVALID_ARGUMENT" and r["method"] == "Query"
            for r in access_lines(guarded)
        )
    )
    lines = json_lines(guarded)  # every line parses
    assert all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["message"].startswith("listening on 127.0.0.1:") for line in lines)
    assert "Traceback" not in guarded.output()


def test_messages_over_the_size_limit_are_refused(guarded: Any) -> None:
    with connect(guarded.url, timeout=20, auth_token=TOKEN) as client:
        client.put({"pk": "small", "v": "x" * 30_000})
        with pytest.raises(
            keystone.ResourceExhausted,
            match=r"request message is \d+ bytes, over the message limit of 65536",
        ):
            client.put({"pk": "large", "v": "x" * 70_000})
        for i in range(3):
            client.put({"pk": f"part{i}", "v": "x" * 30_000})
        with pytest.raises(
            keystone.ResourceExhausted, match=r"the reply is \d+ bytes, over the message limit"
        ):
            client.batch_get([(f"part{i}",) for i in range(3)])
        assert client.get("large") is None
        assert len(client.get("small")["v"]) == 30_000  # still serving


# --------------------------------------------------------------------------
# The environment
# --------------------------------------------------------------------------


def test_a_server_set_up_by_the_environment_behaves_as_with_flags(
    start_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "KEYSTONE_MAX_CONNECTIONS": "1",
        "KEYSTONE_AUTH_TOKEN": TOKEN,
        "KEYSTONE_LOG_FORMAT": "json",
        "KEYSTONE_METRICS_PORT": "0",
        "KEYSTONE_WORKERS": "3",
    }.items():
        monkeypatch.setenv(name, value)
    server = start_server()
    with connect(server.url, timeout=20) as anonymous, pytest.raises(AuthenticationError):
        anonymous.get("a")
    with connect(server.url, timeout=20, auth_token=TOKEN) as client:
        assert wait_until(lambda: _succeeds(client.get, "a"), timeout=10)
        with (
            connect(server.url, timeout=20, auth_token=TOKEN, retries=0) as other,
            pytest.raises(keystone.ResourceExhausted, match="connection limit of 1"),
        ):
            other.get("a")
    (listening,) = [r for r in json_lines(server) if r["message"].startswith("listening on")]
    assert re.search(
        r"listening on 127\.0\.0\.1:\d+ \(database .*, 3 workers, token required\)",
        listening["message"],
    )


# --------------------------------------------------------------------------
# Shutdown
# --------------------------------------------------------------------------


def test_sigterm_lets_the_calls_in_flight_finish_and_keeps_their_data(
    tmp_path: Path, start_server: Any
) -> None:
    path = tmp_path / "drain.keystone"
    metrics = free_port()
    server = start_server(
        path,
        0,
        "--workers",
        "1",
        "--max-queue",
        "8",
        "--metrics-port",
        str(metrics),
        durability="sync",
    )
    # Long calls: whichever arrives first runs alone while the others queue
    # behind it (in the server's write lane), long enough for the test to see
    # them queued before it sends SIGTERM.
    sizes = [15_000] * 6
    batches = [
        [{"pk": f"w{b}", "sk": f"{i:05d}", "v": "y" * 200} for i in range(n)]
        for b, n in enumerate(sizes)
    ]
    in_flight = 0
    seen_unready = False

    def queue_length() -> int:
        return int(gauge(metrics, "blocking_queue_length") or 0)

    async def run() -> list[Any]:
        nonlocal in_flight, seen_unready
        async with Client(server.url, timeout=60, retries=0) as db:
            writes = [asyncio.ensure_future(db.batch_write(puts=batch)) for batch in batches]
            # Calls in flight: at least one with the worker and two queued behind it.
            queued = await asyncio.to_thread(wait_until, lambda: queue_length() >= 2, 20)
            assert queued, server.output()
            server.proc.send_signal(signal.SIGTERM)
            in_flight = 1 + queue_length()
            seen_unready = await asyncio.to_thread(
                wait_until, lambda: fetch(metrics, "/ready")[0] == 503, 20
            )
            return await asyncio.gather(*writes, return_exceptions=True)

    results = asyncio.run(run())
    done = [b for b, r in enumerate(results) if r is None]
    # Those in flight finished; a call that reached the server only after the
    # signal was refused whole (UNAVAILABLE), never cut off halfway.
    assert len(done) >= in_flight >= 3, results
    assert all(r is None or isinstance(r, keystone.Unavailable) for r in results), results
    assert seen_unready  # not ready while draining
    assert server.proc.wait(30) == 0
    server.kill()  # joins the log reader
    log = server.output()
    assert "SIGTERM: shutting down" in log and "database closed" in log
    assert "Traceback" not in log
    with keystone.Database.open(path) as db:
        assert db.stats()["items"] == sum(sizes[b] for b in done)
        for b in done:
            last = f"{sizes[b] - 1:05d}"
            assert db.get(f"w{b}", last) == {"pk": f"w{b}", "sk": last, "v": "y" * 200}
