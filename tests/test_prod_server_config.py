"""The server's settings and wiring, in this process: options and environment, metrics, sockets.

* every option of ``serve`` comes from its flag or its ``KEYSTONE_*``
  variable alike, the flag winning;
* ``serve()`` reports to its metrics exactly what the interface asks: every
  call observed with its method and status, connections opened and closed,
  refusals by limit type, the queue length, and ready only while it listens;
* accepted sockets get TCP_NODELAY and keepalive; the limits' building
  blocks (token bucket, worker queue) behave as documented.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

import keystone
from keystone_net import Client
from keystone_net.__main__ import main
from keystone_net.grpc.server import serve
from keystone_net.serving import config as settings
from keystone_net.serving.config import OPTIONS, ConfigError, ServerConfig
from keystone_net.serving.limits import ConnectionTable, Refused, TokenBucket, WorkerPool

# A value for every option, none of them its default.
SAMPLES: dict[str, str | None] = {
    "--db-path": "/data/k.db",
    "--host": "0.0.0.0",
    "--port": "6000",
    "--workers": "7",
    "--max-queue": "3",
    "--durability": "async",
    "--no-group-commit": None,  # a switch
    "--shutdown-timeout": "4.5",
    "--max-connections": "9",
    "--connection-timeout": "60",
    "--max-rps-per-connection": "20",
    "--max-rps-global": "500.5",
    "--max-message-bytes": "1048576",
    "--compression": "gzip",
    "--compression-min-bytes": "512",
    "--metrics-port": "9100",
    "--metrics-host": "127.0.0.2",
    "--log-level": "DEBUG",
    "--log-format": "json",
    "--tls-cert": "/etc/k/cert.pem",
    "--tls-key": "/etc/k/key.pem",
    "--tls-client-ca": "/etc/k/ca.pem",
    "--auth-token": "tok",
    "--no-grpc": None,
    "--no-dynamodb": None,
    "--dynamodb-port": "8100",
    "--dynamodb-host": "127.0.0.3",
    "--aws-credentials": "AKID:secret",
}


def test_the_samples_cover_every_option() -> None:
    assert set(SAMPLES) == {option.flags[0] for option in OPTIONS}


def test_every_option_comes_from_its_flag_or_its_environment_variable_alike() -> None:
    argv = ["serve"]
    env = {}
    for option in OPTIONS:
        value = SAMPLES[option.flags[0]]
        argv += [option.flags[0]] if value is None else [option.flags[0], value]
        env[option.env] = "1" if value is None else value
    from_flags = settings.parse(argv, {})
    from_env = settings.parse(["serve"], env)
    assert from_flags == from_env
    assert from_flags == ServerConfig(
        db_path="/data/k.db",
        host="0.0.0.0",
        port=6000,
        workers=7,
        max_queue=3,
        durability="async",
        group_commit=False,
        shutdown_timeout=4.5,
        max_connections=9,
        connection_timeout=60.0,
        max_rps_per_connection=20.0,
        max_rps_global=500.5,
        max_message_bytes=1048576,
        compression="gzip",
        compression_min_bytes=512,
        metrics_port=9100,
        metrics_host="127.0.0.2",
        log_level="DEBUG",
        log_format="json",
        tls_cert="/etc/k/cert.pem",
        tls_key="/etc/k/key.pem",
        tls_client_ca="/etc/k/ca.pem",
        auth_token="tok",
        grpc=False,
        dynamodb=False,
        dynamodb_port=8100,
        dynamodb_host="127.0.0.3",
        aws_credentials="AKID:secret",
    )
    assert "tok" not in repr(from_flags)
    assert "secret" not in repr(from_flags)  # the secret stays out of logs and tracebacks


def test_a_flag_wins_over_its_variable_and_defaults_fill_the_rest() -> None:
    env = {"KEYSTONE_DB_PATH": "/env.db", "KEYSTONE_WORKERS": "5", "KEYSTONE_PORT": "7000"}
    config = settings.parse(["serve", "--workers", "2"], env)
    assert (config.db_path, config.workers, config.port) == ("/env.db", 2, 7000)
    assert config.queue_limit == 8  # 4 per worker
    assert config.metrics_bind == ("127.0.0.1", 9090)
    assert config.group_commit and config.durability == "sync"
    off = settings.parse(["serve", "--metrics-port", "0"], env)
    assert off.metrics_bind is None


def test_grace_is_another_name_of_shutdown_timeout() -> None:
    assert settings.parse(["serve", "--db-path", "x", "--grace", "3"], {}).shutdown_timeout == 3.0


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"KEYSTONE_WORKERS": "many"}, "KEYSTONE_WORKERS"),
        ({"KEYSTONE_NO_GROUP_COMMIT": "maybe"}, "KEYSTONE_NO_GROUP_COMMIT"),
        ({"KEYSTONE_LOG_FORMAT": "xml"}, "KEYSTONE_LOG_FORMAT"),
        ({"KEYSTONE_COMPRESSION": "zstd"}, "KEYSTONE_COMPRESSION"),
        ({"KEYSTONE_MAX_RPS_GLOBAL": "-1"}, "max_rps_global must not be negative"),
        ({"KEYSTONE_TLS_CERT": "c.pem"}, "--tls-cert and --tls-key go together"),
        ({"KEYSTONE_TLS_CLIENT_CA": "ca.pem"}, "--tls-client-ca needs --tls-cert"),
    ],
)
def test_a_bad_setting_is_a_usage_error_naming_it(
    env: dict[str, str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        settings.parse(["serve", "--db-path", "x"], env)
    assert info.value.code == 2
    assert words in capsys.readouterr().err


def test_the_database_path_is_required_from_somewhere(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        settings.parse(["serve"], {})
    assert "KEYSTONE_DB_PATH" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        ServerConfig(db_path="")


def test_help_documents_every_option_with_its_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # unwrapped
    for option in OPTIONS:
        assert option.flags[0] in out
        assert f"[env: {option.env}]" in out


# --------------------------------------------------------------------------
# serve() and its metrics
# --------------------------------------------------------------------------


class FakeMetrics:
    """A MetricsSink that records what the server tells it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[Any] = []
        self.observed: list[tuple[str, str, float]] = []
        self.limited: list[str] = []
        self.opened = self.closed = 0
        self.queue_length: Any = None
        self.listening_when_ready: list[bool] = []

    def observe(self, method: str, status: str, seconds: float) -> None:
        self.observed.append((method, status, seconds))

    def connection_opened(self) -> None:
        self.opened += 1

    def connection_closed(self) -> None:
        self.closed += 1

    def rate_limited(self, limit_type: str) -> None:
        self.limited.append(limit_type)

    def set_queue_length(self, fn: Any) -> None:
        self.queue_length = fn

    def set_ready(self, ready: bool) -> None:
        self.events.append(("ready", ready))
        if ready:  # the gRPC port must take connections by now
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                self.listening_when_ready.append(True)
            except OSError:
                self.listening_when_ready.append(False)

    async def start_http(self, host: str, port: int) -> int:
        self.events.append(("start_http", host, port))
        return port

    async def stop_http(self) -> None:
        self.events.append(("stop_http",))

    def grpc_services(self) -> list[Any]:
        return []


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_reports_calls_connections_refusals_and_readiness(tmp_path: Path) -> None:
    port, metrics_port = _port(), _port()
    fake = FakeMetrics(port)
    config = ServerConfig(
        db_path=str(tmp_path / "db.keystone"),
        port=port,
        max_rps_per_connection=3,
        metrics_port=metrics_port,
        shutdown_timeout=5,
    )

    async def run() -> None:
        stop = asyncio.Event()
        listening = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(
            serve(config=config, metrics=fake, stop=stop, on_listening=listening.set_result)
        )
        assert await asyncio.wait_for(listening, 20) == port
        async with Client(f"127.0.0.1:{port}", timeout=20, retries=0) as db:
            await db.put({"pk": "a"})
            assert await db.get("a") == {"pk": "a"}
            with pytest.raises(keystone.ValidationError):
                await db.query("a", index="missing")
            with pytest.raises(keystone.ResourceExhausted, match="per connection"):
                await db.get("a")  # the fourth call in a second
        for _ in range(200):  # bounded: the server sees both closes (the probe's and ours)
            if fake.closed == 2:
                break
            await asyncio.sleep(0.01)
        assert fake.queue_length() == 0
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(run())
    assert [(m, s) for m, s, _ in fake.observed] == [
        ("Put", "OK"),
        ("Get", "OK"),
        ("Query", "INVALID_ARGUMENT"),
        ("Get", "RESOURCE_EXHAUSTED"),
    ]
    assert all(0 <= seconds < 20 for _, _, seconds in fake.observed)
    assert fake.limited == ["per_connection"]
    assert fake.opened == fake.closed == 2  # set_ready's probe, then the client
    assert fake.events == [
        ("ready", False),
        ("start_http", "127.0.0.1", metrics_port),
        ("ready", True),
        ("ready", False),
        ("stop_http",),
    ]
    assert fake.listening_when_ready == [True]
    with keystone.Database.open(tmp_path / "db.keystone") as db:  # closed cleanly
        assert db.get("a") == {"pk": "a"}


def test_serve_without_a_config_keeps_its_old_signature(tmp_path: Path) -> None:
    fake = FakeMetrics(0)

    async def run() -> None:
        stop = asyncio.Event()
        listening = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(
            serve(
                tmp_path / "old.keystone",
                "127.0.0.1",
                0,
                workers=2,
                grace=1.0,
                stop=stop,
                metrics=fake,
                on_listening=listening.set_result,
            )
        )
        port = await asyncio.wait_for(listening, 20)
        async with Client(f"127.0.0.1:{port}", timeout=20) as db:
            await db.put({"pk": "x"})
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(run())
    assert ("start_http", "127.0.0.1", 9090) not in fake.events  # no metrics endpoint


# --------------------------------------------------------------------------
# The building blocks
# --------------------------------------------------------------------------


def test_accepted_sockets_get_nodelay_and_keepalive() -> None:
    seen: list[socket.socket] = []

    class Recorder(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            seen.append(transport.get_extra_info("socket"))

    async def run() -> tuple[int, int, int]:
        table = ConnectionTable(max_connections=1)
        server = await asyncio.get_running_loop().create_server(
            lambda: table.track(Recorder()), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            for _ in range(200):
                if seen:
                    break
                await asyncio.sleep(0.01)
            sock = seen[0]
            options = (
                sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                len(table),
            )
        server.close()
        await server.wait_closed()
        return options

    nodelay, keepalive, open_connections = asyncio.run(run())
    assert nodelay and keepalive and open_connections == 1


def test_a_token_bucket_allows_its_rate_with_bursts_of_one_second() -> None:
    bucket = TokenBucket(5, now=0.0)
    assert [bucket.take(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.take(0.1) is False  # half a token
    assert bucket.take(0.2) is True  # one
    assert sum(bucket.take(100.0) for _ in range(10)) == 5  # never more than the burst


def test_the_worker_queue_is_bounded_and_sheds_at_once() -> None:
    shed: list[int] = []
    release = threading.Event()

    async def run() -> list[Any]:
        pool = WorkerPool(1, max_queue=2, on_shed=lambda: shed.append(1))
        calls = [asyncio.ensure_future(pool.run(release.wait, 10)) for _ in range(5)]
        for _ in range(200):
            if pool.queue_length == 2:
                break
            await asyncio.sleep(0.01)
        assert pool.queue_length == 2
        overflow = await asyncio.gather(*calls[3:], return_exceptions=True)
        release.set()
        return [*await asyncio.gather(*calls[:3]), *overflow]

    results = asyncio.run(run())
    assert results[:3] == [True] * 3
    assert all(isinstance(r, Refused) and r.limit_type == "overload" for r in results[3:])
    assert "2 calls already waiting for 1 worker" in str(results[3])
    assert shed == [1, 1]


async def _until(predicate: Any, what: str) -> None:
    """Wait (at most 2 s, in 10 ms steps) until ``predicate()``."""
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_batched_calls_that_queue_while_a_batch_runs_go_in_one_hand_off() -> None:
    release = threading.Event()
    order: list[int] = []

    def short(i: int) -> int:
        order.append(i)
        if i == 3:
            raise keystone.ValidationError("call 3 is bad")
        return threading.get_ident()

    async def run() -> tuple[bool, list[Any]]:
        pool = WorkerPool(4)
        lane = pool.batches()
        first = asyncio.ensure_future(lane.run(release.wait, 10))
        await asyncio.sleep(0.05)  # the first batch runs: its thread waits for release
        rest = [asyncio.ensure_future(lane.run(short, i)) for i in range(8)]
        await _until(lambda: pool.queue_length == 8, "8 queued calls")
        release.set()
        return await first, await asyncio.gather(*rest, return_exceptions=True)

    first, rest = asyncio.run(run())
    assert first is True
    assert order == list(range(8))  # in arrival order
    error = rest.pop(3)
    assert isinstance(error, keystone.ValidationError) and "call 3 is bad" in str(error)
    assert len(set(rest)) == 1  # the 7 others ran in one thread: one hand-off
    assert rest[0] != threading.get_ident()  # and not on the event loop's thread


def test_the_batch_queue_is_bounded_and_a_cancelled_call_never_runs() -> None:
    release = threading.Event()
    ran: list[str] = []
    shed: list[int] = []

    async def run() -> list[Any]:
        pool = WorkerPool(1, max_queue=2, on_shed=lambda: shed.append(1))
        lane = pool.batches()
        first = asyncio.ensure_future(lane.run(release.wait, 10))
        await asyncio.sleep(0.05)
        kept = asyncio.ensure_future(lane.run(ran.append, "kept"))
        dropped = asyncio.ensure_future(lane.run(ran.append, "dropped"))
        await _until(lambda: pool.queue_length == 2, "2 queued calls")
        with pytest.raises(Refused, match="2 calls already waiting for 1 worker"):
            await lane.run(ran.append, "refused")
        dropped.cancel()
        await asyncio.sleep(0)
        assert pool.queue_length == 1  # the cancelled call left the queue
        release.set()
        return [await first, await kept, dropped.cancelled()]

    assert asyncio.run(run()) == [True, None, True]
    assert ran == ["kept"]
    assert shed == [1]


def test_a_batch_runs_inside_its_lanes_together_and_fails_whole_if_it_fails() -> None:
    batches: list[list[int]] = []

    def together(run: Any) -> None:
        batches.append([])
        run()
        if 99 in batches[-1]:
            raise keystone.ResourceExhausted("the commit failed")

    def call(i: int) -> int:
        batches[-1].append(i)
        return i * 10

    async def run(ids: list[int]) -> list[Any]:
        lane = WorkerPool(2).batches(together)
        calls = [asyncio.ensure_future(lane.run(call, i)) for i in ids]
        return await asyncio.gather(*calls, return_exceptions=True)

    assert asyncio.run(run([1, 2, 3])) == [10, 20, 30]
    assert batches == [[1], [2, 3]]  # the first runs at once; the others queued behind it
    batches.clear()
    outcomes = asyncio.run(run([4, 99, 5]))
    assert outcomes[0] == 40
    assert all(isinstance(o, keystone.ResourceExhausted) for o in outcomes[1:])
    assert "the commit failed" in str(outcomes[1])
