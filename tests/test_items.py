"""put / get / delete with conditions, placeholders, returns and projections."""

from __future__ import annotations

import pytest

import keystone
from keystone import ConditionalCheckFailed, ValidationError


class TestPutGetDelete:
    def test_get_of_a_missing_item_is_none(self, store):
        assert store.get("nope") is None
        assert store.get("nope", "sk") is None

    def test_put_replaces_the_whole_item(self, store):
        store.put({"pk": "a", "sk": "1", "x": 1, "y": 2})
        store.put({"pk": "a", "sk": "1", "x": 3})
        assert store.get("a", "1") == {"pk": "a", "sk": "1", "x": 3}

    def test_put_returns_old_item_with_all_old(self, store):
        assert store.put({"pk": "a", "v": 1}, returns="ALL_OLD") is None
        assert store.put({"pk": "a", "v": 2}, returns="ALL_OLD") == {"pk": "a", "v": 1}
        assert store.put({"pk": "a", "v": 3}) is None

    def test_delete_removes_and_returns_old(self, store):
        store.put({"pk": "a", "sk": "b", "v": 1})
        assert store.delete("a", "b", returns="ALL_OLD") == {"pk": "a", "sk": "b", "v": 1}
        assert store.get("a", "b") is None

    def test_delete_of_missing_item_is_not_an_error(self, store):
        assert store.delete("ghost", returns="ALL_OLD") is None

    def test_bad_returns_value(self, store):
        with pytest.raises(ValidationError, match="returns must be one of"):
            store.put({"pk": "a"}, returns="ALL_NEW")


class TestConditions:
    def test_attribute_not_exists_guards_creation(self, store):
        store.put({"pk": "a", "v": 1}, condition="attribute_not_exists(pk)")
        with pytest.raises(ConditionalCheckFailed):
            store.put({"pk": "a", "v": 2}, condition="attribute_not_exists(pk)")
        assert store.get("a") == {"pk": "a", "v": 1}

    def test_condition_on_values_with_placeholders(self, store):
        store.put({"pk": "a", "version": 1})
        store.put(
            {"pk": "a", "version": 2},
            condition="#v = :expected",
            names={"#v": "version"},
            values={":expected": 1},
        )
        with pytest.raises(ConditionalCheckFailed):
            store.put(
                {"pk": "a", "version": 3},
                condition="#v = :expected",
                names={"#v": "version"},
                values={":expected": 1},
            )
        assert store.get("a")["version"] == 2

    def test_delete_with_failing_condition_keeps_the_item(self, store):
        store.put({"pk": "a", "state_": "active"})
        with pytest.raises(ConditionalCheckFailed):
            store.delete("a", condition="state_ = :s", values={":s": "closed"})
        assert store.get("a") is not None
        store.delete("a", condition="state_ = :s", values={":s": "active"})
        assert store.get("a") is None

    def test_condition_on_missing_item_sees_no_attributes(self, store):
        with pytest.raises(ConditionalCheckFailed):
            store.delete("ghost", condition="attribute_exists(pk)")

    def test_value_used_but_not_given(self, store):
        with pytest.raises(ValidationError, match=":missing"):
            store.put({"pk": "a"}, condition="v = :missing")
        assert store.get("a") is None

    def test_value_given_but_not_used(self, store):
        with pytest.raises(ValidationError, match=":extra"):
            store.put({"pk": "a"}, condition="attribute_not_exists(pk)", values={":extra": 1})
        assert store.get("a") is None

    def test_name_given_but_not_used(self, store):
        with pytest.raises(ValidationError, match="#n"):
            store.put({"pk": "a"}, names={"#n": "x"})

    def test_syntax_error_names_the_position(self, store):
        with pytest.raises(
            ValidationError,
            match='^Invalid ConditionExpression: Syntax error; token: "=", near: "= = 1"$',
        ):
            store.put({"pk": "a"}, condition="v = = 1")


class TestProjection:
    def test_projection_picks_attributes_and_nested_paths(self, store):
        store.put({"pk": "a", "x": 1, "m": {"b": 2, "c": 3}, "l": [10, 20, 30]})
        assert store.get("a", projection="x, m.b, l[1]") == {"x": 1, "m": {"b": 2}, "l": [20]}

    def test_projection_leaves_out_keys_unless_named(self, store):
        store.put({"pk": "a", "sk": "s", "x": 1})
        assert store.get("a", "s", projection="x") == {"x": 1}
        assert store.get("a", "s", projection="pk, x") == {"pk": "a", "x": 1}

    def test_projection_with_name_placeholders(self, store):
        store.put({"pk": "a", "weird-name": 1, "other": 2})
        assert store.get("a", projection="#w", names={"#w": "weird-name"}) == {"weird-name": 1}


class TestClosed:
    def test_calls_after_close_raise_database_closed(self, tmp_path):
        db = keystone.Database.open(tmp_path / "c.keystone")
        db.close()
        db.close()  # idempotent
        with pytest.raises(keystone.DatabaseClosed):
            db.get("a")
        with pytest.raises(keystone.DatabaseClosed):
            db.put({"pk": "a"})

    def test_context_manager_closes(self, tmp_path):
        with keystone.Database.open(tmp_path / "c.keystone") as db:
            db.put({"pk": "a"})
        assert db.closed

    def test_open_without_create_raises_not_found(self, tmp_path):
        with pytest.raises(keystone.NotFound):
            keystone.Database.open(tmp_path / "missing.keystone", create=False)

    def test_memory_database_is_removed_on_close(self):
        db = keystone.Database.memory()
        db.put({"pk": "a"})
        path = db.path
        db.close()
        import os

        assert not os.path.exists(path)

    def test_reopen_keeps_data_and_schema(self, tmp_path):
        schema = keystone.Schema(partition_key="id", sort_key="ts")
        with keystone.Database.open(tmp_path / "s.keystone", schema=schema) as db:
            db.put({"id": "u1", "ts": "1", "v": 1})
        with keystone.Database.open(tmp_path / "s.keystone") as db:
            assert db.schema == schema
            assert db.get("u1", "1") == {"id": "u1", "ts": "1", "v": 1}

    def test_reopen_with_different_key_schema_is_refused(self, tmp_path):
        with keystone.Database.open(tmp_path / "s.keystone"):
            pass
        with pytest.raises(ValidationError, match="key schema differs"):
            keystone.Database.open(tmp_path / "s.keystone", schema=keystone.Schema("id", "ts"))
