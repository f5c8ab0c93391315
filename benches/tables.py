"""Tables bench: the default table against the one-table release, N keys against S keys,
and the reader stall while a large table is deleted.

    KEYSTONE_BENCH_BASELINE=975d561 python benches/tables.py [--quick] [--rounds N]

(``KEYSTONE_BENCH_PARTS=default,kinds,delete`` picks the parts to run.)

* get / put / 100-item query on the default table, this checkout vs the
  release before tables (``git archive`` of the baseline commit into a temp
  dir). Each side runs in its own worker process on its own copy of the
  same data (``durability="async"``, so a put measures our code rather than
  the disk); many short rounds alternate between the two, and the ratio is
  the median of each round's new/old ratio, which cancels the drift of a
  shared machine. Times are CPU time (``process_time``): waiting for a busy
  core does not count, which wall-clock time on a loaded machine would.
* 100-item query of a table with ``N`` sort keys vs one with ``S`` sort keys
  (same process, alternating rounds).
* ``delete_table`` of a table with 100,000 items (20,000 with ``--quick``,
  plus a global index): how long the call takes, how long the background
  deletion runs, and the longest gap between two reads of *another* table
  in a reader thread meanwhile, against the longest gap in an equal stretch
  without a deletion.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _harness import compare, machine, parse_args  # noqa: E402

import keystone  # noqa: E402
from keystone import GlobalIndex, Schema, sk  # noqa: E402

WORKER = r"""
import json, os, random, sys, time
sys.path.insert(0, sys.argv[1])
import keystone
path, n_items = sys.argv[2], int(sys.argv[3])
db = keystone.Database.open(path, durability="async")  # puts measure the code, not the disk
if db.stats()["items"] == 0:
    items = [{"pk": f"user#{i % 200:04d}", "sk": f"order#{i:08d}", "total": i, "tags": ["a"]}
             for i in range(n_items)]
    for s in range(0, n_items, 1000):
        db.batch_write(puts=items[s:s + 1000])
rng = random.Random(7)
keys = [(f"user#{i % 200:04d}", f"order#{i:08d}") for i in range(n_items)]
counter = [0]
def get(n):
    ks = [keys[rng.randrange(n_items)] for _ in range(n)]
    t0 = time.process_time()
    for pk, s in ks:
        db.get(pk, s)
    return (time.process_time() - t0) / n
def put(n):
    t0 = time.process_time()
    for _ in range(n):
        counter[0] += 1
        db.put({"pk": "w", "sk": f"{counter[0]:08d}", "v": 1})
    return (time.process_time() - t0) / n
def query(n):
    ps = [f"user#{rng.randrange(200):04d}" for _ in range(n)]
    t0 = time.process_time()
    for p in ps:
        db.query(p, limit=100)
    return (time.process_time() - t0) / n
ops = {"get": get, "put": put, "query": query}
print("ready", flush=True)
for line in sys.stdin:
    op, n = line.split()
    print(json.dumps(ops[op](int(n))), flush=True)
"""


class Worker:
    """A process running one keystone source tree's operations on request."""

    def __init__(self, src: str, path: str, n_items: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, src, path, str(n_items)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def run(self, op: str, n: int) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{op} {n}\n")
        self.proc.stdin.flush()
        return float(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def baseline_tree(commit: str, tmp: str) -> str:
    """The ``keystone`` package of ``commit``, unpacked under ``tmp`` (no worktree needed)."""
    dest = os.path.join(tmp, f"keystone-{commit}")
    os.makedirs(dest)
    archive = subprocess.run(
        ["git", "-C", ROOT, "archive", commit, "keystone"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return dest


def old_vs_new(tmp: str, commit: str, quick: bool, rounds: int) -> None:
    n_items = 5_000 if quick else 20_000
    old = Worker(baseline_tree(commit, tmp), os.path.join(tmp, "old.keystone"), n_items)
    new = Worker(ROOT, os.path.join(tmp, "new.keystone"), n_items)
    sizes = {
        "get": 1_000 if quick else 2_000,
        "put": 200 if quick else 500,
        "query": 50 if quick else 100,
    }
    print(
        f"\nDefault table: this checkout vs {commit} (separate processes, async durability, "
        f"{rounds} short rounds each, adjacent in time; ratio = median of the paired ratios)"
    )
    for op, n in sizes.items():
        samples: dict[str, list[float]] = {"new": [], "old": []}
        paired: list[float] = []
        old.run(op, n), new.run(op, n)  # warm-up
        for r in range(rounds):
            order = [("new", new), ("old", old)] if r % 2 == 0 else [("old", old), ("new", new)]
            got = {name: w.run(op, n) for name, w in order}
            for name in got:
                samples[name].append(got[name])
            paired.append(got["old"] / got["new"])
        m_new, m_old = statistics.median(samples["new"]), statistics.median(samples["old"])
        ratio = statistics.median(paired)
        q = statistics.quantiles(paired, n=4)
        print(
            f"  {op:<6} new {m_new * 1e6:9.2f} us/op   old {m_old * 1e6:9.2f} us/op   "
            f"new/old throughput {ratio:.3f}x (quartiles {q[0]:.3f}-{q[2]:.3f}; target >= 0.95x: "
            f"{'met' if ratio >= 0.95 else 'MISSED'})"
        )
    old.close()
    new.close()


def number_vs_string(tmp: str, quick: bool, rounds: int) -> None:
    db = keystone.Database.open(os.path.join(tmp, "kinds.keystone"), durability="async")
    n_parts = 50
    per = 200
    num = db.create_table("num", Schema(partition_key=("p", "S"), sort_key=("t", "N")))
    txt = db.create_table("txt", Schema(partition_key=("p", "S"), sort_key=("t", "S")))
    for p in range(n_parts):
        num.batch_write(puts=[{"p": f"p{p}", "t": 1_700_000_000 + i, "v": i} for i in range(per)])
        txt.batch_write(
            puts=[{"p": f"p{p}", "t": f"{1_700_000_000 + i}", "v": i} for i in range(per)]
        )
    n = 200 if quick else 1_000

    def query(table: keystone.Table, low: object, high: object) -> int:
        for i in range(n):
            page = table.query(f"p{i % n_parts}", sk.between(low, high))
            assert page.count == 100
        return n

    compare(
        "100-item query, N sort keys vs S sort keys (between, same data; CPU time)",
        ("N keys", lambda: query(num, 1_700_000_050, 1_700_000_149)),
        [("S keys", lambda: query(txt, "1700000050", "1700000149"))],
        rounds,
        clock=time.process_time,
    )
    db.close()


def reader_stall(tmp: str, quick: bool) -> None:
    n_items = 20_000 if quick else 100_000
    path = os.path.join(tmp, "delete.keystone")
    db = keystone.Database.open(path)  # sync durability: background commits fsync
    big = db.create_table("big", Schema(global_indexes=[GlobalIndex("by_g", "g")]))
    for s in range(0, n_items, 2_000):
        big.batch_write(
            puts=[
                {"pk": f"p{i}", "sk": "s", "g": f"g{i % 10}", "pad": "x" * 40}
                for i in range(s, s + 2_000)
            ]
        )
    other = db.create_table("other", Schema(partition_key=("id", "N"), sort_key=None))
    other.batch_write(puts=[{"id": i, "v": i} for i in range(1_000)])

    def longest_gap(seconds: float, during: threading.Event | None = None) -> float:
        gaps: list[float] = []
        stop = threading.Event()

        def read() -> None:
            last = time.perf_counter()
            i = 0
            while not stop.is_set():
                other.get(i % 1_000)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now
                i += 1

        t = threading.Thread(target=read)
        t.start()
        if during is None:
            time.sleep(seconds)
        else:
            during.wait(seconds)
        stop.set()
        t.join()
        return max(gaps)

    quiet = longest_gap(1.0)
    finished = threading.Event()
    timings: dict[str, float] = {}

    def delete() -> None:
        time.sleep(0.1)
        t0 = time.perf_counter()
        db.delete_table("big")
        timings["call"] = time.perf_counter() - t0
        for _ in range(6000):  # bounded: 10 minutes at most
            if db.stats()["tables_being_deleted"] == 0:
                break
            time.sleep(0.01)
        timings["background"] = time.perf_counter() - t0
        finished.set()

    d = threading.Thread(target=delete)
    d.start()
    busy = longest_gap(600, finished)
    d.join()
    size = os.path.getsize(path)
    refill = db.create_table("refill", Schema(global_indexes=[GlobalIndex("by_g", "g")]))
    for s in range(0, n_items, 2_000):
        refill.batch_write(
            puts=[
                {"pk": f"p{i}", "sk": "s", "g": f"g{i % 10}", "pad": "x" * 40}
                for i in range(s, s + 2_000)
            ]
        )
    grown = os.path.getsize(path)
    print(f"\ndelete_table of {n_items:,} items (+ one global index), sync durability")
    print(f"  delete_table() returned after        {timings['call'] * 1e3:9.1f} ms")
    print(f"  background deletion done after       {timings['background'] * 1e3:9.1f} ms")
    print(f"  longest gap between reads of another table meanwhile {busy * 1e3:8.2f} ms")
    print(f"  longest gap in a quiet stretch (no deletion)         {quiet * 1e3:8.2f} ms")
    print(
        f"  file {size / 1e6:.1f} MB after the deletion, {grown / 1e6:.1f} MB after writing the same again"
    )
    db.close()


def main() -> None:
    args = parse_args(__doc__ or "")
    quick = args.quick
    rounds = args.rounds or (5 if quick else 9)
    commit = os.environ.get("KEYSTONE_BENCH_BASELINE", "975d561")
    print(f"machine: {machine()}; rounds={rounds}")
    parts = os.environ.get("KEYSTONE_BENCH_PARTS", "default,kinds,delete").split(",")
    with tempfile.TemporaryDirectory(prefix="keystone-bench-") as tmp:
        if "default" in parts:
            old_vs_new(tmp, commit, quick, rounds)
        if "kinds" in parts:
            number_vs_string(tmp, quick, rounds)
        if "delete" in parts:
            reader_stall(tmp, quick)


if __name__ == "__main__":
    main()
