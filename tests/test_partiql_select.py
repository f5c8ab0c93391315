"""PartiQL SELECT: predicates, planning (get / query / scan), ORDER BY, LIMIT/OFFSET, projection."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import keystone
from keystone import ValidationError
from keystone.partiql import execute, prepare
from keystone.partiql.plans import GetPlan, ReadPlan


def ids(page) -> list[str]:
    return sorted(f"{i['pk']}/{i.get('sk', '-')}" for i in page)


def sks(page) -> list[str]:
    return [i["sk"] for i in page]


def fill(store: keystone.Store) -> None:
    """Four partitions of ten items (p0..p3 / k0..k9), plus one item without a sort key."""
    items = []
    for p in range(4):
        for i in range(10):
            item: dict[str, Any] = {
                "pk": f"p{p}",
                "sk": f"k{i}",
                "n": i,
                "name": f"item {p}-{i}",
                "tags": ["all", f"t{i % 3}"],
                "m": {"depth": {"v": i}, "list": [i, i * 2]},
                "b": bytes([i]),
            }
            if i % 2:
                item["odd"] = True
            if i == 0:
                item["nothing"] = None
            if i < 3:
                item["ss"] = {f"s{i}", "shared"}
            items.append(item)
    items.append({"pk": "p0", "v": "no sort key", "n": 100})
    store.batch_write(puts=items)


class Spy:
    """A database that records which operations a plan called, and how."""

    def __init__(self, db: keystone.Database) -> None:
        self.db = db
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    @property
    def schema(self) -> keystone.Schema:
        return self.db.schema

    def __getattr__(self, name: str) -> Any:
        operation = getattr(self.db, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            # (a plan runs a Table's ``_query``: ``query`` whose filter may name keys)
            self.calls.append((name.removeprefix("_"), args, kwargs))
            return operation(*args, **kwargs)

        return call

    def run(self, statement: str, parameters: list[Any] | None = None) -> keystone.Page:
        self.calls.clear()
        return execute(self, statement, parameters)  # type: ignore[arg-type]

    @property
    def operations(self) -> list[str]:
        return [name for name, _, _ in self.calls]


@pytest.fixture
def filled(store):
    fill(store)
    return store


@pytest.fixture
def spy(db):
    fill(db)
    return Spy(db)


class TestPredicates:
    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            ("n = 3", ["p0/k3", "p1/k3", "p2/k3", "p3/k3"]),
            ("n <> 3 AND pk = 'p1'", [f"p1/k{i}" for i in range(10) if i != 3]),
            ("n != 3 AND pk = 'p1'", [f"p1/k{i}" for i in range(10) if i != 3]),
            ("n < 2 AND pk = 'p2'", ["p2/k0", "p2/k1"]),
            ("n <= 1 AND pk = 'p2'", ["p2/k0", "p2/k1"]),
            ("n > 98", ["p0/-"]),
            ("n >= 9", ["p0/-", "p0/k9", "p1/k9", "p2/k9", "p3/k9"]),
            ("n BETWEEN 4 AND 5 AND pk = 'p3'", ["p3/k4", "p3/k5"]),
            ("n IN [1, 2] AND pk = 'p3'", ["p3/k1", "p3/k2"]),
            ("n IN (1, 2) AND pk = 'p3'", ["p3/k1", "p3/k2"]),
            ("n NOT IN (1, 2) AND n < 4 AND pk = 'p3'", ["p3/k0", "p3/k3"]),
            ("n NOT BETWEEN 1 AND 8 AND pk = 'p3'", ["p3/k0", "p3/k9"]),
            ("(n = 1 OR n = 2) AND pk = 'p3'", ["p3/k1", "p3/k2"]),
            ("n = 1 OR n = 2 AND pk = 'p3'", ["p0/k1", "p1/k1", "p2/k1", "p3/k1", "p3/k2"]),
            ("NOT n < 9", ["p0/-", "p0/k9", "p1/k9", "p2/k9", "p3/k9"]),
            ("begins_with(name, 'item 2-') AND n > 7", ["p2/k8", "p2/k9"]),
            ("contains(tags, 't2') AND pk = 'p1'", ["p1/k2", "p1/k5", "p1/k8"]),
            ("contains(name, '3-4')", ["p3/k4"]),
            ("contains(ss, 's1') AND pk = 'p0'", ["p0/k1"]),
            ("attribute_exists(v)", ["p0/-"]),
            ("attribute_not_exists(sk)", ["p0/-"]),
            ("sk IS MISSING", ["p0/-"]),
            ("odd IS NOT MISSING AND pk = 'p0' AND n < 5", ["p0/k1", "p0/k3"]),
            ("nothing IS NULL AND pk = 'p1'", ["p1/k0"]),
            ("nothing IS NOT NULL", []),
            ("odd IS NOT NULL AND pk = 'p0' AND n < 4", ["p0/k1", "p0/k3"]),
            ("nothing = null AND pk = 'p1'", ["p1/k0"]),
            ("odd = true AND pk = 'p2' AND n > 6", ["p2/k7", "p2/k9"]),
            ("m.depth.v = 6 AND pk = 'p0'", ["p0/k6"]),
            ("m.list[1] = 8 AND pk = 'p0'", ["p0/k4"]),
            ("m['depth'].v = 6 AND pk = 'p0'", ["p0/k6"]),
            ("tags[1] = 't0' AND pk = 'p0'", ["p0/k0", "p0/k3", "p0/k6", "p0/k9"]),
            ("\"name\" = 'item 1-1'", ["p1/k1"]),
            ("size(tags) = 2 AND n = 0", ["p0/k0", "p1/k0", "p2/k0", "p3/k0"]),
            ("b = ? AND pk = 'p0'", ["p0/k5"]),
            ("m = {'depth': {'v': 2}, 'list': [2, 4]}", ["p0/k2", "p1/k2", "p2/k2", "p3/k2"]),
            ("tags = ['all', 't1'] AND pk = 'p0'", ["p0/k1", "p0/k4", "p0/k7"]),
            ("ss = <<'shared', 's2'>>", ["p0/k2", "p1/k2", "p2/k2", "p3/k2"]),
            ("n = 1.0 AND pk = 'p1'", ["p1/k1"]),
            ("3 = n AND 'p1' = pk", ["p1/k3"]),
            ("n = 'text'", []),
            ("n < 'text'", []),
        ],
    )
    def test_where(self, filled, where, expected):
        params = [bytes([5])] if "?" in where else None
        page = filled.execute(f"SELECT * FROM t WHERE {where}", params)
        assert ids(page) == sorted(expected)
        assert page.count == len(expected) and page.last_key is None

    def test_no_where_returns_every_item(self, filled):
        page = filled.execute("SELECT * FROM t")
        assert page.count == 41 and page.scanned_count == 41

    def test_string_comparison_is_by_code_point(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p0' AND name >= 'item 0-8'")
        assert sks(page) == ["k8", "k9"]

    def test_invalid_operands_are_reported_with_their_position(self, filled):
        with pytest.raises(
            ValidationError, match=r"operator or function: begins_with, operand type: N"
        ):
            filled.execute("SELECT * FROM t WHERE begins_with(n, 3)")
        with pytest.raises(
            ValidationError,
            match=r"requires upper bound to be greater than or equal to lower bound; "
            r"lower bound operand: AttributeValue: \{N:5\}",
        ):
            filled.execute("SELECT * FROM t WHERE n BETWEEN ? AND ?", [5, 1])


class TestPlanning:
    def test_partition_key_equality_runs_a_query_of_that_partition_only(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p2'")
        assert page.count == 10
        assert page.scanned_count == 10  # the partition, not the 41 items of the table
        assert sks(page) == [f"k{i}" for i in range(10)]  # in sort-key order

    def test_other_predicates_filter_the_partition(self, filled):
        page = filled.execute("SELECT * FROM t WHERE n > 6 AND pk = ?", ["p1"])
        assert sks(page) == ["k7", "k8", "k9"]
        assert page.scanned_count == 10

    @pytest.mark.parametrize(
        ("predicate", "expected"),
        [
            ("sk = 'k4' AND n >= 0", ["k4"]),
            ("sk < 'k2'", ["k0", "k1"]),
            ("sk <= 'k2'", ["k0", "k1", "k2"]),
            ("sk > 'k7'", ["k8", "k9"]),
            ("sk >= 'k7'", ["k7", "k8", "k9"]),
            ("sk BETWEEN 'k3' AND 'k5'", ["k3", "k4", "k5"]),
            ("begins_with(sk, 'k1')", ["k1"]),
            ("'k7' < sk", ["k8", "k9"]),
            ("'k2' >= sk", ["k0", "k1", "k2"]),
        ],
    )
    def test_sort_key_predicates_are_pushed_down(self, filled, predicate, expected):
        page = filled.execute(f"SELECT * FROM t WHERE pk = 'p3' AND {predicate}")
        assert sks(page) == expected
        # Only the sort-key range was read.
        assert page.scanned_count == len(expected)

    def test_the_pushed_down_condition_reaches_query(self, spy):
        spy.run("SELECT * FROM t WHERE pk = ? AND sk BETWEEN ? AND ? AND n > 1", ["p1", "k1", "k4"])
        assert spy.operations == ["query"]
        (_, args, kwargs) = spy.calls[0]
        assert args[0] == "p1"
        assert args[1] == keystone.sk.between("k1", "k4")
        assert kwargs["filter"] == "#p0 > :p0"
        assert kwargs["names"] == {"#p0": "n"} and kwargs["values"] == {":p0": 1}

    def test_a_second_sort_key_predicate_stays_in_the_filter(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' AND sk >= 'k2' AND sk < 'k5'")
        assert sks(page) == ["k2", "k3", "k4"]
        assert page.scanned_count == 8  # k2..k9 read, k5..k9 filtered out

    def test_full_key_without_other_predicates_is_a_get(self, spy):
        page = spy.run("SELECT * FROM t WHERE pk = ? AND sk = ?", ["p2", "k3"])
        assert spy.operations == ["get"]
        assert page.items[0]["name"] == "item 2-3"
        assert (page.count, page.scanned_count, page.last_key) == (1, 1, None)

    def test_get_of_a_missing_item_is_an_empty_page(self, spy):
        page = spy.run("SELECT * FROM t WHERE sk = 'nope' AND pk = 'p2'")
        assert spy.operations == ["get"]
        assert (page.items, page.count, page.scanned_count) == ([], 0, 0)

    def test_full_key_with_a_projection_is_a_get(self, spy):
        page = spy.run("SELECT name, m.depth FROM t WHERE pk = 'p2' AND sk = 'k3'")
        assert spy.operations == ["get"]
        assert page.items == [{"name": "item 2-3", "m": {"depth": {"v": 3}}}]

    def test_full_key_with_a_filter_is_a_query_of_one_item(self, spy):
        page = spy.run("SELECT * FROM t WHERE pk = 'p2' AND sk = 'k3' AND n = 4")
        assert spy.operations == ["query"]
        assert (page.count, page.scanned_count) == (0, 1)

    @pytest.mark.parametrize(
        "where",
        [
            "pk = 'p1' OR n = 1",
            "pk <> 'p1'",
            "pk > 'p1'",
            "begins_with(pk, 'p1')",
            "pk = name",
            "NOT pk = 'p1'",
            "pk IN ['p1']",
            "pk.x = 'p1'",
        ],
    )
    def test_anything_else_is_a_scan(self, spy, where):
        page = spy.run(f"SELECT * FROM t WHERE {where}")
        assert spy.operations == ["scan"]
        assert page.scanned_count == 41

    def test_a_scan_filter_is_the_whole_where_clause(self, spy):
        spy.run("SELECT * FROM t WHERE n = 1 OR (name = 'x' AND NOT odd = true)")
        (_, _, kwargs) = spy.calls[0]
        assert kwargs["filter"] == "(#p0 = :p0 OR (#p1 = :p1 AND NOT (#p2 = :p2)))"

    def test_partition_key_of_the_wrong_type(self, filled):
        with pytest.raises(ValidationError, match="partition key 'pk' must be str or bytes"):
            filled.execute("SELECT * FROM t WHERE pk = ?", [1])
        # A number reaches the table (typed tables take N sort keys); an untyped one refuses it.
        with pytest.raises(ValidationError, match=r"sort key condition value must be str"):
            filled.execute("SELECT * FROM t WHERE pk = 'p1' AND sk > ?", [1])

    def test_a_null_sort_key_never_addresses_the_item_without_sort_key(self, filled):
        with pytest.raises(ValidationError, match="sort key 'sk', must be str or bytes"):
            filled.execute("SELECT * FROM t WHERE pk = 'p0' AND sk = ?", [None])

    def test_a_table_without_sort_key_gets_by_partition_key(self, tmp_path):
        with keystone.Database.open(tmp_path / "nosk", keystone.Schema("id", None)) as db:
            db.put({"id": "a", "sk": "just an attribute"})
            spy = Spy(db)
            page = spy.run("SELECT * FROM t WHERE id = 'a'")
            assert spy.operations == ["get"] and page.count == 1
            page = spy.run("SELECT * FROM t WHERE id = 'a' AND sk = 'just an attribute'")
            assert spy.operations == ["query"] and page.count == 1
            with pytest.raises(ValidationError, match="ORDER BY needs a sort key"):
                db.execute("SELECT * FROM t WHERE id = 'a' ORDER BY sk")

    def test_custom_key_attribute_names_are_planned_for(self, tmp_path):
        schema = keystone.Schema("user", "ts")
        with keystone.Database.open(tmp_path / "custom", schema) as db:
            db.batch_write(puts=[{"user": "u", "ts": f"{i:02d}"} for i in range(20)])
            page = db.execute("SELECT * FROM t WHERE user = 'u' AND ts > '15'")
            assert [i["ts"] for i in page] == ["16", "17", "18", "19"]
            assert page.scanned_count == 4


class TestOrderBy:
    def test_ascending_is_the_default(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' AND sk > 'k6' ORDER BY sk")
        assert sks(page) == ["k7", "k8", "k9"]
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' AND sk > 'k6' ORDER BY sk ASC")
        assert sks(page) == ["k7", "k8", "k9"]

    def test_descending_reverses_the_query(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' AND sk > 'k6' ORDER BY sk DESC")
        assert sks(page) == ["k9", "k8", "k7"]

    def test_descending_with_limit_takes_the_last_items(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' ORDER BY sk DESC LIMIT 2")
        assert sks(page) == ["k9", "k8"]
        assert page.scanned_count == 2

    def test_order_by_on_a_scan_is_refused(self, filled):
        with pytest.raises(ValidationError, match=r"column 38: ORDER BY needs a query"):
            filled.execute("SELECT * FROM t WHERE n = 1 ORDER BY sk")

    def test_order_by_another_attribute_is_refused(self, filled):
        with pytest.raises(ValidationError, match=r"column 42: ORDER BY orders by the sort key"):
            filled.execute("SELECT * FROM t WHERE pk = 'p1' ORDER BY n")

    def test_order_by_a_single_item_get(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' AND sk = 'k1' ORDER BY sk DESC")
        assert sks(page) == ["k1"]


class TestLimitOffset:
    def test_limit_takes_the_first_matching_items(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' LIMIT 3")
        assert sks(page) == ["k0", "k1", "k2"]
        assert (page.count, page.scanned_count, page.last_key) == (3, 3, None)

    def test_offset_skips_matching_items(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' LIMIT 3 OFFSET 2")
        assert sks(page) == ["k2", "k3", "k4"]
        assert page.scanned_count == 5

    def test_offset_without_limit(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' OFFSET 8")
        assert sks(page) == ["k8", "k9"]

    def test_limit_and_offset_count_items_after_the_filter(self, filled):
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' AND odd = true LIMIT 2 OFFSET 1")
        assert sks(page) == ["k3", "k5"]
        assert page.count == 2

    def test_limit_zero_and_offsets_past_the_end(self, filled):
        assert filled.execute("SELECT * FROM t WHERE pk = 'p1' LIMIT 0").items == []
        assert filled.execute("SELECT * FROM t WHERE pk = 'p1' OFFSET 50").items == []
        page = filled.execute("SELECT * FROM t WHERE pk = 'p1' AND sk = 'k1' OFFSET 1")
        assert page.items == [] and page.count == 0

    def test_limit_on_a_scan_stops_reading_early(self, filled):
        page = filled.execute("SELECT * FROM t LIMIT 5")
        assert page.count == 5 and page.scanned_count == 5

    def test_limit_follows_pages(self, db):
        big = "x" * 100_000  # about ten items fill a 1 MB page
        db.batch_write(puts=[{"pk": "big", "sk": f"k{i:02d}", "data": big} for i in range(30)])
        page = db.execute("SELECT sk FROM t WHERE pk = 'big' LIMIT 5 OFFSET 20")
        assert sks(page) == [f"k{i}" for i in range(20, 25)]
        assert page.scanned_count == 25 and page.last_key is None
        everything = db.execute("SELECT sk FROM t WHERE pk = 'big'")
        assert everything.count == 30 and everything.last_key is None
        filtered = db.execute("SELECT sk FROM t WHERE pk = 'big' AND sk >= 'k00' LIMIT 3")
        assert sks(filtered) == ["k00", "k01", "k02"]


class TestProjection:
    def test_select_list_projects_attributes_and_paths(self, filled):
        page = filled.execute(
            "SELECT name, m.depth.v, m.list[1], tags[0] FROM t WHERE pk = 'p1' AND n = 2"
        )
        assert page.items == [
            {"name": "item 1-2", "m": {"depth": {"v": 2}, "list": [4]}, "tags": ["all"]}
        ]

    def test_missing_attributes_are_left_out(self, filled):
        page = filled.execute("SELECT odd, nope FROM t WHERE pk = 'p1' AND sk < 'k2'")
        assert page.items == [{}, {"odd": True}]

    def test_projection_with_a_scan(self, filled):
        page = filled.execute("SELECT pk FROM t WHERE n = 100")
        assert page.items == [{"pk": "p0"}]

    def test_overlapping_paths_are_refused(self, filled):
        with pytest.raises(
            ValidationError, match=r"overlap.*path one: \[m\], path two: \[m, list\]"
        ):
            filled.execute("SELECT m, m.list FROM t")


def _index_schema() -> keystone.Schema:
    if not hasattr(keystone, "GlobalIndex") or "global_indexes" not in getattr(
        keystone.Schema, "__dataclass_fields__", {}
    ):
        pytest.skip("this build's Schema has no indexes")
    return keystone.Schema(
        global_indexes=[keystone.GlobalIndex("by_name", "name", "n_text")],
        local_indexes=[keystone.LocalIndex("by_label", "label")],
    )


class TestIndexes:
    @pytest.fixture
    def indexed(self, tmp_path):
        with keystone.Database.open(tmp_path / "idx", _index_schema()) as db:
            db.batch_write(
                puts=[
                    {
                        "pk": f"p{i % 2}",
                        "sk": f"k{i}",
                        "name": "even" if i % 2 == 0 else "odd",
                        "n_text": f"{i:02d}",
                        "label": f"l{9 - i}",
                    }
                    for i in range(10)
                ]
            )
            yield db

    def test_select_from_a_global_index_queries_it_by_its_keys(self, indexed):
        spy = Spy(indexed)
        page = spy.run(
            'SELECT * FROM t."by_name" WHERE name = ? AND n_text >= ? ORDER BY n_text DESC',
            ["odd", "05"],
        )
        assert spy.operations == ["query"]
        (_, args, kwargs) = spy.calls[0]
        assert args[:2] == ("odd", keystone.sk.ge("05"))
        assert kwargs["index"] == "by_name" and kwargs["reverse"] is True
        assert [i["n_text"] for i in page] == ["09", "07", "05"]

    def test_the_index_sort_key_is_pushed_down_and_the_table_key_is_filtered(self, indexed):
        page = indexed.execute(
            "SELECT sk FROM t.by_name WHERE name = 'even' AND n_text < '05' AND pk = 'p0'"
        )
        assert sks(page) == ["k0", "k2", "k4"]
        assert page.scanned_count == 3

    def test_select_from_a_local_index_uses_the_table_partition_key(self, indexed):
        page = indexed.execute(
            "SELECT sk FROM t.\"by_label\" WHERE pk = 'p1' AND label > 'l4' ORDER BY label"
        )
        assert sks(page) == ["k3", "k1"]  # labels l6, l8

    def test_an_index_full_key_is_not_a_get(self, indexed):
        spy = Spy(indexed)
        page = spy.run("SELECT * FROM t.by_name WHERE name = 'odd' AND n_text = '03'")
        assert spy.operations == ["query"] and sks(page) == ["k3"]

    def test_a_scan_of_an_index(self, indexed):
        spy = Spy(indexed)
        page = spy.run("SELECT * FROM t.\"by_name\" WHERE n_text > '07'")
        assert spy.operations == ["scan"] and spy.calls[0][2]["index"] == "by_name"
        assert sorted(sks(page)) == ["k8", "k9"]

    def test_order_by_needs_the_index_sort_key(self, indexed):
        with pytest.raises(ValidationError, match="sort key 'n_text' only, not 'sk'"):
            indexed.execute("SELECT * FROM t.by_name WHERE name = 'odd' ORDER BY sk")

    def test_an_unknown_index_is_named(self, indexed):
        with pytest.raises(
            ValidationError, match=r"column 15: index 'nope' does not exist; the indexes are"
        ):
            indexed.execute('SELECT * FROM t."nope"')

    def test_writes_to_an_index_are_refused(self, indexed):
        with pytest.raises(ValidationError, match="writes to the table, not to an index"):
            indexed.execute("DELETE FROM t.by_name WHERE pk = 'p0' AND sk = 'k0'")


class TestNumberIndexKeys:
    """Index keys may be numbers: the pushed-down condition keeps the filter's meaning."""

    @pytest.fixture
    def scored(self, tmp_path):
        _index_schema()
        schema = keystone.Schema(
            global_indexes=[keystone.GlobalIndex("by_level", "level", "score")]
        )
        with keystone.Database.open(tmp_path / "numbers", schema) as db:
            for i in range(6):
                db.put({"pk": f"p{i}", "level": i % 2, "score": i * 10})
            db.put({"pk": "s", "level": 1, "score": "thirty"})  # a string sort key
            yield db

    @pytest.mark.parametrize(
        ("where", "params", "expected"),
        [
            ("level = 1", [], ["p1", "p3", "p5", "s"]),  # numbers before strings
            ("level = ? AND score > ?", [1, 10], ["p3", "p5"]),
            ("level = 1 AND score BETWEEN 10 AND 30", [], ["p1", "p3"]),
            ("level = 1 AND score < 'z'", [], ["s"]),  # a string condition: strings only
            ("level = 1.0 AND score >= 50.0", [], ["p5"]),
        ],
    )
    def test_number_keys_in_where(self, scored, where, params, expected):
        spy = Spy(scored)
        page = spy.run(f'SELECT pk FROM t."by_level" WHERE {where}', params)
        assert spy.operations == ["query"]
        assert [i["pk"] for i in page] == expected

    def test_order_by_a_number_sort_key(self, scored):
        page = scored.execute('SELECT pk FROM t."by_level" WHERE level = 1 ORDER BY score DESC')
        assert [i["pk"] for i in page.items] == ["s", "p5", "p3", "p1"]

    def test_the_table_sort_key_stays_a_string_or_binary(self, scored):
        with pytest.raises(ValidationError, match="sort key condition value must be str or bytes"):
            scored.execute("SELECT * FROM t WHERE pk = 'p1' AND sk > 3")


def test_plans_are_chosen_once_per_statement(db):
    fill(db)
    assert isinstance(prepare(db, "SELECT * FROM t WHERE pk = ? AND sk = ?"), GetPlan)
    assert isinstance(prepare(db, "SELECT * FROM t WHERE pk = ?"), ReadPlan)
    assert prepare(db, "SELECT n FROM t WHERE n = 1.5").bindings.values[0][1]([]) == Decimal("1.5")
