"""SPEC section 5: indexes through every write path, TTL, streams, schema evolution."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keystone
from keystone import (
    GlobalIndex,
    LocalIndex,
    Schema,
    StreamConfig,
    ValidationError,
    sk,
)

UTC = dt.UTC

SCHEMA = Schema(
    local_indexes=[LocalIndex("by_date", "date")],
    global_indexes=[
        GlobalIndex("by_status", "status", "date"),
        GlobalIndex("by_owner", "owner", projection="KEYS_ONLY"),
        GlobalIndex("by_owner_total", "owner", "name", projection=["total"]),
    ],
)


NUMBER_SCHEMA = Schema(
    local_indexes=[LocalIndex("by_n", "n")],
    global_indexes=[
        GlobalIndex("by_score", "game", "score"),
        GlobalIndex("by_level", "level", "name", projection="KEYS_ONLY"),
    ],
)
SCORES = [
    Decimal("-9.99E+125"),
    -(2**70),
    -1000,
    Decimal("-1.5"),
    Decimal("-0.12"),  # (-0.12 > -0.123)
    Decimal("-0.123"),
    Decimal("-1E-130"),
    0,
    Decimal("1E-130"),
    Decimal("0.12"),
    Decimal("0.123"),
    1,
    Decimal("1.5"),
    2,
    10,
    99,
    100,
    101,
    2**70,
    Decimal("9.99E+125"),
]


@pytest.fixture
def ndb(tmp_path):
    db = keystone.Database.open(tmp_path / "numbers.keystone", schema=NUMBER_SCHEMA)
    yield db
    db.close()


def scores(page_or_items) -> list:
    items = page_or_items.items if hasattr(page_or_items, "items") else page_or_items
    return [item["score"] for item in items]


@pytest.fixture
def idb(tmp_path):
    db = keystone.Database.open(tmp_path / "idx.keystone", schema=SCHEMA)
    yield db
    db.close()


def is_index_key(value: object) -> bool:
    """S, N or B and not empty: a value that puts an item in an index."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, Decimal)) or (isinstance(value, (str, bytes)) and len(value) > 0)


def brute_force(db: keystone.Database, index: str) -> list[tuple]:
    """Index contents computed from the table, as sorted (ipk, isk, pk, sk) tuples."""
    table = db._table
    idx = table.indexes[index]
    out = []
    for item in db.scan_all():
        ipk = item.get(idx.pk_attr)
        isk = item.get(idx.sk_attr) if idx.sk_attr else None
        if not is_index_key(ipk) or (idx.sk_attr and not is_index_key(isk)):
            continue
        out.append((ipk, isk, item["pk"], item.get("sk")))
    return sorted(out, key=repr)


def index_contents(db: keystone.Database, index: str) -> list[tuple]:
    idx = db._table.indexes[index]
    out = []
    for entry in db.scan_all(index=index):
        out.append(
            (
                entry[idx.pk_attr],
                entry.get(idx.sk_attr) if idx.sk_attr else None,
                entry["pk"],
                entry.get("sk"),
            )
        )
    return sorted(out, key=repr)


def check_all_indexes(db):
    for name in db._table.indexes:
        assert index_contents(db, name) == brute_force(db, name), name


class TestIndexes:
    def test_global_index_query_in_index_order(self, idb):
        idb.put({"pk": "o1", "sk": "a", "status": "open", "date": "2024-03"})
        idb.put({"pk": "o2", "sk": "a", "status": "open", "date": "2024-01"})
        idb.put({"pk": "o3", "sk": "a", "status": "done", "date": "2024-02"})
        page = idb.query("open", index="by_status")
        assert [i["pk"] for i in page] == ["o2", "o1"]
        assert [i["pk"] for i in idb.query("open", sk.gt("2024-01"), index="by_status")] == ["o1"]
        assert [i["pk"] for i in idb.query("open", index="by_status", reverse=True)] == ["o1", "o2"]

    def test_local_index_sorts_a_partition_by_another_attribute(self, idb):
        for s, date in [("x", "3"), ("y", "1"), ("z", "2")]:
            idb.put({"pk": "p", "sk": s, "date": date})
        assert [i["sk"] for i in idb.query("p", index="by_date")] == ["y", "z", "x"]
        assert [i["sk"] for i in idb.query("p", sk.between("2", "3"), index="by_date")] == [
            "z",
            "x",
        ]

    def test_projections(self, idb):
        idb.put({"pk": "a", "sk": "1", "owner": "ann", "name": "n", "total": 5, "other": 1})
        assert idb.query("ann", index="by_owner").items == [{"pk": "a", "sk": "1", "owner": "ann"}]
        assert idb.query("ann", index="by_owner_total").items == [
            {"pk": "a", "sk": "1", "owner": "ann", "name": "n", "total": 5}
        ]
        assert idb.query("p", index="by_date").items == []

    def test_items_without_index_keys_are_absent(self, idb):
        idb.put({"pk": "a", "sk": "1", "status": "open"})  # no date: not in by_status
        idb.put({"pk": "b", "sk": "1", "status": True, "date": "d"})  # not S, N or B
        idb.put({"pk": "c", "sk": "1", "status": ["open"], "date": "d"})
        idb.put({"pk": "d", "sk": "1", "status": "", "date": "d"})  # empty
        idb.put({"pk": "e", "sk": "1", "status": "open", "date": None})
        assert idb.query("open", index="by_status").items == []
        assert idb.scan(index="by_status").items == []

    def test_every_write_path_maintains_indexes(self, idb):
        idb.put({"pk": "a", "sk": "1", "status": "open", "date": "1", "owner": "o"})
        idb.update("a", "1", "SET #s = :s", names={"#s": "status"}, values={":s": "done"})
        idb.batch_write(
            puts=[{"pk": "b", "sk": "1", "status": "open", "date": "2"}], deletes=[("a", "1")]
        )
        idb.transact_write(
            [
                keystone.Put({"pk": "c", "sk": "1", "status": "open", "date": "3"}),
                keystone.Update("b", "1", update="SET #d = :d"),
            ],
            names={"#d": "date"},
            values={":d": "9"},
        )
        with idb.transaction() as tx:
            tx.put({"pk": "d", "sk": "1", "status": "open", "date": "0", "owner": "o"})
            tx.delete("c", "1")
        check_all_indexes(idb)
        assert [i["pk"] for i in idb.query("open", index="by_status")] == ["d", "b"]
        idb.delete("d", "1")
        check_all_indexes(idb)

    def test_pagination_over_many_items_sharing_an_index_key(self, idb):
        idb.batch_write(
            puts=[
                {"pk": f"p{i:03d}", "sk": "s", "status": "same", "date": "same"} for i in range(57)
            ]
        )
        orders = []
        for reverse in (False, True):
            seen, start = [], None
            for _ in range(100):
                page = idb.query("same", index="by_status", limit=5, start=start, reverse=reverse)
                seen.extend(i["pk"] for i in page)
                start = page.last_key
                if start is None:
                    break
            assert len(seen) == 57 and len(set(seen)) == 57
            orders.append(seen)
        # ties on the index key are ordered by the base item key, the same way each time
        assert orders[1] == orders[0][::-1]

    def test_unknown_index(self, idb):
        with pytest.raises(ValidationError, match="index 'nope' does not exist"):
            idb.query("x", index="nope")

    def test_index_scan_segments(self, idb):
        idb.batch_write(puts=[{"pk": f"p{i}", "owner": f"o{i % 7}"} for i in range(100)])
        seen = []
        for seg in range(3):
            seen += [i["pk"] for i in idb.scan_all(index="by_owner", segment=seg, total_segments=3)]
        assert sorted(seen) == sorted(f"p{i}" for i in range(100))


class TestSchemaEvolution:
    def test_added_index_is_built_from_existing_items(self, tmp_path):
        path = tmp_path / "evolve.keystone"
        with keystone.Database.open(path) as db:
            db.batch_write(
                puts=[{"pk": f"p{i}", "color": "red" if i % 2 else "blue"} for i in range(40)]
            )
        schema = Schema(global_indexes=[GlobalIndex("by_color", "color")])
        with keystone.Database.open(path, schema=schema) as db:
            assert db.query("red", index="by_color").count == 20
            db.put({"pk": "new", "color": "red"})
        with keystone.Database.open(path) as db:
            assert db.schema == schema
            assert db.query("red", index="by_color").count == 21

    @staticmethod
    def _as_format_1(path) -> None:
        """Make ``path`` a file of format 1 whose index lacks entries (as number keys did)."""
        import lmdb

        env = lmdb.open(str(path), subdir=False, max_dbs=64)
        with env.begin(write=True) as txn:
            txn.put(b"format", b"1", db=env.open_db(b"meta", txn=txn))
            txn.drop(env.open_db(b"idx:by_score", txn=txn), delete=False)
        env.close()

    @pytest.mark.parametrize("given", [None, NUMBER_SCHEMA])
    def test_a_format_1_file_gets_its_indexes_rebuilt(self, tmp_path, given):
        path = tmp_path / "old.keystone"
        with keystone.Database.open(path, schema=NUMBER_SCHEMA) as db:
            db.put({"pk": "a", "game": "g", "score": 7})
            db.put({"pk": "b", "game": "g", "score": "seven"})
        self._as_format_1(path)
        with keystone.Database.open(path, schema=given) as db:
            assert scores(db.query("g", index="by_score")) == [7, "seven"]
            check_all_indexes(db)
        with keystone.Database.open(path) as db:
            assert scores(db.query("g", index="by_score")) == [7, "seven"]

    def test_a_file_of_a_newer_format_is_refused(self, tmp_path):
        import lmdb

        path = tmp_path / "new.keystone"
        keystone.Database.open(path).close()
        env = lmdb.open(str(path), subdir=False, max_dbs=64)
        with env.begin(write=True) as txn:
            txn.put(b"format", b"99", db=env.open_db(b"meta", txn=txn))
        env.close()
        with pytest.raises(ValidationError, match="format version 99, newer"):
            keystone.Database.open(path)

    def test_changed_index_definition_is_refused(self, tmp_path):
        path = tmp_path / "evolve.keystone"
        keystone.Database.open(
            path, schema=Schema(global_indexes=[GlobalIndex("gs1", "a")])
        ).close()
        with pytest.raises(ValidationError, match="defined differently"):
            keystone.Database.open(path, schema=Schema(global_indexes=[GlobalIndex("gs1", "b")]))
        with pytest.raises(ValidationError, match="not removed"):
            keystone.Database.open(path, schema=Schema())
        with pytest.raises(ValidationError, match="key schema"):
            keystone.Database.open(
                path, schema=Schema("id", global_indexes=[GlobalIndex("gs1", "a")])
            )


class TestTtl:
    def test_expired_items_are_invisible_to_every_read(self, tmp_path):
        schema = Schema(ttl_attribute="expires", global_indexes=[GlobalIndex("gsi", "grp")])
        with keystone.Database.open(
            tmp_path / "ttl.keystone", schema=schema, sweep_interval=3600
        ) as db:
            past = int(time.time()) - 10
            db.put({"pk": "old", "sk": "1", "expires": past, "grp": "x"})
            db.put(
                {"pk": "dt", "sk": "1", "expires": dt.datetime(2000, 1, 1, tzinfo=UTC), "grp": "x"}
            )
            db.put({"pk": "live", "sk": "1", "expires": int(time.time()) + 3600, "grp": "x"})
            assert db.get("old", "1") is None and db.get("dt", "1") is None
            assert db.query("old").items == []
            assert [i["pk"] for i in db.scan()] == ["live"]
            assert db.batch_get([("old", "1"), ("live", "1")]) == [db.get("live", "1")]
            assert db.transact_get([("old", "1")]) == [None]
            assert [i["pk"] for i in db.query("x", index="gsi")] == ["live"]
            # an expired item counts as absent for conditions
            db.put({"pk": "old", "sk": "1", "v": 1}, condition="attribute_not_exists(pk)")
            assert db.get("old", "1") == {"pk": "old", "sk": "1", "v": 1}

    def test_sweeper_deletes_expired_items_with_stream_records(self, tmp_path):
        schema = Schema(
            ttl_attribute="exp",
            stream=StreamConfig("KEYS_ONLY"),
            global_indexes=[GlobalIndex("gsi", "grp")],
        )
        with keystone.Database.open(
            tmp_path / "sweep.keystone", schema=schema, sweep_interval=0.05
        ) as db:
            db.batch_write(
                puts=[{"pk": f"k{i}", "exp": time.time() + 0.2, "grp": "x"} for i in range(150)]
            )
            db.put({"pk": "keep", "grp": "x"})
            deadline = time.monotonic() + 10
            while db.stats()["items"] > 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert db.stats()["items"] == 1
            assert db.stats()["indexes"] == {"gsi": 1}
            removes = [r for r in db.stream() if r.event == "REMOVE"]
            assert len(removes) == 150 and all(r.by_ttl for r in removes)


class TestStreams:
    @pytest.mark.parametrize(
        ("view", "new", "old"),
        [
            ("KEYS_ONLY", False, False),
            ("NEW_IMAGE", True, False),
            ("OLD_IMAGE", False, True),
            ("NEW_AND_OLD_IMAGES", True, True),
        ],
    )
    def test_records_per_view(self, tmp_path, view, new, old):
        schema = Schema(stream=StreamConfig(view))
        with keystone.Database.open(tmp_path / "s.keystone", schema=schema) as db:
            db.put({"pk": "a", "v": 1})
            db.update("a", update="SET v = :v", values={":v": 2})
            db.delete("a")
            db.delete("missing")  # no record
            with pytest.raises(keystone.ConditionalCheckFailed):
                db.put({"pk": "a"}, condition="attribute_exists(pk)")  # failed: no record
            recs = db.stream()
            assert [r.event for r in recs] == ["INSERT", "MODIFY", "REMOVE"]
            assert all(r.keys == {"pk": "a"} for r in recs)
            assert [r.sequence for r in recs] == sorted({r.sequence for r in recs})
            assert recs[1].new_image == ({"pk": "a", "v": 2} if new else None)
            assert recs[1].old_image == ({"pk": "a", "v": 1} if old else None)
            assert all(r.timestamp.tzinfo is not None and not r.by_ttl for r in recs)
            assert db.stream(after=recs[0].sequence, limit=1) == [recs[1]]

    def test_sequence_numbers_increase_across_reopen(self, tmp_path):
        path = tmp_path / "seq.keystone"
        schema = Schema(stream=StreamConfig(retention=2))
        with keystone.Database.open(path, schema=schema) as db:
            for i in range(5):
                db.put({"pk": f"k{i}"})
            first = [r.sequence for r in db.stream()]
        with keystone.Database.open(path) as db:
            db.put({"pk": "later"})
            second = [r.sequence for r in db.stream()]
        assert first == [4, 5]  # retention by count keeps the newest two
        assert second == [5, 6]

    def test_retention_by_age(self, tmp_path):
        schema = Schema(stream=StreamConfig(retention=dt.timedelta(milliseconds=200)))
        with keystone.Database.open(
            tmp_path / "age.keystone", schema=schema, sweep_interval=0.05
        ) as db:
            db.put({"pk": "a"})
            deadline = time.monotonic() + 10
            while db.stream() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert db.stream() == []
            db.put({"pk": "b"})
            assert [r.sequence for r in db.stream()] == [2]


class TestNumberIndexKeys:
    """Index keys may be numbers (DynamoDB's N): they order numerically."""

    @pytest.fixture
    def scored(self, ndb):
        shuffled = SCORES[1::2] + SCORES[0::2]
        for i, score in enumerate(shuffled):
            ndb.put({"pk": f"p{i:02d}", "game": "g", "score": score})
        return ndb

    def test_a_number_sort_key_orders_numerically(self, scored):
        assert scores(scored.query("g", index="by_score")) == sorted(SCORES)
        assert scores(scored.query("g", index="by_score", reverse=True)) == sorted(SCORES)[::-1]

    @pytest.mark.parametrize(
        ("cond", "expected"),
        [
            (sk.lt(0), [s for s in SCORES if s < 0]),
            (sk.le(0), [s for s in SCORES if s <= 0]),
            (sk.gt(100), [101, 2**70, Decimal("9.99E+125")]),
            (sk.ge(100.0), [100, 101, 2**70, Decimal("9.99E+125")]),
            (sk.between(Decimal("-0.123"), 1), [s for s in SCORES if Decimal("-0.123") <= s <= 1]),
            (sk.eq(Decimal("1.00")), [1]),
            (sk.eq(1.5), [Decimal("1.5")]),
            (sk.eq(3), []),
            (sk.lt(Decimal("-9.99E+125")), []),
        ],
    )
    def test_number_conditions(self, scored, cond, expected):
        assert scores(scored.query("g", cond, index="by_score")) == sorted(expected)

    def test_pages_resume_in_number_order(self, scored):
        seen, start = [], None
        for _ in range(len(SCORES)):
            page = scored.query("g", index="by_score", limit=3, start=start)
            seen += scores(page)
            start = page.last_key
            if start is None:
                break
        assert seen == sorted(SCORES)
        assert isinstance(page.last_key, dict) or page.last_key is None

    def test_numbers_refuse_string_only_conditions_and_mixed_bounds(self, scored):
        with pytest.raises(ValidationError, match="begins_with takes a str or bytes"):
            scored.query("g", sk.begins_with(1), index="by_score")
        with pytest.raises(ValidationError, match="two numbers or two str/bytes"):
            scored.query("g", sk.between(1, "z"), index="by_score")
        with pytest.raises(ValidationError, match="lower bound must not be greater"):
            scored.query("g", sk.between(10, 1), index="by_score")
        with pytest.raises(ValidationError, match="partition key"):
            scored.query(5)  # the table's keys stay S or B
        with pytest.raises(ValidationError, match="must be str or bytes"):
            scored.query("p00", sk.eq(1))

    def test_a_mixed_index_puts_numbers_before_strings_and_binaries(self, ndb):
        for i, score in enumerate(["abc", b"\x00x", 5, -5, "b"]):
            ndb.put({"pk": f"m{i}", "game": "mixed", "score": score})
        assert scores(ndb.query("mixed", index="by_score")) == [-5, 5, b"\x00x", "abc", "b"]
        # A condition matches only values of its own type.
        assert scores(ndb.query("mixed", sk.lt("b"), index="by_score")) == [b"\x00x", "abc"]
        assert scores(ndb.query("mixed", sk.gt(0), index="by_score")) == [5]
        assert scores(ndb.query("mixed", sk.ge(b"\x00"), index="by_score")) == [
            b"\x00x",
            "abc",
            "b",
        ]
        assert scores(ndb.query("mixed", sk.le(100), index="by_score")) == [-5, 5]

    def test_a_number_partition_key_is_one_partition_whatever_its_form(self, ndb):
        ndb.put({"pk": "a", "level": 5, "name": "int"})
        ndb.put({"pk": "b", "level": Decimal("5.00"), "name": "decimal"})
        ndb.put({"pk": "c", "level": 50, "name": "other"})
        # a binary whose bytes are exactly the stored encoding of 5
        ndb.put({"pk": "d", "level": keystone.codec.number_key(5), "name": "binary"})
        names = [i["name"] for i in ndb.query(5, index="by_level").items]
        assert names == ["decimal", "int"]
        assert [i["name"] for i in ndb.query(5.0, index="by_level").items] == names
        assert [i["name"] for i in ndb.query(Decimal("5"), index="by_level").items] == names
        binary = ndb.query(keystone.codec.number_key(5), index="by_level").items
        assert [i["name"] for i in binary] == ["binary"]
        assert ndb.query(5, index="by_level").items[0] == {"pk": "b", "level": 5, "name": "decimal"}

    def test_a_local_index_on_a_number(self, ndb):
        for i, n in enumerate([3, 1, 2, Decimal("2.5")]):
            ndb.put({"pk": "p", "sk": f"s{i}", "n": n})
        assert [i["n"] for i in ndb.query("p", index="by_n").items] == [1, 2, Decimal("2.5"), 3]
        between = ndb.query("p", sk.between(2, 3), index="by_n", reverse=True)
        assert [i["n"] for i in between.items] == [3, Decimal("2.5"), 2]

    def test_updates_move_number_entries(self, scored):
        scored.update("p00", update="SET score = :s", values={":s": 1000})
        scored.update("p01", update="ADD score :d", values={":d": -5000})
        scored.update("p02", update="REMOVE score")
        check_all_indexes(scored)
        got = scores(scored.query("g", index="by_score"))
        assert got == sorted(got) and 1000 in got
        assert len(got) == len(SCORES) - 1


keys = st.sampled_from(["a", "b", "c", "d"])
attrs = st.one_of(
    st.none(),
    st.sampled_from(["x", "y", "z", "", b"x", True]),
    st.integers(-3, 3),
    st.decimals(min_value=-3, max_value=3, places=2, allow_nan=False, allow_infinity=False),
)


@st.composite
def operations(draw):
    kind = draw(st.sampled_from(["put", "delete", "update", "batch"]))
    item = {"pk": draw(keys), "sk": draw(keys)}
    for attr in ("status", "date", "owner", "name"):
        value = draw(attrs)
        if value is not None:
            item[attr] = value
    return kind, item


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(operations(), min_size=1, max_size=25))
def test_indexes_always_equal_brute_force(tmp_path_factory, ops):
    path = tmp_path_factory.mktemp("prop") / "p.keystone"
    with keystone.Database.open(path, schema=SCHEMA, durability="async") as db:
        for kind, item in ops:
            if kind == "put":
                db.put(item)
            elif kind == "delete":
                db.delete(item["pk"], item["sk"])
            elif kind == "update":
                sets = [k for k in item if k not in ("pk", "sk")]
                if sets:
                    db.update(
                        item["pk"],
                        item["sk"],
                        "SET " + ", ".join(f"#{k} = :{k}" for k in sets),
                        names={f"#{k}": k for k in sets},
                        values={f":{k}": item[k] for k in sets},
                    )
                else:
                    db.update(item["pk"], item["sk"], "REMOVE #s", names={"#s": "status"})
            else:
                db.batch_write(puts=[item])
            check_all_indexes(db)


number_values = st.one_of(
    st.integers(-(10**38) + 1, 10**38 - 1),
    st.integers(-5, 5),
    st.decimals(
        min_value=Decimal("-1E+30"),
        max_value=Decimal("1E+30"),
        allow_nan=False,
        allow_infinity=False,
        places=6,
    ),
)
conditions = st.sampled_from(["eq", "lt", "le", "gt", "ge", "between"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(number_values, min_size=1, max_size=30),
    extra=st.lists(st.sampled_from(["a", "zz", b"\x00", b"\xff"]), max_size=3),
    op=conditions,
    bounds=st.tuples(number_values, number_values),
    reverse=st.booleans(),
)
def test_number_sort_key_conditions_equal_a_brute_force_filter(
    tmp_path_factory, values, extra, op, bounds, reverse
):
    path = tmp_path_factory.mktemp("numq") / "n.keystone"
    with keystone.Database.open(path, schema=NUMBER_SCHEMA, durability="async") as db:
        stored = []
        for i, v in enumerate([*values, *extra]):
            db.put({"pk": f"p{i}", "game": "g", "score": v})
            stored.append(db.get(f"p{i}")["score"])  # the normalized value
        low, high = sorted(bounds)
        tests = {
            "eq": (sk.eq(low), lambda s: s == low),
            "lt": (sk.lt(low), lambda s: s < low),
            "le": (sk.le(low), lambda s: s <= low),
            "gt": (sk.gt(low), lambda s: s > low),
            "ge": (sk.ge(low), lambda s: s >= low),
            "between": (sk.between(low, high), lambda s: low <= s <= high),
        }
        cond, keep = tests[op]
        numbers = [s for s in stored if not isinstance(s, (str, bytes))]
        expected = sorted((s for s in numbers if keep(s)), reverse=reverse)
        got = [i["score"] for i in db.query_all("g", cond, index="by_score", reverse=reverse)]
        assert got == expected
