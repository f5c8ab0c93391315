"""PartiQL INSERT, UPDATE and DELETE: one item each, addressed by its full key."""

from __future__ import annotations

from decimal import Decimal

import pytest

import keystone
from keystone import ConditionalCheckFailed, ValidationError


@pytest.fixture
def filled(store):
    store.put({"pk": "a", "sk": "1", "n": 1, "tags": ["x"], "m": {"k": "v"}, "s": "old"})
    store.put({"pk": "a", "sk": "2", "n": 2})
    return store


class TestInsert:
    def test_insert_stores_the_item_and_returns_an_empty_page(self, store):
        page = store.execute("INSERT INTO t VALUE {'pk': 'a', 'sk': 'b', 'n': 1.5, 'ok': true}")
        assert (page.items, page.count, page.last_key) == ([], 0, None)
        assert store.get("a", "b") == {"pk": "a", "sk": "b", "n": Decimal("1.5"), "ok": True}

    def test_inserting_an_existing_item_fails_and_changes_nothing(self, filled):
        with pytest.raises(ConditionalCheckFailed):
            filled.execute("INSERT INTO t VALUE {'pk': 'a', 'sk': '1', 'n': 99}")
        assert filled.get("a", "1")["n"] == 1

    def test_an_item_with_another_sort_key_is_another_item(self, filled):
        filled.execute("INSERT INTO t VALUE {'pk': 'a', 'sk': '3'}")
        filled.execute("INSERT INTO t VALUE {'pk': 'a'}")  # no sort key at all
        assert filled.get("a", "3") == {"pk": "a", "sk": "3"}
        assert filled.get("a") == {"pk": "a"}

    def test_the_item_may_be_one_parameter(self, store):
        store.execute("INSERT INTO t VALUE ?", [{"pk": "p", "sk": "s", "v": {1, 2}}])
        assert store.get("p", "s") == {"pk": "p", "sk": "s", "v": {1, 2}}

    def test_parameters_inside_the_item(self, store):
        store.execute(
            "INSERT INTO t VALUE {'pk': ?, 'sk': ?, 'l': [?, {'k': ?}], 'ss': <<?, ?>>}",
            ["p", "s", 1, b"\x00", "x", "y"],
        )
        assert store.get("p", "s") == {
            "pk": "p",
            "sk": "s",
            "l": [1, {"k": b"\x00"}],
            "ss": {"x", "y"},
        }

    def test_an_item_that_is_not_a_map_is_refused(self, store):
        with pytest.raises(ValidationError, match=r"column 21: INSERT takes one item: a map"):
            store.execute("INSERT INTO t VALUE 'text'")
        with pytest.raises(ValidationError, match=r"parameter 1 .*INSERT takes a map.*got list"):
            store.execute("INSERT INTO t VALUE ?", [[1, 2]])

    def test_an_item_without_partition_key_is_refused(self, store):
        with pytest.raises(ValidationError, match="no partition key attribute 'pk'"):
            store.execute("INSERT INTO t VALUE {'sk': 'b'}")

    def test_a_key_of_the_wrong_type_is_refused(self, store):
        with pytest.raises(ValidationError, match="must be str or bytes"):
            store.execute("INSERT INTO t VALUE {'pk': 1}")


class TestUpdate:
    def test_set_and_arithmetic_return_the_new_item(self, filled):
        page = filled.execute(
            "UPDATE t SET n = n + 10, s = 'new', added = ? WHERE pk = 'a' AND sk = '1'", [True]
        )
        assert page.count == 1 and page.scanned_count == 1 and page.last_key is None
        assert page.items == [
            {
                "pk": "a",
                "sk": "1",
                "n": 11,
                "tags": ["x"],
                "m": {"k": "v"},
                "s": "new",
                "added": True,
            }
        ]
        assert filled.get("a", "1") == page.items[0]

    def test_several_set_clauses_and_remove(self, filled):
        page = filled.execute(
            "UPDATE t SET n = n - 3 SET m.k = 'w', m.z = [1] REMOVE s, tags[0] "
            "WHERE pk = 'a' AND sk = '1'"
        )
        assert page.items == [
            {"pk": "a", "sk": "1", "n": -2, "tags": [], "m": {"k": "w", "z": [1]}}
        ]

    def test_remove_only(self, filled):
        page = filled.execute("UPDATE t REMOVE s WHERE pk = 'a' AND sk = '1'")
        assert "s" not in page.items[0]

    def test_list_append_and_if_not_exists(self, filled):
        page = filled.execute(
            "UPDATE t SET tags = list_append(tags, ['y', ?]), c = if_not_exists(c, 0) + 1, "
            "n = if_not_exists(n, 100) WHERE pk = 'a' AND sk = '1'",
            ["z"],
        )
        item = page.items[0]
        assert item["tags"] == ["x", "y", "z"] and item["c"] == 1 and item["n"] == 1

    def test_set_arithmetic_is_exact(self, filled):
        filled.execute("UPDATE t SET d = 0.1 WHERE pk = 'a' AND sk = '2'")
        page = filled.execute("UPDATE t SET d = d + 0.2 WHERE pk = 'a' AND sk = '2'")
        assert page.items[0]["d"] == Decimal("0.3")

    def test_updating_a_missing_item_fails_and_creates_nothing(self, filled):
        with pytest.raises(ConditionalCheckFailed):
            filled.execute("UPDATE t SET n = 1 WHERE pk = 'a' AND sk = 'nope'")
        assert filled.get("a", "nope") is None

    def test_extra_predicates_are_the_condition(self, filled):
        page = filled.execute("UPDATE t SET n = 5 WHERE pk = 'a' AND sk = '1' AND n = 1")
        assert page.items[0]["n"] == 5
        with pytest.raises(ConditionalCheckFailed):
            filled.execute("UPDATE t SET n = 6 WHERE pk = 'a' AND sk = '1' AND n = 1")
        with pytest.raises(ConditionalCheckFailed):
            filled.execute("UPDATE t SET n = 6 WHERE pk = 'a' AND sk = '1' AND (s IS MISSING)")
        assert filled.get("a", "1")["n"] == 5

    def test_key_predicates_may_come_in_any_order_and_orientation(self, filled):
        page = filled.execute("UPDATE t SET n = 7 WHERE n = 2 AND '2' = sk AND pk = ?", ["a"])
        assert page.items[0]["n"] == 7

    @pytest.mark.parametrize(
        ("where", "missing"),
        [
            ("pk = 'a'", "sk"),
            ("sk = '1'", "pk"),
            ("n = 1", "pk, sk"),
            ("pk = 'a' OR sk = '1'", "pk, sk"),
            ("pk = 'a' AND sk > '1'", "sk"),
            ("pk = 'a' AND sk = n", "sk"),
        ],
    )
    def test_the_full_key_is_required(self, filled, where, missing):
        with pytest.raises(ValidationError) as info:
            filled.execute(f"UPDATE t SET n = 0 WHERE {where}")
        message = str(info.value)
        assert message.startswith("PartiQL error at line 1, column 20: UPDATE needs the item's")
        assert message.endswith(f"(pk = <value> AND sk = <value>); missing: {missing}")
        assert filled.get("a", "1")["n"] == 1

    def test_key_attributes_cannot_be_set(self, filled):
        with pytest.raises(
            ValidationError, match="Cannot update attribute sk. This attribute is part of the key"
        ):
            filled.execute("UPDATE t SET sk = 'x' WHERE pk = 'a' AND sk = '1'")

    def test_arithmetic_on_a_missing_attribute_names_it(self, filled):
        with pytest.raises(ValidationError, match="does not exist in the item; path: nope"):
            filled.execute("UPDATE t SET n = nope + 1 WHERE pk = 'a' AND sk = '1'")

    def test_overlapping_paths_name_the_attributes(self, filled):
        with pytest.raises(ValidationError, match=r"path one: \[m\], path two: \[m, k\]"):
            filled.execute("UPDATE t SET m = {} REMOVE m.k WHERE pk = 'a' AND sk = '1'")

    def test_a_table_without_sort_key_needs_only_the_partition_key(self, tmp_path):
        with keystone.Database.open(tmp_path / "nosk", keystone.Schema("id", None)) as db:
            db.put({"id": "x", "n": 1})
            assert db.execute("UPDATE t SET n = n + 1 WHERE id = 'x'").items[0]["n"] == 2
            db.execute("DELETE FROM t WHERE id = 'x'")
            assert db.get("x") is None


class TestDelete:
    def test_delete_removes_the_item_and_returns_an_empty_page(self, filled):
        page = filled.execute("DELETE FROM t WHERE pk = 'a' AND sk = ?", ["1"])
        assert (page.items, page.count) == ([], 0)
        assert filled.get("a", "1") is None
        assert filled.get("a", "2") is not None

    def test_deleting_a_missing_item_is_not_an_error(self, filled):
        filled.execute("DELETE FROM t WHERE pk = 'a' AND sk = 'nope'")

    def test_extra_predicates_are_the_condition(self, filled):
        with pytest.raises(ConditionalCheckFailed):
            filled.execute("DELETE FROM t WHERE pk = 'a' AND sk = '1' AND n > 1")
        assert filled.get("a", "1") is not None
        filled.execute("DELETE FROM t WHERE pk = 'a' AND sk = '1' AND n = 1 AND s = 'old'")
        assert filled.get("a", "1") is None

    def test_the_full_key_is_required(self, filled):
        with pytest.raises(ValidationError, match=r"column 15: DELETE needs .*missing: sk"):
            filled.execute("DELETE FROM t WHERE pk = 'a'")
        assert filled.get("a", "1") is not None and filled.get("a", "2") is not None

    def test_a_null_sort_key_does_not_address_the_item_without_sort_key(self, filled):
        filled.put({"pk": "a", "keep": True})
        with pytest.raises(ValidationError, match="sort key 'sk', must be str or bytes"):
            filled.execute("DELETE FROM t WHERE pk = 'a' AND sk = ?", [None])
        assert filled.get("a") == {"pk": "a", "keep": True}
