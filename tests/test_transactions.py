"""``transact_get``, ``transact_write`` and ``with db.transaction()``:
one snapshot, all-or-nothing commits, per-part cancellation reasons."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import keystone
from keystone import (
    ConditionalCheckFailed,
    ConditionCheck,
    Delete,
    KeystoneError,
    Put,
    TransactionCanceled,
    Update,
    ValidationError,
)


def accounts(store: keystone.Store) -> None:
    store.batch_write(
        puts=[
            {"pk": "acct#a", "balance": 100, "status": "open"},
            {"pk": "acct#b", "balance": 5, "status": "open"},
            {"pk": "acct#c", "balance": 0, "status": "frozen"},
        ]
    )


def snapshot(store: keystone.Store) -> list[Any]:
    return list(store.scan_all())


class TestTransactGet:
    def test_items_in_request_order_with_none_for_missing(self, store):
        accounts(store)
        got = store.transact_get(["acct#c", ("nobody",), {"pk": "acct#a"}])
        assert got[0]["balance"] == 0
        assert got[1] is None
        assert got[2]["balance"] == 100

    def test_a_key_may_be_given_twice(self, store):
        accounts(store)
        got = store.transact_get([("acct#a",), {"pk": "acct#a"}, "acct#a"])
        assert got == [got[0]] * 3 and got[0]["pk"] == "acct#a"

    def test_with_sort_keys(self, store):
        store.put({"pk": "p", "sk": "1", "v": 1})
        assert store.transact_get([("p", "1"), ("p", "2"), ("p",)]) == [
            {"pk": "p", "sk": "1", "v": 1},
            None,
            None,
        ]

    def test_no_keys(self, store):
        assert store.transact_get([]) == []

    @pytest.mark.parametrize("keys", ["acct#a", {"pk": "acct#a"}, [{"pk": "a", "x": 1}], [("",)]])
    def test_bad_keys_are_refused(self, store, keys):
        with pytest.raises(ValidationError):
            store.transact_get(keys)

    def test_one_snapshot_while_another_thread_writes(self, store):
        """A writer moves money between two accounts; every read sees the same total."""
        store.batch_write(puts=[{"pk": "x", "n": 50}, {"pk": "y", "n": 50}])
        stop = threading.Event()
        errors: list[BaseException] = []

        def writer() -> None:
            source, dest = "x", "y"
            try:
                while not stop.is_set():
                    try:
                        store.transact_write(
                            [
                                Update(source, update="ADD n :minus", condition="n >= :one"),
                                Update(dest, update="ADD n :one"),
                            ],
                            values={":minus": -1, ":one": 1},
                        )
                    except TransactionCanceled:
                        source, dest = dest, source  # ran dry: move the money back
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        t = threading.Thread(target=writer)
        t.start()
        seen: set[int] = set()
        deadline = time.monotonic() + 10
        try:
            while len(seen) < 20 and time.monotonic() < deadline:
                x, y = store.transact_get(["x", "y"])
                assert x["n"] + y["n"] == 100
                seen.add(x["n"])
        finally:
            stop.set()
            t.join(timeout=60)
        assert errors == []
        assert len(seen) > 1  # the reads did overlap the writes


class TestTransactWrite:
    def test_every_kind_of_part_in_one_commit(self, store):
        accounts(store)
        store.put({"pk": "bank", "status": "open"})
        store.transact_write(
            [
                Update(
                    "acct#a", update="SET balance = balance - :amt", condition="balance >= :amt"
                ),
                Update("acct#b", update="SET balance = balance + :amt"),
                Put({"pk": "log#1", "amount": 30}, condition="attribute_not_exists(pk)"),
                Delete("acct#c", condition="#s = :frozen"),
                ConditionCheck("bank", condition="#s = :open"),
            ],
            names={"#s": "status"},
            values={":amt": 30, ":frozen": "frozen", ":open": "open"},
        )
        assert store.get("acct#a")["balance"] == 70
        assert store.get("acct#b")["balance"] == 35
        assert store.get("log#1") == {"pk": "log#1", "amount": 30}
        assert store.get("acct#c") is None

    def test_parts_without_conditions(self, store):
        store.transact_write(
            [Put({"pk": "a", "sk": "1"}), Update("b", "2", update="SET n = :n"), Delete("c")],
            values={":n": 1},
        )
        assert store.batch_get([("a", "1"), ("b", "2")]) == [
            {"pk": "a", "sk": "1"},
            {"pk": "b", "sk": "2", "n": 1},
        ]

    def test_an_update_part_creates_a_missing_item(self, store):
        store.transact_write([Update("new", update="ADD n :one")], values={":one": 1})
        assert store.get("new") == {"pk": "new", "n": 1}

    def test_a_remove_only_update_part_of_a_missing_item_creates_the_key_only_item(self, store):
        store.transact_write([Update("ghost", update="REMOVE a"), Put({"pk": "other"})])
        assert store.get("ghost") == {"pk": "ghost"}
        assert store.get("other") == {"pk": "other"}

    def test_a_delete_part_of_a_missing_item_is_fine(self, store):
        store.transact_write([Delete("ghost"), Put({"pk": "other"})])
        assert store.get("other") == {"pk": "other"}

    def test_parts_may_come_from_a_generator(self, store):
        store.transact_write(Put({"pk": f"g{i}"}) for i in range(3))
        assert len(store.batch_get(["g0", "g1", "g2"])) == 3

    def test_no_parts_is_a_no_op(self, store):
        store.transact_write([])
        assert store.scan().count == 0


class TestCancellation:
    @pytest.mark.parametrize("failing", range(5))
    def test_one_failing_condition_writes_nothing_and_names_the_part(self, store, failing):
        accounts(store)
        conditions = [
            "balance >= :one",
            "balance >= :one",
            "attribute_not_exists(pk)",
            "attribute_exists(pk)",
            "balance >= :one",
        ]
        conditions[failing] = "balance > :lots"
        parts = [
            Update("acct#a", update="SET balance = balance - :one", condition=conditions[0]),
            Update("acct#b", update="ADD balance :one", condition=conditions[1]),
            Put({"pk": "log#1"}, condition=conditions[2]),
            Delete("acct#c", condition=conditions[3]),
            ConditionCheck("audit", condition=conditions[4]),
        ]
        store.put({"pk": "audit", "balance": 1})
        before = snapshot(store)
        with pytest.raises(TransactionCanceled) as info:
            store.transact_write(parts, values={":one": 1, ":lots": 10**6})
        expected: list[str | None] = [None] * 5
        expected[failing] = "ConditionalCheckFailed"
        assert info.value.reasons == expected
        assert snapshot(store) == before

    def test_every_failing_part_is_reported(self, store):
        accounts(store)
        before = snapshot(store)
        with pytest.raises(TransactionCanceled) as info:
            store.transact_write(
                [
                    ConditionCheck("acct#a", condition="attribute_not_exists(pk)"),
                    Put({"pk": "new"}),
                    Update("acct#b", update="SET balance = balance + :s"),
                    ConditionCheck("nobody", condition="attribute_exists(pk)"),
                ],
                values={":s": "not a number"},
            )
        assert info.value.reasons == [
            "ConditionalCheckFailed",
            None,
            "ValidationError",
            "ConditionalCheckFailed",
        ]
        assert "ConditionalCheckFailed" in str(info.value)
        assert snapshot(store) == before

    @pytest.mark.parametrize(
        ("update", "values"),
        [
            ("ADD balance :n", {":n": {"x"}}),
            ("SET big = :b", {":b": "x" * keystone.MAX_ITEM_BYTES}),
            ("SET tags = list_append(tags, :l)", {":l": [1]}),
            ("SET nowhere.deep = :n", {":n": 1}),
        ],
    )
    def test_a_part_whose_result_is_invalid_is_a_validation_error_reason(
        self, store, update, values
    ):
        accounts(store)
        before = snapshot(store)
        with pytest.raises(TransactionCanceled) as info:
            store.transact_write(
                [Put({"pk": "new"}), Update("acct#a", update=update)], values=values
            )
        assert info.value.reasons == [None, "ValidationError"]
        assert snapshot(store) == before

    def test_transaction_canceled_is_a_keystone_error(self, store):
        with pytest.raises(KeystoneError):
            store.transact_write([ConditionCheck("x", condition="attribute_exists(pk)")])


class TestRequestErrors:
    """Errors in the request itself raise ValidationError before anything is read."""

    @pytest.mark.parametrize(
        "parts",
        [
            [Put({"pk": "a"}), Delete("a")],
            [Update("a", "1", update="REMOVE x"), ConditionCheck("a", "1", condition="x = :v")],
            [Put({"pk": "a", "sk": "1"}), Put({"pk": b"a", "sk": b"1"})],
        ],
    )
    def test_two_parts_on_one_key(self, store, parts):
        with pytest.raises(
            ValidationError,
            match="Transaction request cannot include multiple operations on one item",
        ):
            store.transact_write(parts, values={":v": 1})
        assert store.scan().count == 0

    @pytest.mark.parametrize(
        ("parts", "names", "values", "match"),
        [
            ([Put({"pk": "a"}, condition="x = :v")], None, None, ":v"),
            ([Put({"pk": "a"})], None, {":unused": 1}, ":unused"),
            ([Put({"pk": "a"})], {"#unused": "x"}, None, "#unused"),
            ([Update("a", update="")], None, None, "part 0.*The expression can not be empty"),
            ([Put({"pk": "b"}), Update("a", update="SET pk = :v")], None, {":v": 1}, "part 1.*key"),
            ([ConditionCheck("a", condition="")], None, None, "condition"),
            ([Put({"pk": "a"}), "not a part"], None, None, "part 1.*Put, Update"),
            ([Put({"sk": "x"})], None, None, "partition key"),
            ([Put({"pk": "a", "n": float("inf")})], None, None, "part 0"),
            ([Delete("a", condition="x = = 1")], None, None, "part 0"),
        ],
    )
    def test_invalid_requests(self, store, parts, names, values, match):
        store.put({"pk": "keep"})
        with pytest.raises(ValidationError, match=match):
            store.transact_write(parts, names=names, values=values)
        assert snapshot(store) == [{"pk": "keep"}]

    def test_a_placeholder_used_by_one_part_only_is_fine(self, store):
        store.transact_write(
            [Put({"pk": "a"}), Update("b", update="SET #x = :v")],
            names={"#x": "x"},
            values={":v": 1},
        )
        assert store.get("b") == {"pk": "b", "x": 1}

    def test_a_lone_part_is_refused(self, store):
        with pytest.raises(ValidationError, match="list of parts"):
            store.transact_write(Put({"pk": "a"}))  # type: ignore[arg-type]
        assert store.get("a") is None


class TestTransactWriteLocal:
    """Commit-time failures and stream records: local schema features."""

    def test_an_index_entry_too_long_is_a_validation_error_reason(self, tmp_path: Path):
        schema = keystone.Schema(global_indexes=[keystone.GlobalIndex("by_g", "g")])
        with keystone.Database.open(tmp_path / "i.keystone", schema=schema) as db:
            with pytest.raises(TransactionCanceled) as info:
                db.transact_write(
                    [Put({"pk": "ok", "g": "x"}), Put({"pk": "p" * 40, "sk": "s", "g": "g" * 490})]
                )
            assert info.value.reasons == [None, "ValidationError"]
            assert db.get("ok") is None
            assert db.query("x", index="by_g").count == 0

    def test_stream_records_only_for_committed_changes(self, tmp_path: Path):
        schema = keystone.Schema(stream=keystone.StreamConfig())
        with keystone.Database.open(tmp_path / "s.keystone", schema=schema) as db:
            db.put({"pk": "a", "n": 1})
            first = db.stream()[-1].sequence
            with pytest.raises(TransactionCanceled):
                db.transact_write(
                    [Put({"pk": "b"}), ConditionCheck("a", condition="n = :two")],
                    values={":two": 2},
                )
            assert db.stream(after=first) == []
            db.transact_write(
                [
                    Put({"pk": "b"}),
                    Update("a", update="ADD n :one"),
                    Update("ghost", update="REMOVE x"),
                    Delete("nobody"),
                ],
                values={":one": 1},
            )
            assert [(r.event, r.keys) for r in db.stream(after=first)] == [
                ("INSERT", {"pk": "b"}),
                ("MODIFY", {"pk": "a"}),
                ("INSERT", {"pk": "ghost"}),
            ]


class TestTransactionBlock:
    """``with db.transaction() as tx`` (local only: it holds the writer lock)."""

    def test_read_modify_write_commits_at_the_end(self, db):
        accounts(db)
        with db.transaction() as tx:
            a = tx.get("acct#a")
            b = tx.get("acct#b")
            tx.put({**a, "balance": a["balance"] - 10})
            tx.put({**b, "balance": b["balance"] + 10})
            tx.delete("acct#c")
            assert db.get("acct#a")["balance"] == 100  # others see nothing yet
        assert [i["balance"] for i in db.batch_get(["acct#a", "acct#b"])] == [90, 15]
        assert db.get("acct#c") is None

    def test_reads_see_the_transactions_own_writes(self, db):
        with db.transaction() as tx:
            assert tx.get("k") is None
            tx.put({"pk": "k", "n": 1})
            assert tx.get("k") == {"pk": "k", "n": 1}
            assert tx.update("k", update="ADD n :one", values={":one": 1}) == {"pk": "k", "n": 2}
            assert tx.get("k")["n"] == 2
            tx.delete("k")
            assert tx.get("k") is None
            tx.put({"pk": "k", "sk": "s"})
        assert db.get("k") is None
        assert db.get("k", "s") == {"pk": "k", "sk": "s"}

    def test_an_exception_rolls_everything_back(self, db):
        accounts(db)
        before = snapshot(db)
        with pytest.raises(RuntimeError, match="boom"), db.transaction() as tx:
            tx.put({"pk": "new"})
            tx.update("acct#a", update="SET balance = :z", values={":z": 0})
            tx.delete("acct#b")
            raise RuntimeError("boom")
        assert snapshot(db) == before

    def test_a_failed_condition_raises_and_the_block_decides(self, db):
        accounts(db)
        with db.transaction() as tx:
            tx.put({"pk": "log", "n": 1})
            with pytest.raises(ConditionalCheckFailed):
                tx.update(
                    "acct#b",
                    update="ADD balance :m",
                    condition="balance >= :n",
                    values={":m": -50, ":n": 50},
                )
            with pytest.raises(ConditionalCheckFailed):
                tx.put({"pk": "acct#a"}, condition="attribute_not_exists(pk)")
            with pytest.raises(ConditionalCheckFailed):
                tx.delete("acct#c", condition="balance > :z", values={":z": 0})
        assert db.get("log") == {"pk": "log", "n": 1}  # the block caught them: it commits
        assert db.get("acct#b")["balance"] == 5
        assert db.get("acct#c") is not None

    def test_a_failed_condition_left_unhandled_rolls_back(self, db):
        with pytest.raises(ConditionalCheckFailed), db.transaction() as tx:
            tx.put({"pk": "first"})
            tx.delete("nobody", condition="attribute_exists(pk)")
        assert db.get("first") is None

    def test_invalid_input_inside_raises_validation_error(self, db):
        with db.transaction() as tx:
            with pytest.raises(ValidationError):
                tx.put({"no": "key"})
            with pytest.raises(ValidationError):
                tx.update("k", update="SET pk = :v", values={":v": "x"})
            tx.put({"pk": "fine"})
        assert db.get("fine") == {"pk": "fine"}

    def test_a_remove_only_update_of_a_missing_item_creates_the_key_only_item(self, db):
        with db.transaction() as tx:
            assert tx.update("ghost", update="REMOVE a") == {"pk": "ghost"}
        assert db.get("ghost") == {"pk": "ghost"}

    def test_the_handle_is_dead_after_the_block(self, db):
        with db.transaction() as tx:
            pass
        with pytest.raises(KeystoneError, match="over"):
            tx.get("a")
        with pytest.raises(KeystoneError, match="over"):
            tx.put({"pk": "a"})
        assert db.get("a") is None

    def test_the_handle_belongs_to_its_thread(self, db):
        errors: list[BaseException] = []
        with db.transaction() as tx:
            t = threading.Thread(target=lambda: _catch(errors, lambda: tx.put({"pk": "x"})))
            t.start()
            t.join(10)
            tx.put({"pk": "mine"})
        assert [type(e) for e in errors] == [KeystoneError]
        assert "thread" in str(errors[0])
        assert db.get("x") is None
        assert db.get("mine") == {"pk": "mine"}

    def test_it_holds_the_writer_lock_but_not_readers(self, db):
        db.put({"pk": "r", "v": 0})
        entered = threading.Event()
        release = threading.Event()
        writer_done = threading.Event()

        def hold() -> None:
            with db.transaction() as tx:
                tx.put({"pk": "r", "v": 1})
                entered.set()
                release.wait(10)

        def other_writer() -> None:
            db.put({"pk": "w"})
            writer_done.set()

        holder = threading.Thread(target=hold)
        holder.start()
        assert entered.wait(10)
        writer = threading.Thread(target=other_writer)
        writer.start()
        time.sleep(0.2)
        assert not writer_done.is_set()  # writers wait for the transaction
        assert db.get("r") == {"pk": "r", "v": 0}  # readers do not, and see the old state
        release.set()
        holder.join(10)
        writer.join(10)
        assert writer_done.is_set()
        assert db.get("r") == {"pk": "r", "v": 1}

    def test_concurrent_read_modify_write_loses_no_update(self, db):
        def work() -> None:
            for _ in range(100):
                with db.transaction() as tx:
                    item = tx.get("counter") or {"pk": "counter", "n": 0}
                    tx.put({**item, "n": item["n"] + 1})

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert db.get("counter") == {"pk": "counter", "n": 800}

    def test_a_database_write_inside_the_block_is_a_clear_error(self, db):
        with pytest.raises(KeystoneError, match="tx"), db.transaction():
            db.put({"pk": "a"})
        assert db.get("a") is None


def _catch(errors: list[BaseException], fn: Any) -> None:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - the caller asserts on it
        errors.append(exc)
