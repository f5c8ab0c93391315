"""``Database.update_table(name, ttl_attribute=...)``: TTL turned on, moved and off on a live table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import keystone


@pytest.fixture
def db(tmp_path: Path):
    database = keystone.Database.open(tmp_path / "ttl.keystone", sweep_interval=0.05)
    try:
        yield database
    finally:
        database.close()


def wait_for(predicate, turns: int = 200) -> bool:
    for _ in range(turns):  # bounded: 200 turns of 50 ms
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_turning_ttl_on_queues_the_items_already_there(db: keystone.Database) -> None:
    table = db.create_table("events", keystone.Schema(("pk", "S"), None))
    later = int(time.time()) + 3600
    table.put({"pk": "past", "until": 1000})
    table.put({"pk": "future", "until": later})
    table.put({"pk": "forever"})
    described = db.update_table("events", ttl_attribute="until")
    assert described["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "until",
    }
    assert table.get("past") is None  # hidden at once
    assert table.get("future") is not None and table.get("forever") is not None
    assert wait_for(lambda: table.stats()["items"] == 2)  # and swept from the file


def test_turning_ttl_off_keeps_every_item(db: keystone.Database) -> None:
    table = db.create_table("events", keystone.Schema(("pk", "S"), None, ttl_attribute="until"))
    db.update_table("events", ttl_attribute=None)
    table.put({"pk": "past", "until": 1000})
    assert table.get("past") == {"pk": "past", "until": 1000}
    assert db.describe_table("events")["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    time.sleep(0.3)  # (several sweeps' worth: none may delete it)
    assert table.stats()["items"] == 1


def test_moving_ttl_to_another_attribute_follows_the_new_one(db: keystone.Database) -> None:
    table = db.create_table("events", keystone.Schema(("pk", "S"), None, ttl_attribute="a"))
    later = int(time.time()) + 3600
    table.put({"pk": "x", "a": 1000, "b": later})
    table.put({"pk": "y", "a": later, "b": 1000})
    db.update_table("events", ttl_attribute="b")
    assert table.get("x") is not None and table.get("y") is None
    assert wait_for(lambda: table.stats()["items"] == 1)
    assert table.get("x") is not None


def test_the_setting_lasts_and_the_default_table_takes_it_too(tmp_path: Path) -> None:
    path = tmp_path / "lasting.keystone"
    with keystone.Database.open(path) as db:
        db.create_table("events", keystone.Schema(("pk", "S"), None))
        db.update_table("events", ttl_attribute="until")
        db.update_table("default", ttl_attribute="gone_at")
        db.put({"pk": "a", "sk": "1", "gone_at": 5})
        assert db.get("a", "1") is None
    with keystone.Database.open(path) as db:
        assert db.table("events").schema.ttl_attribute == "until"
        assert db.schema.ttl_attribute == "gone_at"
        db.update_table("default", ttl_attribute=None)
        assert db.schema.ttl_attribute is None


def test_leaving_ttl_out_keeps_it(db: keystone.Database) -> None:
    db.create_table("events", keystone.Schema(("pk", "S"), None, ttl_attribute="until"))
    db.update_table("events", stream=keystone.StreamConfig())
    assert db.table("events").schema.ttl_attribute == "until"
