"""A file written by the one-table release (format 2) opens unchanged and keeps working.

``tests/data/legacy_v2.keystone`` was written by commit 975d561 with
``tests/data/make_legacy_v2.py``: a local index, two global indexes (one
with number sort keys), TTL (one item expired) and a stream.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

import keystone
from keystone import GlobalIndex, Schema, ValidationError, sk

LEGACY = Path(__file__).parent / "data" / "legacy_v2.keystone"


@pytest.fixture
def legacy(tmp_path: Path):
    path = tmp_path / "legacy.keystone"
    shutil.copyfile(LEGACY, path)  # never write the committed file
    db = keystone.Database.open(path, sweep_interval=3600)
    yield db
    db.close()


def test_the_schema_reads_as_untyped_keys_with_its_indexes_ttl_and_stream(legacy):
    s = legacy.schema
    assert (s.partition_key, s.sort_key) == ("pk", "sk")
    assert s.partition_key_type is None and s.sort_key_type is None and not s.typed
    assert [i.name for i in s.indexes] == ["by_date", "by_status", "by_score"]
    assert s.ttl_attribute == "expires" and s.stream is not None
    assert legacy.tables() == ["default"]


def test_items_read_as_they_were_written(legacy):
    assert legacy.get("user#1", "order#1") == {
        "pk": "user#1",
        "sk": "order#1",
        "date": "2024-01-05",
        "status": "shipped",
        "game": "chess",
        "score": 1200,
        "total": Decimal("12.5"),
    }
    assert legacy.get(b"\x00bin", b"\x01\x02") == {
        "pk": b"\x00bin",
        "sk": b"\x01\x02",
        "blob": b"\xff",
    }
    assert legacy.get("user#1", "order#3") is None  # expired: invisible
    assert legacy.get("user#2", "profile")["name"] == "Ada Lovelace"
    assert legacy.stats()["items"] == 5  # the expired item is still stored


def test_queries_of_the_table_and_its_indexes(legacy):
    assert [i["sk"] for i in legacy.query("user#1", sk.begins_with("order#"))] == [
        "order#1",
        "order#2",
    ]
    assert [i["sk"] for i in legacy.query("user#1", index="by_date", reverse=True)] == [
        "order#2",
        "order#1",
    ]
    assert [i["sk"] for i in legacy.query("shipped", index="by_status")] == ["order#1", "order#2"]
    assert [i["score"] for i in legacy.query("chess", sk.lt(0), index="by_score")] == [
        Decimal("-3.5")
    ]
    assert legacy.execute("SELECT sk FROM t WHERE pk = 'user#1'").count == 2


def test_the_stream_continues_its_sequence(legacy):
    before = legacy.stream()
    assert [r.event for r in before][:2] == ["INSERT", "INSERT"]
    legacy.put({"pk": "user#3", "sk": "x"})
    after = legacy.stream(after=before[-1].sequence)
    assert [(r.sequence, r.event) for r in after] == [(before[-1].sequence + 1, "INSERT")]


def test_writes_keep_indexes_and_ttl_and_the_file_reopens(tmp_path):
    path = tmp_path / "legacy.keystone"
    shutil.copyfile(LEGACY, path)
    with keystone.Database.open(path, sweep_interval=3600) as db:
        db.update(
            "user#1", "order#2", update="SET #s = :s", names={"#s": "status"}, values={":s": "open"}
        )
        db.put({"pk": "user#9", "sk": "a", "status": "open", "date": "2025-01-01"})
        db.delete("user#1", "order#1")
        assert [i["pk"] + i["sk"] for i in db.query("open", index="by_status")] == [
            "user#1order#2",
            "user#9a",
        ]
        orders = db.create_table("orders", Schema(partition_key=("id", "N"), sort_key=None))
        orders.put({"id": 1})
    with keystone.Database.open(path, sweep_interval=3600) as db:
        assert db.tables() == ["default", "orders"]
        assert db.table("orders").get(1) == {"id": 1}
        assert db.query("shipped", index="by_status").count == 0
        assert db.get("user#9", "a")["date"] == "2025-01-01"


def test_opening_with_the_stored_schema_plus_an_index_builds_it(tmp_path):
    path = tmp_path / "legacy.keystone"
    shutil.copyfile(LEGACY, path)
    with keystone.Database.open(path, sweep_interval=3600) as db:
        stored = db.schema
    more = stored.replace_indexes([*stored.indexes, GlobalIndex("by_game", "game")])
    with keystone.Database.open(path, schema=more, sweep_interval=3600) as db:
        assert sorted(i["sk"] for i in db.query("chess", index="by_game")) == ["order#1", "order#2"]


def test_a_typed_schema_cannot_reopen_the_untyped_file(tmp_path):
    path = tmp_path / "legacy.keystone"
    shutil.copyfile(LEGACY, path)
    with pytest.raises(ValidationError, match="key schema differs"):
        keystone.Database.open(path, schema=Schema(("pk", "S"), ("sk", "S")))


def test_a_legacy_file_opens_read_only_without_being_upgraded(tmp_path: Path):
    path = tmp_path / "legacy.keystone"
    shutil.copyfile(LEGACY, path)
    before = path.read_bytes()
    with keystone.Database.open(path, read_only=True) as db:
        assert db.get("user#2", "profile")["name"] == "Ada Lovelace"
        assert db.get("user#1", "order#3") is None  # expired, and not swept
        assert [i["sk"] for i in db.query_all("user#1", index="by_date")]
        assert db.tables() == ["default"]
        with pytest.raises(keystone.ReadOnly, match="read-only"):
            db.put({"pk": "x", "sk": "y"})
        with pytest.raises(keystone.ReadOnly):
            db.create_table("orders")
    assert path.read_bytes() == before  # nothing written, not even the format number


def test_a_file_of_many_tables_opens_read_only(tmp_path: Path):
    path = tmp_path / "tables.keystone"
    with keystone.Database.open(path) as db:
        orders = db.create_table("orders", Schema(partition_key=("c", "S"), sort_key=("n", "N")))
        orders.put({"c": "ada", "n": 2})
        orders.put({"c": "ada", "n": 10})
    with keystone.Database.open(path, read_only=True) as db:
        assert db.tables() == ["default", "orders"]
        assert [i["n"] for i in db.table("orders").query_all("ada")] == [2, 10]
        with pytest.raises(keystone.ReadOnly):
            db.delete_table("orders")
    with keystone.Database.open(path) as db:
        assert db.tables() == ["default", "orders"]
