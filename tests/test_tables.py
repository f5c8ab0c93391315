"""SPEC section 1 "Tables": many tables in one file, each a full ``keystone.Store``."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import pytest

import keystone
from keystone import (
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
)

ORDERS = Schema(
    partition_key=("customer", "S"),
    sort_key=("placed", "N"),
    local_indexes=[LocalIndex("by_total", ("total", "N"))],
    global_indexes=[GlobalIndex("by_status", ("status", "S"), ("placed", "N"))],
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tables.keystone"


@pytest.fixture
def db(path: Path):
    database = keystone.Database.open(path)
    yield database
    database.close()


def wait_for_deletions(db: keystone.Database) -> None:
    for _ in range(400):  # bounded: 20 s at most
        if db.stats()["tables_being_deleted"] == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the deleted tables' keys were not removed")


class TestCatalog:
    def test_a_new_file_has_only_the_default_table(self, db):
        assert db.tables() == ["default"]
        assert db.name == "default"
        assert db.table("default") is db

    def test_created_tables_are_listed_sorted_and_survive_reopening(self, path, db):
        db.create_table("orders", ORDERS)
        db.create_table("customers", Schema(partition_key=("id", "S"), sort_key=None))
        assert db.tables() == ["customers", "default", "orders"]
        db.close()
        with keystone.Database.open(path) as again:
            assert again.tables() == ["customers", "default", "orders"]
            assert again.table("orders").schema == ORDERS

    def test_a_missing_table_is_not_found(self, db):
        with pytest.raises(NotFound, match="Table: nope not found"):
            db.table("nope")
        with pytest.raises(NotFound):
            db.describe_table("nope")
        with pytest.raises(NotFound):
            db.delete_table("nope")

    def test_creating_an_existing_table_is_refused(self, db):
        db.create_table("orders", ORDERS)
        with pytest.raises(ValidationError, match="Table already exists: orders"):
            db.create_table("orders", ORDERS)
        with pytest.raises(ValidationError, match="Table already exists: default"):
            db.create_table("default")

    @pytest.mark.parametrize("name", ["ab", "x" * 256, "with space", "ünï", "a/b", "", 7])
    def test_table_names_follow_dynamodb_rules(self, db, name):
        with pytest.raises(ValidationError, match="3-255 characters"):
            db.create_table(name)
        assert db.tables() == ["default"]

    def test_names_of_three_and_255_characters_with_dots_dashes_underscores(self, db):
        db.create_table("a.b")
        db.create_table("A_b-" + "z" * 251)
        assert len(db.tables()) == 3

    def test_new_index_names_follow_dynamodb_rules(self, db):
        with pytest.raises(ValidationError, match="index name 'ab'"):
            db.create_table("orders", Schema(global_indexes=[GlobalIndex("ab", "x")]))

    def test_a_file_holds_at_least_256_tables(self, path, db):
        for i in range(300):
            t = db.create_table(f"table{i:03d}", Schema(partition_key=("id", "N"), sort_key=None))
            t.put({"id": i, "n": i})
        db.close()
        with keystone.Database.open(path) as again:
            assert len(again.tables()) == 301
            for i in (0, 150, 299):
                assert again.table(f"table{i:03d}").get(i) == {"id": i, "n": i}
                assert [it["id"] for it in again.table(f"table{i:03d}").scan_all()] == [i]

    def test_a_table_made_by_another_database_object_is_found(self, path, db):
        other = keystone.Database.open(path)
        try:
            other.create_table("late").put({"pk": "a", "sk": "b"})
        finally:
            other.close()
        assert db.table("late").get("a", "b") == {"pk": "a", "sk": "b"}


class TestDescribe:
    def test_the_description_is_shaped_like_dynamodbs(self, db):
        orders = db.create_table(
            "orders",
            Schema(
                partition_key=("customer", "S"),
                sort_key=("placed", "N"),
                local_indexes=[LocalIndex("by_total", ("total", "N"), "KEYS_ONLY")],
                global_indexes=[GlobalIndex("by_status", ("status", "S"), projection=["total"])],
                ttl_attribute="expires",
                stream=StreamConfig("NEW_IMAGE"),
            ),
        )
        orders.put({"customer": "c", "placed": 1, "total": 5, "status": "open"})
        orders.put({"customer": "c", "placed": 2})
        d = db.describe_table("orders")
        assert d["TableName"] == "orders" and d["TableStatus"] == "ACTIVE"
        assert d["KeySchema"] == [
            {"AttributeName": "customer", "KeyType": "HASH"},
            {"AttributeName": "placed", "KeyType": "RANGE"},
        ]
        assert {a["AttributeName"]: a["AttributeType"] for a in d["AttributeDefinitions"]} == {
            "customer": "S",
            "placed": "N",
            "total": "N",
            "status": "S",
        }
        assert d["ItemCount"] == 2
        assert isinstance(d["CreationDateTime"], dt.datetime)
        (lsi,) = d["LocalSecondaryIndexes"]
        assert lsi["IndexName"] == "by_total" and lsi["ItemCount"] == 1
        assert lsi["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        (gsi,) = d["GlobalSecondaryIndexes"]
        assert gsi["KeySchema"] == [{"AttributeName": "status", "KeyType": "HASH"}]
        assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]}
        assert gsi["IndexStatus"] == "ACTIVE"
        assert d["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        assert d["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expires",
        }
        assert orders.describe() == d

    def test_the_default_tables_untyped_keys_are_described_as_strings(self, db):
        d = db.describe_table("default")
        assert d["KeySchema"][0] == {"AttributeName": "pk", "KeyType": "HASH"}
        assert d["AttributeDefinitions"] == [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ]
        assert "GlobalSecondaryIndexes" not in d and "StreamSpecification" not in d


class TestATableIsAStore:
    def test_a_table_satisfies_the_store_protocol(self, db):
        orders = db.create_table("orders", ORDERS)
        assert isinstance(orders, keystone.Store)
        assert isinstance(orders, keystone.Table)
        assert isinstance(db, keystone.Table)

    def test_every_operation_acts_on_its_own_table(self, db):
        orders = db.create_table("orders", ORDERS)
        db.put({"pk": "c1", "sk": "x", "where": "default"})
        orders.put({"customer": "c1", "placed": 1, "total": 10, "status": "open"})
        orders.put({"customer": "c1", "placed": 2, "total": 5, "status": "shipped"})
        orders.update(
            "c1", 2, update="SET #t = #t + :one", names={"#t": "total"}, values={":one": 1}
        )
        assert orders.get("c1", 2)["total"] == 6
        assert [i["placed"] for i in orders.query("c1")] == [1, 2]
        assert [i["placed"] for i in orders.query_all("c1", reverse=True)] == [2, 1]
        assert [i["placed"] for i in orders.query("c1", index="by_total")] == [2, 1]
        assert [i["placed"] for i in orders.query("open", index="by_status")] == [1]
        assert orders.scan().count == 2 and len(list(orders.scan_all())) == 2
        assert [i["placed"] for i in orders.scan(index="by_status").items] != []
        assert orders.batch_get([("c1", 1), {"customer": "c1", "placed": 2}])[0]["placed"] == 1
        assert orders.transact_get([("c1", 9), ("c1", 1)])[0] is None
        orders.delete("c1", 1)
        assert orders.get("c1", 1) is None
        # The default table never saw any of it.
        assert list(db.scan_all()) == [{"pk": "c1", "sk": "x", "where": "default"}]
        assert db.stats()["items"] == 1 and orders.stats()["items"] == 1
        assert orders.stats()["indexes"] == {"by_total": 1, "by_status": 1}

    def test_scan_segments_of_a_table_cover_only_it(self, db):
        other = db.create_table("other", Schema(partition_key=("id", "N"), sort_key=None))
        for i in range(50):
            other.put({"id": i})
            db.put({"pk": f"d{i}"})
        seen = [it["id"] for s in range(4) for it in other.scan_all(segment=s, total_segments=4)]
        assert sorted(seen) == list(range(50))

    def test_a_transaction_block_on_a_table(self, db):
        orders = db.create_table("orders", ORDERS)
        with orders.transaction() as tx:
            tx.put({"customer": "c", "placed": 1})
            tx.put({"pk": "in-default"}, table="default")
            assert tx.get("c", 1) == {"customer": "c", "placed": 1}
        assert db.get("in-default") == {"pk": "in-default"}

    def test_the_stream_and_ttl_are_per_table(self, db):
        logged = db.create_table(
            "logged",
            Schema(ttl_attribute="expires", stream=StreamConfig("KEYS_ONLY")),
        )
        quiet = db.create_table("quiet", Schema(stream=StreamConfig("NEW_IMAGE")))
        logged.put({"pk": "a", "sk": "1"})
        logged.put({"pk": "gone", "sk": "1", "expires": 1})  # already expired
        quiet.put({"pk": "q", "sk": "1"})
        assert [r.keys for r in logged.stream()] == [
            {"pk": "a", "sk": "1"},
            {"pk": "gone", "sk": "1"},
        ]
        assert [r.sequence for r in quiet.stream()] == [1]
        assert logged.get("gone", "1") is None
        with pytest.raises(ValidationError, match="no stream"):
            db.stream()

    def test_expired_items_of_a_table_are_swept(self, path):
        with keystone.Database.open(path, sweep_interval=0.05) as db:
            t = db.create_table("ttl_table", Schema(ttl_attribute="exp", stream=StreamConfig()))
            t.put({"pk": "old", "sk": "1", "exp": 1})
            for _ in range(200):  # bounded
                if t.stats()["items"] == 0:
                    break
                time.sleep(0.05)
            assert t.stats()["items"] == 0
            assert [(r.event, r.by_ttl) for r in t.stream()][-1] == ("REMOVE", True)


class TestPartiQL:
    def test_from_names_a_table_of_the_file(self, db):
        orders = db.create_table("orders", ORDERS)
        db.execute("INSERT INTO orders VALUE {'customer': 'c', 'placed': 3, 'total': 1}")
        db.execute("INSERT INTO t VALUE {'pk': 'p', 'sk': 's'}")
        assert orders.get("c", 3)["total"] == 1
        assert db.get("p", "s") == {"pk": "p", "sk": "s"}
        page = db.execute('SELECT * FROM "orders" WHERE customer = ? AND placed > ?', ["c", 2])
        assert [i["placed"] for i in page] == [3]
        db.execute("UPDATE orders SET total = 9 WHERE customer = 'c' AND placed = 3")
        assert orders.execute("SELECT total FROM orders WHERE customer = 'c'").items == [
            {"total": 9}
        ]
        db.execute("DELETE FROM orders WHERE customer = 'c' AND placed = 3")
        assert orders.get("c", 3) is None

    def test_an_unknown_name_means_the_table_called_on_as_in_one_table_releases(self, db):
        db.put({"pk": "p", "sk": "s"})
        assert db.execute("SELECT * FROM anything WHERE pk = 'p'").count == 1


class TestUpdateTable:
    def test_added_indexes_are_built_from_the_items(self, db):
        orders = db.create_table("orders", ORDERS)
        for i in range(5):
            orders.put({"customer": "c", "placed": i, "region": "eu" if i % 2 else "us"})
        d = db.update_table("orders", add_indexes=[GlobalIndex("by_region", ("region", "S"))])
        assert [g["IndexName"] for g in d["GlobalSecondaryIndexes"]] == ["by_status", "by_region"]
        assert sorted(i["placed"] for i in orders.query("eu", index="by_region")) == [1, 3]
        orders.put({"customer": "c", "placed": 9, "region": "eu"})  # maintained from now on
        assert len(orders.query("eu", index="by_region").items) == 3

    def test_added_indexes_on_the_default_table(self, path, db):
        db.put({"pk": "a", "sk": "1", "g": "x"})
        db.update_table("default", add_indexes=[GlobalIndex("by_g", "g")])
        assert [i["pk"] for i in db.query("x", index="by_g")] == ["a"]
        db.close()
        with keystone.Database.open(path) as again:
            assert [i.name for i in again.schema.indexes] == ["by_g"]

    def test_dropped_indexes_are_gone_and_their_entries_deleted(self, db):
        orders = db.create_table("orders", ORDERS)
        orders.put({"customer": "c", "placed": 1, "status": "open", "total": 1})
        db.update_table("orders", drop_indexes=["by_status"])
        with pytest.raises(ValidationError, match="does not exist"):
            orders.query("open", index="by_status")
        wait_for_deletions(db)
        # The same name can be defined again, and starts from the items.
        db.update_table("orders", add_indexes=[GlobalIndex("by_status", ("status", "S"))])
        assert len(orders.query("open", index="by_status").items) == 1

    def test_dropping_an_unknown_index_changes_nothing(self, db):
        db.create_table("orders", ORDERS)
        with pytest.raises(ValidationError, match="no index 'nope'"):
            db.update_table("orders", drop_indexes=["by_total", "nope"])
        assert db.table("orders").schema == ORDERS

    def test_an_index_that_items_do_not_fit_is_refused_and_nothing_changes(self, db):
        orders = db.create_table("orders", ORDERS)
        orders.put({"customer": "c", "placed": 1, "region": 5})
        with pytest.raises(ValidationError, match="Type mismatch for Index Key region"):
            db.update_table("orders", add_indexes=[GlobalIndex("by_region", ("region", "S"))])
        assert [i.name for i in orders.schema.indexes] == ["by_total", "by_status"]
        orders.put({"customer": "c", "placed": 2, "region": 6})  # still accepted

    def test_the_stream_can_be_turned_on_and_off(self, db):
        orders = db.create_table("orders", ORDERS)
        orders.put({"customer": "c", "placed": 1})
        db.update_table("orders", stream=StreamConfig("KEYS_ONLY"))
        orders.put({"customer": "c", "placed": 2})
        assert [r.keys["placed"] for r in orders.stream()] == [2]
        d = db.update_table("orders", stream=None)
        assert "StreamSpecification" not in d
        orders.put({"customer": "c", "placed": 3})
        with pytest.raises(ValidationError, match="no stream"):
            orders.stream()


class TestDeleteTable:
    def test_a_deleted_table_is_gone_and_its_handles_raise(self, path, db):
        orders = db.create_table("orders", ORDERS)
        orders.put({"customer": "c", "placed": 1})
        db.delete_table("orders")
        assert db.tables() == ["default"]
        with pytest.raises(NotFound):
            orders.get("c", 1)
        with pytest.raises(NotFound):
            orders.put({"customer": "c", "placed": 2})
        with pytest.raises(NotFound):
            db.table("orders")

    def test_a_table_recreated_under_the_same_name_starts_empty(self, db):
        old = db.create_table("orders", ORDERS)
        for i in range(10):
            old.put({"customer": "c", "placed": i, "status": "open"})
        db.delete_table("orders")
        new = db.create_table("orders", ORDERS)
        assert new.scan().count == 0
        assert new.query("open", index="by_status").count == 0
        wait_for_deletions(db)
        assert new.scan().count == 0

    def test_the_default_table_cannot_be_deleted(self, db):
        with pytest.raises(ValidationError, match="default table cannot be deleted"):
            db.delete_table("default")

    def test_deleting_a_large_table_frees_its_pages_for_reuse(self, path):
        with keystone.Database.open(path, durability="async") as db:
            big = db.create_table("big", Schema(global_indexes=[GlobalIndex("by_g", "g")]))
            for start in range(0, 20_000, 1000):
                big.batch_write(
                    puts=[
                        {"pk": f"p{i}", "sk": "s", "g": f"g{i % 7}"}
                        for i in range(start, start + 1000)
                    ]
                )
            db.sync()
            full = path.stat().st_size
            db.delete_table("big")
            wait_for_deletions(db)
            again = db.create_table("again", Schema(global_indexes=[GlobalIndex("by_g", "g")]))
            for start in range(0, 20_000, 1000):
                again.batch_write(
                    puts=[
                        {"pk": f"p{i}", "sk": "s", "g": f"g{i % 7}"}
                        for i in range(start, start + 1000)
                    ]
                )
            db.sync()
            # The second table reused the first one's pages: the file did not grow by its size.
            assert path.stat().st_size < full * 1.5
            assert again.scan().scanned_count > 0

    def test_deleted_keys_are_removed_after_a_reopen_too(self, path):
        with keystone.Database.open(path, durability="async", sweep_interval=3600) as db:
            t = db.create_table("gone", Schema())
            t.batch_write(puts=[{"pk": f"p{i}", "sk": "s"} for i in range(5000)])
            db.delete_table("gone")
        with keystone.Database.open(path, durability="async") as db:
            wait_for_deletions(db)
            assert db.stats()["tables_being_deleted"] == 0


class TestAcrossTables:
    @pytest.fixture
    def two(self, db):
        orders = db.create_table("orders", ORDERS)
        stock = db.create_table("stock", Schema(partition_key=("sku", "S"), sort_key=None))
        stock.put({"sku": "apple", "left": 3})
        return db, orders, stock

    def test_transact_write_commits_parts_in_several_tables_at_once(self, two):
        db, orders, stock = two
        db.transact_write(
            [
                Put({"customer": "c", "placed": 1, "sku": "apple"}, table="orders"),
                Update(
                    "apple",
                    update="SET #l = #l - :one",
                    condition="#l > :zero",
                    table="stock",
                ),
                Put({"pk": "audit", "sk": "1"}),
            ],
            names={"#l": "left"},
            values={":one": 1, ":zero": 0},
        )
        assert orders.get("c", 1)["sku"] == "apple"
        assert stock.get("apple")["left"] == 2
        assert db.get("audit", "1") is not None

    def test_a_failed_part_cancels_all_with_one_reason_per_part(self, two):
        db, orders, stock = two
        with pytest.raises(TransactionCanceled) as caught:
            orders.transact_write(
                [
                    Put({"customer": "c", "placed": 1}),  # this table: orders
                    ConditionCheck("apple", condition="#l > :many", table="stock"),
                    Delete("nobody", "x", table="default"),
                ],
                names={"#l": "left"},
                values={":many": 10},
            )
        assert caught.value.reasons == [None, "ConditionalCheckFailed", None]
        assert orders.get("c", 1) is None

    def test_the_same_key_in_two_tables_is_not_a_duplicate(self, two):
        db, _, _ = two
        other = db.create_table("other")
        db.transact_write([Put({"pk": "k", "sk": "s"}), Put({"pk": "k", "sk": "s"}, table="other")])
        assert other.get("k", "s") == db.get("k", "s") == {"pk": "k", "sk": "s"}
        with pytest.raises(ValidationError, match="multiple operations on one item"):
            db.transact_write([Put({"pk": "k", "sk": "s"}), Delete("k", "s", table="default")])

    def test_batch_write_and_batch_get_span_tables(self, two):
        db, orders, stock = two
        db.batch_write(
            puts=[{"pk": "d", "sk": "1"}, Put({"customer": "c", "placed": 5}, table="orders")],
            deletes=[("stock", ("apple",)), Delete("none", "x")],
        )
        assert stock.get("apple") is None
        got = db.batch_get(
            [("d", "1"), ("orders", ("c", 5)), ("orders", {"customer": "c", "placed": 6})]
        )
        assert got == [{"pk": "d", "sk": "1"}, {"customer": "c", "placed": 5}]
        assert db.transact_get([("orders", ("c", 5)), ("d", "1")]) == [
            {"customer": "c", "placed": 5},
            {"pk": "d", "sk": "1"},
        ]

    def test_a_bad_part_in_one_table_writes_nothing_anywhere(self, two):
        db, orders, stock = two
        with pytest.raises(ValidationError, match=r"puts\[1\].*Type mismatch for key placed"):
            db.batch_write(
                puts=[{"pk": "d", "sk": "1"}, Put({"customer": "c", "placed": "x"}, table="orders")]
            )
        assert db.get("d", "1") is None

    def test_a_part_naming_a_missing_table_is_not_found(self, two):
        db, _, _ = two
        with pytest.raises(NotFound):
            db.transact_write([Put({"pk": "a"}, table="missing")])

    def test_batch_write_parts_take_no_conditions(self, two):
        db, _, _ = two
        with pytest.raises(ValidationError, match="no conditions"):
            db.batch_write(puts=[Put({"pk": "a"}, condition="attribute_exists(pk)")])


def test_number_keys_of_all_magnitudes_round_trip(db):
    t = db.create_table("nums", Schema(partition_key=("n", "N"), sort_key=None))
    values = [Decimal("-9.99E+125"), Decimal("1E-130"), 0, 2**100, Decimal("0.1")]
    for v in values:
        t.put({"n": v})
    for v in values:
        assert t.get(v) == {"n": v}
    assert t.get(Decimal("0.10")) == {"n": Decimal("0.1")}  # equal numbers are one key


class TestConcurrency:
    def test_threads_writing_different_tables_share_commits_safely(self, path):
        import threading

        with keystone.Database.open(path) as db:  # sync durability: group commit on
            tables = [db.create_table(f"t{i:02d}", Schema(("id", "N"), None)) for i in range(4)]
            errors: list[BaseException] = []

            def work(t: keystone.Table) -> None:
                try:
                    for n in range(50):
                        t.put({"id": n, "by": t.name})
                        db.transact_write([Put({"id": 1000 + n, "by": t.name}, table=t.name)])
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(t,)) for t in tables]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=120)
            assert errors == []
            for t in tables:
                items = list(t.scan_all())
                assert len(items) == 100 and {i["by"] for i in items} == {t.name}
            assert db.stats()["items"] == 0

    def test_a_table_deleted_through_another_database_object_refuses_writes(self, path, db):
        orders = db.create_table("orders", ORDERS)
        orders.put({"customer": "c", "placed": 1})
        other = keystone.Database.open(path)
        try:
            other.delete_table("orders")
        finally:
            other.close()
        with pytest.raises(NotFound, match="was deleted"):
            orders.put({"customer": "c", "placed": 2})
        with pytest.raises(NotFound, match="was deleted"):
            db.transact_write([Delete("c", 1, table="orders")])
        assert db.tables() == ["default"]

    def test_asking_again_for_a_table_deleted_elsewhere_is_not_found(self, path, db):
        db.create_table("orders", ORDERS)
        other = keystone.Database.open(path)
        try:
            other.delete_table("orders")
            other.create_table("orders", Schema())  # a new table under the old name
        finally:
            other.close()
        fresh = db.table("orders")
        assert fresh.schema == Schema()
        fresh.put({"pk": "a", "sk": "b"})
        assert fresh.get("a", "b") == {"pk": "a", "sk": "b"}
