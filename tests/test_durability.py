"""Durability and process safety with real processes and real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import keystone

CHILD = textwrap.dedent(
    """
    import sys, keystone
    db = keystone.Database.open(sys.argv[1])
    for i in range(int(sys.argv[2])):
        db.put({"pk": f"item{i}", "n": i})
        print(i, flush=True)
    sys.stdout.write("done\\n"); sys.stdout.flush()
    import time
    time.sleep(60)
    """
)


def test_acknowledged_writes_survive_sigkill(tmp_path):
    path = str(tmp_path / "durable.keystone")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, "200"], stdout=subprocess.PIPE, text=True
    )
    acknowledged = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline().strip()
        if line == "done" or not line:
            break
        acknowledged.append(int(line))
        if len(acknowledged) == 150:
            break
    os.kill(proc.pid, signal.SIGKILL)  # right after the calls returned
    proc.wait(timeout=10)
    assert len(acknowledged) >= 150
    with keystone.Database.open(path) as db:
        for i in acknowledged:
            assert db.get(f"item{i}") == {"pk": f"item{i}", "n": i}


SECOND = textwrap.dedent(
    """
    import sys, keystone
    db = keystone.Database.open(sys.argv[1])
    for i in range(300):
        db.put({"pk": "child", "sk": f"{i:04d}", "blob": b"x" * 2000})
    print(db.get("parent", "0000")["n"])
    db.close()
    """
)


def test_second_process_shares_the_file_safely(tmp_path):
    path = str(tmp_path / "shared.keystone")
    with keystone.Database.open(path) as db:
        db.put({"pk": "parent", "sk": "0000", "n": 7})
        proc = subprocess.Popen(
            [sys.executable, "-c", SECOND, path], stdout=subprocess.PIPE, text=True
        )
        for i in range(300):  # both processes write at once
            db.put({"pk": "parent", "sk": f"{i:04d}", "n": 7, "blob": b"y" * 2000})
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        assert out.strip() == "7"
        # the child grew the map; this process adopts the new size
        assert db.query("child").count == 300
        assert db.query("parent").count == 300
        db.put({"pk": "after", "blob": b"z" * 100_000})
        assert db.get("after")["blob"] == b"z" * 100_000


def test_map_grows_by_itself(tmp_path):
    with keystone.Database.open(tmp_path / "grow.keystone") as db:
        start = db.stats()["map_bytes"]
        blob = b"b" * 300_000
        for i in range(400):  # ~120 MB, more than the initial 64 MiB map
            db.put({"pk": f"k{i}", "blob": blob})
        assert db.stats()["map_bytes"] > start
        assert db.stats()["items"] == 400
        assert db.get("k399")["blob"] == blob


def test_async_durability_reopens_with_data(tmp_path):
    path = tmp_path / "async.keystone"
    with keystone.Database.open(path, durability="async") as db:
        db.put({"pk": "a", "v": 1})
    with keystone.Database.open(path) as db:
        assert db.get("a") == {"pk": "a", "v": 1}
