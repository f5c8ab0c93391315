"""query and scan: sort-key conditions, filters, projection, limits, pagination, segments."""

from __future__ import annotations

import pytest

import keystone
from keystone import ValidationError, sk


def fill(store: keystone.Store, pk: str = "p", n: int = 20) -> None:
    store.batch_write(
        puts=[{"pk": pk, "sk": f"k{i:03d}", "n": i, "even": i % 2 == 0} for i in range(n)]
    )


def sks(page_or_items) -> list[str]:
    return [i["sk"] for i in page_or_items]


class TestSortKeyConditions:
    @pytest.fixture(autouse=True)
    def _fill(self, store):
        fill(store)
        fill(store, pk="other", n=5)
        store.put({"pk": "p", "v": "no sort key"})

    def test_no_condition_returns_the_whole_partition_in_order(self, store):
        page = store.query("p")
        assert page.count == 21 and page.scanned_count == 21
        assert "sk" not in page.items[0]  # the item without a sort key sorts first
        assert sks(page.items[1:]) == [f"k{i:03d}" for i in range(20)]
        assert page.last_key is None

    @pytest.mark.parametrize(
        ("cond", "expected"),
        [
            (sk.eq("k005"), [5]),
            (sk.lt("k003"), [0, 1, 2]),
            (sk.le("k003"), [0, 1, 2, 3]),
            (sk.gt("k016"), [17, 18, 19]),
            (sk.ge("k016"), [16, 17, 18, 19]),
            (sk.between("k004", "k007"), [4, 5, 6, 7]),
            (sk.begins_with("k01"), list(range(10, 20))),
            (sk.eq("nope"), []),
            (sk.begins_with("z"), []),
        ],
        ids=[
            "eq",
            "lt",
            "le",
            "gt",
            "ge",
            "between",
            "begins_with",
            "eq-missing",
            "prefix-missing",
        ],
    )
    def test_condition(self, store, cond, expected):
        assert [i["n"] for i in store.query("p", cond)] == expected

    def test_reverse_order(self, store):
        assert [i["n"] for i in store.query("p", sk.between("k004", "k007"), reverse=True)] == [
            7,
            6,
            5,
            4,
        ]

    def test_between_with_bounds_swapped_is_an_error(self, store):
        with pytest.raises(ValidationError, match="lower bound"):
            store.query("p", sk.between("k9", "k1"))

    def test_sort_keys_order_bytewise(self, store):
        for s in ["b", "a", "B", "é", "aa", "a\x00"]:
            store.put({"pk": "order", "sk": s})
        assert sks(store.query("order")) == sorted(
            ["b", "a", "B", "é", "aa", "a\x00"], key=str.encode
        )

    def test_bytes_sort_keys(self, store):
        for s in [b"\x02", b"\x01\xff", b"\x01"]:
            store.put({"pk": "bin", "sk": s})
        assert sks(store.query("bin")) == [b"\x01", b"\x01\xff", b"\x02"]
        assert sks(store.query("bin", sk.begins_with(b"\x01"))) == [b"\x01", b"\x01\xff"]

    def test_other_partitions_are_not_read(self, store):
        assert store.query("other").count == 5
        assert store.query("missing").items == []


class TestFilterProjectionLimit:
    @pytest.fixture(autouse=True)
    def _fill(self, store):
        fill(store)

    def test_filter_counts_scanned_and_returned(self, store):
        page = store.query("p", filter="even = :t", values={":t": True})
        assert page.count == 10 and page.scanned_count == 20
        assert all(i["even"] for i in page)

    def test_projection(self, store):
        page = store.query("p", sk.eq("k001"), projection="n")
        assert page.items == [{"n": 1}]

    def test_limit_bounds_items_read_before_filter(self, store):
        page = store.query("p", filter="even = :t", values={":t": True}, limit=5)
        assert page.scanned_count == 5
        assert [i["n"] for i in page] == [0, 2, 4]
        assert page.last_key == {"pk": "p", "sk": "k004"}

    def test_invalid_limit(self, store):
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValidationError, match="limit"):
                store.query("p", limit=bad)

    def test_start_from_another_partition_is_refused(self, store):
        with pytest.raises(ValidationError, match="partition"):
            store.query("p", start={"pk": "q", "sk": "a"})

    def test_query_all_follows_pages(self, store):
        assert [i["n"] for i in store.query_all("p", limit=3)] == list(range(20))


def collect_pages(call, **kwargs) -> tuple[list[dict], int]:
    items, start = [], None
    for pages in range(1, 1001):
        page = call(start=start, **kwargs)
        items.extend(page.items)
        if page.last_key is None:
            return items, pages
        start = page.last_key
    raise AssertionError("pagination did not finish")


class TestPagination:
    @pytest.mark.parametrize("reverse", [False, True])
    @pytest.mark.parametrize("limit", [1, 3, 7, 50])
    @pytest.mark.parametrize("with_filter", [False, True])
    def test_query_pages_visit_every_item_exactly_once(self, store, reverse, limit, with_filter):
        fill(store, n=25)
        kwargs = {"limit": limit, "reverse": reverse}
        if with_filter:
            kwargs.update(filter="n >= :m", values={":m": 5})
        items, pages = collect_pages(lambda **kw: store.query("p", **kw), **kwargs)
        expected = [i for i in range(25) if not with_filter or i >= 5]
        if reverse:
            expected.reverse()
        assert [i["n"] for i in items] == expected
        assert pages == -(-25 // limit)

    @pytest.mark.parametrize("limit", [1, 4, 25, 1000])
    @pytest.mark.parametrize("with_filter", [False, True])
    def test_scan_pages_visit_every_item_exactly_once(self, store, limit, with_filter):
        for p in range(10):
            fill(store, pk=f"part{p}", n=6)
        kwargs = {"limit": limit}
        if with_filter:
            kwargs.update(filter="even = :t", values={":t": True})
        items, _ = collect_pages(store.scan, **kwargs)
        keys = [(i["pk"], i["sk"]) for i in items]
        assert len(keys) == len(set(keys))
        expected = {
            (f"part{p}", f"k{i:03d}")
            for p in range(10)
            for i in range(6)
            if not with_filter or i % 2 == 0
        }
        assert set(keys) == expected

    def test_scan_all(self, store):
        fill(store, n=30)
        assert sorted(i["n"] for i in store.scan_all(limit=4)) == list(range(30))


class TestSegments:
    @pytest.mark.parametrize("total", [1, 2, 3, 7, 16, 100])
    def test_segments_are_disjoint_and_cover_the_table(self, store, total):
        store.batch_write(puts=[{"pk": f"u{i}", "sk": "x", "i": i} for i in range(200)])
        seen: list[int] = []
        for segment in range(total):
            items, _ = collect_pages(store.scan, segment=segment, total_segments=total, limit=17)
            seen.extend(i["i"] for i in items)
        assert sorted(seen) == list(range(200))

    def test_each_segment_reads_only_its_share(self, store):
        store.batch_write(puts=[{"pk": f"u{i}"} for i in range(400)])
        scanned = [store.scan(segment=s, total_segments=4).scanned_count for s in range(4)]
        assert sum(scanned) == 400
        assert all(50 <= n <= 150 for n in scanned), scanned

    @pytest.mark.parametrize(("segment", "total"), [(0, 0), (1, 1), (-1, 2), (0, 1_000_001)])
    def test_invalid_segments(self, store, segment, total):
        with pytest.raises(ValidationError, match="[sS]egment"):
            store.scan(segment=segment, total_segments=total)

    def test_start_key_from_another_segment_is_refused(self, store):
        store.batch_write(puts=[{"pk": f"u{i}"} for i in range(50)])
        page = store.scan(segment=0, total_segments=2, limit=1)
        assert page.last_key is not None
        with pytest.raises(ValidationError, match="[sS]egment"):
            store.scan(segment=1, total_segments=2, start=page.last_key)
