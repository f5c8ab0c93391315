"""Observability of the real server process (``python -m keystone_net serve --metrics-port ...``).

The server logs where its metrics endpoint listens (``metrics ... on
[http://]HOST:PORT``); these tests read the port from there, scrape
``/metrics`` while making calls, watch ``/health`` and ``/ready`` while the
server drains a call in flight, and ask the gRPC health and reflection
services of the same process. The startup transition (``/ready`` 503 until
the gRPC port listens) is watched in process, through ``serve(metrics=...)``.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.const import Cardinality
from grpclib.exceptions import StreamTerminatedError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpclib.reflection.v1 import reflection_grpc, reflection_pb2
from netsupport import free_port, wait_until
from prometheus_client.parser import text_string_to_metric_families

import keystone
from keystone_net import connect

_METRICS_LINE = re.compile(r"metrics\b.*?\bon (?:http://)?([\w.\-]+|\[[0-9A-Fa-f:.]+\]):(\d+)")


@functools.cache
def _serve_help() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "keystone_net", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout


def _metrics_port(server: Any, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = _METRICS_LINE.search(server.output())
        if match:
            return int(match.group(2))
        if server.proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError("the server logged no metrics endpoint:\n" + server.output())


def start_with_metrics(start_server: Any, path: Path, *args: str) -> tuple[Any, int]:
    """A server process with its metrics endpoint on a free port; the process and that port."""
    server = start_server(path, 0, "--metrics-port", str(free_port()), *args)
    return server, _metrics_port(server)


def fetch(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = fetch(port, "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def calls(values: dict[Any, float], method: str, status: str = "OK") -> float:
    return values.get(("rpc_requests_total", (("method", method), ("status", status))), 0.0)


# --------------------------------------------------------------------------
# Metrics as calls are made
# --------------------------------------------------------------------------


def test_metrics_move_as_calls_are_made(tmp_path: Path, start_server: Any) -> None:
    server, port = start_with_metrics(start_server, tmp_path / "metrics.keystone")
    assert fetch(port, "/health") == (200, b"ok\n")
    assert fetch(port, "/ready") == (200, b"ready\n")
    before = scrape(port)
    assert before[("database_items", ())] == 0
    assert ("blocking_queue_length", ()) in before

    with connect(server.url, timeout=20) as client:
        for i in range(3):
            client.put({"pk": f"k{i}", "blob": b"x" * 1000})
        assert client.get("k1") is not None
        with pytest.raises(keystone.ConditionalCheckFailed):
            client.put({"pk": "k1"}, condition="attribute_not_exists(pk)")
        during = scrape(port)
        assert during[("active_connections", ())] >= 1

    assert calls(during, "Put") - calls(before, "Put") == 3
    assert calls(during, "Get") - calls(before, "Get") == 1
    assert calls(during, "Put", "FAILED_PRECONDITION") == 1
    assert during[("rpc_duration_seconds_count", (("method", "Put"),))] >= 4
    assert during[("rpc_duration_seconds_bucket", (("le", "+Inf"), ("method", "Put")))] >= 4
    assert during[("database_items", ())] == 3
    size = during[("database_size_bytes", ())]
    assert size == os.path.getsize(tmp_path / "metrics.keystone") and size > 0
    assert during[("blocking_queue_length", ())] == 0
    # The client is gone: so is its connection.
    assert wait_until(lambda: scrape(port)[("active_connections", ())] == 0)
    assert server.terminate() == 0


def test_refused_calls_are_counted_by_limit_type(tmp_path: Path, start_server: Any) -> None:
    if "--max-rps-global" not in _serve_help():
        pytest.skip("the server has no --max-rps-global")
    server, port = start_with_metrics(
        start_server, tmp_path / "limited.keystone", "--max-rps-global", "2"
    )
    refused = 0
    with connect(server.url, timeout=20, retries=0) as client:
        for _ in range(20):
            try:
                client.get("x")
            except keystone.ResourceExhausted:
                refused += 1
    assert refused > 0
    values = scrape(port)
    assert values[("rate_limited_requests_total", (("limit_type", "global"),))] == refused
    assert calls(values, "Get", "RESOURCE_EXHAUSTED") == refused


def test_metrics_port_zero_turns_the_endpoint_off(tmp_path: Path, start_server: Any) -> None:
    server = start_server(tmp_path / "zero.keystone", 0, "--metrics-port", "0")
    assert "metrics, /health and /ready on" not in server.output()
    assert server.proc.poll() is None  # serving gRPC without the endpoint


# --------------------------------------------------------------------------
# Health and readiness through the server's life
# --------------------------------------------------------------------------


def _protocol_classes() -> tuple[Any, Any]:
    """ScanRequest/ScanResponse as Google protobuf classes, from the descriptor set we ship."""
    data = importlib.resources.files("keystone_net._proto").joinpath("keystone.binpb").read_bytes()
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        pool.Add(file)
    return tuple(  # type: ignore[return-value]
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"keystone.{name}"))
        for name in ("ScanRequest", "ScanResponse")
    )


def test_ready_is_served_once_listening_and_drops_while_draining(
    tmp_path: Path, start_server: Any
) -> None:
    server, port = start_with_metrics(start_server, tmp_path / "drain.keystone")
    log = server.output()
    # The endpoint comes up before the gRPC port, so probes answer from the start.
    assert _METRICS_LINE.search(log).start() < log.index("listening on")  # type: ignore[union-attr]
    assert fetch(port, "/ready") == (200, b"ready\n")
    with connect(server.url, timeout=20) as client:
        client.batch_write(puts=[{"pk": f"k{i:03d}", "blob": b"x" * 2000} for i in range(200)])
    scan_request, scan_response = _protocol_classes()

    async def slow_call_across_a_drain() -> list[Any] | None:
        # A scan whose client does not read: with a 64 KiB flow-control window
        # the server blocks sending the ~400 KB reply, so the call stays in
        # flight until we read it.
        small_window = Configuration(
            http2_connection_window_size=65535, http2_stream_window_size=65535
        )
        channel = Channel("127.0.0.1", server.port, config=small_window)
        try:
            async with channel.request(
                "/keystone.KeystoneDB/Scan",
                Cardinality.UNARY_STREAM,
                scan_request,
                scan_response,
                timeout=60,
            ) as stream:
                await stream.send_message(scan_request(), end=True)
                await asyncio.sleep(0.5)  # the server is now blocked in the call
                server.proc.terminate()  # SIGTERM: stop taking calls, drain
                became_unready = await asyncio.to_thread(
                    wait_until, lambda: fetch(port, "/ready")[0] == 503
                )
                assert became_unready, server.output()
                assert fetch(port, "/ready") == (503, b"not ready\n")
                assert fetch(port, "/health") == (200, b"ok\n")  # alive, just not ready
                assert server.proc.poll() is None  # still waiting for our call
                try:
                    return [reply async for reply in stream]
                except StreamTerminatedError:
                    # grpclib's client drops a reply it has not handed over yet
                    # when the server's GOAWAY lands with the reply's last bytes;
                    # the server's own log then tells whether the call finished.
                    return None
        finally:
            channel.close()

    replies = asyncio.run(slow_call_across_a_drain())
    assert server.proc.wait(30) == 0
    if replies is None:
        assert re.search(r"\bScan\b.*\bOK\b", server.output()), server.output()
    else:
        assert sum(len(r.items) for r in replies) == 200  # the call in flight finished
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_grpc_health_and_reflection_answer_on_the_server_port(
    tmp_path: Path, start_server: Any
) -> None:
    server = start_server(tmp_path / "grpc.keystone", 0, "--metrics-port", str(free_port()))

    async def ask() -> None:
        channel = Channel("127.0.0.1", server.port)
        try:
            for service in ("", "keystone.KeystoneDB"):
                reply = await HealthStub(channel).Check(HealthCheckRequest(service=service))
                assert reply.status == HealthCheckResponse.SERVING
            stub = reflection_grpc.ServerReflectionStub(channel)
            async with stub.ServerReflectionInfo.open() as stream:
                request = reflection_pb2.ServerReflectionRequest
                await stream.send_message(request(list_services=""))
                listed = await stream.recv_message()
                await stream.send_message(request(file_containing_symbol="keystone.KeystoneDB"))
                described = await stream.recv_message()
                await stream.end()
            names = {s.name for s in listed.list_services_response.service}
            assert {"keystone.KeystoneDB", "grpc.health.v1.Health"} <= names
            (data,) = described.file_descriptor_response.file_descriptor_proto
            proto = descriptor_pb2.FileDescriptorProto.FromString(data)
            assert [s.name for s in proto.service] == ["KeystoneDB"]
            assert [m.name for m in proto.service[0].method] == [
                *("Put", "Get", "Delete", "Query", "Scan", "BatchGet", "BatchWrite"),
                *("TransactGet", "TransactWrite", "Update", "ExecuteStatement"),
                *("CreateTable", "DescribeTable", "ListTables", "UpdateTable", "DeleteTable"),
            ]  # the eleven of the original protocol, then our table management
        finally:
            channel.close()

    asyncio.run(ask())
    assert server.terminate() == 0
    assert "Traceback" not in server.output()


def test_ready_turns_200_only_when_the_grpc_port_listens(tmp_path: Path) -> None:
    """In process, through ``serve(config=..., metrics=...)``: the startup transition itself."""
    from keystone_net.grpc.server import serve
    from keystone_net.serving.config import ServerConfig
    from keystone_net.serving.metrics import Metrics

    seen: dict[str, Any] = {}

    class Probe(Metrics):
        async def start_http(self, host: str, port: int) -> int:
            bound = await super().start_http(host, port)
            # The endpoint is up, the gRPC port not yet.
            seen["health"] = await asyncio.to_thread(fetch, bound, "/health")
            seen["ready"] = await asyncio.to_thread(fetch, bound, "/ready")
            return bound

    probe = Probe(None)
    config = ServerConfig(
        db_path=str(tmp_path / "startup.keystone"), port=0, metrics_port=free_port()
    )

    async def main() -> None:
        stop, listening = asyncio.Event(), asyncio.Event()
        grpc_port: list[int] = []

        def on_listening(port: int) -> None:
            grpc_port.append(port)
            listening.set()

        server = asyncio.create_task(
            serve(config=config, metrics=probe, stop=stop, on_listening=on_listening)
        )
        try:
            await asyncio.wait_for(listening.wait(), 30)
            assert probe.http_port is not None
            assert await asyncio.to_thread(fetch, probe.http_port, "/ready") == (200, b"ready\n")
            channel = Channel("127.0.0.1", grpc_port[0])
            try:
                reply = await HealthStub(channel).Check(HealthCheckRequest(service=""))
                assert reply.status == HealthCheckResponse.SERVING
            finally:
                channel.close()
        finally:
            stop.set()
            await asyncio.wait_for(server, 30)
        assert not probe.ready and probe.http_port is None  # stopped with the server

    asyncio.run(main())
    assert seen == {"health": (200, b"ok\n"), "ready": (503, b"not ready\n")}
