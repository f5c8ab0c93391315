"""SPEC section 1 "Keys": typed key attributes (S, N, B), their checks, and numeric order."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keystone
from keystone import GlobalIndex, LocalIndex, Put, Schema, TransactionCanceled, ValidationError, sk
from keystone.types import normalize_number

ORDERS = Schema(
    partition_key=("customer", "S"),
    sort_key=("placed", "N"),
    local_indexes=[LocalIndex("by_total", ("total", "N"))],
    global_indexes=[
        GlobalIndex("by_status", ("status", "S"), ("score", "N")),
        GlobalIndex("by_blob", ("blob", "B")),
    ],
)


@pytest.fixture
def db(tmp_path: Path):
    database = keystone.Database.open(tmp_path / "typed.keystone", durability="async")
    yield database
    database.close()


@pytest.fixture
def orders(db):
    return db.create_table("orders", ORDERS)


class TestSchemaDeclarations:
    def test_a_pair_declares_the_type_and_a_name_stays_untyped(self):
        typed = Schema(partition_key=("customer", "S"), sort_key=("placed", "N"))
        assert (typed.partition_key, typed.partition_key_type) == ("customer", "S")
        assert (typed.sort_key, typed.sort_key_type) == ("placed", "N")
        assert typed.typed
        legacy = Schema(partition_key="pk")
        assert legacy.partition_key_type is None and not legacy.typed

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"partition_key": ("a", "X"), "sort_key": None}, "must be 'S', 'N' or 'B'"),
            ({"partition_key": ("a", "S")}, "type both key attributes or neither"),
            ({"partition_key": ("a", "S", "x"), "sort_key": None}, r"\(name, type\)"),
            (
                {
                    "partition_key": ("a", "S"),
                    "sort_key": ("b", "N"),
                    "global_indexes": [GlobalIndex("gsi", ("b", "S"))],
                },
                "declared both 'N' and 'S'",
            ),
            (
                {
                    "partition_key": ("a", "S"),
                    "sort_key": None,
                    "global_indexes": [GlobalIndex("gsi", "x")],
                },
                "needs typed index keys",
            ),
            ({"global_indexes": [GlobalIndex("gsi", ("x", "S"))]}, "table's are untyped"),
        ],
    )
    def test_bad_declarations_are_refused(self, kwargs, message):
        with pytest.raises(ValidationError, match=message):
            Schema(**kwargs)

    def test_a_typed_schema_is_stored_and_read_back(self, tmp_path):
        path = tmp_path / "s.keystone"
        keystone.Database.open(path, schema=ORDERS.replace_indexes([])).close()
        with keystone.Database.open(path) as db:
            assert db.schema == ORDERS.replace_indexes([])


class TestWritesCheckTypes:
    def test_a_wrong_type_names_the_attribute_and_both_types(self, orders):
        with pytest.raises(
            ValidationError,
            match="^One or more parameter values were invalid: Type mismatch for key placed "
            "expected: N actual: S$",
        ):
            orders.put({"customer": "c", "placed": "yesterday"})
        with pytest.raises(
            ValidationError, match="Type mismatch for key customer expected: S actual: N"
        ):
            orders.put({"customer": 7, "placed": 1})
        with pytest.raises(ValidationError, match="expected: S actual: B"):
            orders.put({"customer": b"c", "placed": 1})
        assert orders.scan().count == 0

    def test_a_missing_key_attribute(self, orders):
        with pytest.raises(
            ValidationError,
            match="^One or more parameter values were invalid: Missing the key placed in the item$",
        ):
            orders.put({"customer": "c"})
        with pytest.raises(ValidationError, match="Missing the key customer in the item"):
            orders.put({"placed": 1})

    def test_empty_string_and_binary_keys(self, db, orders):
        with pytest.raises(
            ValidationError,
            match="^One or more parameter values are not valid. The AttributeValue for a key "
            "attribute cannot contain an empty string value. Key: customer$",
        ):
            orders.put({"customer": "", "placed": 1})
        blobs = db.create_table("blobs", Schema(partition_key=("id", "B"), sort_key=None))
        with pytest.raises(ValidationError, match="empty binary value. Key: id"):
            blobs.put({"id": b""})

    def test_key_arguments_of_the_wrong_type(self, orders):
        for call in (
            lambda: orders.get("c", "1"),
            lambda: orders.delete("c", "1"),
            lambda: orders.update("c", "1", update="SET a = :a", values={":a": 1}),
        ):
            with pytest.raises(
                ValidationError, match="does not match the schema.*placed expected: N"
            ):
                call()
        with pytest.raises(ValidationError, match="does not match the schema.*sort key 'placed'"):
            orders.get("c")

    def test_every_write_path_checks(self, db, orders):
        bad = {"customer": "c", "placed": "x"}
        with pytest.raises(ValidationError, match="Type mismatch for key placed"):
            orders.batch_write(puts=[bad])
        with pytest.raises(ValidationError, match="Type mismatch for key placed"):
            db.transact_write([Put(bad, table="orders")])
        with pytest.raises(ValidationError, match="Type mismatch"):
            db.execute("INSERT INTO orders VALUE {'customer': 'c', 'placed': 'x'}")
        with orders.transaction() as tx, pytest.raises(ValidationError, match="Type mismatch"):
            tx.put(bad)
        assert orders.scan().count == 0

    def test_numbers_are_normalised_and_equal_numbers_are_one_key(self, orders):
        orders.put({"customer": "c", "placed": 1.5})
        orders.put({"customer": "c", "placed": Decimal("1.50"), "v": 2})
        assert orders.query("c").items == [{"customer": "c", "placed": Decimal("1.5"), "v": 2}]
        assert orders.get("c", Decimal("1.5"))["v"] == 2

    def test_partition_and_sort_key_size_limits(self, db):
        t = db.create_table("sizes", Schema(partition_key=("p", "S"), sort_key=("s", "B")))
        with pytest.raises(ValidationError, match="maximum size limit of2048 bytes"):
            t.put({"p": "x" * 2049, "s": b"1"})
        with pytest.raises(ValidationError, match="size limit of 1024 bytes"):
            t.put({"p": "x", "s": b"1" * 1025})
        assert t.scan().count == 0


class TestIndexKeysCheckTypes:
    def test_a_wrong_typed_index_key_is_rejected_not_left_out(self, orders):
        with pytest.raises(
            ValidationError,
            match="^One or more parameter values were invalid: Type mismatch for Index Key status "
            "Expected: S Actual: N IndexName: by_status$",
        ):
            orders.put({"customer": "c", "placed": 1, "status": 5})
        with pytest.raises(
            ValidationError, match="Index Key total Expected: N Actual: S IndexName: by_total"
        ):
            orders.put({"customer": "c", "placed": 1, "total": "5"})
        with pytest.raises(ValidationError, match="Index Key blob Expected: B Actual: S"):
            orders.put({"customer": "c", "placed": 1, "blob": "text"})
        assert orders.scan().count == 0

    def test_an_empty_index_key_is_rejected(self, orders):
        with pytest.raises(
            ValidationError,
            match="A value specified for a secondary index key is not supported.*"
            "IndexName: by_status, IndexKey: status",
        ):
            orders.put({"customer": "c", "placed": 1, "status": ""})

    def test_updates_that_make_an_index_key_wrong_are_rejected(self, orders):
        orders.put({"customer": "c", "placed": 1, "status": "open", "score": 1})
        with pytest.raises(ValidationError, match="Type mismatch for Index Key score"):
            orders.update("c", 1, update="SET score = :s", values={":s": "high"})
        assert orders.get("c", 1)["score"] == 1

    def test_a_wrong_typed_index_key_cancels_a_transaction_part(self, db, orders):
        with pytest.raises(TransactionCanceled) as caught:
            db.transact_write(
                [
                    Put({"pk": "ok"}),
                    Put({"customer": "c", "placed": 1, "status": 3}, table="orders"),
                ]
            )
        assert caught.value.reasons == [None, "ValidationError"]

    def test_items_lacking_an_index_key_are_simply_absent(self, orders):
        orders.put({"customer": "c", "placed": 1, "status": "open"})  # no score
        assert orders.query("open", index="by_status").count == 0
        orders.put({"customer": "c", "placed": 2, "status": "open", "score": 3})
        assert [i["placed"] for i in orders.query("open", index="by_status")] == [2]

    def test_queries_with_values_of_another_type_are_refused(self, orders):
        with pytest.raises(
            ValidationError, match="Condition parameter type does not match schema type"
        ):
            orders.query("open", sk.gt("1"), index="by_status")
        with pytest.raises(
            ValidationError, match="Condition parameter type does not match schema type"
        ):
            orders.query(5, index="by_status")
        with pytest.raises(
            ValidationError, match="Condition parameter type does not match schema type"
        ):
            orders.query("c", sk.between(1, "9"))
        with pytest.raises(
            ValidationError, match="operator or function: begins_with, operand type: N"
        ):
            orders.query("c", sk.begins_with(1))


# --------------------------------------------------------------------------
# Numeric order over DynamoDB's whole range (hypothesis, bounded examples)
# --------------------------------------------------------------------------

numbers = st.builds(
    lambda digits, exponent, negative: normalize_number(
        Decimal(f"{'-' if negative else ''}{digits}E{exponent}")
    ),
    st.integers(0, 10**38 - 1),
    st.integers(-130, 88),  # with 38 digits: magnitudes 1E-130 .. 9.99...E+125
    st.booleans(),
)
edges = st.sampled_from(
    [
        Decimal("-9.9999999999999999999999999999999999999E+125"),
        Decimal("-1E-130"),
        0,
        Decimal("1E-130"),
        Decimal("9.9999999999999999999999999999999999999E+125"),
        Decimal("-0.12"),
        Decimal("-0.123"),
        Decimal("0.12"),
        Decimal("0.123"),
        10**37,
        -(10**37),
    ]
)
number_sets = st.lists(st.one_of(numbers, edges), min_size=1, max_size=25, unique=True)
NUMERIC = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _ops(values: list) -> list:
    a, b = sorted(values)[0], sorted(values)[-1]
    pivot = sorted(values)[len(values) // 2]
    return [
        (sk.between(a, pivot), lambda v: a <= v <= pivot),
        (sk.lt(pivot), lambda v: v < pivot),
        (sk.le(pivot), lambda v: v <= pivot),
        (sk.gt(pivot), lambda v: v > pivot),
        (sk.ge(pivot), lambda v: v >= pivot),
        (sk.eq(pivot), lambda v: v == pivot),
        (sk.between(pivot, b), lambda v: pivot <= v <= b),
    ]


@NUMERIC
@given(values=number_sets)
def test_number_sort_keys_order_as_decimals(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("n") / "n.keystone"
    schema = Schema(
        partition_key=("p", "S"),
        sort_key=("n", "N"),
        global_indexes=[GlobalIndex("by_n", ("g", "S"), ("n", "N"))],
        local_indexes=[LocalIndex("by_m", ("m", "N"))],
    )
    with keystone.Database.open(path, durability="async") as db:
        t = db.create_table("nums", schema)
        t.batch_write(puts=[{"p": "x", "n": v, "g": "all", "m": v} for v in values])
        expected = sorted(values)
        # stored order, query order and reverse, on the table and on both indexes
        assert [i["n"] for i in db.table("nums").snapshot_items()] == expected
        for index in (None, "by_n", "by_m"):
            pk = "all" if index == "by_n" else "x"
            assert [i["n"] for i in t.query_all(pk, index=index)] == expected
            assert [i["n"] for i in t.query_all(pk, index=index, reverse=True)] == expected[::-1]
            for cond, keep in _ops(values):
                got = [i["n"] for i in t.query_all(pk, cond, index=index)]
                assert got == [v for v in expected if keep(v)], (cond, index)
            # pages of two, resumed from last_key, see every item once
            paged: list = []
            start = None
            for _ in range(len(values) + 1):
                page = t.query(pk, index=index, limit=2, start=start)
                paged += [i["n"] for i in page]
                start = page.last_key
                if start is None:
                    break
            assert paged == expected


@NUMERIC
@given(values=number_sets)
def test_number_partition_keys_round_trip(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("p") / "p.keystone"
    with keystone.Database.open(path, durability="async") as db:
        t = db.create_table("nums", Schema(partition_key=("id", "N"), sort_key=None))
        t.batch_write(puts=[{"id": v} for v in values])
        for v in values:
            assert t.get(v) == {"id": v}
            assert t.query(v).items == [{"id": v}]
        assert sorted(i["id"] for i in t.scan_all()) == sorted(values)


# --------------------------------------------------------------------------
# Key sizes: partition keys up to DynamoDB's 2,048 bytes (stored as a hash)
# --------------------------------------------------------------------------

long_values = st.lists(st.binary(min_size=0, max_size=8), min_size=1, max_size=12, unique=True).map(
    lambda tails: [b"\x01" * (2048 - 8) + t for t in tails]
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=long_values)
def test_long_partition_keys_sharing_a_prefix_stay_apart(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("long") / "l.keystone"
    schema = Schema(
        partition_key=("id", "B"),
        sort_key=("n", "N"),
        global_indexes=[GlobalIndex("by_tag", ("tag", "B"), ("n", "N"))],
    )
    with keystone.Database.open(path, durability="async") as db:
        t = db.create_table("long", schema)
        for i, v in enumerate(values):
            t.put({"id": v, "n": i, "tag": v})
            t.put({"id": v, "n": -i, "tag": v})
        for i, v in enumerate(values):
            assert [it["n"] for it in t.query(v)] == sorted({i, -i})
            assert t.get(v, i) == {"id": v, "n": i, "tag": v}
            assert [it["n"] for it in t.query(v, index="by_tag")] == sorted({i, -i})
        assert t.stats()["items"] == len({(v, n) for i, v in enumerate(values) for n in (i, -i)})


def test_key_size_limits_of_a_typed_table(db):
    t = db.create_table("sizes", Schema(partition_key=("p", "S"), sort_key=("s", "S")))
    t.put({"p": "x" * 2048, "s": "y" * 400})
    assert t.get("x" * 2048, "y" * 400) == {"p": "x" * 2048, "s": "y" * 400}
    with pytest.raises(ValidationError, match="maximum size limit of2048 bytes"):
        t.put({"p": "x" * 2049, "s": "y"})
    with pytest.raises(ValidationError, match="size limit of 1024 bytes"):
        t.put({"p": "x", "s": "y" * 1025})
    t.put({"p": "x", "s": "y" * 1024})  # past LMDB's key: stored and ordered too
    assert [len(i["s"]) for i in t.query("x")] == [1024]


# --------------------------------------------------------------------------
# Sort keys up to DynamoDB's 1,024 bytes, past LMDB's key limit
# --------------------------------------------------------------------------

# Values built around the point where a table stops storing a sort key whole
# (a few hundred bytes): long shared prefixes, differing just before, at and
# after it, or only at the very end.
adversarial = st.lists(
    st.tuples(
        st.sampled_from([0, 300, 420, 437, 438, 439, 454, 470, 600, 1015]),
        st.binary(min_size=0, max_size=9),
    ).map(lambda pt: (b"\x07" * pt[0] + pt[1])[:1024] or b"\x00"),
    min_size=1,
    max_size=30,
    unique=True,
)


def _pages(query, **kwargs) -> list:
    out: list = []
    start = None
    for _ in range(200):  # bounded
        page = query(limit=3, start=start, **kwargs)
        out += [i["s"] for i in page]
        start = page.last_key
        if start is None:
            return out
    raise AssertionError("pages did not end")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=adversarial, typed=st.booleans())
def test_long_sort_keys_are_stored_fetched_and_ordered_exactly(tmp_path_factory, values, typed):
    path = tmp_path_factory.mktemp("longsk") / "l.keystone"
    schema = Schema(("p", "S"), ("s", "B")) if typed else Schema("p", "s")
    with keystone.Database.open(path, durability="async") as db:
        t = db.create_table("long", schema)
        t.batch_write(puts=[{"p": "x", "s": v, "n": i} for i, v in enumerate(values)])
        expected = sorted(values)
        for i, v in enumerate(values):
            assert t.get("x", v) == {"p": "x", "s": v, "n": i}
        assert [i["s"] for i in t.query_all("x")] == expected
        assert [i["s"] for i in t.query_all("x", reverse=True)] == expected[::-1]
        assert _pages(lambda **kw: t.query("x", **kw)) == expected
        assert _pages(lambda **kw: t.query("x", reverse=True, **kw)) == expected[::-1]
        pivot = expected[len(expected) // 2]
        cases = [
            (sk.ge(pivot), lambda v: v >= pivot),
            (sk.gt(pivot), lambda v: v > pivot),
            (sk.lt(pivot), lambda v: v < pivot),
            (sk.le(pivot), lambda v: v <= pivot),
            (sk.eq(pivot), lambda v: v == pivot),
            (sk.between(expected[0], pivot), lambda v: expected[0] <= v <= pivot),
            (sk.begins_with(pivot[:440]), lambda v: v.startswith(pivot[:440])),
        ]
        for cond, keep in cases:
            want = [v for v in expected if keep(v)]
            assert [i["s"] for i in t.query_all("x", cond)] == want, cond
            assert _pages(lambda c=cond, **kw: t.query("x", c, **kw)) == want, cond
        t.delete("x", pivot)
        assert t.get("x", pivot) is None
        assert [i["s"] for i in t.query_all("x")] == [v for v in expected if v != pivot]


def test_a_long_sort_key_of_the_default_table(db):
    long_sk = "s" * 1024
    db.put({"pk": "p", "sk": long_sk, "n": 1})
    db.put({"pk": "p", "sk": "s" * 1023, "n": 2})
    assert db.get("p", long_sk)["n"] == 1
    assert [i["n"] for i in db.query("p")] == [2, 1]
    with pytest.raises(ValidationError, match="size limit of 1024 bytes"):
        db.put({"pk": "p", "sk": "s" * 1025})


def test_items_with_long_keys_are_indexed(db):
    t = db.create_table(
        "long_indexed",
        Schema(
            partition_key=("p", "S"),
            sort_key=("s", "S"),
            local_indexes=[LocalIndex("by_n", ("n", "N"))],
            global_indexes=[GlobalIndex("by_g", ("g", "S"), ("n", "N"))],
        ),
    )
    p, s = "p" * 2048, "s" * 1024
    t.put({"p": p, "s": s, "n": 1, "g": "x"})
    t.put({"p": p, "s": s[:-1], "n": 2, "g": "x"})
    assert [i["n"] for i in t.query("x", index="by_g")] == [1, 2]
    assert [i["n"] for i in t.query(p, sk.ge(2), index="by_n")] == [2]
    t.update(p, s, update="SET n = :n", values={":n": 3})
    assert [i["n"] for i in t.query("x", index="by_g")] == [2, 3]
    t.delete(p, s)
    assert [i["n"] for i in t.query("x", index="by_g")] == [2]
    assert t.stats()["indexes"] == {"by_n": 1, "by_g": 1}
    t.put({"p": p, "s": s + "", "n": 5, "g": "x"})
    page = t.query("x", index="by_g", limit=1)
    assert page.last_key is not None  # resuming from an entry with a hashed item key
    assert [i["n"] for i in t.query("x", index="by_g", start=page.last_key)] == [5]
