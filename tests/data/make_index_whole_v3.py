"""Writes ``index_whole_v3.keystone``: index entries of long sort keys as format 3 first wrote them.

Run with commit aa378c9 (the last code that stored an index sort key of
466 to ~484 escaped bytes whole when the item key was short), from the
repository root::

    python tests/data/make_index_whole_v3.py tests/data/index_whole_v3.keystone

Table ``tab`` has a local index ``by_l`` and a global index ``by_g`` whose
sort key values are 475 bytes: today such an entry is stored as its group's
lead and a hash, so ``tests/test_index_long_keys.py`` checks that updates
and deletes still remove the entries these releases wrote.
"""

from __future__ import annotations

import sys

import keystone
from keystone import GlobalIndex, LocalIndex, Schema


def main(path: str) -> None:
    schema = Schema(
        ("p", "S"),
        ("s", "S"),
        local_indexes=[LocalIndex("by_l", ("l", "S"))],
        global_indexes=[GlobalIndex("by_g", ("g", "S"), ("gs", "S"))],
    )
    with keystone.Database.open(path) as db:
        t = db.create_table("tab", schema)
        for i, tail in enumerate("abc"):
            value = "y" * 474 + tail
            t.put({"p": "a", "s": str(i), "l": value, "g": "G", "gs": value})
        t.put({"p": "a", "s": "9", "l": "short", "g": "G", "gs": "short"})


if __name__ == "__main__":
    main(sys.argv[1])
