"""Tables and typed keys, the same locally and over gRPC (PROTOCOL.md: `table` fields,
table management RPCs, key bytes read by the declared type).

``tdb`` is a local ``keystone.Database`` or the sync client of a real server
process (the session's, with the other tests' tables dropped), so every test
here proves the remote side behaves as the library does.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import STORE_KINDS, RemoteStore

import keystone
from keystone import (
    ConditionalCheckFailed,
    ConditionCheck,
    Delete,
    GlobalIndex,
    LocalIndex,
    NotFound,
    Put,
    Schema,
    StreamConfig,
    TransactionCanceled,
    Update,
    ValidationError,
    sk,
)
from keystone.errors import IdempotentParameterMismatch

ORDERS = Schema(
    partition_key=("customer", "S"),
    sort_key=("placed", "N"),
    local_indexes=[LocalIndex("by_amount", ("amount", "N"), "KEYS_ONLY")],
    global_indexes=[GlobalIndex("by_status", ("status", "S"), ("placed", "N"), ["amount"])],
    ttl_attribute="expires",
    stream=StreamConfig("NEW_IMAGE", 50),
)
BLOBS = Schema(partition_key=("id", "B"), sort_key=None)


@pytest.fixture(params=STORE_KINDS)
def tdb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "local":
        database = keystone.Database.open(tmp_path / "tables.keystone")
        yield database
        database.close()
    else:
        remote: RemoteStore = request.getfixturevalue("remote_store")
        yield remote.fresh()


def _orders(tdb: Any) -> Any:
    orders = tdb.create_table("orders", ORDERS)
    for i, placed in enumerate([0, Decimal("10.5"), 20, Decimal("-3"), 1000000]):
        orders.put({"customer": "c1", "placed": placed, "amount": i, "status": "open"})
    return orders


class TestCatalog:
    def test_create_list_describe_delete(self, tdb: Any) -> None:
        assert tdb.tables() == ["default"]
        orders = tdb.create_table("orders", ORDERS)
        tdb.create_table("blobs", BLOBS)
        assert orders.name == "orders"
        assert tdb.tables() == ["blobs", "default", "orders"]
        d = tdb.describe_table("orders")
        assert d["TableName"] == "orders"
        assert d["KeySchema"] == [
            {"AttributeName": "customer", "KeyType": "HASH"},
            {"AttributeName": "placed", "KeyType": "RANGE"},
        ]
        assert {"AttributeName": "placed", "AttributeType": "N"} in d["AttributeDefinitions"]
        assert d["LocalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        assert d["GlobalSecondaryIndexes"][0]["Projection"] == {
            "ProjectionType": "INCLUDE",
            "NonKeyAttributes": ["amount"],
        }
        assert d["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        assert d["TimeToLiveDescription"]["AttributeName"] == "expires"
        assert d == tdb.describe_table("orders")
        tdb.delete_table("blobs")
        assert tdb.tables() == ["default", "orders"]

    def test_missing_tables_are_not_found(self, tdb: Any) -> None:
        with pytest.raises(NotFound, match="Table: nope not found"):
            tdb.table("nope")
        with pytest.raises(NotFound, match="Table: nope not found"):
            tdb.describe_table("nope")
        with pytest.raises(NotFound):
            tdb.delete_table("nope")

    def test_an_existing_table_is_refused(self, tdb: Any) -> None:
        tdb.create_table("orders", ORDERS)
        with pytest.raises(ValidationError, match="Table already exists: orders"):
            tdb.create_table("orders")
        assert tdb.tables() == ["default", "orders"]

    def test_bad_names_and_schemas_are_refused(self, tdb: Any) -> None:
        with pytest.raises(ValidationError, match="3-255 characters"):
            tdb.create_table("ab")
        with pytest.raises(ValidationError, match="index name 'ab'"):
            tdb.create_table("orders", Schema(global_indexes=[GlobalIndex("ab", "x")]))
        assert tdb.tables() == ["default"]

    def test_a_deleted_tables_handle_is_not_found(self, tdb: Any) -> None:
        orders = _orders(tdb)
        tdb.delete_table("orders")
        with pytest.raises(NotFound):
            orders.get("c1", 0)
        again = tdb.create_table("orders", ORDERS)
        assert again.scan().items == []

    def test_update_table_adds_and_drops_indexes_and_sets_the_stream(self, tdb: Any) -> None:
        orders = _orders(tdb)
        d = tdb.update_table(
            "orders",
            add_indexes=[GlobalIndex("by_amount_g", ("amount", "N"))],
            drop_indexes=["by_status"],
        )
        assert [g["IndexName"] for g in d["GlobalSecondaryIndexes"]] == ["by_amount_g"]
        assert [it["placed"] for it in orders.query(3, index="by_amount_g")] == [-3]
        d = tdb.update_table("orders", stream=None)
        assert "StreamSpecification" not in d or not d["StreamSpecification"]["StreamEnabled"]
        d = tdb.update_table("orders", stream=StreamConfig("KEYS_ONLY"))
        assert d["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"
        with pytest.raises(ValidationError, match="no index 'nope'"):
            tdb.update_table("orders", drop_indexes=["nope"])


class TestTypedKeys:
    def test_number_keys_in_numeric_order_and_continuation(self, tdb: Any) -> None:
        orders = _orders(tdb)
        assert orders.get("c1", Decimal("10.50"))["amount"] == 1
        assert orders.get("c1", 1e6)["amount"] == 4
        page = orders.query("c1", limit=2)
        assert [it["placed"] for it in page] == [-3, 0]
        assert page.last_key == {"customer": "c1", "placed": 0}
        rest = orders.query("c1", start=page.last_key)
        assert [it["placed"] for it in rest] == [Decimal("10.5"), 20, 1000000]
        assert [it["placed"] for it in orders.query("c1", sk.between(0, 20), reverse=True)] == [
            20,
            Decimal("10.5"),
            0,
        ]
        assert [it["placed"] for it in orders.query("open", index="by_status", limit=10)] == [
            -3,
            0,
            Decimal("10.5"),
            20,
            1000000,
        ]

    def test_update_and_delete_by_number_key(self, tdb: Any) -> None:
        orders = _orders(tdb)
        new = orders.update("c1", 20, "SET n = :n", values={":n": 1})
        assert new["n"] == 1 and new["placed"] == 20
        created = orders.update("c2", Decimal("0.5"), "SET n = :n", values={":n": 2})
        assert created == {"customer": "c2", "placed": Decimal("0.5"), "n": 2}
        assert orders.delete("c1", -3, returns="ALL_OLD")["amount"] == 3
        assert orders.get("c1", -3) is None

    def test_binary_keys(self, tdb: Any) -> None:
        blobs = tdb.create_table("blobs", BLOBS)
        blobs.put({"id": b"\xff\x00", "v": 1})
        assert blobs.get(b"\xff\x00") == {"id": b"\xff\x00", "v": 1}
        with pytest.raises(ValidationError, match="id"):
            blobs.put({"id": "text"})

    def test_wrong_key_types_are_refused_naming_the_attribute(self, tdb: Any) -> None:
        orders = tdb.create_table("orders", ORDERS)
        with pytest.raises(ValidationError, match="placed"):
            orders.put({"customer": "c1", "placed": "not a number"})
        assert orders.scan().items == []


class TestAcrossTables:
    def test_transactions_and_batches_span_tables(self, tdb: Any) -> None:
        orders = _orders(tdb)
        tdb.transact_write(
            [
                Put({"pk": "a", "sk": "b", "n": 1}),
                Update("c1", 0, "SET n = :n", table="orders"),
                ConditionCheck("c1", 20, "attribute_exists(customer)", table="orders"),
                Delete("c1", -3, table="orders"),
            ],
            values={":n": 5},
        )
        assert orders.get("c1", 0)["n"] == 5 and orders.get("c1", -3) is None
        got = tdb.batch_get(
            [("a", "b"), ("orders", ("c1", 0)), ("orders", {"customer": "c1", "placed": 20})]
        )
        assert [it.get("amount") for it in got] == [None, 0, 2]
        assert tdb.transact_get([("orders", ("c1", 99)), ("a", "b")]) == [
            None,
            {"pk": "a", "sk": "b", "n": 1},
        ]
        tdb.batch_write(
            puts=[Put({"customer": "c9", "placed": 1}, table="orders"), {"pk": "x", "sk": "y"}],
            deletes=[("orders", {"customer": "c1", "placed": 0}), Delete("c1", 20, table="orders")],
        )
        assert orders.get("c9", 1) == {"customer": "c9", "placed": 1}
        assert orders.get("c1", 0) is None and orders.get("c1", 20) is None
        assert tdb.get("x", "y") == {"pk": "x", "sk": "y"}

    def test_a_part_naming_a_missing_table_is_not_found_and_writes_nothing(self, tdb: Any) -> None:
        with pytest.raises(NotFound):
            tdb.transact_write([Put({"pk": "a", "sk": "b"}), Put({"pk": "a"}, table="nope")])
        assert tdb.get("a", "b") is None

    def test_partiql_from_a_table(self, tdb: Any) -> None:
        _orders(tdb)
        page = tdb.execute("SELECT amount FROM orders WHERE customer = 'c1' AND placed = 20")
        assert page.items == [{"amount": 2}]


class TestApiAdditions:
    def test_key_condition_and_count(self, tdb: Any) -> None:
        orders = _orders(tdb)
        page = orders.query(
            key_condition="customer = :c AND placed BETWEEN :a AND :b",
            values={":c": "c1", ":a": 0, ":b": 20},
        )
        assert [it["placed"] for it in page] == [0, Decimal("10.5"), 20]
        count = orders.query("c1", select="COUNT")
        assert count.items == [] and count.count == 5
        scanned = orders.scan(select="COUNT")
        assert scanned.items == [] and scanned.count == 5
        with pytest.raises(ValidationError):
            orders.query(key_condition="amount = :t", values={":t": 1})

    def test_the_old_item_comes_with_a_failed_condition(self, tdb: Any) -> None:
        orders = _orders(tdb)
        with pytest.raises(ConditionalCheckFailed) as failed:
            orders.put(
                {"customer": "c1", "placed": 0},
                condition="attribute_not_exists(customer)",
                return_values_on_condition_check_failure="ALL_OLD",
            )
        assert failed.value.item is not None and failed.value.item["amount"] == 0
        with pytest.raises(ConditionalCheckFailed) as failed:
            orders.delete("c1", 0, condition="amount = :t", values={":t": 9})
        assert failed.value.item is None
        with pytest.raises(ConditionalCheckFailed) as failed:
            orders.update(
                "c1",
                20,
                "SET n = :t",
                condition="amount = :t",
                values={":t": 9},
                return_values_on_condition_check_failure="ALL_OLD",
            )
        assert failed.value.item is not None and failed.value.item["placed"] == 20

    def test_cancelled_parts_carry_their_items_when_asked(self, tdb: Any) -> None:
        _orders(tdb)
        with pytest.raises(TransactionCanceled) as cancelled:
            tdb.transact_write(
                [
                    Put({"pk": "a", "sk": "b"}),
                    ConditionCheck(
                        "c1",
                        0,
                        "attribute_not_exists(customer)",
                        table="orders",
                        return_values_on_condition_check_failure="ALL_OLD",
                    ),
                ]
            )
        assert cancelled.value.reasons == [None, "ConditionalCheckFailed"]
        assert cancelled.value.items[0] is None
        assert cancelled.value.items[1] is not None and cancelled.value.items[1]["amount"] == 0

    def test_a_token_applies_once_and_refuses_other_parts(self, tdb: Any) -> None:
        parts = [Update("a", "b", "ADD n :one")]
        tdb.transact_write(parts, values={":one": 1}, token="token-1")
        tdb.transact_write(parts, values={":one": 1}, token="token-1")
        assert tdb.get("a", "b")["n"] == 1
        with pytest.raises(IdempotentParameterMismatch):
            tdb.transact_write(
                [Update("a", "c", "ADD n :one")], values={":one": 1}, token="token-1"
            )

    def test_batch_get_and_transact_get_take_a_projection(self, tdb: Any) -> None:
        _orders(tdb)
        tdb.put({"pk": "a", "sk": "b", "amount": 7, "x": 1})
        keys = [("a", "b"), ("orders", ("c1", 20))]
        assert tdb.batch_get(keys, projection="#t", names={"#t": "amount"}) == [
            {"amount": 7},
            {"amount": 2},
        ]
        assert tdb.transact_get(keys, projection="amount") == [{"amount": 7}, {"amount": 2}]
