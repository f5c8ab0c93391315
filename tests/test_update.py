"""``update``: every action of the update grammar through the database, its
conditions, its five ``returns`` modes, upserts, and the errors that must
leave the item exactly as it was."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

import keystone
from keystone import ConditionalCheckFailed, ValidationError


@pytest.fixture
def profile(store: keystone.Store) -> dict[str, Any]:
    """A stored item with flat, nested, list and set attributes."""
    item = {
        "pk": "user#1",
        "sk": "profile",
        "name": "Ada",
        "visits": 10,
        "balance": Decimal("0.1"),
        "address": {"city": "London", "geo": {"lat": Decimal("51.5"), "lon": 0}},
        "tags": ["a", "b", "c"],
        "perms": {"admin", "dev"},
        "scores": {1, 2, 3},
        "orders": [{"id": 1, "goods": {"x"}}, {"id": 2, "goods": {"y", "z"}}],
    }
    store.put(item)
    return item


def upd(store: keystone.Store, expression: str, **kwargs: Any) -> Any:
    return store.update("user#1", "profile", update=expression, **kwargs)


class TestSet:
    def test_assignment_adds_and_replaces_top_level_attributes(self, store, profile):
        new = upd(
            store,
            "SET #n = :n, email = :e",
            names={"#n": "name"},
            values={":n": "Grace", ":e": "g@x"},
        )
        assert new == {**profile, "name": "Grace", "email": "g@x"}
        assert store.get("user#1", "profile") == new

    def test_assignment_on_nested_map_paths(self, store, profile):
        new = upd(
            store, "SET address.geo.lat = :lat, address.zip = :z", values={":lat": 48, ":z": "N1"}
        )
        assert new["address"] == {"city": "London", "zip": "N1", "geo": {"lat": 48, "lon": 0}}

    def test_assignment_to_a_list_index_replaces_the_element(self, store, profile):
        assert upd(store, "SET tags[1] = :v", values={":v": "B"})["tags"] == ["a", "B", "c"]

    def test_assignment_past_the_end_of_a_list_appends(self, store, profile):
        assert upd(store, "SET tags[10] = :v", values={":v": "z"})["tags"] == ["a", "b", "c", "z"]

    def test_assignment_inside_a_list_of_maps(self, store, profile):
        new = upd(store, "SET orders[1].id = :v", values={":v": 20})
        assert [o["id"] for o in new["orders"]] == [1, 20]

    def test_copying_one_attribute_into_another(self, store, profile):
        new = upd(store, "SET city = address.city, top = tags[0]")
        assert (new["city"], new["top"]) == ("London", "a")

    def test_values_are_read_from_the_item_before_the_update(self, store, profile):
        new = upd(store, "SET visits = :v, earlier = visits", values={":v": 99})
        assert (new["visits"], new["earlier"]) == (99, 10)

    def test_plus_and_minus_on_flat_and_nested_numbers(self, store, profile):
        new = upd(
            store,
            "SET visits = visits + :one, address.geo.lon = address.geo.lon - :d",
            values={":one": 1, ":d": Decimal("0.25")},
        )
        assert new["visits"] == 11
        assert new["address"]["geo"]["lon"] == Decimal("-0.25")

    def test_decimal_arithmetic_is_exact(self, store, profile):
        new = upd(store, "SET balance = balance + :d", values={":d": Decimal("0.2")})
        assert new["balance"] == Decimal("0.3")
        assert str(store.get("user#1", "profile")["balance"]) == "0.3"

    def test_float_operands_are_their_shortest_decimal(self, store, profile):
        new = upd(store, "SET balance = balance + :d", values={":d": 0.2})
        assert new["balance"] == Decimal("0.3")

    def test_38_significant_digits_are_kept(self, store):
        big = Decimal("1" * 37 + "0")
        store.update("n", update="SET v = :a + :b", values={":a": big, ":b": 5})
        assert store.get("n")["v"] == int("1" * 36 + "15")

    def test_integral_results_come_back_as_int(self, store, profile):
        new = upd(store, "SET balance = balance + :d", values={":d": Decimal("0.9")})
        assert new["balance"] == 1 and type(new["balance"]) is int

    def test_list_append_at_either_end(self, store, profile):
        new = upd(store, "SET tags = list_append(tags, :tail)", values={":tail": ["d"]})
        assert new["tags"] == ["a", "b", "c", "d"]
        new = upd(store, "SET tags = list_append(:head, tags)", values={":head": ["z"]})
        assert new["tags"] == ["z", "a", "b", "c", "d"]

    def test_list_append_on_a_nested_list(self, store):
        store.put({"pk": "l", "m": {"journal": [1]}})
        new = store.update(
            "l", update="SET m.journal = list_append(m.journal, :v)", values={":v": [2, 3]}
        )
        assert new["m"]["journal"] == [1, 2, 3]

    def test_if_not_exists_sets_only_when_absent(self, store, profile):
        new = upd(
            store,
            "SET visits = if_not_exists(visits, :z), created = if_not_exists(created, :t)",
            values={":z": 0, ":t": "today"},
        )
        assert (new["visits"], new["created"]) == (10, "today")

    def test_if_not_exists_on_a_nested_path(self, store, profile):
        new = upd(
            store, "SET address.country = if_not_exists(address.country, :c)", values={":c": "UK"}
        )
        assert new["address"]["country"] == "UK"

    def test_counter_from_nothing_with_if_not_exists(self, store):
        for _ in range(3):
            store.update(
                "c", update="SET n = if_not_exists(n, :zero) + :one", values={":zero": 0, ":one": 1}
            )
        assert store.get("c") == {"pk": "c", "n": 3}

    def test_list_append_with_if_not_exists_starts_a_list(self, store):
        for v in ("x", "y"):
            store.update(
                "q",
                update="SET journal = list_append(if_not_exists(journal, :empty), :v)",
                values={":empty": [], ":v": [v]},
            )
        assert store.get("q")["journal"] == ["x", "y"]

    def test_set_stores_every_value_type(self, store):
        now = datetime(2024, 1, 2, tzinfo=UTC)
        values = {
            ":s": "s",
            ":b": b"\x00",
            ":t": True,
            ":n": None,
            ":m": {"k": [1]},
            ":ss": {"x"},
            ":v": keystone.Vector([1.0, 2.0]),
            ":ts": now,
        }
        store.update(
            "types",
            update="SET s = :s, b = :b, t = :t, n = :n, m = :m, ss = :ss, v = :v, ts = :ts",
            values=values,
        )
        got = store.get("types")
        assert got == {"pk": "types", **{k[1:]: v for k, v in values.items()}}


class TestRemove:
    def test_remove_top_level_and_nested_attributes(self, store, profile):
        new = upd(store, "REMOVE #n, address.geo.lon", names={"#n": "name"})
        assert "name" not in new
        assert new["address"]["geo"] == {"lat": Decimal("51.5")}

    def test_remove_list_elements_by_original_position(self, store, profile):
        assert upd(store, "REMOVE tags[0], tags[2]")["tags"] == ["b"]

    def test_remove_of_a_missing_attribute_is_a_no_op(self, store, profile):
        assert upd(store, "REMOVE nothing, address.nothing, tags[9]") == profile

    def test_remove_can_leave_only_the_key(self, store):
        store.put({"pk": "k", "sk": "s", "a": 1})
        assert store.update("k", "s", update="REMOVE a") == {"pk": "k", "sk": "s"}
        assert store.get("k", "s") == {"pk": "k", "sk": "s"}


class TestAdd:
    def test_add_to_a_flat_and_a_nested_number(self, store, profile):
        new = upd(store, "ADD visits :n, address.geo.lon :m", values={":n": 5, ":m": -3})
        assert (new["visits"], new["address"]["geo"]["lon"]) == (15, -3)

    def test_add_is_exact(self, store, profile):
        assert upd(store, "ADD balance :d", values={":d": Decimal("0.2")})["balance"] == Decimal(
            "0.3"
        )

    def test_add_creates_an_absent_number(self, store, profile):
        assert upd(store, "ADD fresh :n", values={":n": Decimal("2.5")})["fresh"] == Decimal("2.5")

    def test_add_creates_an_absent_number_inside_a_map(self, store, profile):
        assert upd(store, "ADD address.floor :n", values={":n": 3})["address"]["floor"] == 3

    @pytest.mark.parametrize(
        ("attr", "added", "expected"),
        [
            ("perms", {"ops"}, {"admin", "dev", "ops"}),
            ("scores", {3, 4}, {1, 2, 3, 4}),
        ],
    )
    def test_add_to_a_set_is_a_union(self, store, profile, attr, added, expected):
        assert upd(store, f"ADD {attr} :s", values={":s": added})[attr] == expected

    def test_add_to_a_binary_set_and_a_set_in_a_list(self, store, profile):
        store.put({"pk": "bs", "b": {b"\x01"}})
        assert store.update("bs", update="ADD b :s", values={":s": {b"\x02"}})["b"] == {
            b"\x01",
            b"\x02",
        }
        new = upd(store, "ADD orders[0].goods :s", values={":s": {"w"}})
        assert new["orders"][0]["goods"] == {"x", "w"}

    def test_add_creates_an_absent_set(self, store, profile):
        assert upd(store, "ADD badges :s", values={":s": {"gold"}})["badges"] == {"gold"}


class TestDelete:
    def test_delete_removes_elements_from_a_set(self, store, profile):
        new = upd(store, "DELETE perms :r, scores :s", values={":r": {"dev", "nope"}, ":s": {1}})
        assert (new["perms"], new["scores"]) == ({"admin"}, {2, 3})

    def test_delete_from_a_nested_set(self, store, profile):
        new = upd(store, "DELETE orders[1].goods :s", values={":s": {"y"}})
        assert new["orders"][1]["goods"] == {"z"}

    def test_an_emptied_set_disappears(self, store, profile):
        new = upd(
            store,
            "DELETE perms :r, orders[0].goods :x",
            values={":r": {"admin", "dev"}, ":x": {"x"}},
        )
        assert "perms" not in new
        assert new["orders"][0] == {"id": 1}
        assert store.get("user#1", "profile") == new

    def test_delete_from_an_absent_attribute_is_a_no_op(self, store, profile):
        assert upd(store, "DELETE ghosts :s", values={":s": {"x"}}) == profile


class TestClausesTogether:
    def test_every_clause_in_one_update(self, store, profile):
        new = upd(
            store,
            "REMOVE tags[0] SET #n = :n ADD visits :one DELETE perms :dev",
            names={"#n": "name"},
            values={":n": "Grace", ":one": 1, ":dev": {"dev"}},
        )
        assert (new["tags"], new["name"], new["visits"], new["perms"]) == (
            ["b", "c"],
            "Grace",
            11,
            {"admin"},
        )


class TestUpsert:
    def test_update_of_a_missing_item_creates_it_with_its_key(self, store):
        new = store.update("new", "item", update="SET a = :a", values={":a": 1})
        assert new == {"pk": "new", "sk": "item", "a": 1}
        assert store.get("new", "item") == new

    def test_upsert_without_a_sort_key_and_with_a_bytes_key(self, store):
        assert store.update("solo", update="ADD n :one", values={":one": 1}) == {
            "pk": "solo",
            "n": 1,
        }
        assert store.update(b"\x00k", update="SET a = :a", values={":a": 1}) == {
            "pk": b"\x00k",
            "a": 1,
        }
        assert store.get("solo", "x") is None  # a different item from any with a sort key

    def test_remove_only_update_of_a_missing_item_creates_the_key_only_item(self, store):
        assert store.update("ghost", update="REMOVE a") == {"pk": "ghost"}
        assert store.get("ghost") == {"pk": "ghost"}
        store.delete("ghost")
        assert store.update("ghost", update="DELETE s :s", values={":s": {"x"}}) == {"pk": "ghost"}
        assert store.get("ghost") == {"pk": "ghost"}

    def test_an_update_without_actions_creates_the_key_only_item(self, db):
        # Local only: the gRPC wire cannot tell an absent expression from an empty one yet.
        assert db.update("bare", "x") == {"pk": "bare", "sk": "x"}
        assert db.get("bare", "x") == {"pk": "bare", "sk": "x"}

    def test_remove_below_a_missing_parent_is_ignored_on_a_missing_item(self, store):
        assert store.update("ghost", update="REMOVE a.b, c[3]") == {"pk": "ghost"}
        assert store.get("ghost") == {"pk": "ghost"}

    def test_remove_below_a_missing_parent_is_refused_on_an_existing_item(self, store):
        store.put({"pk": "here", "a": 1})
        with pytest.raises(ValidationError, match="invalid for update"):
            store.update("here", update="REMOVE nowhere.b")
        assert store.get("here") == {"pk": "here", "a": 1}

    def test_condition_sees_a_missing_item_as_having_no_attributes(self, store):
        with pytest.raises(ConditionalCheckFailed):
            store.update(
                "ghost", update="SET a = :a", condition="attribute_exists(pk)", values={":a": 1}
            )
        assert store.get("ghost") is None
        store.update(
            "ghost", update="SET a = :a", condition="attribute_not_exists(pk)", values={":a": 1}
        )
        assert store.get("ghost") == {"pk": "ghost", "a": 1}


class TestConditions:
    def test_optimistic_locking_with_a_version(self, store, profile):
        expr = "SET #v = :next, visits = visits + :one"
        kw = {"names": {"#v": "version"}, "condition": "attribute_not_exists(#v) OR #v = :cur"}
        upd(store, expr, values={":next": 1, ":one": 1, ":cur": 0}, **kw)
        upd(store, expr, values={":next": 2, ":one": 1, ":cur": 1}, **kw)
        before = store.get("user#1", "profile")
        with pytest.raises(ConditionalCheckFailed):
            upd(store, expr, values={":next": 2, ":one": 1, ":cur": 1}, **kw)
        assert before == store.get("user#1", "profile")
        assert (before["version"], before["visits"]) == (2, 12)

    def test_condition_on_nested_attributes_and_functions(self, store, profile):
        upd(
            store,
            "SET flagged = :t",
            condition="address.city = :c AND size(tags) > :two",
            values={":t": True, ":c": "London", ":two": 2},
        )
        with pytest.raises(ConditionalCheckFailed):
            upd(
                store,
                "SET flagged = :f",
                condition="contains(perms, :r)",
                values={":f": False, ":r": "root"},
            )
        assert store.get("user#1", "profile")["flagged"] is True

    def test_a_name_placeholder_shared_by_update_and_condition(self, store, profile):
        upd(
            store,
            "SET #s = :new",
            condition="#s <> :new",
            names={"#s": "status"},
            values={":new": "ok"},
        )
        with pytest.raises(ConditionalCheckFailed):
            upd(
                store,
                "SET #s = :new",
                condition="#s <> :new",
                names={"#s": "status"},
                values={":new": "ok"},
            )


class TestReturns:
    EXPR = "SET visits = visits + :one, address.city = :c, fresh = :f REMOVE #n"
    KW: dict[str, Any] = {"names": {"#n": "name"}, "values": {":one": 1, ":c": "Paris", ":f": 0}}

    def expected_new(self, profile):
        new = {
            **profile,
            "visits": 11,
            "fresh": 0,
            "address": {**profile["address"], "city": "Paris"},
        }
        del new["name"]
        return new

    def test_all_new_is_the_default(self, store, profile):
        assert upd(store, self.EXPR, **self.KW) == self.expected_new(profile)

    def test_all_old(self, store, profile):
        assert upd(store, self.EXPR, returns="ALL_OLD", **self.KW) == profile
        assert store.get("user#1", "profile") == self.expected_new(profile)

    def test_updated_new_holds_only_the_touched_paths_after(self, store, profile):
        got = upd(store, self.EXPR, returns="UPDATED_NEW", **self.KW)
        assert got == {"visits": 11, "address": {"city": "Paris"}, "fresh": 0}

    def test_updated_old_holds_only_the_touched_paths_before(self, store, profile):
        got = upd(store, self.EXPR, returns="UPDATED_OLD", **self.KW)
        assert got == {"visits": 10, "address": {"city": "London"}, "name": "Ada"}

    def test_none(self, store, profile):
        assert upd(store, self.EXPR, returns="NONE", **self.KW) is None
        assert store.get("user#1", "profile") == self.expected_new(profile)

    @pytest.mark.parametrize(
        ("returns", "expected"),
        [
            ("ALL_NEW", {"pk": "n", "a": 1}),
            ("ALL_OLD", None),
            ("UPDATED_NEW", {"a": 1}),
            ("UPDATED_OLD", None),
            ("NONE", None),
        ],
    )
    def test_returns_when_the_update_creates_the_item(self, store, returns, expected):
        assert store.update("n", update="SET a = :a", values={":a": 1}, returns=returns) == expected
        assert store.get("n") == {"pk": "n", "a": 1}

    def test_an_empty_updated_image_is_none(self, store, profile):
        assert upd(store, "REMOVE nothing", returns="UPDATED_OLD") is None
        assert upd(store, "REMOVE #n", names={"#n": "name"}, returns="UPDATED_NEW") is None

    def test_updated_images_of_nested_paths_keep_their_hierarchy(self, store, profile):
        got = upd(
            store,
            "SET address.geo.lat = :v, tags[1] = :t",
            values={":v": 1, ":t": "B"},
            returns="UPDATED_OLD",
        )
        assert got == {"address": {"geo": {"lat": Decimal("51.5")}}, "tags": ["b"]}
        got = upd(
            store,
            "SET address.geo.lat = :v, tags[1] = :t",
            values={":v": 2, ":t": "C"},
            returns="UPDATED_NEW",
        )
        assert got == {"address": {"geo": {"lat": 2}}, "tags": ["C"]}

    def test_a_new_sub_attribute_is_in_updated_new_only(self, store, profile):
        assert upd(store, "SET address.x = :v", values={":v": 1}, returns="UPDATED_OLD") is None
        got = upd(store, "SET address.y = :v", values={":v": 1}, returns="UPDATED_NEW")
        assert got == {"address": {"y": 1}}

    def test_list_positions_in_updated_images_follow_dynamodb(self, store, profile):
        # As DynamoDB: the images project the paths as written, so an element
        # appended by SET past the end is not returned, and after REMOVE of
        # an element UPDATED_NEW shows the element shifted into its place.
        assert upd(store, "SET tags[10] = :v", values={":v": "d"}, returns="UPDATED_NEW") is None
        assert upd(store, "REMOVE tags[1], tags[9]", returns="UPDATED_OLD") == {"tags": ["b"]}
        assert upd(store, "REMOVE tags[1]", returns="UPDATED_NEW") == {"tags": ["d"]}

    def test_returned_item_is_a_copy(self, store, profile):
        new = upd(store, "SET a = :a", values={":a": [1]})
        new["a"].append(2)
        assert store.get("user#1", "profile")["a"] == [1]

    def test_an_unknown_returns_mode_is_refused(self, store, profile):
        with pytest.raises(ValidationError, match="returns must be one of"):
            upd(store, "SET a = :a", values={":a": 1}, returns="EVERYTHING")
        assert store.get("user#1", "profile") == profile


class TestErrorsLeaveTheItemUnchanged:
    @pytest.mark.parametrize(
        ("expression", "names", "values", "match"),
        [
            (
                "SET pk = :v",
                None,
                {":v": "x"},
                "Cannot update attribute pk. This attribute is part of the key",
            ),
            ("REMOVE sk", None, None, "part of the key"),
            ("SET #k = :v", {"#k": "pk"}, {":v": "x"}, "part of the key"),
            ("ADD sk :v", None, {":v": 1}, "part of the key"),
            ("SET a = :v REMOVE a", None, {":v": 1}, "overlap"),
            ("SET address.city = :v, address = :w", None, {":v": 1, ":w": {}}, "overlap"),
            ("SET tags[0] = :v REMOVE tags[0]", None, {":v": 1}, "overlap"),
            ("SET #n = #n + :v", {"#n": "name"}, {":v": 1}, "operand"),
            ("SET visits = visits - :v", None, {":v": "1"}, "operand"),
            ("SET tags = list_append(visits, :v)", None, {":v": [1]}, "list_append"),
            ("SET x = nothing", None, None, "does not exist"),
            ("SET x = nothing + :v", None, {":v": 1}, "does not exist"),
            ("SET visits = visits + :v", None, {":v": Decimal("1e-40")}, "38"),
            ("SET nowhere.deep = :v", None, {":v": 1}, "invalid"),
            ("SET #n[0] = :v", {"#n": "name"}, {":v": 1}, "invalid"),
            ("REMOVE nowhere.deep", None, None, "invalid"),
            ("ADD #n :v", {"#n": "name"}, {":v": 1}, "incorrect data type"),
            ("ADD perms :v", None, {":v": {1}}, "incorrect data type"),
            ("ADD visits :v", None, {":v": "s"}, "ADD"),
            ("DELETE visits :v", None, {":v": {1}}, "incorrect data type"),
            ("DELETE perms :v", None, {":v": "admin"}, "DELETE"),
            ("SET a = :v", None, None, ":v"),
            ("SET a = :v", None, {":v": 1, ":unused": 2}, ":unused"),
            ("SET #a = :v", None, {":v": 1}, "#a"),
            ("SET a = :v", {"#unused": "x"}, {":v": 1}, "#unused"),
            ("SET a = :v SET b = :v", None, {":v": 1}, None),
            ("SET a :v", None, {":v": 1}, None),
            ("UPSERT a = :v", None, {":v": 1}, None),
            ("", None, None, "The expression can not be empty"),
            ("SET a = :v", None, {":v": set()}, None),
            ("SET a = :v", None, {":v": float("nan")}, None),
        ],
    )
    def test_invalid_update(self, store, profile, expression, names, values, match):
        with pytest.raises(ValidationError, match=match):
            upd(store, expression, names=names, values=values)
        assert store.get("user#1", "profile") == profile

    def test_an_update_without_actions_leaves_an_existing_item_as_it_is(self, db):
        db.put({"pk": "user#1", "sk": "profile", "visits": 1})
        assert db.update("user#1", "profile") == {"pk": "user#1", "sk": "profile", "visits": 1}

    def test_a_result_over_the_item_size_limit(self, store, profile):
        with pytest.raises(ValidationError, match="limit"):
            upd(store, "SET big = :b", values={":b": "x" * keystone.MAX_ITEM_BYTES})
        assert store.get("user#1", "profile") == profile

    def test_a_result_nested_too_deep(self, store, profile):
        deep: Any = 1
        for _ in range(keystone.MAX_NESTING_DEPTH):
            deep = [deep]
        upd(store, "SET d = :d", values={":d": deep})  # 32 levels of lists: the limit
        before = store.get("user#1", "profile")
        with pytest.raises(ValidationError):
            upd(store, "SET d[0] = :d", values={":d": deep})
        assert store.get("user#1", "profile") == before

    def test_a_failed_condition_changes_nothing(self, store, profile):
        with pytest.raises(ConditionalCheckFailed):
            upd(store, "SET visits = :z", condition="visits > :v", values={":z": 0, ":v": 100})
        assert store.get("user#1", "profile") == profile

    def test_bad_keys(self, store):
        with pytest.raises(ValidationError):
            store.update("", update="SET a = :a", values={":a": 1})
        with pytest.raises(ValidationError):
            store.update(7, update="SET a = :a", values={":a": 1})  # type: ignore[arg-type]
        assert store.scan().count == 0

    def test_a_type_error_does_not_create_a_missing_item(self, store):
        with pytest.raises(ValidationError):
            store.update("ghost", update="SET a = b + :one", values={":one": 1})
        assert store.get("ghost") is None


class TestConcurrency:
    def test_8_threads_x_500_adds_on_one_counter_end_at_exactly_4000(self, store):
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def work() -> None:
            try:
                start.wait()
                for _ in range(500):
                    store.update("counter", update="ADD n :one", values={":one": 1}, returns="NONE")
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert store.get("counter") == {"pk": "counter", "n": 4000}

    def test_concurrent_decimal_adds_stay_exact(self, store):
        def work() -> None:
            for _ in range(100):
                store.update("money", update="ADD cents :c", values={":c": Decimal("0.01")})

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert store.get("money")["cents"] == 4
