"""The DynamoDB side of the behaviour suite: an endpoint, the suite's table, and the differences.

``endpoint()`` is moto's server (``python -m moto.server``, a subprocess) on a
free loopback port, standing in for DynamoDB; with
``KEYSTONE_DYNAMODB_TEST_ENDPOINT=http://host:port`` it is that endpoint
instead (the project's own DynamoDB door, ScyllaDB Alternator, DynamoDB
Local), and ``KEYSTONE_DYNAMODB_TEST_ENDPOINT=aws`` is Amazon DynamoDB itself,
with the credentials and region of the environment
(``KEYSTONE_DYNAMODB_TEST_REGION``, default ``us-east-1``). Tests never reach
the internet unless told to that way.

``tests/dynamo_differences.py`` names the behaviour-suite tests whose outcome differs on
DynamoDB, each with the reason; they are marked ``xfail`` (strict on moto)
for the ``dynamodb`` kind only, so they still run and a fixed difference
shows up as an unexpected pass.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import keystone

#: Why a behaviour differs on DynamoDB, by reason (docs/scale-out.md explains each).
OPTIONAL_SK = (
    "DynamoDB has no optional sort key: a table with sort key 'sk' refuses items and keys "
    "without one (the file's untyped default table accepts both)"
)
KEY_TYPES = (
    "a DynamoDB key attribute has one declared type (the suite's table: S), so bytes, numbers "
    "and other values are refused as keys, with DynamoDB's type-mismatch message"
)
MESSAGES = (
    "DynamoDB raises the same exception class with its own message, where the file's "
    "untyped default table words it otherwise"
)
BATCH_NOT_ATOMIC = (
    "BatchWriteItem is not atomic: chunks of 25 apply one by one, so a reader can see part "
    "of a batch (transact_write is all or nothing)"
)
PARTIQL = (
    "DynamoDB runs a PartiQL statement on the table it names, and the suite's statements "
    "name 't' (the file runs a statement naming an unknown table on its own table); moto's "
    "server moreover fails PartiQL INSERT and UPDATE with HTTP 500"
)
PARTIQL_TABLE = (
    "DynamoDB runs a PartiQL statement on the table it names, and the suite's statements "
    "name 't' (the file runs a statement naming an unknown table on its own table): "
    "ResourceNotFound"
)
ENDPOINT_NESTING = (
    "the project's endpoint refuses a value of 32 nested lists in ExpressionAttributeValues "
    "('Nesting Levels have exceeded supported limits') that the library itself accepts as the "
    "limit: the endpoint and the library disagree by one level (not checked against DynamoDB)"
)
MOTO_UPDATED_IMAGES = (
    "moto returns whole top-level attributes as UPDATED_OLD/UPDATED_NEW images; DynamoDB "
    "returns only the updated paths, as the file does: run against a real endpoint to check"
)
MOTO = (
    "moto's emulation fails here (a server error, or no error where DynamoDB gives one); not "
    "a known DynamoDB difference: run against a real endpoint to check"
)

#: The behaviour-suite files whose ``dynamodb`` runs ``make test`` includes (all: ``make
#: test-dynamodb`` or ``KEYSTONE_TEST_DYNAMODB=all``): one per capability, kept short
#: because moto answers slowly.
SUBSET = ("test_items.py", "test_transactions.py", "test_batch.py", "test_query_scan.py")


def _differences() -> dict[str, dict[str, str]]:
    from dynamo_differences import DIFFERENCES, ENDPOINT_DIFFERENCES

    return {"dynamodb": DIFFERENCES, "endpoint": ENDPOINT_DIFFERENCES}


@dataclass(frozen=True)
class Endpoint:
    url: str | None  # None: Amazon DynamoDB itself
    region: str
    moto: bool
    own: bool = False  # the project's own endpoint

    def client(self) -> object:
        from keystone_net.dynamodb.store import make_client

        # moto never throttles: one attempt keeps its server errors quick to report.
        retries = 1 if self.moto else 3 if self.own else 10
        return make_client("dynamodb", region=self.region, endpoint=self.url, retries=retries)


class MotoServer:
    """``python -m moto.server`` in its own process on a free loopback port.

    Its own process, not ``moto.server.ThreadedMotoServer`` in this one: moto keeps
    its emulated tables in module-level backends, which ``moto.mock_aws()`` (used
    in-process by ``tests/test_oracle.py``) resets when it exits, so a server
    thread in the test process loses the suite's table to any such test.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        found: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(found,), daemon=True)
        self.reader.start()
        try:
            self.url = found.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise RuntimeError(
                f"moto's server did not start within {timeout} s:\n" + "\n".join(self.lines)
            ) from None
        if not self.url:
            self.stop()
            raise RuntimeError("moto's server exited:\n" + "\n".join(self.lines))

    def _read(self, found: queue.Queue[str]) -> None:
        assert self.proc.stderr is not None
        announced = False
        for line in self.proc.stderr:  # ends when the process does
            self.lines.append(line.rstrip())
            match = _RUNNING.search(line)
            if match and not announced:
                announced = True
                found.put(match.group(1))
        if not announced:
            found.put("")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.reader.join(5)


_RUNNING = re.compile(r"Running on (http://127\.0\.0\.1:\d+)")


@contextlib.contextmanager
def endpoint() -> Iterator[Endpoint]:
    region = os.environ.get("KEYSTONE_DYNAMODB_TEST_REGION", "us-east-1")
    configured = os.environ.get("KEYSTONE_DYNAMODB_TEST_ENDPOINT")
    if configured:
        yield Endpoint(None if configured == "aws" else configured, region, moto=False)
        return
    # moto accepts any credentials; set dummy ones so boto3 never looks elsewhere.
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    server = MotoServer()
    try:
        yield Endpoint(server.url, region, moto=True)
    finally:
        server.stop()


@contextlib.contextmanager
def own_endpoint(directory: Path) -> Iterator[Endpoint]:
    """The project's own DynamoDB endpoint: a real ``python -m keystone_net serve`` process."""
    from keystone.testing import start_server

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    server = start_server(directory / "endpoint.keystone", args=["--durability", "async"])
    try:
        if server.dynamodb_url is None:
            raise RuntimeError("the server has no DynamoDB endpoint:\n" + server.output())
        yield Endpoint(server.dynamodb_url, "us-east-1", moto=False, own=True)
    finally:
        server.stop()


class DynamoSuiteTable:
    """One table (pk S, sk S) of the endpoint for the whole session, emptied for each test."""

    def __init__(self, where: Endpoint) -> None:
        from keystone_net.dynamodb.store import DynamoStore

        self.where = where
        self.name = f"keystone-suite-{uuid.uuid4().hex[:8]}"
        self.admin = DynamoStore(self.name, client=where.client())
        self.store = self.admin.create_table(self.name, keystone.Schema())

    def fresh(self) -> keystone.Store:
        store = self.store
        if store.closed:  # a test closed it
            store = self.store = self.admin.table(self.name)
        keys = [
            (i["pk"], i["sk"])
            for i in store.scan_all(projection="#p, #s", names={"#p": "pk", "#s": "sk"})
        ]
        store.batch_write(deletes=keys)
        return store

    def drop(self) -> None:
        self.admin.delete_table(self.name)


def mark_differences(config: pytest.Config, items: list[pytest.Item]) -> None:
    """xfail, with its reason, every ``dynamodb``/``endpoint`` run of a test that differs there,
    and leave the runs outside :data:`SUBSET` out unless ``KEYSTONE_TEST_DYNAMODB=all``."""
    configured = bool(os.environ.get("KEYSTONE_DYNAMODB_TEST_ENDPOINT"))
    everything = os.environ.get("KEYSTONE_TEST_DYNAMODB", "subset") == "all"
    # KEYSTONE_DYNAMODB_DIFFERENCES=0: no xfail marks (to rewrite the list from a plain run).
    marked = os.environ.get("KEYSTONE_DYNAMODB_DIFFERENCES", "1") != "0"
    lists = _differences() if marked else {"dynamodb": {}, "endpoint": {}}
    kept, left_out = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("store") if callspec is not None else None
        if kind not in ("dynamodb", "endpoint"):
            kept.append(item)
            continue
        test_id = item.nodeid.split("/")[-1]
        if not everything and test_id.split("::")[0] not in SUBSET:
            left_out.append(item)
            continue
        kept.append(item)
        differences = lists[kind]
        reason = differences.get(test_id) or differences.get(test_id.split("[", 1)[0])
        if reason is None and marked:
            marker = item.get_closest_marker("dynamodb_differs")
            reason = marker.args[0] if marker is not None else None
        if reason is not None:
            where = "DynamoDB" if kind == "dynamodb" else "the project's DynamoDB endpoint"
            strict = kind == "endpoint" or not configured
            item.add_marker(
                pytest.mark.xfail(reason=f"differs on {where}: {reason}", strict=strict)
            )
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
