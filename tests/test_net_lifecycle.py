"""The server process: concurrency on one connection, restarts, clean shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import keystone
from keystone_net import Client, connect
from keystone_net.__main__ import main


def test_fifty_concurrent_calls_share_one_connection(remote_store: Any) -> None:
    remote_store.fresh()

    async def run() -> None:
        async with Client(remote_store.server.url, timeout=30) as client:
            await client.put({"pk": "warm"})
            protocol = client._transport._channel._protocol  # type: ignore[union-attr]
            writes = [client.put({"pk": "c", "sk": f"{i:02d}", "i": i}) for i in range(25)]
            reads = [client.get("warm") for _ in range(25)]
            results = await asyncio.gather(*writes, *reads)
            assert results[:25] == [None] * 25
            assert results[25:] == [{"pk": "warm"}] * 25
            assert [i["i"] for i in (await client.query("c")).items] == list(range(25))
            assert client._transport._channel._protocol is protocol  # type: ignore[union-attr]
            # 50 concurrent scans and batches too.
            pages = await asyncio.gather(*[client.scan(limit=5) for _ in range(25)])
            batches = await asyncio.gather(
                *[client.batch_get([("c", f"{i:02d}")]) for i in range(25)]
            )
            assert all(p.count == 5 for p in pages)
            assert [b[0]["i"] for b in batches] == list(range(25))
            assert client._transport._channel._protocol is protocol  # type: ignore[union-attr]

    asyncio.run(run())


@pytest.mark.parametrize("group", [True, False], ids=["group-commit", "no-group-commit"])
def test_concurrent_remote_writes_keep_their_own_outcomes(
    tmp_path: Any, start_server: Any, group: bool
) -> None:
    """64 writes at once on one connection: each its own condition and result; with
    group commit (the default) they share commits, without it each has its own."""
    path = tmp_path / "writes.keystone"
    server = start_server(path, 0, *([] if group else ["--no-group-commit"]), durability="sync")
    n = 64

    async def run() -> list[Any]:
        async with Client(server.url, timeout=30) as client:
            await client.put({"pk": "warm"})
            with keystone.Database.open(path) as db:  # the server's file, read beside it
                before = db._engine.env.info()["last_txnid"]
                calls = []
                for i in range(n):
                    if i % 4 == 3:  # all race to create one item: exactly one wins
                        calls.append(
                            client.put(
                                {"pk": "once", "by": i}, condition="attribute_not_exists(pk)"
                            )
                        )
                    elif i % 4 == 2:
                        calls.append(
                            client.update("counter", update="ADD n :one", values={":one": 1})
                        )
                    else:
                        calls.append(client.put({"pk": "w", "sk": f"{i:03d}", "i": i}))
                outcomes = await asyncio.gather(*calls, return_exceptions=True)
                commits = db._engine.env.info()["last_txnid"] - before
            assert (await client.get("counter"))["n"] == n // 4
            assert (await client.query("w")).count == n // 2
            return [outcomes, commits]

    outcomes, commits = asyncio.run(run())
    races = outcomes[3::4]
    assert sum(r is None for r in races) == 1
    assert all(isinstance(r, keystone.ConditionalCheckFailed) for r in races if r is not None)
    assert sorted(o["n"] for o in outcomes[2::4]) == list(range(1, n // 4 + 1))
    assert outcomes[0::4] == [None] * (n // 4) and outcomes[1::4] == [None] * (n // 4)
    writes = n - (n // 4 - 1)  # the failed conditions commit nothing
    if group:
        assert commits < writes  # batches shared commits
    else:
        assert commits == writes  # one commit per write


def test_the_client_reconnects_after_the_server_restarts(tmp_path: Any, start_server: Any) -> None:
    path = tmp_path / "restart.keystone"
    first = start_server(path)
    port = first.port
    with connect(first.url, timeout=20) as client:
        client.put({"pk": "before"})
        assert first.terminate() == 0
        with pytest.raises(keystone.Unavailable):
            client.get("before")
        second = start_server(path, port)  # the same port
        assert second.port == port
        assert client.get("before") == {"pk": "before"}
        client.put({"pk": "after"})
        assert [i["pk"] for i in client.scan_all()] != []
        assert second.terminate() == 0
    with keystone.Database.open(path) as db:
        assert db.get("after") == {"pk": "after"}


def test_the_async_client_reconnects_too(tmp_path: Any, start_server: Any) -> None:
    path = tmp_path / "restart.keystone"
    first = start_server(path)

    async def run() -> None:
        async with Client(first.url, timeout=20) as client:
            await client.put({"pk": "a"})
            assert await asyncio.to_thread(first.terminate) == 0
            await asyncio.to_thread(start_server, path, first.port)
            assert await client.get("a") == {"pk": "a"}
            await client.put({"pk": "b"})

    asyncio.run(run())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_cleanly_and_keeps_the_data(
    tmp_path: Any, start_server: Any, signum: int
) -> None:
    path = tmp_path / "durable.keystone"
    server = start_server(path, 0, durability="sync")
    with connect(server.url, timeout=20) as client:
        client.batch_write(puts=[{"pk": f"k{i}", "v": i} for i in range(100)])
        client.put({"pk": "last", "v": "x"})
    server.proc.send_signal(signum)
    assert server.proc.wait(30) == 0
    server.kill()  # joins the log reader
    log = server.output()
    assert "shutting down" in log and "database closed" in log
    assert "Traceback" not in log
    with keystone.Database.open(path) as db:
        assert db.stats()["items"] == 101
        assert db.get("last") == {"pk": "last", "v": "x"}


def test_calls_in_flight_finish_when_the_server_is_told_to_stop(
    tmp_path: Any, start_server: Any
) -> None:
    path = tmp_path / "drain.keystone"
    server = start_server(path, 0, durability="sync")
    acknowledged: list[int] = []
    failures: list[BaseException] = []
    stop_at = time.monotonic() + 20

    def writer(w: int) -> None:
        with connect(server.url, timeout=20) as client:
            for i in range(2000):
                if time.monotonic() > stop_at:
                    return
                try:
                    client.put({"pk": f"w{w}", "sk": f"{i:05d}"})
                except keystone.Unavailable:
                    return  # the server stopped taking calls
                except BaseException as exc:  # pragma: no cover - reported below
                    failures.append(exc)
                    return
                acknowledged.append(w * 100_000 + i)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for th in threads:
        th.start()
    for _ in range(200):  # let some writes land (bounded wait)
        if len(acknowledged) >= 40:
            break
        time.sleep(0.05)
    assert server.terminate() == 0
    for th in threads:
        th.join(30)
    assert not failures
    assert len(acknowledged) >= 40
    with keystone.Database.open(path) as db:
        for n in acknowledged:  # every acknowledged write is on disk
            assert db.get(f"w{n // 100_000}", f"{n % 100_000:05d}") is not None


def test_the_port_in_use_is_a_clean_error(tmp_path: Any, remote_store: Any) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keystone_net",
            "serve",
            "--db-path",
            str(tmp_path / "x.keystone"),
            "--port",
            str(remote_store.server.port),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot serve" in result.stderr and "Traceback" not in result.stderr


def test_the_command_line_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--db-path", "--host", "--port", "--workers"):
        assert option in out
    with pytest.raises(SystemExit) as info:
        main(["serve", "--db-path", "x", "--workers", "0"])
    assert info.value.code == 2


def test_serve_creates_the_database_in_an_existing_directory(
    tmp_path: Any, start_server: Any
) -> None:
    """As ``keystone.Database.open`` does; a missing directory is refused (test_open_paths.py)."""
    path = tmp_path / "db.keystone"
    server = start_server(path)
    assert os.path.exists(path)
    assert f"127.0.0.1:{server.port}" in server.output()
    assert server.terminate() == 0


def test_every_acknowledged_remote_write_survives_a_sigkill(
    tmp_path: Any, start_server: Any
) -> None:
    """Writes in batches are answered only after their commit: SIGKILL the server
    while 16 writers are busy, and every write it acknowledged is in the file."""
    path = tmp_path / "killed.keystone"
    server = start_server(path, 0, durability="sync")
    acked: list[str] = []

    async def run() -> None:
        async with Client(server.url, timeout=10, retries=0) as client:

            async def writer(w: int) -> None:
                for i in range(10_000):  # bounded; the kill ends it long before
                    key = f"w{w:02d}-{i:05d}"
                    try:
                        if i % 2:
                            await client.put({"pk": key, "v": i})
                        else:
                            await client.update(key, update="SET v = :v", values={":v": i})
                    except (keystone.KeystoneError, OSError):
                        return  # the server is gone
                    acked.append(key)

            async def killer() -> None:
                deadline = time.monotonic() + 20
                while len(acked) < 300 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                server.proc.send_signal(signal.SIGKILL)

            await asyncio.gather(killer(), *(writer(w) for w in range(16)))

    asyncio.run(run())
    assert server.proc.wait(10) == -signal.SIGKILL
    assert len(acked) >= 300
    with keystone.Database.open(path) as db:
        missing = [k for k in acked if db.get(k) is None]
    assert missing == []
