"""gRPC message compression (gzip, deflate) between real processes.

The bytes on the wire are counted by a loopback TCP relay between client
and server, so "compressed" is measured, not assumed.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError
from netsupport import Relay, grpcio_stubs, h2_call

from keystone_net import Client, connect
from keystone_net._proto import keystone as pb
from keystone_net.grpc.convert import RawMessage

ROUTE = "/keystone.KeystoneDB/"
BIG = {"pk": "big", "sk": "item", "text": "keystone " * 4000, "n": 7}  # ~36 KB, compressible


async def _measured(port: int, **client_options: Any) -> tuple[int, int, Any]:
    """Put BIG, get it back, through a relay; (bytes up, bytes down, the item got)."""
    relay = Relay(port)
    await relay.start()
    try:
        async with Client(f"127.0.0.1:{relay.port}", timeout=20, **client_options) as client:
            await client.put({"pk": "warm"})  # the connection's setup, not counted
            up0, down0 = relay.up, relay.down
            await client.put(BIG)
            got = await client.get("big", "item")
            return relay.up - up0, relay.down - down0, got
    finally:
        relay.close()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_requests_and_replies_are_compressed_when_both_sides_ask(
    tmp_path: Path, start_server: Any, encoding: str
) -> None:
    server = start_server(tmp_path / "c.keystone", 0, "--compression", encoding)

    async def run() -> tuple[Any, Any]:
        return await _measured(server.port), await _measured(server.port, compression=encoding)

    (plain_up, plain_down, plain_item), (up, down, item) = asyncio.run(run())
    assert plain_item == item == BIG
    size = len(BIG["text"])
    assert plain_up > size and plain_down > size  # sent as it is
    assert up < size / 10 and down < size / 10  # both ways compressed


def test_the_server_compresses_only_for_clients_that_accept_and_only_large_replies(
    tmp_path: Path, start_server: Any
) -> None:
    server = start_server(tmp_path / "c.keystone", 0, "--compression", "gzip")
    with connect(server.url, compression="gzip", compression_min_bytes=10**6) as client:
        client.put(BIG)  # the request is under its minimum: sent as it is

    async def run() -> tuple[Any, Any]:
        return await _measured(server.port), await _measured(
            server.port, compression="gzip", compression_min_bytes=10**6
        )

    (_, plain_down, _), (up, down, item) = asyncio.run(run())
    assert item == BIG
    assert up > len(BIG["text"])  # this client compresses nothing it sends ...
    assert down < len(BIG["text"]) / 10  # ... but accepts a compressed reply
    assert plain_down > len(BIG["text"])  # a client that did not ask gets none


async def _raw_call(port: int, method: str, frame: bytes, headers: list[tuple[str, str]]) -> Any:
    """One call whose request is ``frame`` (flag, length, message) with extra ``headers``."""
    channel = Channel("127.0.0.1", port)
    connect_ = channel.__connect__

    async def connect_with_headers() -> Any:
        protocol = await connect_()
        connection: Any = protocol.processor.connection
        create = connection.create_stream

        def create_stream(**kwargs: Any) -> Any:
            stream = create(**kwargs)
            send_request = stream.send_request

            async def with_headers(h: list[tuple[str, str]], *a: Any, **k: Any) -> Any:
                return await send_request([*h, *headers], *a, **k)

            stream.send_request = with_headers
            return stream

        connection.create_stream = create_stream
        return protocol

    channel.__connect__ = connect_with_headers  # type: ignore[method-assign]
    try:
        async with channel.request(
            ROUTE + method, Cardinality.UNARY_UNARY, RawMessage, RawMessage, timeout=20
        ) as stream:
            await stream.send_request()
            await stream._stream.send_data(frame, end_stream=True)
            stream._end_done = True
            try:
                return await stream.recv_message()
            except GRPCError as err:
                return err
    finally:
        channel.close()


def _frame(message: bytes, flag: bool = True) -> bytes:
    return struct.pack(">?I", flag, len(message)) + message


GET = bytes(pb.GetRequest(partition_key=b"big", sort_key=b"item"))


@pytest.mark.parametrize(
    ("frame", "headers", "status", "message"),
    [
        (_frame(gzip.compress(GET)), [("grpc-encoding", "gzip")], Status.OK, None),
        (_frame(zlib.compress(GET)), [("grpc-encoding", "deflate")], Status.OK, None),
        (
            _frame(GET, flag=False),  # the flag unset: not compressed, whatever the header says
            [("grpc-encoding", "gzip")],
            Status.OK,
            None,
        ),
        (
            _frame(gzip.compress(GET)),
            [("grpc-encoding", "br")],
            Status.UNIMPLEMENTED,
            "'br' is not supported; use one of gzip,deflate,identity",
        ),
        (_frame(gzip.compress(GET)), [], Status.UNIMPLEMENTED, "with grpc-encoding (none)"),
        (
            _frame(gzip.compress(GET)),
            [("grpc-encoding", "identity")],
            Status.UNIMPLEMENTED,
            "with grpc-encoding identity; use one of gzip, deflate",
        ),
        (
            _frame(b"\x1f\x8b not really gzip"),
            [("grpc-encoding", "gzip")],
            Status.INVALID_ARGUMENT,
            "is corrupt",
        ),
        (
            _frame(gzip.compress(GET)[:-9]),
            [("grpc-encoding", "gzip")],
            Status.INVALID_ARGUMENT,
            "cut short",
        ),
        (b"\x00\x00\x01", [], Status.INVALID_ARGUMENT, "ended inside a message"),
        (_frame(GET, flag=False)[:-3], [], Status.INVALID_ARGUMENT, "ended inside a message"),
        (
            # 64 MiB of zeros in ~65 KB: refused at the 1 MiB limit, not inflated
            _frame(gzip.compress(bytes(64 << 20), 9)),
            [("grpc-encoding", "gzip")],
            Status.RESOURCE_EXHAUSTED,
            "inflates past the message limit of 1048576 bytes",
        ),
    ],
    ids=[
        "gzip",
        "deflate",
        "flag-unset",
        "unknown-encoding",
        "no-encoding",
        "identity",
        "corrupt",
        "cut",
        "prefix-cut",
        "message-cut",
        "bomb",
    ],
)
def test_compressed_requests_are_read_or_refused_clearly(
    tmp_path: Path,
    start_server: Any,
    frame: bytes,
    headers: list[tuple[str, str]],
    status: Status,
    message: str | None,
) -> None:
    server = start_server(tmp_path / "c.keystone", 0, "--max-message-bytes", "1048576")
    with connect(server.url, timeout=20) as client:
        client.put(BIG)
    answer = asyncio.run(_raw_call(server.port, "Get", frame, headers))
    if status is Status.OK:
        item = pb.GetResponse.parse(answer.data).item
        assert item is not None and item.attributes["n"].number_value == "7"
    else:
        assert isinstance(answer, GRPCError)
        assert answer.status is status, answer.message
        assert message in (answer.message or "")
    with connect(server.url, timeout=20) as client:  # still serving
        assert client.get("big", "item") == BIG


def test_every_answer_names_the_encodings_the_server_reads(
    tmp_path: Path, start_server: Any
) -> None:
    """``grpc-accept-encoding`` on replies, errors and an unsupported encoding's UNIMPLEMENTED."""
    server = start_server(tmp_path / "c.keystone", 0)
    answers = {
        "ok": h2_call(server.port, ROUTE + "Get", GET),
        "error": h2_call(server.port, ROUTE + "Get", b"\x0a\x00"),  # an empty partition key
        "br": h2_call(server.port, ROUTE + "Get", GET, (("grpc-encoding", "br"),), compressed=True),
        "no-method": h2_call(server.port, ROUTE + "NoSuchMethod", GET),
    }
    statuses = {name: answer.status for name, answer in answers.items()}
    assert statuses == {"ok": 0, "error": 3, "br": 12, "no-method": 12}
    for name, answer in answers.items():
        assert answer.headers.get("grpc-accept-encoding") == "gzip,deflate,identity", name


def test_a_grpcio_client_with_gzip_talks_to_the_server(tmp_path: Path, start_server: Any) -> None:
    generated = grpcio_stubs(tmp_path)
    server = start_server(tmp_path / "c.keystone", 0, "--compression", "gzip")
    script = Path(__file__).resolve().parent / "interop" / "grpcio_compressed.py"

    async def run() -> tuple[subprocess.CompletedProcess[str], Relay]:
        relay = Relay(server.port)
        await relay.start()
        try:
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, str(script), str(generated), f"127.0.0.1:{relay.port}"],
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            relay.close()
        return done, relay

    done, relay = asyncio.run(run())
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["text_length"] == len(BIG["text"]) and seen["n"] == "7"
    # The item went up and came back: ~72 KB of text in far fewer bytes.
    assert relay.up < len(BIG["text"]) / 4 and relay.down < len(BIG["text"]) / 4
    with connect(server.url, timeout=20) as client:
        item = client.get("big", "item")
    assert item is not None and item["text"] == BIG["text"]


def test_mangled_compressed_requests_get_clear_statuses(tmp_path: Path, start_server: Any) -> None:
    """Valid gzip/deflate requests with bytes flipped or cut: clear statuses, server alive."""
    import random

    server = start_server(tmp_path / "c.keystone", 0, "--max-message-bytes", "1048576")
    with connect(server.url, timeout=20) as client:
        client.put(BIG)
    rng = random.Random(11)
    put = bytes(
        pb.PutRequest(
            partition_key=b"m", item=pb.Item(attributes={"v": pb.Value(string_value="x" * 300)})
        )
    )
    seeds = [
        (gzip.compress(GET), "gzip"),
        (zlib.compress(put), "deflate"),
        (gzip.compress(put), "gzip"),
    ]
    expected = {
        Status.OK,
        Status.INVALID_ARGUMENT,
        Status.UNIMPLEMENTED,
        Status.RESOURCE_EXHAUSTED,
        Status.NOT_FOUND,
    }

    async def run() -> list[str]:
        odd = []
        for n in range(60):  # bounded: ~1 s
            data, encoding = seeds[n % len(seeds)]
            mangled = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                if not mangled:
                    break
                if rng.random() < 0.5:
                    mangled[rng.randrange(len(mangled))] = rng.randrange(256)
                else:
                    del mangled[rng.randrange(len(mangled)) :]
            answer = await _raw_call(
                server.port,
                "Put" if data is not seeds[0][0] else "Get",
                _frame(bytes(mangled)),
                [("grpc-encoding", encoding)],
            )
            status = answer.status if isinstance(answer, GRPCError) else Status.OK
            if status not in expected:
                odd.append(f"{status.name}: {getattr(answer, 'message', '')}")
        return odd

    assert asyncio.run(run()) == []
    with connect(server.url, timeout=20) as client:
        assert client.get("big", "item") == BIG


def test_random_frames_get_clear_statuses(tmp_path: Path, start_server: Any) -> None:
    """Frames with any flag byte, any announced length and any body: never INTERNAL."""
    import random

    server = start_server(tmp_path / "c.keystone", 0, "--max-message-bytes", "1048576")
    rng = random.Random(5)
    bodies = [GET, gzip.compress(GET), zlib.compress(GET), b"", b"\x0a\xff\xff"]
    expected = {Status.OK, Status.INVALID_ARGUMENT, Status.UNIMPLEMENTED, Status.RESOURCE_EXHAUSTED}

    async def run() -> list[str]:
        odd = []
        for _ in range(80):  # bounded: ~1 s
            body = rng.choice(bodies)
            flag = rng.choice((0, 1, 2, 255))
            size = max(0, len(body) + rng.choice((0, 0, -1, 1, 5, 1 << 20)))
            frame = bytes([flag]) + size.to_bytes(4, "big") + body
            frame = frame[: rng.choice((len(frame), len(frame), 3, 5, len(frame) - 1))]
            headers = rng.choice(([], [("grpc-encoding", "gzip")], [("grpc-encoding", "deflate")]))
            answer = await _raw_call(server.port, "Get", frame, headers)
            status = answer.status if isinstance(answer, GRPCError) else Status.OK
            if status not in expected:
                odd.append(f"{frame[:12].hex()} {headers}: {status.name} {answer}")
        return odd

    assert asyncio.run(run()) == []
    with connect(server.url, timeout=20) as client:  # still serving
        client.put({"pk": "after"})
        assert client.get("after") == {"pk": "after"}
