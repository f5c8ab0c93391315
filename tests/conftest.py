"""Shared fixtures.

``store`` is the behavioural fixture: every test that takes it runs against
a local ``keystone.Database`` and against the sync client talking to a real
server process on loopback, so every local behaviour is proven remote too.
The remote kind shares one server process per test session and empties its
table before each test. Set ``KEYSTONE_TEST_REMOTE=0`` to run the local kind
only.

The ``dynamodb`` kind is ``keystone_net.dynamodb.DynamoStore`` on one table of
a DynamoDB-compatible endpoint: moto's server on a free loopback port by
default (see ``tests/dynamo.py``), or your own endpoint with
``KEYSTONE_DYNAMODB_TEST_ENDPOINT=http://host:port`` (real AWS:
``KEYSTONE_DYNAMODB_TEST_ENDPOINT=aws``). ``make test`` runs the ``dynamodb`` kind for a
representative subset of files (``tests/dynamo.py``'s ``SUBSET``: moto is
slow); ``make test-dynamodb`` (``KEYSTONE_TEST_DYNAMODB=all``) runs all of it,
``KEYSTONE_TEST_DYNAMODB=0`` none. The ``endpoint`` kind is the same ``DynamoStore`` on the
project's own DynamoDB endpoint (a real ``python -m keystone_net serve`` process), under the
same subset rule. Where DynamoDB (or the endpoint) behaves otherwise, the test says so with
the xfail marks of ``tests/dynamo_differences.py``, each with its reason, never by skipping.
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

#: The library's own kinds (a file, a gRPC server): what fixtures that open tables of a
#: database file or server (tests/test_net_tables.py) are parametrized with.
STORE_KINDS = ["local", "remote"]
if os.environ.get("KEYSTONE_TEST_REMOTE", "1") == "0":
    STORE_KINDS.remove("remote")
#: The ``store`` fixture's kinds: those, and DynamoStore on moto's server and on our endpoint.
ALL_STORE_KINDS = [*STORE_KINDS, "dynamodb", "endpoint"]
if os.environ.get("KEYSTONE_TEST_DYNAMODB", "subset") == "0":
    ALL_STORE_KINDS = list(STORE_KINDS)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[keystone.Database]:
    """A fresh database file in a temporary directory."""
    database = keystone.Database.open(tmp_path / "test.keystone")
    yield database
    database.close()


@pytest.fixture(params=ALL_STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[keystone.Store]:
    """A fresh, empty store: local database or remote client."""
    if request.param == "local":
        database = keystone.Database.open(tmp_path / "store.keystone")
        yield database
        database.close()
    elif request.param == "remote":
        remote: RemoteStore = request.getfixturevalue("remote_store")
        yield remote.fresh()
    elif request.param == "dynamodb":
        from dynamo import DynamoSuiteTable

        dynamo: DynamoSuiteTable = request.getfixturevalue("dynamo_suite_table")
        yield dynamo.fresh()
    elif request.param == "endpoint":
        from dynamo import DynamoSuiteTable

        own: DynamoSuiteTable = request.getfixturevalue("endpoint_suite_table")
        yield own.fresh()
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


@pytest.fixture(scope="session")
def dynamo_endpoint() -> Iterator[object]:
    """A DynamoDB-compatible endpoint for the session (moto's server unless configured)."""
    from dynamo import endpoint

    with endpoint() as found:
        yield found


@pytest.fixture(scope="session")
def dynamo_suite_table(dynamo_endpoint: object) -> Iterator[object]:
    """The behaviour suite's DynamoDB table, created once and emptied before each test."""
    from dynamo import DynamoSuiteTable

    table = DynamoSuiteTable(dynamo_endpoint)  # type: ignore[arg-type]
    yield table
    table.drop()


@pytest.fixture(scope="session")
def own_dynamo_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The project's own DynamoDB endpoint (a server process) for the session."""
    from dynamo import own_endpoint

    with own_endpoint(tmp_path_factory.mktemp("endpoint")) as found:
        yield found


@pytest.fixture(scope="session")
def endpoint_suite_table(own_dynamo_endpoint: object) -> Iterator[object]:
    """The behaviour suite's table on the project's own endpoint, through ``DynamoStore``."""
    from dynamo import DynamoSuiteTable

    table = DynamoSuiteTable(own_dynamo_endpoint)  # type: ignore[arg-type]
    yield table
    table.drop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dynamodb_differs(reason): the test's outcome differs on DynamoDB, for this reason",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from dynamo import mark_differences

    mark_differences(config, items)
