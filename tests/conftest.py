"""Shared fixtures.

``store`` is the behavioural fixture: every test that takes it runs against
a local ``keystone.Database`` and against the sync client talking to a real
server process on loopback, so every local behaviour is proven remote too.
The remote kind shares one server process per test session and empties its
table before each test. Set ``KEYSTONE_TEST_REMOTE=0`` to run the local kind
only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import keystone
from keystone import testing as keystone_testing

STORE_KINDS = ["local", "remote"]
if os.environ.get("KEYSTONE_TEST_REMOTE", "1") == "0":
    STORE_KINDS = ["local"]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[keystone.Database]:
    """A fresh database file in a temporary directory."""
    database = keystone.Database.open(tmp_path / "test.keystone")
    yield database
    database.close()


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[keystone.Store]:
    """A fresh, empty store: local database or remote client."""
    if request.param == "local":
        database = keystone.Database.open(tmp_path / "store.keystone")
        yield database
        database.close()
    elif request.param == "remote":
        remote: RemoteStore = request.getfixturevalue("remote_store")
        yield remote.fresh()
    else:  # pragma: no cover
        raise AssertionError(request.param)


# --------------------------------------------------------------------------
# A real server process (``python -m keystone_net serve``) for remote tests
# --------------------------------------------------------------------------


class ServerProcess:
    """``python -m keystone_net serve`` in a subprocess (``keystone.testing.start_server``),
    with its whole log kept, durability ``async`` and no metrics endpoint unless asked.

    ``port=0`` picks a free port and :attr:`port` is the real one.
    """

    def __init__(
        self,
        db_path: Path,
        port: int = 0,
        *args: str,
        durability: str = "async",
        start_timeout: float = 30.0,
    ) -> None:
        self.db_path = db_path
        # No metrics endpoint unless a test asks for one (0 = off): tests must
        # not contend for the default port 9090.
        metrics = [] if "--metrics-port" in args else ["--metrics-port", "0"]
        self.server = keystone_testing.start_server(
            db_path,
            port=port,
            args=["--durability", durability, *metrics, *args],
            timeout=start_timeout,
            log_lines=1_000_000,
        )
        self.proc = self.server.process
        self.port = self.server.port

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the exit status (killed after ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._read_to_end()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._read_to_end()

    def _read_to_end(self) -> None:
        if self.server.reader is not None:
            self.server.reader.join(5)

    def output(self) -> str:
        return self.server.output()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """A factory of server processes (``start_server(db_path=None, port=0, *args)``),
    each stopped at the end of the test."""
    started: list[ServerProcess] = []

    def start(db_path: Path | None = None, port: int = 0, *args: str, **kw: str) -> ServerProcess:
        server = ServerProcess(db_path or tmp_path / "server.keystone", port, *args, **kw)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


class RemoteStore:
    """The session's server and a sync client of it, emptied for each test."""

    def __init__(self, server: ServerProcess) -> None:
        import keystone_net

        self.server = server
        self._connect = lambda: keystone_net.connect(server.url, timeout=30.0)
        self.client = self._connect()

    def fresh(self) -> keystone.Store:
        if self.server.proc.poll() is not None:
            raise RuntimeError("the test server died:\n" + self.server.output())
        if self.client.closed:  # a test closed it
            self.client = self._connect()
        client = self.client
        for name in client.tables():  # other tests' tables
            if name != "default":
                client.delete_table(name)
        keys = [
            (item["pk"], item["sk"]) if "sk" in item else (item["pk"],)
            for item in client.scan_all(projection="#p, #s", names={"#p": "pk", "#s": "sk"})
        ]
        for i in range(0, len(keys), 1000):
            client.batch_write(deletes=keys[i : i + 1000])
        return client


@pytest.fixture(scope="session")
def remote_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteStore]:
    """One server process for the whole session (started on first use)."""
    server = ServerProcess(tmp_path_factory.mktemp("remote") / "store.keystone")
    remote = RemoteStore(server)
    yield remote
    remote.client.close()
    deadline = time.monotonic() + 30
    code = server.terminate(max(1.0, deadline - time.monotonic()))
    assert code == 0, server.output()
