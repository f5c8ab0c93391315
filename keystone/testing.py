"""The KeystoneDB pytest plugin: databases and a server for your tests.

Installing ``keystonedb`` registers this module through the ``pytest11``
entry point, so its fixtures are available in every test, with nothing to
import or configure:

``keystone_db``
    A fresh, empty in-memory :class:`keystone.Database`, closed (and its
    temporary file deleted) after the test. Configure its schema with the
    ``keystone_schema`` marker.
``keystone_db_factory``
    ``make(schema=None, *, path=None, tables=None, **schema_fields)`` opens
    more databases: in memory by default, or at ``path``; ``tables`` maps
    table names to the ``Schema`` (or ``Schema`` fields) of tables to create
    in it. Every one is closed at the end of the test.
``@pytest.mark.keystone_schema(**fields)``
    The :class:`keystone.Schema` of ``keystone_db``'s default table and of
    ``keystone_client``'s: keyword arguments of ``Schema`` (or one
    ``Schema`` instance). On a test, class or module.
``@pytest.mark.keystone_tables(name=schema, ...)``
    Tables created in ``keystone_db`` (and on ``keystone_client``'s server)
    before the test, each given as a ``Schema`` or a dict of its fields:
    ``keystone_db.table("name")``, ``keystone_client.table("name")``.
``keystone_server``
    One real ``python -m keystone_net serve`` process for the whole session,
    on a free loopback port (its metrics endpoint on another free one), over
    a temporary database file. Has ``.url`` (``http://127.0.0.1:PORT``),
    ``.host``, ``.port``, ``.metrics_port`` and ``.path``. Skips the test if
    ``keystone_net`` is not installed.
``keystone_client``
    A sync client connected to ``keystone_server`` (``keystone_net.connect``),
    the same API as ``keystone_db``. The server's default table is emptied,
    and its other tables deleted, before each test that uses it; the tables
    of ``keystone_tables`` are then created on the server
    (``keystone_client.table("name")``). Under ``keystone_schema`` it is a
    client of another session server, one per schema, whose file has that
    schema.
``keystone_dynamodb``
    The DynamoDB endpoint of one session server (per xdist worker), for code
    written against DynamoDB: for the test, ``AWS_ENDPOINT_URL_DYNAMODB``
    points at it and dummy credentials and a region are set, so
    ``boto3.client("dynamodb")`` built anywhere in the code under test
    talks to it unchanged. Each test gets a set of tables of its own: the
    tables earlier tests made are deleted before it starts (the default
    table, which cannot be, is emptied). Has
    ``.url``, ``.client()`` and ``.resource()`` (boto3).

Disable the plugin with ``-p no:keystone``.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import pytest

from .database import Database
from .errors import KeystoneError
from .schema import Schema
from .store import Store

MARKER: Final = "keystone_schema"
TABLES_MARKER: Final = "keystone_tables"
#: How long the server may take to print its address.
SERVER_START_TIMEOUT: Final = 30.0
#: How long the server may take to stop after SIGTERM before it is killed.
SERVER_STOP_TIMEOUT: Final = 10.0
_LISTENING = re.compile(r"listening on (?P<host>\[[^\]]+\]|[^\s:]+):(?P<port>\d+)")
_DYNAMODB = re.compile(r"DynamoDB endpoint on (?P<url>https?://\S+)")
_METRICS = re.compile(r"/ready on http://(?:\[[^\]]+\]|[^\s:]+):(?P<port>\d+)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**fields): the keystone.Schema of the keystone_db fixture "
        "(keyword arguments of keystone.Schema, or one Schema)",
    )
    config.addinivalue_line(
        "markers",
        f"{TABLES_MARKER}(**tables): tables created in keystone_db (and on keystone_client's "
        "server) before the test "
        "(name=keystone.Schema(...) or name={schema fields})",
    )


# --------------------------------------------------------------------------
# Local databases
# --------------------------------------------------------------------------


class DatabaseFactory:
    """Opens databases for one test and closes every one of them afterwards."""

    def __init__(self) -> None:
        self.opened: list[Database] = []

    def __call__(
        self,
        schema: Schema | None = None,
        *,
        path: str | os.PathLike[str] | None = None,
        tables: dict[str, Schema | dict[str, Any]] | None = None,
        **fields: Any,
    ) -> Database:
        """A new database: in memory, or the file at ``path``.

        Give the default table's schema as a ``Schema`` or as its fields
        (``make(partition_key="id", sort_key=None)``), not both. ``tables``
        names more tables to create, each with a ``Schema`` or its fields.
        """
        schema = schema_of(schema, fields)
        db = Database.memory(schema) if path is None else Database.open(path, schema)
        self.opened.append(db)
        for name, table_schema in (tables or {}).items():
            if isinstance(table_schema, dict):
                db.create_table(name, Schema(**table_schema))
            else:
                db.create_table(name, schema_of(table_schema, {}))
        return db

    def close_all(self) -> None:
        errors: list[BaseException] = []
        while self.opened:
            try:
                self.opened.pop().close()
            except KeystoneError as exc:  # pragma: no cover - close is idempotent
                errors.append(exc)
        if errors:  # pragma: no cover
            raise errors[0]


def schema_of(schema: Schema | None, fields: dict[str, Any]) -> Schema | None:
    """The schema from a ``Schema`` or from its fields (one or the other)."""
    if schema is not None and fields:
        raise TypeError("give a keystone.Schema or its fields, not both")
    if schema is not None and not isinstance(schema, Schema):
        raise TypeError(f"expected a keystone.Schema, got {type(schema).__name__}")
    return Schema(**fields) if fields else schema


@pytest.fixture
def keystone_db_factory() -> Iterator[DatabaseFactory]:
    """``make(schema=None, *, path=None, **schema_fields)`` -> a new Database, closed after the test."""
    factory = DatabaseFactory()
    try:
        yield factory
    finally:
        factory.close_all()


def marked_tables(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The tables ``@pytest.mark.keystone_tables(name=schema, ...)`` asks for (``{}``: none)."""
    tables_marker = request.node.get_closest_marker(TABLES_MARKER)
    if tables_marker is None:
        return {}
    if tables_marker.args:
        raise pytest.UsageError(f"@pytest.mark.{TABLES_MARKER} takes name=schema keyword arguments")
    return dict(tables_marker.kwargs)


@pytest.fixture
def keystone_db(request: pytest.FixtureRequest, keystone_db_factory: DatabaseFactory) -> Database:
    """A fresh in-memory Database; ``@pytest.mark.keystone_schema(...)`` sets its schema
    and ``@pytest.mark.keystone_tables(...)`` creates tables in it."""
    tables = marked_tables(request)
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return keystone_db_factory(tables=tables)
    if len(marker.args) > 1:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} takes one Schema or keyword arguments")
    return keystone_db_factory(*marker.args, tables=tables, **marker.kwargs)


# --------------------------------------------------------------------------
# A server process and a client
# --------------------------------------------------------------------------


@dataclass
class KeystoneServer:
    """A running ``keystone_net`` server: where it listens and which file it serves."""

    host: str
    port: int
    path: Path
    process: subprocess.Popen[str] = field(repr=False)
    #: The server's recent stderr lines (for diagnosing failures).
    log: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=200), repr=False
    )
    #: The thread reading the server's stderr into :attr:`log`.
    reader: threading.Thread | None = field(default=None, repr=False)
    #: ``http://host:port`` of its DynamoDB endpoint (``None`` when it has none).
    dynamodb_url: str | None = None
    #: The port of ``/metrics``, ``/health`` and ``/ready`` (``None``: none).
    metrics_port: int | None = None

    @property
    def url(self) -> str:
        """``http://host:port``, what ``keystone_net.connect`` takes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def output(self) -> str:
        """The stderr lines in :attr:`log`, one per line."""
        return "".join(line + "\n" for line in self.log)

    def stop(self, timeout: float = SERVER_STOP_TIMEOUT) -> int | None:
        """Stop it as :func:`stop_server` does, its stderr read to the end; the exit status."""
        _end(self.process, timeout)
        if self.reader is not None:
            self.reader.join(timeout)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return self.process.returncode


def _server_available() -> str | None:
    """Why the server cannot be started here, or ``None`` if it can."""
    try:
        if importlib.util.find_spec("keystone_net.__main__") is None:
            return "keystone_net is not installed (no `python -m keystone_net serve`)"
    except ImportError as exc:
        return f"keystone_net cannot be imported: {exc}"
    return None


def start_server(
    path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    args: Sequence[str] = (),
    timeout: float = SERVER_START_TIMEOUT,
    log_lines: int = 200,
) -> KeystoneServer:
    """Start ``python -m keystone_net serve`` on ``host``; wait until it listens.

    ``port`` 0 picks a free one. ``args`` are more server options (for
    instance ``["--durability", "async"]``); without ``--metrics-port``
    the metrics endpoint gets a free port too. The last ``log_lines`` lines
    of its stderr are kept in :attr:`KeystoneServer.log`. Its DynamoDB
    endpoint listens on a free port too (unless ``args`` choose its port or
    turn it off): :attr:`KeystoneServer.dynamodb_url`.
    """
    if not any(a.startswith(("--dynamodb-port", "--no-dynamodb")) for a in args):
        args = [*args, "--dynamodb-port", "0"]
    if not any(a == "--metrics-port" or a.startswith("--metrics-port=") for a in args):
        args = [*args, "--metrics-port", str(free_port(host))]
    cmd = [
        sys.executable,
        "-m",
        "keystone_net",
        "serve",
        "--db-path",
        str(path),
        "--host",
        host,
        "--port",
        str(port),
        *args,
    ]
    process = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    log: collections.deque[str] = collections.deque(maxlen=log_lines)
    found: list[tuple[str, int]] = []
    dynamodb: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        # Reads stderr for the whole life of the server, so it never blocks on a full pipe.
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line.rstrip("\n"))
            if not dynamodb:
                door = _DYNAMODB.search(line)
                if door:
                    dynamodb.append(door["url"])
            if not found:
                match = _LISTENING.search(line)
                if match:
                    found.append((match["host"].strip("[]"), int(match["port"])))
                    ready.set()
        ready.set()

    reader = threading.Thread(target=drain, name="keystone-server-stderr", daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            break
    if not found:
        _end(process, SERVER_STOP_TIMEOUT)
        reader.join(timeout)
        output = "\n".join(log) or "(nothing on stderr)"
        raise RuntimeError(
            f"the keystone server did not print 'listening on HOST:PORT' within {timeout:.0f}s "
            f"(exit status {process.poll()}); its stderr:\n{output}"
        )
    bound_host, bound_port = found[0]
    metrics = [m for m in map(_METRICS.search, list(log)) if m is not None]
    metrics_port = int(metrics[0]["port"]) if metrics else None
    return KeystoneServer(
        bound_host,
        bound_port,
        path,
        process,
        log,
        reader,
        dynamodb_url=dynamodb[0] if dynamodb else None,
        metrics_port=metrics_port,
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the system's pick)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def stop_server(process: subprocess.Popen[str], timeout: float = SERVER_STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    _end(process, timeout)
    if process.stderr is not None:
        process.stderr.close()


def _end(process: subprocess.Popen[str], timeout: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@pytest.fixture(scope="session")
def keystone_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneServer]:
    """One server process per session on a free loopback port, over a temporary file."""
    reason = _server_available()
    if reason is not None:
        pytest.skip(reason)
    path = tmp_path_factory.mktemp("keystone-server") / "server.keystone"
    server = start_server(path)
    try:
        yield server
    finally:
        server.stop()


def _connect() -> Callable[..., Any]:
    """``keystone_net.connect`` (skips the test if the client is not installed)."""
    try:
        import keystone_net
    except ImportError as exc:  # pragma: no cover - keystone_net ships with keystone
        pytest.skip(f"keystone_net cannot be imported: {exc}")
    connect = getattr(keystone_net, "connect", None)
    if connect is None:
        pytest.skip("keystone_net.connect is not available")
    return cast("Callable[..., Any]", connect)


class ServersBySchema:
    """The session's servers of marked ``keystone_client`` tests: one per schema, started on use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.servers: dict[bytes, KeystoneServer] = {}

    def get(self, schema: Schema) -> KeystoneServer:
        key = schema.encode()
        server = self.servers.get(key)
        if server is None:
            path = self.directory / f"schema-{len(self.servers)}.keystone"
            Database.open(path, schema).close()  # the server opens the file with its schema
            server = self.servers[key] = start_server(path)
        return server

    def stop_all(self) -> None:
        while self.servers:
            self.servers.popitem()[1].stop()


@pytest.fixture(scope="session")
def keystone_servers_by_schema(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServersBySchema]:
    """The servers behind ``keystone_client`` under ``@pytest.mark.keystone_schema``."""
    reason = _server_available()
    if reason is not None:
        pytest.skip(reason)
    servers = ServersBySchema(tmp_path_factory.mktemp("keystone-schemas"))
    try:
        yield servers
    finally:
        servers.stop_all()


@pytest.fixture
def keystone_client(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A sync client of ``keystone_server`` (or, under ``keystone_schema``, of a server
    whose file has that schema); the table is emptied before the test."""
    marker = request.node.get_closest_marker(MARKER)
    schema = None
    if marker is not None:
        if len(marker.args) > 1:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes one Schema or keyword arguments")
        schema = schema_of(marker.args[0] if marker.args else None, dict(marker.kwargs))
    if schema is None:
        server: KeystoneServer = request.getfixturevalue("keystone_server")
        client = _connect()(server.url)
    else:
        servers: ServersBySchema = request.getfixturevalue("keystone_servers_by_schema")
        client = _connect()(
            servers.get(schema).url,
            partition_key=schema.partition_key,
            sort_key=schema.sort_key or "sk",
        )
    try:
        tables = marked_tables(request)
        drop_tables(client)
        empty(client, schema)
        for name, table_schema in tables.items():
            if isinstance(table_schema, dict):
                table_schema = Schema(**table_schema)
            client.create_table(name, schema_of(table_schema, {}))
        yield client
    finally:
        client.close()


def drop_tables(client: Any) -> list[str]:
    """Delete every table of the server but the default one (earlier tests'); their names."""
    dropped = [name for name in client.tables() if name != "default"]
    for name in dropped:
        client.delete_table(name)
    return dropped


class DynamoDBEndpoint:
    """The DynamoDB endpoint of a session server, as ``keystone_dynamodb`` gives it to a test."""

    #: The dummy credentials and region the fixture sets for each test.
    ENVIRONMENT: Final = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }

    def __init__(self, url: str) -> None:
        self.url = url

    def client(self, **kwargs: Any) -> Any:
        """A boto3 DynamoDB client of the endpoint."""
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.url, **self._defaults(kwargs))

    def resource(self, **kwargs: Any) -> Any:
        """A boto3 DynamoDB service resource of the endpoint."""
        import boto3

        return boto3.resource("dynamodb", endpoint_url=self.url, **self._defaults(kwargs))

    def _defaults(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        out = {
            "region_name": self.ENVIRONMENT["AWS_DEFAULT_REGION"],
            "aws_access_key_id": self.ENVIRONMENT["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": self.ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
        }
        out.update(kwargs)
        return out

    def reset(self) -> None:
        """Every table deleted (the file's default table, which cannot be, emptied)."""
        client = self.client()
        for name in client.list_tables()["TableNames"]:
            try:
                client.delete_table(TableName=name)
            except client.exceptions.ResourceInUseException:
                self._empty(client, name)

    @staticmethod
    def _empty(client: Any, name: str) -> None:
        table = client.describe_table(TableName=name)["Table"]
        keys = [k["AttributeName"] for k in table["KeySchema"]]
        names = {f"#k{i}": k for i, k in enumerate(keys)}
        pages = client.get_paginator("scan").paginate(
            TableName=name, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
        )
        found = [item for page in pages for item in page["Items"]]
        for start in range(0, len(found), 25):
            chunk = found[start : start + 25]
            client.batch_write_item(
                RequestItems={name: [{"DeleteRequest": {"Key": key}} for key in chunk]}
            )


@pytest.fixture(scope="session")
def _keystone_dynamodb_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[KeystoneServer]:
    reason = _server_available()
    if reason is not None:
        pytest.skip(reason)
    if importlib.util.find_spec("boto3") is None:
        pytest.skip("boto3 is not installed")
    path = tmp_path_factory.mktemp("keystone-dynamodb") / "dynamodb.keystone"
    server = start_server(path, args=["--metrics-port", "0"])
    try:
        if server.dynamodb_url is None:
            pytest.skip("the server has no DynamoDB endpoint")
        yield server
    finally:
        server.stop()


@pytest.fixture
def keystone_dynamodb(
    _keystone_dynamodb_server: KeystoneServer, monkeypatch: pytest.MonkeyPatch
) -> DynamoDBEndpoint:
    """The session's DynamoDB endpoint, with the environment of this test pointing at it."""
    url = _keystone_dynamodb_server.dynamodb_url
    assert url is not None
    endpoint = DynamoDBEndpoint(url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
    for name, value in DynamoDBEndpoint.ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    endpoint.reset()
    return endpoint


def empty(store: Store, schema: Schema | None = None, chunk: int = 25) -> int:
    """Delete every item of ``store`` (default key schema unless given); returns how many."""
    schema = schema or Schema()
    keys = [schema.partition_key] + ([schema.sort_key] if schema.sort_key else [])
    names = {f"#k{i}": name for i, name in enumerate(keys)}
    projection = ", ".join(names)
    found = [
        {name: item[name] for name in keys if name in item}
        for item in store.scan_all(projection=projection, names=names)
    ]
    for start in range(0, len(found), chunk):
        store.batch_write(deletes=found[start : start + chunk])
    return len(found)


__all__ = [
    "MARKER",
    "TABLES_MARKER",
    "DatabaseFactory",
    "DynamoDBEndpoint",
    "KeystoneServer",
    "ServersBySchema",
    "drop_tables",
    "empty",
    "free_port",
    "marked_tables",
    "keystone_client",
    "keystone_db",
    "keystone_db_factory",
    "keystone_dynamodb",
    "keystone_server",
    "keystone_servers_by_schema",
    "start_server",
    "stop_server",
]
