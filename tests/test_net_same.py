"""The same calls, locally and over gRPC, give the same results and the same errors.

Each test is a list of calls (:class:`Call`: a method of the database or of
a table's handle, with its arguments). It runs them on a local
``keystone.Database``, then on a real server process (the session's, with
the other tests' tables dropped) through the blocking client
(``keystone_net.connect``) and through the async client
(``keystone_net.grpc.client.Client``), and compares every outcome: the
returned value (pages, items, descriptions, handles by name), or the
exception's class, message and payload (``ConditionalCheckFailed.item``,
``TransactionCanceled.reasons`` and ``items``).

The calls cover tables, typed keys (``S``, ``N``, ``B``: right and wrong
types, on the table, in batches and transactions) and the API additions of
issue 14 (``key_condition``, ``select="COUNT"``, ``ALL_OLD`` on a failed
condition and per cancelled part, the transaction token, projections of
``batch_get``/``transact_get``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import STORE_KINDS, RemoteStore

import keystone
from keystone import (
    ConditionCheck,
    Delete,
    GlobalIndex,
    LocalIndex,
    Put,
    Schema,
    StreamConfig,
    Update,
    sk,
)
from keystone.errors import KeystoneError
from keystone_net.grpc.client import Client

pytestmark = pytest.mark.skipif("remote" not in STORE_KINDS, reason="KEYSTONE_TEST_REMOTE=0")

ORDERS = Schema(
    partition_key=("customer", "S"),
    sort_key=("placed", "N"),
    local_indexes=[LocalIndex("by_amount", ("amount", "N"), "KEYS_ONLY")],
    global_indexes=[GlobalIndex("by_status", ("status", "S"), ("placed", "N"), ["amount"])],
    ttl_attribute="expires",
)
BLOBS = Schema(partition_key=("id", "B"), sort_key=None)
NUMS = Schema(partition_key=("id", "N"), sort_key=None)


@dataclass
class Call:
    """``method(*args, **kwargs)`` on the database (``on=None``) or on table ``on``'s handle."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    on: str | None = None

    def __repr__(self) -> str:
        where = "" if self.on is None else f"[{self.on}]."
        args = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{where}{self.method}({', '.join(args)})"


def call(method: str, *args: Any, on: str | None = None, **kwargs: Any) -> Call:
    return Call(method, args, kwargs, on)


#: A harness step, not a method: the next call on that table gets a new handle.
NEW_HANDLE = "(new handle)"


class Token(str):
    """A ``token=`` made unique to each run (the server remembers tokens for 10 minutes)."""


def _args(c: Call, run: str) -> dict[str, Any]:
    token = c.kwargs.get("token")
    if isinstance(token, Token):
        return {**c.kwargs, "token": f"{run}-{token}"[:36]}
    return c.kwargs


def _plain(value: Any) -> Any:
    """A comparable form of a result: pages as tuples, handles by name, no creation time."""
    if isinstance(value, keystone.Page):
        return ("page", _plain(value.items), value.count, value.scanned_count, value.last_key)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "CreationDateTime"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "get") and hasattr(value, "query"):
        return ("handle", value.name)
    return value


def _error(exc: KeystoneError) -> tuple[Any, ...]:
    return (
        "error",
        type(exc).__name__,
        str(exc),
        _plain(getattr(exc, "item", None)),
        getattr(exc, "reasons", None),
        _plain(getattr(exc, "items", None)),
    )


def _target(store: Any, handles: dict[str, Any], on: str | None) -> Any:
    if on is None:
        return store
    if on not in handles:
        handles[on] = store.table(on)
    return handles[on]


def run_local_or_sync(store: Any, calls: Sequence[Call], run: str) -> list[Any]:
    handles: dict[str, Any] = {}
    out = []
    for c in calls:
        if c.method == NEW_HANDLE:
            out.append(handles.pop(c.on or "", None) is not None)
            continue
        try:
            target = _target(store, handles, c.on)
            result = getattr(target, c.method)(*c.args, **_args(c, run))
            if inspect.isgenerator(result) or c.method.endswith("_all"):
                result = list(result)
            out.append(_plain(result))
        except KeystoneError as exc:
            out.append(_error(exc))
    return out


async def _run_async(url: str, calls: Sequence[Call]) -> list[Any]:
    out = []
    async with Client(url, timeout=30) as client:
        handles: dict[str, Any] = {}
        for c in calls:
            if c.method == NEW_HANDLE:
                out.append(handles.pop(c.on or "", None) is not None)
                continue
            try:
                if c.on is not None and c.on not in handles:
                    handles[c.on] = await client.table(c.on)
                target = client if c.on is None else handles[c.on]
                result = getattr(target, c.method)(*c.args, **_args(c, "async"))
                if inspect.isasyncgen(result):
                    result = [item async for item in result]
                else:
                    result = await result
                out.append(_plain(result))
            except KeystoneError as exc:
                out.append(_error(exc))
    return out


@pytest.fixture
def same(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[Sequence[Call]], list[Any]]:
    """``same(calls)``: run ``calls`` locally, then through both clients of a real
    server; assert every outcome is the same; return the local outcomes."""
    remote: RemoteStore = request.getfixturevalue("remote_store")

    def check(calls: Sequence[Call]) -> list[Any]:
        db = keystone.Database.open(tmp_path / f"local{len(list(tmp_path.iterdir()))}.keystone")
        try:
            local = run_local_or_sync(db, calls, "local")
        finally:
            db.close()
        remotes = {"sync": run_local_or_sync(remote.fresh(), calls, "sync")}
        remote.fresh()  # drops the tables the sync run made
        remotes["async"] = asyncio.run(_run_async(remote.server.url, calls))
        for kind, outcomes in remotes.items():
            for c, want, got in zip(calls, local, outcomes, strict=True):
                assert got == want, f"{kind} client: {c!r}\n local: {want!r}\nremote: {got!r}"
        return local

    return check


def _ok(outcome: Any) -> bool:
    return not (isinstance(outcome, tuple) and outcome and outcome[0] == "error")


def _orders_setup() -> list[Call]:
    puts = [
        call("put", {"customer": "c1", "placed": p, "amount": i, "status": "open"}, on="orders")
        for i, p in enumerate([0, Decimal("10.5"), 20, Decimal("-3"), 1000000])
    ]
    return [call("create_table", "orders", ORDERS), *puts]


# --------------------------------------------------------------------------
# Table management
# --------------------------------------------------------------------------


def test_table_management(same: Any) -> None:
    calls = [
        call("tables"),
        call("create_table", "orders", ORDERS),
        call("create_table", "blobs", BLOBS),
        call("create_table", "orders"),  # exists
        call("create_table", "ab"),  # name too short
        call("create_table", "bad-index", Schema(global_indexes=[GlobalIndex("ab", "x")])),
        call("tables"),
        call("describe_table", "orders"),
        call("describe_table", "nope"),
        call("table", "nope"),
        call("delete_table", "nope"),
        call(
            "update_table",
            "orders",
            add_indexes=[GlobalIndex("by_amount_g", ("amount", "N"))],
            drop_indexes=["by_status"],
        ),
        call("update_table", "orders", drop_indexes=["nope"]),
        call("update_table", "orders", stream=StreamConfig("KEYS_ONLY")),
        call("update_table", "orders", stream=None),
        call("delete_table", "blobs"),
        call("tables"),
        call("describe_table", "default"),
    ]
    outcomes = same(calls)
    assert outcomes[0] == ["default"] and outcomes[6] == ["blobs", "default", "orders"]
    assert outcomes[3][1:3] == ("ValidationError", "Table already exists: orders")
    assert outcomes[8][1] == outcomes[9][1] == outcomes[10][1] == "NotFound"
    assert outcomes[-2] == ["default", "orders"]


def test_a_deleted_tables_handle_is_not_found(same: Any) -> None:
    outcomes = same(
        [
            *_orders_setup(),
            call("get", "c1", 0, on="orders"),
            call("delete_table", "orders"),
            call("get", "c1", 0, on="orders"),
            call("put", {"customer": "c1", "placed": 1}, on="orders"),
            call("create_table", "orders", ORDERS),
            # A local handle is bound to the table it was made for, a remote one
            # names it: only a new handle is the same on both (docs/design.md).
            call(NEW_HANDLE, on="orders"),
            call("scan", on="orders"),
        ]
    )
    assert outcomes[-5][1] == outcomes[-4][1] == "NotFound"
    assert outcomes[-5][2] == "table 'orders' does not exist (it was deleted)"
    assert outcomes[-1] == ("page", [], 0, 0, None)


# --------------------------------------------------------------------------
# Typed keys: right and wrong types
# --------------------------------------------------------------------------

WRONG_KEYS = [
    ("c1", "10.5"),  # a str where the key is N
    ("c1", b"\x01"),  # bytes where it is N
    (1, 0),  # a number where it is S
    (b"c1", 0),  # bytes where it is S
    ("c1", True),
    ("c1", None),  # the sort key missing
    ("", 0),
    ("c1", Decimal("1E+200")),  # out of DynamoDB's range
    ("x" * 2049, 0),
]


def test_number_sort_keys(same: Any) -> None:
    calls = [
        *_orders_setup(),
        call("get", "c1", Decimal("10.50"), on="orders"),
        call("get", "c1", 1e6, on="orders"),
        call("get", "c1", 10.5, projection="amount", on="orders"),
        call("query", "c1", limit=2, on="orders"),
        call("query", "c1", start={"customer": "c1", "placed": 0}, on="orders"),
        call("query", "c1", sk.between(0, 20), reverse=True, on="orders"),
        call("query", "c1", sk.gt(Decimal("10.4")), on="orders"),
        call("query", "c1", sk.begins_with("1"), on="orders"),  # not for N
        call("query", "c1", sk.lt("20"), on="orders"),  # a str bound of an N key
        call("query", 1, on="orders"),
        call("query", b"c1", on="orders"),
        call("query", "open", index="by_status", limit=10, on="orders"),
        call("query", "c1", sk.eq(3), index="by_amount", on="orders"),
        call("query", 3, index="by_status", on="orders"),
        call("query_all", "c1", on="orders"),
        call("update", "c1", 20, "SET n = :n", values={":n": 1}, on="orders"),
        call("update", "c2", Decimal("0.5"), "SET n = :n", values={":n": 2}, on="orders"),
        call("delete", "c1", -3, returns="ALL_OLD", on="orders"),
        call("get", "c1", -3, on="orders"),
        call("scan", on="orders"),
    ]
    for pk, sk_value in WRONG_KEYS:
        calls += [
            call("get", pk, sk_value, on="orders"),
            call("delete", pk, sk_value, on="orders"),
            call("update", pk, sk_value, "SET n = :n", values={":n": 1}, on="orders"),
            call("put", {"customer": pk, "placed": sk_value}, on="orders"),
        ]
    calls.append(call("scan", on="orders"))  # the refused calls changed nothing
    outcomes = same(calls)
    assert outcomes[6]["amount"] == 1 and outcomes[7]["amount"] == 4
    assert all(not _ok(o) for o in outcomes[26:-1])
    assert outcomes[-1] == outcomes[25]


def test_binary_and_number_partition_keys(same: Any) -> None:
    same(
        [
            call("create_table", "blobs", BLOBS),
            call("create_table", "nums", NUMS),
            call("put", {"id": b"\xff\x00", "v": 1}, on="blobs"),
            call("get", b"\xff\x00", on="blobs"),
            call("get", bytearray(b"\xff\x00"), on="blobs"),
            call("get", "text", on="blobs"),
            call("get", b"\xff\x00", b"s", on="blobs"),  # no sort key
            call("put", {"id": "text"}, on="blobs"),
            call("put", {"id": b""}, on="blobs"),
            call("query", b"\xff\x00", on="blobs"),
            call("put", {"id": Decimal("1.5"), "v": 1}, on="nums"),
            call("put", {"id": -(10**37)}, on="nums"),
            call("get", Decimal("1.50"), on="nums"),
            call("get", "1.5", on="nums"),
            call("query", Decimal("15E-1"), on="nums"),
            call("query", "1.5", on="nums"),
            call("update", 2, None, "SET a = :a", values={":a": 1}, on="nums"),
            call("delete", 1.5, returns="ALL_OLD", on="nums"),
            call("scan", on="nums"),
            call("batch_get", [("nums", (2,)), ("blobs", (b"\xff\x00",)), ("nums", ("2",))]),
            call("batch_get", [("nums", (2,)), ("blobs", (b"\xff\x00",))]),
            call("transact_get", [("nums", {"id": 2}), ("blobs", {"id": b"\xff\x00"})]),
        ]
    )


def test_the_default_tables_untyped_keys(same: Any) -> None:
    calls = [
        call("put", {"pk": "a", "sk": "b", "n": 1}),
        call("put", {"pk": b"\xff", "sk": b"\x00", "n": 2}),
        call("get", "a", "b"),
        call("get", b"a", b"b"),  # str keys are their UTF-8 bytes
        call("get", b"\xff", b"\x00"),
        call("update", b"\x01", b"\x02", "SET n = :n", values={":n": 3}),  # stays bytes
        call("update", "u", "v", "SET n = :n", values={":n": 4}),
        call("get", b"\x01", b"\x02"),
        call("get", "u", "v"),
        *[call("query", pk) for pk in (1, Decimal("1.5"), True, "", None, [b"a"])],
    ]
    for bad in [(1, "b"), ("a", 2), (Decimal("1.5"), None), (True, "b"), ("", "b"), ("a", "")]:
        calls += [
            call("get", *bad),
            call("delete", *bad),
            call("update", *bad, "SET n = :n", values={":n": 1}),
            call("batch_get", [bad]),
            call("transact_get", [bad]),
            call("batch_write", deletes=[bad]),
            call("transact_write", [Delete(*bad)]),
            call("transact_write", [Update(*bad, "SET n = :n")], values={":n": 1}),
            call("transact_write", [ConditionCheck(*bad, "attribute_exists(pk)")]),
        ]
    calls.append(call("scan"))
    outcomes = same(calls)
    assert outcomes[7] == {"pk": b"\x01", "sk": b"\x02", "n": 3}
    assert outcomes[8] == {"pk": "u", "sk": "v", "n": 4}
    assert all(not _ok(o) for o in outcomes[9:-1])
    assert outcomes[-1][2] == 4  # four items: nothing refused was written


# --------------------------------------------------------------------------
# Across tables
# --------------------------------------------------------------------------


def test_batches_and_transactions_across_tables(same: Any) -> None:
    calls = [
        *_orders_setup(),
        call(
            "transact_write",
            [
                Put({"pk": "a", "sk": "b", "n": 1}),
                Update("c1", 0, "SET n = :n", table="orders"),
                ConditionCheck("c1", 20, "attribute_exists(customer)", table="orders"),
                Delete("c1", -3, table="orders"),
            ],
            values={":n": 5},
        ),
        call("get", "c1", 0, on="orders"),
        call(
            "batch_get",
            [("a", "b"), ("orders", ("c1", 0)), ("orders", {"customer": "c1", "placed": 20})],
        ),
        call("transact_get", [("orders", ("c1", 99)), ("a", "b")]),
        call(
            "batch_write",
            puts=[Put({"customer": "c9", "placed": 1}, table="orders"), {"pk": "x", "sk": "y"}],
            deletes=[("orders", {"customer": "c1", "placed": 0}), Delete("c1", 20, table="orders")],
        ),
        call("scan", on="orders"),
        call("scan"),
        call("transact_write", [Put({"pk": "a", "sk": "c"}), Put({"pk": "a"}, table="nope")]),
        call("batch_get", [("a", "b"), ("nope", ("a",))]),
        call("batch_write", puts=[Put({"customer": "c1", "placed": "x"}, table="orders")]),
        call("batch_write", deletes=[("orders", ("c1", "0"))]),
        call("transact_write", [Delete("c1", "0", table="orders")]),
        call("transact_write", [Update("c1", b"0", "SET n = :n", table="orders")]),
        call("get", "a", "c"),
        call("execute", "SELECT amount FROM orders WHERE customer = 'c1' AND placed = 10.5"),
        call("execute", "SELECT * FROM nope"),
    ]
    outcomes = same(calls)
    assert outcomes[7] == {"customer": "c1", "placed": 0, "amount": 0, "status": "open", "n": 5}
    assert outcomes[-3] is None
    assert outcomes[-2][1] == [{"amount": 1}]


# --------------------------------------------------------------------------
# Issue 14, item 5: the API additions
# --------------------------------------------------------------------------


def test_key_condition_and_count(same: Any) -> None:
    calls = [
        *_orders_setup(),
        call(
            "query",
            key_condition="customer = :c AND placed BETWEEN :a AND :b",
            values={":c": "c1", ":a": 0, ":b": 20},
            on="orders",
        ),
        call(
            "query",
            key_condition="#c = :c AND #p > :a",
            names={"#c": "customer", "#p": "placed"},
            values={":c": "c1", ":a": 0},
            reverse=True,
            limit=2,
            on="orders",
        ),
        call(
            "query",
            key_condition="#s = :s",
            names={"#s": "status"},
            values={":s": "open"},
            index="by_status",
            select="COUNT",
            on="orders",
        ),
        call("query", key_condition="amount = :t", values={":t": 1}, on="orders"),
        call("query", key_condition="customer = :c", values={":c": 1}, on="orders"),
        call("query", "c1", key_condition="customer = :c", values={":c": "c1"}, on="orders"),
        call("query", "c1", select="COUNT", on="orders"),
        call("query", "c1", select="COUNT", filter="amount > :a", values={":a": 1}, on="orders"),
        call("query", "c1", select="COUNT", projection="amount", on="orders"),
        call("query", "c1", select="SPECIFIC_ATTRIBUTES", projection="amount", on="orders"),
        call("query", "c1", select="NOPE", on="orders"),
        call("scan", select="COUNT", on="orders"),
        call("scan", select="COUNT", limit=2, on="orders"),
        call("scan", select="COUNT", filter="amount < :a", values={":a": 2}, on="orders"),
        call("scan", select="COUNT", index="by_status", on="orders"),
        call("scan", select="ALL_PROJECTED_ATTRIBUTES", index="by_amount", on="orders"),
        call("scan", select="COUNT"),
    ]
    outcomes = same(calls)
    assert [it["placed"] for it in outcomes[6][1]] == [0, Decimal("10.5"), 20]
    assert outcomes[12][1:3] == ([], 5)
    assert outcomes[17][1:3] == ([], 5)


def test_the_old_item_comes_with_a_failed_condition(same: Any) -> None:
    fail = {"return_values_on_condition_check_failure": "ALL_OLD"}
    calls = [
        *_orders_setup(),
        call(
            "put",
            {"customer": "c1", "placed": 0},
            condition="attribute_not_exists(customer)",
            on="orders",
            **fail,
        ),
        call(
            "put",
            {"customer": "c1", "placed": 0},
            condition="attribute_not_exists(customer)",
            on="orders",
        ),
        call(
            "put",
            {"customer": "c7", "placed": 0},
            condition="attribute_exists(customer)",
            on="orders",
            **fail,
        ),
        call("delete", "c1", 0, condition="amount = :t", values={":t": 9}, on="orders", **fail),
        call("delete", "c1", 0, condition="amount = :t", values={":t": 9}, on="orders"),
        call(
            "update",
            "c1",
            20,
            "SET n = :t",
            condition="amount = :t",
            values={":t": 9},
            on="orders",
            **fail,
        ),
        call(
            "update", "c1", 20, "SET n = :t", condition="amount = :t", values={":t": 9}, on="orders"
        ),
        call(
            "put",
            {"customer": "c1", "placed": 0},
            on="orders",
            return_values_on_condition_check_failure="SOME",
        ),
        call(
            "transact_write",
            [
                Put({"pk": "a", "sk": "b"}),
                ConditionCheck("c1", 0, "attribute_not_exists(customer)", table="orders", **fail),
                Update("c1", 20, "SET n = :n", "amount = :n", "orders", "ALL_OLD"),
                Delete("c1", 10.5, "amount = :n", "orders"),
                Put(
                    {"customer": "c8", "placed": 1},
                    "attribute_exists(customer)",
                    "orders",
                    "ALL_OLD",
                ),
            ],
            values={":n": 99},
        ),
        call("transact_write", [Put({"pk": "a", "sk": "b"}), Put({"pk": "a", "sk": "b"})]),
        call("scan"),
        call("scan", on="orders"),
    ]
    outcomes = same(calls)
    assert outcomes[6][1] == "ConditionalCheckFailed" and outcomes[6][3]["amount"] == 0
    assert outcomes[7][3] is None
    cancelled = outcomes[14]
    assert cancelled[1] == "TransactionCanceled"
    assert cancelled[4] == [None, *["ConditionalCheckFailed"] * 4]
    assert cancelled[5][1]["amount"] == 0 and cancelled[5][2]["placed"] == 20
    assert cancelled[5][3] is None and cancelled[5][4] is None


def test_transaction_tokens(same: Any) -> None:
    parts = [Update("a", "b", "ADD n :one"), Update("c1", 0, "ADD n :one", table="orders")]
    calls = [
        *_orders_setup(),
        call("transact_write", parts, values={":one": 1}, token=Token("token-1")),
        call("transact_write", parts, values={":one": 1}, token=Token("token-1")),
        call("get", "a", "b"),
        call("get", "c1", 0, on="orders"),
        call("transact_write", parts[:1], values={":one": 1}, token=Token("token-1")),
        call("transact_write", parts, values={":one": 2}, token=Token("token-1")),
        call("transact_write", parts, values={":one": 1}, token=""),
        call("transact_write", parts, values={":one": 1}, token="x" * 37),
        call("transact_write", parts, values={":one": 1}, token=5),
        call("transact_write", parts, values={":one": 1}, token=Token("token-2")),
        call("get", "a", "b"),
    ]
    outcomes = same(calls)
    assert outcomes[8]["n"] == 1 and outcomes[9]["n"] == 1
    assert outcomes[10][1] == outcomes[11][1] == "IdempotentParameterMismatch"
    assert outcomes[-1]["n"] == 2


def test_projections_of_batch_get_and_transact_get(same: Any) -> None:
    keys = [("a", "b"), ("orders", ("c1", 20)), ("orders", {"customer": "c1", "placed": 0})]
    calls = [
        *_orders_setup(),
        call("put", {"pk": "a", "sk": "b", "amount": 7, "x": {"y": [1, 2]}}),
        call("batch_get", keys, projection="#t", names={"#t": "amount"}),
        call("batch_get", keys, projection="x.y[1], placed"),
        call("transact_get", keys, projection="amount"),
        call("transact_get", keys, projection="#a, status", names={"#a": "amount"}),
        call("batch_get", keys, projection="#nope"),
        call("transact_get", keys, projection="amount", names={"#unused": "x"}),
        call("batch_get", keys, projection=""),
    ]
    outcomes = same(calls)
    assert outcomes[7] == [{"amount": 7}, {"amount": 2}, {"amount": 0}]
    assert outcomes[9] == [{"amount": 7}, {"amount": 2}, {"amount": 0}]
