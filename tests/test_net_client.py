"""The clients: URLs, key attribute names, the Store interface, closing, failures."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

import keystone
from keystone_net import Client, SyncClient, connect, parse_url


@pytest.fixture
def remote(remote_store: Any) -> Any:
    remote_store.fresh()
    return remote_store


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("127.0.0.1:50052", ("127.0.0.1", 50052)),
        ("http://db.example:7000", ("db.example", 7000)),
        ("http://db.example:7000/", ("db.example", 7000)),
        ("localhost", ("localhost", 50051)),
        ("[::1]:9000", ("::1", 9000)),
        ("http://[::1]", ("::1", 50051)),
    ],
)
def test_url_forms(url: str, expected: tuple[str, int]) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize("url", ["", "ftp://h:1", "h:notaport", "h:70000", "grpc://h:1"])
def test_bad_urls_are_refused_at_once(url: str) -> None:
    with pytest.raises(ValueError):
        connect(url)


def test_the_sync_client_is_a_store(remote: Any) -> None:
    assert isinstance(remote.client, keystone.Store)
    assert isinstance(remote.client, SyncClient)


def test_the_sync_client_works_from_many_threads(remote: Any) -> None:
    client = remote.client
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(20):
                client.put({"pk": f"t{t}", "sk": f"{i:02d}", "i": i})
            assert [x["i"] for x in client.query(f"t{t}")] == list(range(20))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    assert client.scan().count == 160


def test_a_closed_client_raises_database_closed(remote: Any) -> None:
    with connect(remote.server.url) as client:
        client.put({"pk": "a"})
    assert client.closed
    client.close()  # idempotent
    with pytest.raises(keystone.DatabaseClosed):
        client.get("a")

    async def run() -> None:
        async with Client(remote.server.url) as aclient:
            assert await aclient.get("a") == {"pk": "a"}
        with pytest.raises(keystone.DatabaseClosed):
            await aclient.get("a")

    asyncio.run(run())


def test_no_server_is_unavailable_quickly() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with connect(f"127.0.0.1:{port}", timeout=10) as client:
        started = time.monotonic()
        with pytest.raises(keystone.Unavailable, match=str(port)):
            client.get("a")
        with pytest.raises(keystone.Unavailable):
            client.put({"pk": "a"})
        with pytest.raises(keystone.Unavailable):
            client.scan()
        assert time.monotonic() - started < 5
    assert issubclass(keystone.Unavailable, ConnectionError)


def test_a_server_that_does_not_answer_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never speaks HTTP/2
        port = listener.getsockname()[1]
        with connect(f"127.0.0.1:{port}", timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(keystone.Timeout):
                client.get("a")
            with pytest.raises(keystone.Timeout):
                client.scan()
            assert time.monotonic() - started < 10
    assert issubclass(keystone.Timeout, TimeoutError)


def test_other_key_attribute_names(tmp_path: Any, start_server: Any) -> None:
    path = tmp_path / "named.keystone"
    keystone.Database.open(path, schema=keystone.Schema("id", "ts")).close()
    server = start_server(path)
    with connect(server.url, partition_key="id", sort_key="ts") as client:
        client.batch_write(puts=[{"id": "a", "ts": f"{i}", "v": i} for i in range(5)])
        assert client.get("a", "3") == {"id": "a", "ts": "3", "v": 3}
        assert [i["v"] for i in client.batch_get([{"id": "a", "ts": "1"}, ("a", "2")])] == [1, 2]
        page = client.query("a", limit=2)
        assert page.last_key == {"id": "a", "ts": "1"}
        assert [i["v"] for i in client.query("a", start=page.last_key)] == [2, 3, 4]
        assert client.transact_get([{"id": "a", "ts": "4"}]) == [{"id": "a", "ts": "4", "v": 4}]
        client.batch_write(deletes=[{"id": "a", "ts": "0"}])
        assert client.get("a", "0") is None
    with connect(server.url) as wrong:  # the default names: key dicts are refused clearly
        with pytest.raises(keystone.ValidationError, match="partition key attribute 'pk'"):
            wrong.batch_get([{"id": "a", "ts": "1"}])
        assert wrong.batch_get([("a", "1")]) == [{"id": "a", "ts": "1", "v": 1}]


def test_arguments_the_wire_cannot_carry_fail_like_the_database(remote: Any) -> None:
    client = remote.client
    for bad in (0, -1, 1.5, True):
        with pytest.raises(keystone.ValidationError, match="limit"):
            client.scan(limit=bad)
    with pytest.raises(keystone.ValidationError, match="segment"):
        client.scan(segment=-1, total_segments=2)
    with pytest.raises(keystone.ValidationError, match="returns"):
        client.put({"pk": "a"}, returns=None)  # type: ignore[arg-type]
    with pytest.raises(keystone.ValidationError, match="names"):
        client.get("a", projection="#a", names={"#a": 1})  # type: ignore[dict-item]
    with pytest.raises(keystone.ValidationError, match="start"):
        client.query("a", start=("a", "b"))  # type: ignore[arg-type]
    with pytest.raises(keystone.ValidationError, match="keys"):
        client.batch_get("ab")
    with pytest.raises(keystone.ValidationError, match="one part"):
        client.transact_write(keystone.Put({"pk": "a"}))  # type: ignore[arg-type]
    with pytest.raises(keystone.ValidationError, match=r"part 1: parts must be"):
        client.transact_write([keystone.Put({"pk": "a"}), "nope"])  # type: ignore[list-item]
    assert client.scan().count == 0


def test_a_malformed_reply_page_is_a_keystone_error_naming_the_field() -> None:
    from keystone_net.grpc import calls

    # QueryResponse.last_evaluated_key (a message) sent as a varint
    with pytest.raises(keystone.KeystoneError, match="malformed reply.*last_evaluated_key"):
        calls.page_of(b"\x10\x05\x20\x01", 0, 4, "pk", "sk")
    assert calls.page_of(b"\x10\x05", 0, 2, "pk", "sk").count == 5
