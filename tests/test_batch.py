"""``batch_get`` and ``batch_write``: any number of keys, duplicates refused,
one atomic commit for all the writes of a batch."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

import keystone
from keystone import ValidationError


def seed(store: keystone.Store, n: int = 5) -> None:
    store.batch_write(puts=[{"pk": "p", "sk": f"{i}", "v": i} for i in range(n)])


class TestBatchGet:
    def test_items_come_back_in_request_order(self, store):
        seed(store)
        got = store.batch_get([("p", "3"), ("p", "0"), ("p", "4")])
        assert [i["v"] for i in got] == [3, 0, 4]

    def test_missing_keys_are_left_out(self, store):
        seed(store)
        got = store.batch_get([("p", "1"), ("p", "nope"), ("q", "1"), ("p", "2")])
        assert [i["v"] for i in got] == [1, 2]

    def test_keys_as_tuples_key_dicts_and_bare_partition_keys(self, store):
        store.put({"pk": "solo", "v": "no sort key"})
        store.put({"pk": "p", "sk": "s", "v": "with sort key"})
        got = store.batch_get(["solo", ("p", "s")])
        assert [i["v"] for i in got] == ["no sort key", "with sort key"]
        got = store.batch_get([{"pk": "p", "sk": "s"}, ("solo",)])
        assert [i["v"] for i in got] == ["with sort key", "no sort key"]

    def test_any_number_of_keys(self, store):
        store.batch_write(puts=[{"pk": f"u{i}", "n": i} for i in range(500)])
        got = store.batch_get([(f"u{i}",) for i in range(499, -1, -1)] + [("u-missing",)])
        assert [i["n"] for i in got] == list(range(499, -1, -1))

    def test_no_keys_gives_no_items(self, store):
        assert store.batch_get([]) == []

    @pytest.mark.parametrize(
        "keys",
        [
            [("p", "1"), ("p", "1")],
            [("p", "1"), {"pk": "p", "sk": "1"}],
            [("p", "1"), (b"p", b"1")],  # str keys are their UTF-8 bytes
            ["p", ("p",)],
        ],
    )
    def test_a_key_given_twice_is_refused(self, store, keys):
        with pytest.raises(ValidationError, match="twice"):
            store.batch_get(keys)

    @pytest.mark.parametrize(
        ("keys", "match"),
        [
            ("p", "list"),
            ({"pk": "p"}, "list"),
            ([{"pk": "p", "other": 1}], "not key attributes"),
            ([{"sk": "s"}], "partition key"),
            ([("p", "s", "x")], r"\(pk, sk\)"),
            ([("",)], "empty"),
            ([(1, "s")], ""),
        ],
    )
    def test_bad_keys_are_refused(self, store, keys, match):
        with pytest.raises(ValidationError, match=match or None):
            store.batch_get(keys)

    def test_items_from_one_snapshot(self, store):
        store.batch_write(puts=[{"pk": "p", "sk": s, "v": 0} for s in ("0", "1")])
        stop = threading.Event()

        def writer() -> None:
            gen = 0
            while not stop.is_set():
                gen += 1
                store.batch_write(puts=[{"pk": "p", "sk": s, "v": gen} for s in ("0", "1")])

        t = threading.Thread(target=writer)
        t.start()
        gens: set[int] = set()
        deadline = time.monotonic() + 10
        try:
            while len(gens) < 20 and time.monotonic() < deadline:
                a, b = store.batch_get([("p", "0"), ("p", "1")])
                assert a["v"] == b["v"]
                gens.add(a["v"])
        finally:
            stop.set()
            t.join(timeout=60)
        assert len(gens) > 1  # the reads did overlap the writes


class TestBatchWrite:
    def test_puts_and_deletes_in_one_call(self, store):
        seed(store)
        store.batch_write(
            puts=[{"pk": "p", "sk": "0", "v": "new"}, {"pk": "q", "x": 1}],
            deletes=[("p", "1"), {"pk": "p", "sk": "2"}, ("nobody", "x")],
        )
        assert [i["v"] for i in store.query("p")] == ["new", 3, 4]
        assert store.get("q") == {"pk": "q", "x": 1}

    def test_a_put_replaces_the_whole_item(self, store):
        store.put({"pk": "a", "old": 1, "keep": 2})
        store.batch_write(puts=[{"pk": "a", "new": 3}])
        assert store.get("a") == {"pk": "a", "new": 3}

    def test_any_number_of_items(self, store):
        store.batch_write(puts=[{"pk": "big", "sk": f"{i:05d}", "i": i} for i in range(3000)])
        assert store.query("big").count == 3000
        store.batch_write(deletes=[("big", f"{i:05d}") for i in range(0, 3000, 2)])
        assert [i["i"] for i in store.query_all("big")][:3] == [1, 3, 5]

    def test_generators_are_accepted(self, store):
        store.batch_write(puts=({"pk": f"g{i}"} for i in range(3)))
        store.batch_write(deletes=((f"g{i}",) for i in range(2)))
        assert store.batch_get(["g0", "g1", "g2"]) == [{"pk": "g2"}]

    def test_an_empty_batch_is_a_no_op(self, store):
        store.batch_write()
        store.batch_write(puts=[], deletes=[])
        assert store.scan().count == 0

    def test_values_are_normalised_like_put(self, store):
        store.batch_write(puts=[{"pk": "n", "f": 0.1, "t": (1, 2), "b": bytearray(b"x")}])
        assert store.get("n") == {"pk": "n", "f": Decimal("0.1"), "t": [1, 2], "b": b"x"}

    @pytest.mark.parametrize(
        ("puts", "deletes"),
        [
            ([{"pk": "a", "sk": "1"}, {"pk": "a", "sk": "1", "v": 2}], []),
            ([{"pk": "a", "sk": "1"}], [("a", "1")]),
            ([], [("a", "1"), {"pk": "a", "sk": "1"}]),
            ([{"pk": "a"}], [("a",)]),
            ([{"pk": "a"}, {"pk": b"a"}], []),
        ],
    )
    def test_a_key_given_twice_is_refused_and_nothing_is_written(self, store, puts, deletes):
        store.put({"pk": "a", "sk": "1", "v": "before"})
        store.put({"pk": "a", "v": "before"})
        with pytest.raises(ValidationError, match="twice"):
            store.batch_write(puts=[{"pk": "z"}, *puts], deletes=deletes)
        assert store.get("z") is None
        assert store.get("a", "1") == {"pk": "a", "sk": "1", "v": "before"}
        assert store.get("a") == {"pk": "a", "v": "before"}

    @pytest.mark.parametrize(
        ("bad_put", "match"),
        [
            ({"sk": "no partition key"}, r"puts\[2\].*partition key"),
            ({"pk": 5}, r"puts\[2\]"),
            ({"pk": "x", "n": float("nan")}, r"puts\[2\]"),
            ({"pk": "x", "s": set()}, r"puts\[2\]"),
            ({"pk": "x", "big": "x" * keystone.MAX_ITEM_BYTES}, r"puts\[2\].*limit"),
            ({"pk": "x" * 2049}, r"puts\[2\].*2048 bytes"),
        ],
    )
    def test_one_invalid_item_writes_nothing(self, store, bad_put, match):
        seed(store)
        with pytest.raises(ValidationError, match=match):
            store.batch_write(
                puts=[{"pk": "new1"}, {"pk": "new2"}, bad_put],
                deletes=[("p", "0"), ("p", "1")],
            )
        assert store.batch_get(["new1", "new2", "x"]) == []
        assert store.query("p").count == 5

    def test_one_invalid_delete_key_writes_nothing(self, store):
        seed(store)
        with pytest.raises(ValidationError, match=r"deletes\[1\]"):
            store.batch_write(puts=[{"pk": "new"}], deletes=[("p", "0"), {"pk": "p", "v": 1}])
        assert store.get("new") is None
        assert store.query("p").count == 5

    def test_a_lone_item_or_key_is_refused(self, store):
        with pytest.raises(ValidationError, match="list of items"):
            store.batch_write(puts={"pk": "a"})
        with pytest.raises(ValidationError, match="list of"):
            store.batch_write(deletes="abc")
        with pytest.raises(ValidationError, match="list of"):
            store.batch_write(deletes={"pk": "a"})
        assert store.scan().count == 0

    def test_readers_see_all_of_a_batch_or_none_of_it(self, store):
        store.batch_write(puts=[{"pk": "b", "sk": f"{i:03d}", "gen": 0} for i in range(50)])
        stop = threading.Event()
        seen: list[set[int]] = []

        def writer() -> None:
            for gen in range(1, 60):
                if gen % 2:  # a batch that deletes half and rewrites the rest
                    store.batch_write(
                        puts=[{"pk": "b", "sk": f"{i:03d}", "gen": gen} for i in range(25, 50)],
                        deletes=[("b", f"{i:03d}") for i in range(25)],
                    )
                else:
                    store.batch_write(
                        puts=[{"pk": "b", "sk": f"{i:03d}", "gen": gen} for i in range(50)]
                    )
            stop.set()

        t = threading.Thread(target=writer)
        t.start()
        try:
            while not stop.is_set():
                page = store.query("b")
                gens = {i["gen"] for i in page}
                seen.append(gens)
                assert len(gens) == 1, gens
                assert page.count == (25 if gens.pop() % 2 else 50)
        finally:
            t.join(timeout=60)
        assert seen


class TestBatchWriteLocal:
    """Commit-time failures (checked while writing, not before): local schema features."""

    def test_an_index_entry_too_long_writes_nothing_and_names_the_put(self, tmp_path: Path):
        schema = keystone.Schema(global_indexes=[keystone.GlobalIndex("by_g", "g")])
        with keystone.Database.open(tmp_path / "i.keystone", schema=schema) as db:
            with pytest.raises(ValidationError, match=r"puts\[1\].*by_g"):
                db.batch_write(
                    puts=[{"pk": "ok", "g": "x"}, {"pk": "p" * 40, "sk": "s", "g": "g" * 490}]
                )
            assert db.get("ok") is None
            assert db.query("x", index="by_g").count == 0
