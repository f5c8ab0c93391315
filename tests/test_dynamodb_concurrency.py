"""Many clients writing at once through the endpoint: every outcome is one a serial order gives.

The endpoint runs concurrent writes in batches that share one commit (each
write in a nested transaction of its own), so these tests aim several boto3
clients, each in a thread of its own, at the same items and check the
results against what the clients were told: conditional increments stop at
exactly the cap, and money moved by transactions is neither made nor lost,
each account ending at what the acknowledged transfers say.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from dynamodbsupport import client, serve
from test_concurrency import run_threads

from keystone.testing import KeystoneServer

THREADS = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneServer]:
    srv = serve(tmp_path_factory.mktemp("concurrency") / "concurrency.keystone")
    try:
        yield srv
    finally:
        srv.stop()


def code_of(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def test_conditional_increments_stop_exactly_at_the_cap(server: KeystoneServer) -> None:
    url = server.dynamodb_url
    assert url is not None
    key = {"pk": {"S": "counter"}, "sk": {"S": "capped"}}
    client(url).put_item(TableName="things", Item={**key, "n": {"N": "0"}})
    per_thread, cap = 60, 300  # (480 attempts, room for 300)
    done = [0] * THREADS
    refused = [0] * THREADS

    def work(i: int) -> None:
        c = client(url)
        for _ in range(per_thread):
            try:
                c.update_item(
                    TableName="things",
                    Key=key,
                    UpdateExpression="SET n = n + :one",
                    ConditionExpression="n < :cap",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": str(cap)}},
                )
                done[i] += 1
            except ClientError as exc:
                assert code_of(exc) == "ConditionalCheckFailedException"
                refused[i] += 1

    assert run_threads(THREADS, work) == []
    item = client(url).get_item(TableName="things", Key=key, ConsistentRead=True)["Item"]
    assert sum(done) == cap
    assert sum(refused) == THREADS * per_thread - cap
    assert item["n"] == {"N": str(cap)}


def test_transfers_neither_make_nor_lose_money(server: KeystoneServer) -> None:
    url = server.dynamodb_url
    assert url is not None
    accounts = [f"acct{i}" for i in range(6)]
    opening = 50

    def key(name: str) -> dict[str, Any]:
        return {"pk": {"S": "bank"}, "sk": {"S": name}}

    setup = client(url)
    for name in accounts:
        setup.put_item(TableName="things", Item={**key(name), "balance": {"N": str(opening)}})
    moved: list[list[tuple[str, str, int]]] = [[] for _ in range(THREADS)]
    cancelled = [0] * THREADS

    def work(i: int) -> None:
        c = client(url)
        rng = random.Random(i)
        for _ in range(40):
            src, dst = rng.sample(accounts, 2)
            amount = rng.randint(1, 30)
            try:
                c.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": "things",
                                "Key": key(src),
                                "UpdateExpression": "SET balance = balance - :a",
                                "ConditionExpression": "balance >= :a",
                                "ExpressionAttributeValues": {":a": {"N": str(amount)}},
                            }
                        },
                        {
                            "Update": {
                                "TableName": "things",
                                "Key": key(dst),
                                "UpdateExpression": "SET balance = balance + :a",
                                "ExpressionAttributeValues": {":a": {"N": str(amount)}},
                            }
                        },
                    ]
                )
                moved[i].append((src, dst, amount))
            except ClientError as exc:
                assert code_of(exc) == "TransactionCanceledException"
                reasons = [r["Code"] for r in exc.response["CancellationReasons"]]
                assert reasons == ["ConditionalCheckFailed", "None"]
                cancelled[i] += 1

    assert run_threads(THREADS, work) == []
    expected = dict.fromkeys(accounts, opening)
    for src, dst, amount in (t for transfers in moved for t in transfers):
        expected[src] -= amount
        expected[dst] += amount
    got = {
        name: int(
            setup.get_item(TableName="things", Key=key(name), ConsistentRead=True)["Item"][
                "balance"
            ]["N"]
        )
        for name in accounts
    }
    assert got == expected
    assert sum(got.values()) == opening * len(accounts)
    assert min(got.values()) >= 0
    assert sum(map(len, moved)) > 0 and sum(cancelled) + sum(map(len, moved)) == THREADS * 40
