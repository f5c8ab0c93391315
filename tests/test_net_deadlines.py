"""Deadlines and cancellation, as gRPC clients of every stack see them.

A call whose deadline has passed ends DEADLINE_EXCEEDED: on the wire, in the
request log line and in ``rpc_requests_total``, whether the deadline was
past on arrival (``grpc-timeout: 1n`` or ``0n``) or passed while the call
ran. A call the client cancels is CANCELLED. Each test runs a real server
process; the calls are raw HTTP/2 (the ``h2`` package, which puts on the
wire exactly what the test says and enforces no deadline itself, so the
status seen is the server's) or grpcio's C-core channel.

The slow calls need no mock: a Put waits for the database's writer lock,
which the test holds from its own process with ``Database.transaction()``
(LMDB's lock is shared by every process that opens the file); a Scan waits
for a client that never opens its flow-control window.
"""

from __future__ import annotations

import re
import urllib.request
from typing import Any

import pytest
from google.rpc import status_pb2
from netsupport import calls_logged, free_port, grpcio_stubs, h2_call, wait_until, writer_lock_held

from keystone_net import connect
from keystone_net._proto import keystone as pb

ROUTE = "/keystone.KeystoneDB/"
DEADLINE_EXCEEDED = 4


def serve(start_server: Any) -> tuple[Any, int]:
    metrics = free_port()
    server = start_server(None, 0, "--log-format", "json", "--metrics-port", str(metrics))
    return server, metrics


def counted(metrics_port: int, method: str, status: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as reply:
        body = reply.read().decode()
    pattern = rf'^rpc_requests_total\{{method="{method}",status="{status}"\}} (\S+)$'
    match = re.search(pattern, body, re.M)
    return float(match.group(1)) if match else 0.0


def test_a_call_arriving_with_its_deadline_past_ends_deadline_exceeded(
    start_server: Any,
) -> None:
    server, metrics = serve(start_server)
    request = bytes(pb.GetRequest(partition_key=b"k"))
    for timeout in ("1n", "0n", "0m"):
        answer = h2_call(server.port, ROUTE + "Get", request, (("grpc-timeout", timeout),))
        assert answer.status == DEADLINE_EXCEEDED, (timeout, answer.headers, answer.trailers)
        assert "deadline" in (answer.trailer("grpc-message") or "")
        details = status_pb2.Status.FromString(answer.status_details() or b"")
        assert details.code == DEADLINE_EXCEEDED
    assert wait_until(lambda: len(calls_logged(server.output(), "Get")) == 3)
    assert calls_logged(server.output(), "Get") == ["DEADLINE_EXCEEDED"] * 3
    assert counted(metrics, "Get", "DEADLINE_EXCEEDED") == 3
    # The server keeps serving, and said nothing of a traceback.
    ok = h2_call(server.port, ROUTE + "Get", request, (("grpc-timeout", "20S"),))
    assert ok.status == 0
    assert "Traceback" not in server.output()


def test_a_deadline_passing_while_a_put_waits_for_the_writer_lock_ends_deadline_exceeded(
    start_server: Any,
) -> None:
    server, metrics = serve(start_server)
    put = bytes(pb.PutRequest(partition_key=b"late", item=pb.Item()))
    with writer_lock_held(server.db_path):
        answer = h2_call(server.port, ROUTE + "Put", put, (("grpc-timeout", "200m"),))
    assert answer.status == DEADLINE_EXCEEDED, (answer.headers, answer.trailers)
    assert wait_until(lambda: calls_logged(server.output(), "Put"))
    assert calls_logged(server.output(), "Put") == ["DEADLINE_EXCEEDED"]
    assert counted(metrics, "Put", "DEADLINE_EXCEEDED") == 1
    assert counted(metrics, "Put", "CANCELLED") == 0
    with connect(server.url, timeout=20) as client:  # still serving
        client.put({"pk": "after"})
        assert client.get("after") == {"pk": "after"}
    assert "Traceback" not in server.output()


def test_a_deadline_passing_while_a_scan_waits_for_its_reader_ends_deadline_exceeded(
    start_server: Any,
) -> None:
    server, metrics = serve(start_server)
    with connect(server.url, timeout=30) as client:
        client.batch_write(puts=[{"pk": f"{i:05d}", "v": "x" * 200} for i in range(1000)])
    # The client never opens its window: the stream stops after 64 KiB of a much longer scan.
    answer = h2_call(server.port, ROUTE + "Scan", b"", (("grpc-timeout", "300m"),), read=False)
    assert answer.status == DEADLINE_EXCEEDED, (answer.headers, answer.trailers)
    assert len(answer.data) <= 65535  # (what the window let through before the deadline)
    assert wait_until(lambda: calls_logged(server.output(), "Scan"))
    assert calls_logged(server.output(), "Scan") == ["DEADLINE_EXCEEDED"]
    assert counted(metrics, "Scan", "DEADLINE_EXCEEDED") == 1


@pytest.fixture(scope="module")
def grpcio(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """grpcio-tools' generated modules of protos/keystone.proto."""
    import importlib
    import sys

    out = grpcio_stubs(tmp_path_factory.mktemp("grpcio"))
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("keystone_pb2"), importlib.import_module("keystone_pb2_grpc")
    finally:
        sys.path.remove(str(out))


def test_grpcio_deadlines_and_cancellations_are_told_apart(start_server: Any, grpcio: Any) -> None:
    import grpc

    messages, stubs = grpcio
    server, metrics = serve(start_server)
    with grpc.insecure_channel(server.url) as channel:
        stub = stubs.KeystoneDBStub(channel)
        with writer_lock_held(server.db_path):
            with pytest.raises(grpc.RpcError) as late:
                stub.Put(messages.PutRequest(partition_key=b"late"), timeout=1.0)
            assert late.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            assert wait_until(lambda: calls_logged(server.output(), "Put"))
            # A call with time to spare that the client gives up on: CANCELLED.
            pending = stub.Put.future(messages.PutRequest(partition_key=b"given-up"), timeout=60)
            assert wait_until(lambda: counted(metrics, "Put", "DEADLINE_EXCEEDED") == 1)
            assert pending.cancel()
            assert wait_until(lambda: len(calls_logged(server.output(), "Put")) == 2)
    assert calls_logged(server.output(), "Put") == ["DEADLINE_EXCEEDED", "CANCELLED"]
    assert counted(metrics, "Put", "DEADLINE_EXCEEDED") == 1
    assert counted(metrics, "Put", "CANCELLED") == 1
    assert "Traceback" not in server.output()
