"""Writes ``legacy_v2.keystone``: a file as the one-table release (format 2) wrote it.

Run with the release whose files it stands for (commit 975d561, before
tables and typed keys existed), from the repository root::

    python tests/data/make_legacy_v2.py tests/data/legacy_v2.keystone

The file has a local index, two global indexes (one with a number sort key),
a TTL attribute (one item already expired, one expiring in 2100) and a
stream. ``tests/test_legacy_file.py`` opens a copy with the current code.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal

import keystone
from keystone import GlobalIndex, LocalIndex, Schema, StreamConfig

SCHEMA = Schema(
    local_indexes=[LocalIndex("by_date", "date")],
    global_indexes=[
        GlobalIndex("by_status", "status", "date"),
        GlobalIndex("by_score", "game", "score", projection="KEYS_ONLY"),
    ],
    ttl_attribute="expires",
    stream=StreamConfig(view="NEW_AND_OLD_IMAGES"),
)


def main(path: str) -> None:
    # A long sweep interval: the expired item must still be in the file.
    with keystone.Database.open(path, schema=SCHEMA, sweep_interval=3600) as db:
        db.put(
            {
                "pk": "user#1",
                "sk": "order#1",
                "date": "2024-01-05",
                "status": "open",
                "game": "chess",
                "score": 1200,
                "total": Decimal("12.50"),
            }
        )
        db.put(
            {
                "pk": "user#1",
                "sk": "order#2",
                "date": "2024-02-11",
                "status": "shipped",
                "game": "chess",
                "score": Decimal("-3.5"),
                "expires": 4102444800,
            }
        )
        db.put(
            {
                "pk": "user#1",
                "sk": "order#3",
                "date": "2024-03-01",
                "status": "open",
                "game": "go",
                "score": 7,
                "expires": 1,
            }
        )
        db.put(
            {
                "pk": "user#2",
                "sk": "profile",
                "name": "Ada",
                "tags": {"a", "b"},
                "seen": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            }
        )
        db.put({"pk": b"\x00bin", "sk": b"\x01\x02", "blob": b"\xff"})
        db.update("user#1", "order#1", update="SET status = :s", values={":s": "shipped"})
        db.delete("user#2", "profile")
        db.put({"pk": "user#2", "sk": "profile", "name": "Ada Lovelace"})


if __name__ == "__main__":
    main(sys.argv[1])
