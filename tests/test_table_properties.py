"""Table properties: a caller's facts about a table (the DynamoDB endpoint's billing mode,
throughput and tags), kept in the file beside the schema, on real LMDB files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import keystone
from keystone import NotFound, Schema, ValidationError
from keystone.catalog import MAX_PROPERTIES_BYTES

LEGACY = Path(__file__).parent / "data" / "legacy_v2.keystone"


@pytest.fixture
def db(tmp_path: Path):
    database = keystone.Database.open(tmp_path / "props.keystone")
    yield database
    database.close()


def test_a_table_has_none_until_some_are_set(db) -> None:
    db.create_table("plain")
    assert db.table_properties("plain") == {}
    assert db.table_properties("default") == {}


def test_create_table_stores_them_in_the_same_commit(db) -> None:
    db.create_table(
        "billed", Schema(("pk", "S"), None), properties={"mode": "PROVISIONED", "rcu": 5}
    )
    assert db.table_properties("billed") == {"mode": "PROVISIONED", "rcu": 5}


def test_set_merges_top_level_keys_and_remove_drops_them(db) -> None:
    db.create_table("first")
    assert db.set_table_properties("first", {"a": 1, "b": [1, 2.5, None, True]}) == {
        "a": 1,
        "b": [1, 2.5, None, True],
    }
    assert db.set_table_properties("first", {"c": {"x": "y"}}, remove=["a"]) == {
        "b": [1, 2.5, None, True],
        "c": {"x": "y"},
    }
    assert db.set_table_properties("first", {}, remove=["b", "c", "never-set"]) == {}
    assert db.table_properties("first") == {}


def test_the_default_table_keeps_them_too(tmp_path: Path) -> None:
    path = tmp_path / "default.keystone"
    with keystone.Database.open(path) as db:
        db.set_table_properties("default", {"tags": {"team": "db"}})
    with keystone.Database.open(path) as db:
        assert db.table_properties("default") == {"tags": {"team": "db"}}


def test_they_survive_reopening_and_are_seen_by_another_handle(tmp_path: Path) -> None:
    path = tmp_path / "shared.keystone"
    with keystone.Database.open(path) as first:
        first.create_table("seen")
        with keystone.Database.open(path) as second:
            first.set_table_properties("seen", {"v": 1})
            assert second.table_properties("seen") == {"v": 1}
    with keystone.Database.open(path) as again:
        assert again.table_properties("seen") == {"v": 1}


def test_they_go_with_a_deleted_table(db) -> None:
    db.create_table("gone", properties={"tags": {"a": "b"}})
    db.delete_table("gone")
    with pytest.raises(NotFound):
        db.table_properties("gone")
    with pytest.raises(NotFound):
        db.set_table_properties("gone", {"x": 1})
    db.create_table("gone")
    assert db.table_properties("gone") == {}


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"a": object()}, "got object"),
        ({"a": b"bytes"}, "got bytes"),
        ({1: "x"}, "keys are str"),
        ({"a": {"nested": {2: 3}}}, "keys are str"),
        ({"a": 2**64}, "does not fit in 64 bits"),
        ({"a": "x" * (MAX_PROPERTIES_BYTES + 1)}, "at most 65536 bytes"),
        ({"deep": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}, "nested more than"),
    ],
)
def test_bad_values_name_what_is_wrong_and_change_nothing(db, values, words) -> None:
    db.create_table("strict", properties={"kept": True})
    with pytest.raises(ValidationError, match=words):
        db.set_table_properties("strict", values)
    with pytest.raises(ValidationError, match=words):
        db.create_table("strict2", properties=values)
    assert db.table_properties("strict") == {"kept": True}
    assert "strict2" not in db.tables()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"values": ["a"]}, "values must be a mapping"),
        ({"values": {}, "remove": "a"}, "remove takes a list"),
        ({"values": {}, "remove": [1]}, "property names are str"),
    ],
)
def test_bad_arguments_are_validation_errors(db, kwargs, words) -> None:
    with pytest.raises(ValidationError, match=words):
        db.set_table_properties("default", **kwargs)


def test_a_missing_table_is_not_found(db) -> None:
    with pytest.raises(NotFound):
        db.table_properties("missing")


def test_a_file_of_the_one_table_release_has_none_and_takes_them(tmp_path: Path) -> None:
    path = tmp_path / "legacy.keystone"
    shutil.copyfile(LEGACY, path)
    with keystone.Database.open(path, sweep_interval=3600) as db:
        assert db.table_properties("default") == {}
        db.set_table_properties("default", {"tags": {"from": "legacy"}})
        assert db.get("user#1", "order#1") is not None
    with keystone.Database.open(path, sweep_interval=3600) as db:
        assert db.table_properties("default") == {"tags": {"from": "legacy"}}


# -- change_table_properties: a read-modify-write in one write transaction -----------


def test_change_replaces_them_with_what_the_function_returns(db) -> None:
    db.create_table("counted", properties={"n": 1, "keep": "x"})
    got = db.change_table_properties("counted", lambda p: {**p, "n": p["n"] + 1})
    assert got == {"n": 2, "keep": "x"}
    assert db.change_table_properties("counted", lambda p: {}) == {}
    assert db.table_properties("counted") == {}


def test_a_change_that_raises_or_returns_no_mapping_changes_nothing(db) -> None:
    db.create_table("steady", properties={"n": 1})

    def boom(props: dict) -> dict:
        props["n"] = 99  # (its own copy: dropped with the aborted commit)
        raise RuntimeError("the caller's own failure")

    with pytest.raises(RuntimeError, match="the caller's own failure"):
        db.change_table_properties("steady", boom)
    with pytest.raises(ValidationError, match="must return the properties"):
        db.change_table_properties("steady", lambda p: None)
    with pytest.raises(ValidationError, match=r"properties\[.n.\]"):
        db.change_table_properties("steady", lambda p: {"n": object()})
    with pytest.raises(ValidationError, match="must be a function"):
        db.change_table_properties("steady", {"n": 2})
    with pytest.raises(NotFound):
        db.change_table_properties("missing", lambda p: p)
    assert db.table_properties("steady") == {"n": 1}


_INCREMENTS = """
import sys, keystone
with keystone.Database.open(sys.argv[1]) as db:
    for _ in range(int(sys.argv[2])):
        db.change_table_properties("counted", lambda p: {**p, "other": p.get("other", 0) + 1})
"""


def test_changes_from_another_process_at_the_same_time_are_not_lost(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "shared.keystone"
    with keystone.Database.open(path) as db:
        db.create_table("counted")
        other = subprocess.Popen([sys.executable, "-c", _INCREMENTS, str(path), "200"])
        try:
            for _ in range(200):
                db.change_table_properties("counted", lambda p: {**p, "mine": p.get("mine", 0) + 1})
        finally:
            assert other.wait(60) == 0
        assert db.table_properties("counted") == {"mine": 200, "other": 200}
