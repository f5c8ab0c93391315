"""Index key values of DynamoDB's sizes (#13 item 6): 2,048-byte partition and
1,024-byte sort key values in local and global indexes, stored, fetched and
ordered exactly as the table's keys are, past LMDB's 511-byte key limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keystone
from keystone import GlobalIndex, LocalIndex, Schema, ValidationError, sk


def _schema(typed: bool) -> Schema:
    if typed:
        return Schema(
            ("p", "S"),
            ("s", "S"),
            local_indexes=[LocalIndex("by_l", ("l", "B"))],
            global_indexes=[GlobalIndex("by_g", ("g", "S"), ("gs", "B"))],
        )
    return Schema(
        "p",
        "s",
        local_indexes=[LocalIndex("by_l", "l")],
        global_indexes=[GlobalIndex("by_g", "g", "gs")],
    )


@pytest.fixture
def db(tmp_path: Path):
    database = keystone.Database.open(tmp_path / "ilong.keystone", durability="async")
    yield database
    database.close()


# Values built around where an index entry stops holding its sort key whole
# (some 465 bytes after escaping, where a zero byte takes two): long shared
# prefixes of plain or zero bytes that end just before, at and after it.
adversarial = st.lists(
    st.tuples(
        st.sampled_from([b"\x07", b"\x00", b"\x07\x00"]),
        st.sampled_from([0, 150, 231, 232, 233, 300, 440, 462, 463, 464, 465, 466, 600, 1015]),
        st.binary(max_size=6).map(lambda b: bytes(c % 3 * 0x7F for c in b)),
    ).map(lambda t: (t[0] * t[1] + t[2])[:1024] or b"\x01"),
    min_size=1,
    max_size=14,
)


def _pages(query: Any, attr: str, **kwargs: Any) -> list[tuple[bytes, str]]:
    """Every page of a query, 3 items at a time: ``(index sort key, table sort key)``."""
    out: list[tuple[bytes, str]] = []
    start = None
    for _ in range(200):  # bounded
        page = query(limit=3, start=start, **kwargs)
        out += [(i[attr], i["s"]) for i in page]
        start = page.last_key
        if start is None:
            return out
    raise AssertionError("pages did not end")


def _check_order(got: list[tuple[bytes, str]], want: list[bytes], rows: set, reverse: bool) -> None:
    assert [v for v, _ in got] == (want[::-1] if reverse else want)
    assert len(got) == len(set(got))  # every item once, none repeated across pages
    assert set(got) <= rows


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=adversarial, typed=st.booleans())
def test_long_index_sort_keys_are_stored_and_ordered_exactly(tmp_path_factory, values, typed):
    path = tmp_path_factory.mktemp("ilong") / "l.keystone"
    with keystone.Database.open(path, durability="async") as db:
        t = db.create_table("long", _schema(typed))
        # Each value on two items: equal index sort keys must come out once each.
        puts = []
        for i, v in enumerate(values):
            for twin in "ab":
                puts.append({"p": "x", "s": f"{i:03d}{twin}", "l": v, "g": "G", "gs": v})
        t.batch_write(puts=puts)
        expected = sorted(v for v in values for _ in "ab")
        pivot = expected[len(expected) // 2]
        cases: list[tuple[Any, Any]] = [
            (None, lambda v: True),
            (sk.ge(pivot), lambda v: v >= pivot),
            (sk.gt(pivot), lambda v: v > pivot),
            (sk.lt(pivot), lambda v: v < pivot),
            (sk.le(pivot), lambda v: v <= pivot),
            (sk.eq(pivot), lambda v: v == pivot),
            (sk.between(expected[0], pivot), lambda v: expected[0] <= v <= pivot),
            (sk.begins_with(pivot[:470]), lambda v: v.startswith(pivot[:470])),
            (sk.begins_with(pivot[:200]), lambda v: v.startswith(pivot[:200])),
        ]
        for index, attr, pk in (("by_l", "l", "x"), ("by_g", "gs", "G")):
            rows = {(p[attr], p["s"]) for p in puts}
            for cond, keep in cases:
                want = [v for v in expected if keep(v)]
                for reverse in (False, True):
                    got = [
                        (i[attr], i["s"])
                        for i in t.query_all(pk, cond, index=index, reverse=reverse)
                    ]
                    _check_order(got, want, rows, reverse)
                    paged = _pages(
                        lambda c=cond, p=pk, i=index, **kw: t.query(p, c, index=i, **kw),
                        attr,
                        reverse=reverse,
                    )
                    _check_order(paged, want, rows, reverse)
        # Updates and deletes find the long entries again (no stale entry stays).
        t.update("x", "000a", update="SET gs = :v, l = :v", values={":v": b"\x05"})
        t.delete("x", "000b")
        left = sorted([b"\x05"] + [v for v in values[1:] for _ in "ab"])
        assert [i["gs"] for i in t.query_all("G", index="by_g")] == left
        assert [i["l"] for i in t.query_all("x", index="by_l")] == left
        assert t.stats()["indexes"] == {"by_l": len(left), "by_g": len(left)}


def test_index_keys_of_dynamodbs_largest_sizes(db):
    t = db.create_table("sizes", _schema(True))
    big_pk, big_sk = "g" * 2048, b"\x02" * 1024
    t.put({"p": "a", "s": "1", "l": big_sk, "g": big_pk, "gs": big_sk})
    t.put({"p": "a", "s": "2", "l": big_sk[:-1], "g": big_pk, "gs": big_sk[:-1]})
    assert [i["s"] for i in t.query(big_pk, index="by_g")] == ["2", "1"]
    assert [i["s"] for i in t.query(big_pk, sk.eq(big_sk), index="by_g")] == ["1"]
    assert [i["s"] for i in t.query("a", sk.gt(big_sk[:-1]), index="by_l")] == ["1"]
    assert [i["s"] for i in t.query("a", index="by_l", reverse=True)] == ["1", "2"]
    page = t.query(big_pk, index="by_g", limit=1)
    assert [i["s"] for i in t.query(big_pk, index="by_g", start=page.last_key)] == ["1"]


@pytest.mark.parametrize("typed", [True, False])
def test_one_byte_past_an_index_key_limit_is_refused_with_dynamodbs_message(db, typed):
    t = db.create_table("limits", _schema(typed))
    cases = [
        ({"g": "g" * 2049, "gs": b"x"}, "g", 2049, 2048, "by_g"),
        ({"g": "g", "gs": b"x" * 1025}, "gs", 1025, 1024, "by_g"),
        ({"l": b"x" * 1025}, "l", 1025, 1024, "by_l"),
    ]
    for extra, attr, size, limit, index in cases:
        message = (
            "One or more parameter values were invalid: Size limit exceeded for Index Key "
            f"{attr} Actual Size: {size} bytes Max Size: {limit} bytes IndexName: {index}"
        )
        with pytest.raises(ValidationError) as err:
            t.put({"p": "a", "s": "1", **extra})
        assert str(err.value) == message
        assert t.get("a", "1") is None  # nothing was written
    with pytest.raises(ValidationError, match="Actual Size: 1025 bytes Max Size: 1024"):
        t.query("g", sk.ge(b"x" * 1025), index="by_g")
    with pytest.raises(ValidationError, match="Actual Size: 1025 bytes Max Size: 1024"):
        t.query("a", sk.between(b"a", b"x" * 1025), index="by_l")


WHOLE_V3 = Path(__file__).parent / "data" / "index_whole_v3.keystone"


def test_entries_an_earlier_release_stored_whole_are_still_removed(tmp_path):
    # Written by commit aa378c9 (tests/data/make_index_whole_v3.py): 475-byte
    # index sort keys beside a short item key, stored whole; today they would
    # be grouped, and every write must still find and delete the old entry.
    path = tmp_path / "whole.keystone"
    path.write_bytes(WHOLE_V3.read_bytes())  # never write the committed file
    long = ["y" * 474 + tail for tail in "abc"]
    with keystone.Database.open(path, durability="async") as db:
        t = db.table("tab")
        for index, pk, attr in (("by_g", "G", "gs"), ("by_l", "a", "l")):
            assert [i[attr] for i in t.query_all(pk, index=index)] == ["short", *long]
            assert [i["s"] for i in t.query_all(pk, sk.gt(long[0]), index=index)] == ["1", "2"]
        t.update("a", "0", update="SET gs = :v, l = :v", values={":v": "b"})
        t.delete("a", "1")
        t.put(t.get("a", "2"))  # rewritten: the whole entry gives way to the grouped one
        for index, pk, attr in (("by_g", "G", "gs"), ("by_l", "a", "l")):
            assert [i[attr] for i in t.query_all(pk, index=index)] == ["b", "short", long[2]]
            assert [i[attr] for i in t.query_all(pk, index=index, reverse=True)] == [
                long[2],
                "short",
                "b",
            ]
        assert t.stats()["indexes"] == {"by_l": 3, "by_g": 3}


def test_beside_a_long_inline_partition_key_of_the_default_table_entries_stay_whole(tmp_path):
    # The default table keeps index partition keys inline up to LMDB's limit
    # (as format 2 did); beside a 440-byte one too little room is left for
    # groups, so sort keys are stored whole when they fit, as before, and a
    # longer one is refused naming the index.
    schema = Schema(global_indexes=[GlobalIndex("by_g", "g", "gs")])
    with keystone.Database.open(tmp_path / "d.keystone", schema=schema) as db:
        g = "g" * 440
        db.put({"pk": "a", "sk": "b", "g": g, "gs": "s" * 40})
        db.put({"pk": "a", "sk": "c", "g": g, "gs": "s" * 39})
        assert [i["sk"] for i in db.query(g, index="by_g")] == ["c", "b"]
        db.update("a", "b", update="SET gs = :v", values={":v": "r" * 40})
        assert [i["sk"] for i in db.query(g, index="by_g")] == ["b", "c"]
        db.delete("a", "b")
        assert [i["sk"] for i in db.query(g, index="by_g")] == ["c"]
        with pytest.raises(ValidationError, match="in index 'by_g'"):
            db.put({"pk": "a", "sk": "d", "g": g, "gs": "s" * 100})
        assert db.stats()["indexes"] == {"by_g": 1}
