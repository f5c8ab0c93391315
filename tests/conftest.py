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
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import keystone

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

_LISTENING = re.compile(r"listening on (\S+):(\d+)")


class ServerProcess:
    """``python -m keystone_net serve`` in a subprocess, with its log captured.

    Waits (bounded) for the ``listening on HOST:PORT`` line; ``port=0`` picks
    a free port and :attr:`port` is the real one.
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
        self.log: list[str] = []
        self._ready = threading.Event()
        self.port = 0
        command = [
            sys.executable,
            "-m",
            "keystone_net",
            "serve",
            "--db-path",
            str(db_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--durability",
            durability,
            # no metrics endpoint unless a test asks for one (0 = off): tests must
            # not contend for the default port 9090
            *([] if "--metrics-port" in args else ["--metrics-port", "0"]),
            *args,
        ]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Drain stderr for the process's whole life, so logging never blocks it.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(start_timeout) or self.port == 0:
            self.kill()
            raise RuntimeError("the server did not start:\n" + "".join(self.log))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if not self._ready.is_set():
                match = _LISTENING.search(line)
                if match:
                    self.port = int(match.group(2))
                    self._ready.set()
        self._ready.set()  # the process ended

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
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)

    def output(self) -> str:
        return "".join(self.log)


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
