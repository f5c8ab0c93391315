"""Retries: reads are tried again until the server is back; a write that may have
been applied never is."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream
from netsupport import DroppingServer, free_port, quiet_args

import keystone
from keystone_net import Client, Retry, connect
from keystone_net._proto import keystone as pb
from keystone_net.grpc.convert import RawMessage
from keystone_net.grpc.retry import NO_RETRY, retry_policy

PATIENT = Retry(attempts=200, initial_backoff=0.02, max_backoff=0.2, max_elapsed=30)


# --------------------------------------------------------------------------
# The policy
# --------------------------------------------------------------------------


class TestPolicy:
    def test_backoff_grows_exponentially_up_to_the_cap_within_the_jitter(self) -> None:
        policy = Retry(attempts=8, initial_backoff=0.1, multiplier=2, max_backoff=1, jitter=0.2)
        waits = list(policy.backoffs(random.Random(7)))
        assert len(waits) == 7
        for wait, base in zip(waits, [0.1, 0.2, 0.4, 0.8, 1, 1, 1], strict=True):
            assert base * 0.8 <= wait <= base * 1.2

    def test_jitter_spreads_clients_apart(self) -> None:
        policy = Retry(attempts=2, jitter=0.5)
        firsts = {next(policy.backoffs()) for _ in range(20)}
        assert len(firsts) > 10
        assert list(Retry(attempts=3, jitter=0).backoffs()) == [0.05, 0.1]

    def test_no_retry_has_no_waits(self) -> None:
        assert list(NO_RETRY.backoffs()) == []
        assert retry_policy(0) == NO_RETRY
        assert retry_policy(None) == NO_RETRY
        assert retry_policy(2) == Retry(attempts=3)

    @pytest.mark.parametrize(
        "bad",
        [
            {"attempts": 0},
            {"initial_backoff": -1},
            {"multiplier": 0.5},
            {"jitter": 2},
            {"max_elapsed": -1},
        ],
    )
    def test_nonsense_is_refused(self, bad: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            Retry(**bad)


# --------------------------------------------------------------------------
# A server that takes the request and hangs up: was it applied? Unknown.
# --------------------------------------------------------------------------

MARK = "RETRY-MARK-7f3a"


def _calls(db: Any) -> dict[str, Any]:
    return {
        "put": lambda: db.put({"pk": MARK}),
        "delete": lambda: db.delete(MARK),
        "update": lambda: db.update(MARK, update="SET n = :n", values={":n": 1}),
        "batch_write": lambda: db.batch_write(puts=[{"pk": MARK}]),
        "transact_write": lambda: db.transact_write([keystone.Put({"pk": MARK})]),
        "insert": lambda: db.execute(f"INSERT INTO t VALUE {{'pk': '{MARK}'}}"),
        "get": lambda: db.get(MARK),
        "query": lambda: db.query(MARK),
        "scan": lambda: db.scan(filter="pk = :m", values={":m": MARK}),
        "batch_get": lambda: db.batch_get([(MARK,)]),
        "transact_get": lambda: db.transact_get([(MARK,)]),
        "select": lambda: db.execute(f"SELECT * FROM t WHERE pk = '{MARK}'"),
    }


WRITES = ["put", "delete", "update", "batch_write", "transact_write", "insert"]
READS = ["get", "query", "scan", "batch_get", "transact_get", "select"]


@pytest.mark.parametrize("call", WRITES)
def test_a_write_that_was_sent_is_not_retried(call: str) -> None:
    with DroppingServer(MARK.encode()) as fake:
        with (
            connect(f"127.0.0.1:{fake.port}", timeout=20, retries=5) as db,
            pytest.raises(keystone.Unavailable, match="cannot reach"),
        ):
            _calls(db)[call]()
        assert (fake.connections, fake.marked) == (1, 1)


@pytest.mark.parametrize("call", READS)
def test_a_read_that_was_sent_is_retried(call: str) -> None:
    policy = Retry(attempts=3, initial_backoff=0.01)
    with DroppingServer(MARK.encode()) as fake:
        with (
            connect(f"127.0.0.1:{fake.port}", timeout=20, retries=policy) as db,
            pytest.raises(keystone.Unavailable, match="after 3 tries|cannot reach"),
        ):
            _calls(db)[call]()
        assert (fake.connections, fake.marked) == (3, 3)


def test_retries_zero_tries_once() -> None:
    with DroppingServer(MARK.encode()) as fake:
        with (
            connect(f"127.0.0.1:{fake.port}", timeout=20, retries=0) as db,
            pytest.raises(keystone.Unavailable),
        ):
            db.get(MARK)
        assert fake.connections == 1


# --------------------------------------------------------------------------
# Bounded: by attempts, by max_elapsed, by the call's timeout
# --------------------------------------------------------------------------


def test_retries_stop_at_the_policy_time_budget() -> None:
    policy = Retry(attempts=10_000, initial_backoff=0.01, max_backoff=0.05, max_elapsed=0.5)
    with connect(f"127.0.0.1:{free_port()}", timeout=None, retries=policy) as db:
        started = time.monotonic()
        with pytest.raises(keystone.Unavailable, match="tries"):
            db.get("a")
        assert 0.3 < time.monotonic() - started < 3


def test_retries_stop_at_the_call_timeout() -> None:
    with connect(f"127.0.0.1:{free_port()}", timeout=60, retries=PATIENT) as db:
        started = time.monotonic()
        with pytest.raises(keystone.Unavailable, match="tries"):
            db.get("a", timeout=0.5)
        assert time.monotonic() - started < 2


# --------------------------------------------------------------------------
# UNAVAILABLE from a server (shutting down, or a proxy without a backend)
# --------------------------------------------------------------------------


def test_unavailable_status_retries_reads_but_not_writes() -> None:
    counts = {"Get": 0, "Put": 0}

    class Flaky:
        def __mapping__(self) -> dict[str, Handler]:
            return {
                f"/keystone.KeystoneDB/{name}": Handler(
                    getattr(self, name.lower()), Cardinality.UNARY_UNARY, RawMessage, RawMessage
                )
                for name in counts
            }

        async def get(self, stream: Stream[Any, Any]) -> None:
            await stream.recv_message()
            counts["Get"] += 1
            if counts["Get"] < 3:
                raise GRPCError(Status.UNAVAILABLE, "warming up")
            await stream.send_message(RawMessage(bytes(pb.GetResponse())))

        async def put(self, stream: Stream[Any, Any]) -> None:
            await stream.recv_message()
            counts["Put"] += 1
            raise GRPCError(Status.UNAVAILABLE, "warming up")

    async def main() -> None:
        server = Server([Flaky()])
        await server.start("127.0.0.1", 0)
        port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with Client(f"127.0.0.1:{port}", retries=Retry(initial_backoff=0.01)) as db:
                assert await db.get("a") is None
                with pytest.raises(keystone.Unavailable, match="warming up"):
                    await db.put({"pk": "a"})
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 30))
    assert counts == {"Get": 3, "Put": 1}


# --------------------------------------------------------------------------
# A real restart on the same port
# --------------------------------------------------------------------------


def _restart_later(start_server: Any, path: Path, port: int, delay: float) -> threading.Thread:
    started: list[Any] = []

    def run() -> None:
        time.sleep(delay)
        started.append(start_server(path, port, *quiet_args()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_read_waits_out_a_restart(tmp_path: Path, start_server: Any) -> None:
    path = tmp_path / "restart.keystone"
    first = start_server(path, 0, *quiet_args())
    port = first.port
    with connect(first.url, timeout=60, retries=PATIENT) as db:
        db.put({"pk": "kept"})
        assert first.terminate() == 0
        restart = _restart_later(start_server, path, port, 0.3)
        started = time.monotonic()
        assert db.get("kept") == {"pk": "kept"}  # tried until the new server answered
        assert time.monotonic() - started >= 0.3
        restart.join(30)
        assert [i["pk"] for i in db.scan_all()] == ["kept"]


def test_a_write_that_never_left_waits_out_a_restart(tmp_path: Path, start_server: Any) -> None:
    path = tmp_path / "restart.keystone"
    first = start_server(path, 0, *quiet_args())
    port = first.port
    with connect(first.url, timeout=60, retries=PATIENT) as db:
        db.put({"pk": "first"})
        assert first.terminate() == 0
        restart = _restart_later(start_server, path, port, 0.3)
        # Connection refused until the server is back: the request never left.
        db.update("counter", update="ADD n :one", values={":one": 1})
        restart.join(30)
        assert db.get("counter") == {"pk": "counter", "n": 1}  # applied exactly once
    with connect(f"127.0.0.1:{port}", timeout=20, retries=0) as impatient:
        assert impatient.get("first") == {"pk": "first"}
