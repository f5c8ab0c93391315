"""``keystone backup`` while another process keeps writing: every copy is consistent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keystone

# Each write adds one item and sets the counter to the number of items, in
# one transaction: in any consistent snapshot, counter.n == number of items.
WRITER = textwrap.dedent(
    """
    import sys, time, keystone
    from keystone import Put, Update
    path, stop = sys.argv[1], sys.argv[2]
    import os
    with keystone.Database.open(path, durability="async") as db:
        i = 0
        while not os.path.exists(stop):
            i += 1
            db.transact_write(
                [Put({"pk": "item", "sk": f"{i:08d}", "pad": "x" * 500}),
                 Update("counter", update="SET n = :n")],
                values={":n": i},
            )
            if i == 200:
                print("ready", flush=True)
        print(i, flush=True)
    """
)


def consistent_count(path: Path) -> int:
    """Open a copy, check its invariant, return its number of items."""
    with keystone.Database.open(path, create=False) as db:
        items = sum(1 for _ in db.query_all("item"))
        counter = db.get("counter")
        assert counter is not None
        assert counter["n"] == items, f"torn copy: counter {counter['n']} vs {items} items"
        return items


def test_backups_taken_during_concurrent_writes_are_consistent(tmp_path: Path) -> None:
    path = tmp_path / "live.keystone"
    keystone.Database.open(path).close()
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        counts = []
        for n in range(3):
            dest = tmp_path / f"backup-{n}.keystone"
            result = subprocess.run(
                [sys.executable, "-m", "keystone", "backup", str(path), str(dest)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert (result.returncode, result.stderr) == (0, "")
            counts.append(consistent_count(dest))
            time.sleep(0.05)
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    total = int(out.split()[-1])
    # The writer was running through every backup: each copy saw some but not all writes.
    assert 200 <= counts[0] < counts[1] < counts[2] < total, (counts, total)
    assert consistent_count(path) == total
