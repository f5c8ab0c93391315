"""keystone_net.serving.metrics in process: the metrics move, the HTTP endpoint answers.

The HTTP side is exercised over real sockets on 127.0.0.1 (urllib for a
real client, raw bytes for the malformed requests a real client never sends).
Header names are compared without case (HTTP's rule; uvicorn sends them in
lower case).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any
from unittest.mock import ANY

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import keystone
from keystone_net.serving.metrics import DURATION_BUCKETS, Metrics

SERVER_METRICS = {
    "rpc_requests_total",
    "rpc_duration_seconds",
    "active_connections",
    "rate_limited_requests_total",
    "blocking_queue_length",
    "database_size_bytes",
    "database_items",
}


def run_http(metrics: Metrics, test: Callable[[int], Awaitable[None]]) -> None:
    """Run ``test(port)`` with the endpoint of ``metrics`` on a free port, then stop it."""

    async def main() -> None:
        port = await metrics.start_http("127.0.0.1", 0)
        try:
            await test(port)
        finally:
            await metrics.stop_http()

    asyncio.run(main())


def fetch(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET with urllib (blocking: call it through asyncio.to_thread)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, _lower(err.headers), err.read()


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


async def raw(port: int, data: bytes) -> bytes:
    """Send ``data`` and read everything until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


# --------------------------------------------------------------------------
# The metrics
# --------------------------------------------------------------------------


def test_observe_counts_calls_by_method_and_status_and_times_them() -> None:
    m = Metrics(None)
    m.observe("Put", "OK", 0.0004)
    m.observe("Put", "OK", 0.02)
    m.observe("Put", "FAILED_PRECONDITION", 0.001)
    m.observe("Get", "OK", 3.0)
    value = m.registry.get_sample_value
    assert value("rpc_requests_total", {"method": "Put", "status": "OK"}) == 2
    assert value("rpc_requests_total", {"method": "Put", "status": "FAILED_PRECONDITION"}) == 1
    assert value("rpc_requests_total", {"method": "Get", "status": "OK"}) == 1
    assert value("rpc_duration_seconds_count", {"method": "Put"}) == 3
    assert value("rpc_duration_seconds_sum", {"method": "Put"}) == pytest.approx(0.0214)
    assert value("rpc_duration_seconds_bucket", {"method": "Put", "le": "0.0005"}) == 1
    assert value("rpc_duration_seconds_bucket", {"method": "Put", "le": "0.001"}) == 2
    assert value("rpc_duration_seconds_bucket", {"method": "Put", "le": "0.025"}) == 3
    assert value("rpc_duration_seconds_bucket", {"method": "Get", "le": "2.5"}) == 0
    assert value("rpc_duration_seconds_bucket", {"method": "Get", "le": "+Inf"}) == 1


def test_duration_buckets_reach_from_a_tenth_of_a_millisecond_to_ten_seconds() -> None:
    assert DURATION_BUCKETS[0] == 0.0001 and DURATION_BUCKETS[-1] == 10.0
    assert list(DURATION_BUCKETS) == sorted(set(DURATION_BUCKETS))


def test_connections_and_rate_limiting_are_counted() -> None:
    m = Metrics(None)
    value = m.registry.get_sample_value
    assert value("active_connections") == 0
    m.connection_opened()
    m.connection_opened()
    m.connection_closed()
    assert value("active_connections") == 1
    m.rate_limited("requests_per_second")
    m.rate_limited("requests_per_second")
    m.rate_limited("concurrent_calls")
    assert value("rate_limited_requests_total", {"limit_type": "requests_per_second"}) == 2
    assert value("rate_limited_requests_total", {"limit_type": "concurrent_calls"}) == 1


def test_observing_from_many_threads_loses_nothing() -> None:
    m = Metrics(None)

    def work() -> None:
        for _ in range(1000):
            m.observe("Get", "OK", 0.001)
            m.connection_opened()
            m.connection_closed()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (
        m.registry.get_sample_value("rpc_requests_total", {"method": "Get", "status": "OK"}) == 8000
    )
    assert m.registry.get_sample_value("active_connections") == 0


def test_the_queue_length_is_read_when_scraped() -> None:
    m = Metrics(None)
    assert m.registry.get_sample_value("blocking_queue_length") is None  # nothing to read yet
    waiting = [3]
    m.set_queue_length(lambda: waiting[0])
    assert m.registry.get_sample_value("blocking_queue_length") == 3
    waiting[0] = 0
    assert m.registry.get_sample_value("blocking_queue_length") == 0


def test_a_failing_queue_length_leaves_the_gauge_out_but_the_scrape_works() -> None:
    m = Metrics(None)
    m.set_queue_length(lambda: 1 // 0)
    m.observe("Get", "OK", 0.1)
    assert m.registry.get_sample_value("blocking_queue_length") is None
    assert m.registry.get_sample_value("rpc_requests_total", {"method": "Get", "status": "OK"}) == 1


def test_the_database_gauges_follow_the_database(db: keystone.Database) -> None:
    m = Metrics(db)
    value = m.registry.get_sample_value
    assert value("database_items") == 0
    db.batch_write(puts=[{"pk": f"k{i}", "blob": b"x" * 2000} for i in range(300)])
    assert value("database_items") == 300
    assert value("database_size_bytes") == db.stats()["file_bytes"] > 300 * 2000
    db.delete("k0")
    assert value("database_items") == 299


def test_a_closed_database_leaves_its_gauges_out_but_the_scrape_works(tmp_path: Any) -> None:
    db = keystone.Database.open(tmp_path / "closed.keystone")
    m = Metrics(db)
    db.close()
    m.observe("Get", "OK", 0.1)
    assert m.registry.get_sample_value("database_items") is None
    assert m.registry.get_sample_value("database_size_bytes") is None
    assert m.registry.get_sample_value("rpc_requests_total", {"method": "Get", "status": "OK"}) == 1


def test_each_metrics_has_its_own_registry(db: keystone.Database) -> None:
    first, second = Metrics(db), Metrics(db)
    first.observe("Put", "OK", 0.1)
    first.connection_opened()
    assert first.registry is not second.registry
    assert (
        first.registry.get_sample_value("rpc_requests_total", {"method": "Put", "status": "OK"})
        == 1
    )
    assert (
        second.registry.get_sample_value("rpc_requests_total", {"method": "Put", "status": "OK"})
        is None
    )
    assert second.registry.get_sample_value("active_connections") == 0
    # The process-wide default registry is left alone.
    assert REGISTRY.get_sample_value("active_connections") is None


def test_the_server_metrics_have_the_documented_names(db: keystone.Database) -> None:
    m = Metrics(db)
    m.set_queue_length(lambda: 0)
    m.observe("Put", "OK", 0.1)
    m.rate_limited("requests_per_second")
    names = {family.name for family in m.registry.collect()}
    # prometheus_client names a counter family without its _total suffix.
    exposed = {f"{n}_total" if n in ("rpc_requests", "rate_limited_requests") else n for n in names}
    assert exposed >= SERVER_METRICS
    assert {"process_resident_memory_bytes", "python_info"} <= {
        s.name for family in m.registry.collect() for s in family.samples
    }


# --------------------------------------------------------------------------
# The HTTP endpoint
# --------------------------------------------------------------------------


def test_metrics_are_served_in_the_prometheus_text_format(db: keystone.Database) -> None:
    m = Metrics(db)
    db.put({"pk": "a"})
    m.observe("Put", "OK", 0.002)
    m.set_queue_length(lambda: 5)

    async def check(port: int) -> None:
        status, headers, body = await asyncio.to_thread(fetch, port, "/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain; version=0.0.4")
        values = samples(body.decode())
        assert values["rpc_requests_total", (("method", "Put"), ("status", "OK"))] == 1
        assert values["rpc_duration_seconds_count", (("method", "Put"),)] == 1
        assert values["database_items", ()] == 1
        assert values["blocking_queue_length", ()] == 5
        assert values["active_connections", ()] == 0
        # Counted between two scrapes, seen by the second.
        m.observe("Put", "OK", 0.002)
        _, _, body = await asyncio.to_thread(fetch, port, "/metrics")
        assert (
            samples(body.decode())["rpc_requests_total", (("method", "Put"), ("status", "OK"))] == 2
        )

    run_http(m, check)


def test_openmetrics_is_served_to_a_scraper_that_asks_for_it() -> None:
    m = Metrics(None)
    m.observe("Get", "OK", 0.1)

    async def check(port: int) -> None:
        status, headers, body = await asyncio.to_thread(
            fetch, port, "/metrics", Accept="application/openmetrics-text; version=1.0.0"
        )
        assert status == 200
        assert headers["content-type"].startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n")
        assert b'rpc_requests_total{method="Get",status="OK"} 1.0' in body

    run_http(m, check)


def test_health_is_ok_and_ready_follows_set_ready() -> None:
    m = Metrics(None)

    async def check(port: int) -> None:
        assert await asyncio.to_thread(fetch, port, "/health") == (200, ANY, b"ok\n")
        assert (await asyncio.to_thread(fetch, port, "/ready"))[::2] == (503, b"not ready\n")
        m.set_ready(True)
        assert m.ready
        assert (await asyncio.to_thread(fetch, port, "/ready"))[::2] == (200, b"ready\n")
        m.set_ready(False)  # draining
        assert (await asyncio.to_thread(fetch, port, "/ready"))[::2] == (503, b"not ready\n")
        assert (await asyncio.to_thread(fetch, port, "/health"))[0] == 200

    run_http(m, check)


@pytest.mark.parametrize("path", ["/", "/metric", "/metrics/", "/healthz", "/ready/x", "//metrics"])
def test_other_paths_are_not_found(path: str) -> None:
    async def check(port: int) -> None:
        status, _, body = await asyncio.to_thread(fetch, port, path)
        assert status == 404 and b"/metrics" in body

    run_http(Metrics(None), check)


def test_a_query_string_is_ignored() -> None:
    async def check(port: int) -> None:
        assert (await asyncio.to_thread(fetch, port, "/health?verbose=1"))[0] == 200

    run_http(Metrics(None), check)


def test_head_answers_the_headers_without_the_body() -> None:
    async def check(port: int) -> None:
        response = await raw(port, b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = response.partition(b"\r\n\r\n")
        assert status_of(response) == 200 and b"content-length: 3" in head.lower() and body == b""

    run_http(Metrics(None), check)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 405),
        (b"DELETE /ready HTTP/1.1\r\n\r\n", 405),
        (b"GET /metrics\r\n\r\n", 400),  # no version
        (b"GET /metrics HTTP/2.0\r\n\r\n", 400),
        (b"GET  /metrics HTTP/1.1\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS hello
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\n folded: header\r\n\r\n", 400),
        (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET /metrics HTTP/1.1\r\nHost: x", 400),  # cut short
    ],
)
def test_bad_requests_get_an_error_and_the_endpoint_goes_on(
    request_bytes: bytes, status: int
) -> None:
    async def check(port: int) -> None:
        if request_bytes.endswith(b"Host: x"):  # send, then close our side: an incomplete request
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request_bytes)
            writer.write_eof()
            response = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        else:
            response = await raw(port, request_bytes)
        assert status_of(response) == status
        assert b"connection: close" in response.lower()
        if status == 405:
            assert b"allow: get, head" in response.lower()
        assert (await asyncio.to_thread(fetch, port, "/health"))[0] == 200

    run_http(Metrics(None), check)


def test_a_client_that_connects_and_leaves_does_no_harm() -> None:
    async def check(port: int) -> None:
        for _ in range(5):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
        with socket.create_connection(("127.0.0.1", port)) as sock:  # reset, not close
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.sendall(b"GET /metr")
        assert (await asyncio.to_thread(fetch, port, "/health"))[0] == 200

    run_http(Metrics(None), check)


def test_one_connection_serves_several_requests() -> None:
    async def check(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for path in (b"/health", b"/ready", b"/metrics"):
                writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                assert b"connection: close" not in head.lower()  # (HTTP/1.1: kept alive)
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            # HTTP/1.0 closes unless asked to keep the connection.
            writer.write(b"GET /health HTTP/1.0\r\n\r\n")
            rest = await asyncio.wait_for(reader.read(), 10)
            assert (
                status_of(rest) == 200
                and b"connection: close" in rest.lower()
                and rest.endswith(b"ok\n")
            )
        finally:
            writer.close()

    run_http(Metrics(None), check)


def test_too_many_connections_are_turned_away() -> None:
    async def check(port: int) -> None:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(64)]
        await asyncio.sleep(0.1)
        response = await raw(port, b"GET /health HTTP/1.1\r\n\r\n")
        assert status_of(response) == 503
        for _, writer in idle:
            writer.close()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if (
                status_of(await raw(port, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"))
                == 200
            ):
                break
        else:
            raise AssertionError("the endpoint did not take connections again")

    run_http(Metrics(None), check)


def test_a_slow_scrape_does_not_block_the_event_loop() -> None:
    m = Metrics(None)
    m.set_queue_length(lambda: time.sleep(0.5) or 0)  # type: ignore[func-returns-value]

    async def check(port: int) -> None:
        gaps: list[float] = []

        async def tick() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        status, _, _ = await asyncio.to_thread(fetch, port, "/metrics")
        ticker.cancel()
        assert status == 200
        assert max(gaps) < 0.3

    run_http(m, check)


def test_start_returns_the_bound_port_and_stop_frees_it() -> None:
    m = Metrics(None)

    async def main() -> None:
        assert m.http_port is None
        port = await m.start_http("127.0.0.1", 0)
        assert port > 0 and m.http_port == port
        with pytest.raises(RuntimeError):
            await m.start_http("127.0.0.1", 0)
        # An idle keep-alive connection does not hold up stopping.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\n\r\n")
        await reader.readuntil(b"ok\n")
        await asyncio.wait_for(m.stop_http(), 5)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        assert m.http_port is None
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        await m.stop_http()  # twice is fine
        # And it starts again, on the same port.
        assert await m.start_http("127.0.0.1", port) == port
        assert (await asyncio.to_thread(fetch, port, "/health"))[0] == 200
        await m.stop_http()

    asyncio.run(main())


def test_a_port_in_use_is_an_os_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def main() -> None:
            with pytest.raises(OSError):
                await Metrics(None).start_http("127.0.0.1", port)

        asyncio.run(main())


def test_two_endpoints_in_one_process_serve_their_own_metrics() -> None:
    first, second = Metrics(None), Metrics(None)
    first.observe("Put", "OK", 0.1)
    second.set_ready(True)

    async def main() -> None:
        a = await first.start_http("127.0.0.1", 0)
        b = await second.start_http("127.0.0.1", 0)
        try:
            _, _, body_a = await asyncio.to_thread(fetch, a, "/metrics")
            _, _, body_b = await asyncio.to_thread(fetch, b, "/metrics")
            assert b'method="Put"' in body_a and b'method="Put"' not in body_b
            assert (await asyncio.to_thread(fetch, a, "/ready"))[0] == 503
            assert (await asyncio.to_thread(fetch, b, "/ready"))[0] == 200
        finally:
            await first.stop_http()
            await second.stop_http()

    asyncio.run(main())


def test_a_failing_route_is_a_500_and_the_endpoint_goes_on() -> None:
    from keystone_net.serving.http import TEXT, HttpEndpoint

    async def route(path: str, headers: Any) -> tuple[int, bytes, str]:
        if path == "/boom":
            raise RuntimeError("boom")
        return 200, b"fine\n", TEXT

    async def main() -> None:
        endpoint = HttpEndpoint(route)
        port = await endpoint.start("127.0.0.1", 0)
        try:
            assert (await asyncio.to_thread(fetch, port, "/boom"))[0] == 500
            assert (await asyncio.to_thread(fetch, port, "/x"))[::2] == (200, b"fine\n")
        finally:
            await endpoint.stop()

    asyncio.run(main())
