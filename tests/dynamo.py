"""The DynamoDB side of the behaviour suite: an endpoint, the suite's table, and the differences.

``endpoint()`` is moto's server (``moto.server.ThreadedMotoServer``) on a
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

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import keystone

#: Why a behaviour differs on DynamoDB, by reason (docs/scale-out.md explains each).
OPTIONAL_SK = (
    "DynamoDB has no optional sort key: a table with sort key 'sk' refuses items and keys "
    "without one (the file's untyped default table accepts both)"
)
KEY_TYPES = (
    "a DynamoDB key attribute has one declared type (the suite's table: S), so bytes, numbers "
    "and other values are refused as keys with a message that says so"
)
RESERVED_WORDS = (
    "DynamoDB refuses its reserved words (name, items, roles, first, before, ...) as bare "
    "attribute names in expressions: write #placeholders"
)
MESSAGES = "DynamoDB raises the same exception class with its own message, not the file's wording"
BATCH_NOT_ATOMIC = (
    "BatchWriteItem is not atomic: chunks of 25 apply one by one, so a reader can see part "
    "of a batch (transact_write is all or nothing)"
)
SEGMENTS = "DynamoDB allows up to 1,000,000 scan segments; the file allows 65,536"
MOTO = (
    "moto's emulation fails here (a server error or a result DynamoDB would not give); not a "
    "known DynamoDB difference: run against a real endpoint to check"
)

#: The behaviour-suite files whose ``dynamodb`` runs ``make test`` includes (all: ``make
#: test-dynamodb`` or ``KEYSTONE_TEST_DYNAMODB=all``): one per capability, kept short
#: because moto answers slowly.
SUBSET = ("test_items.py", "test_transactions.py", "test_batch.py", "test_query_scan.py")


def _differences() -> dict[str, str]:
    from dynamo_differences import DIFFERENCES

    return DIFFERENCES


@dataclass(frozen=True)
class Endpoint:
    url: str | None  # None: Amazon DynamoDB itself
    region: str
    moto: bool

    def client(self) -> object:
        from keystone_net.dynamodb.store import make_client

        # moto never throttles: one attempt keeps its server errors quick to report.
        retries = 1 if self.moto else 10
        return make_client("dynamodb", region=self.region, endpoint=self.url, retries=retries)


@contextlib.contextmanager
def endpoint() -> Iterator[Endpoint]:
    region = os.environ.get("KEYSTONE_DYNAMODB_TEST_REGION", "us-east-1")
    configured = os.environ.get("KEYSTONE_DYNAMODB_TEST_ENDPOINT")
    if configured:
        yield Endpoint(None if configured == "aws" else configured, region, moto=False)
        return
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # moto accepts any credentials; set dummy ones so boto3 never looks elsewhere.
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Endpoint(f"http://{host}:{port}", region, moto=True)
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
    """xfail, with its reason, every ``dynamodb`` run of a test that differs there, and leave
    the ``dynamodb`` runs outside :data:`SUBSET` out unless ``KEYSTONE_TEST_DYNAMODB=all``."""
    strict = not os.environ.get("KEYSTONE_DYNAMODB_TEST_ENDPOINT")
    everything = os.environ.get("KEYSTONE_TEST_DYNAMODB", "subset") == "all"
    differences = _differences()
    kept, left_out = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("store") != "dynamodb":
            kept.append(item)
            continue
        test_id = item.nodeid.split("/")[-1]
        if not everything and test_id.split("::")[0] not in SUBSET:
            left_out.append(item)
            continue
        kept.append(item)
        reason = differences.get(test_id) or differences.get(test_id.split("[", 1)[0])
        if reason is None:
            marker = item.get_closest_marker("dynamodb_differs")
            reason = marker.args[0] if marker is not None else None
        if reason is not None:
            item.add_marker(
                pytest.mark.xfail(reason=f"differs on DynamoDB: {reason}", strict=strict)
            )
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
