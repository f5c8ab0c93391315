"""Import bench: ``keystone import`` of 1,000,000 small items from JSON Lines.

    python benches/import.py [--quick] [--rounds N]

Times the whole command as a user runs it (``python -m keystone import
DB FILE`` in a subprocess: start-up, parsing, validation, the one
all-or-nothing transaction and its durable commit) into a new file, for two
inputs:

* ``plain``: small items of strings and integers (pk, sk, status, total,
  a flag), about 90 bytes a line -- the target is >= 100,000 items/s;
* ``typed``: the same plus a decimal, a string set and a timestamp on every
  line, which exercise the typed-JSON tags (reported, no target).

``--quick`` imports 100,000 items. The figures go to ``docs/cli.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import machine, parse_args  # noqa: E402

TARGET = 100_000  # items/s, plain items


def write_input(path: str, n: int, typed: bool) -> int:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            item: dict[str, object] = {
                "pk": f"user#{i % 50_000:05d}",
                "sk": f"order#{i:08d}",
                "status": "shipped" if i % 3 else "pending",
                "total": i * 3 % 10_007,
                "gift": i % 7 == 0,
            }
            if typed:
                item["price"] = {"$n": f"{i % 1000}.{i % 100:02d}"}
                item["tags"] = {"$ss": ["new", f"batch-{i % 10}"]}
                item["at"] = {"$ts": f"2024-01-{i % 28 + 1:02d}T12:00:00.000Z"}
            f.write(json.dumps(item, separators=(",", ":")) + "\n")
    return os.path.getsize(path)


def import_once(workdir: str, source: str, n: int) -> float:
    db = os.path.join(workdir, "bench.keystone")
    for leftover in (db, db + "-lock"):
        if os.path.exists(leftover):
            os.remove(leftover)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "keystone", "import", db, source],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"import failed: {result.stderr}")
    check = subprocess.run(
        [sys.executable, "-m", "keystone", "stats", db, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    items = json.loads(check.stdout)["items"]
    if items != n:
        raise SystemExit(f"expected {n} items, the database holds {items}")
    return elapsed


def main() -> None:
    args = parse_args(__doc__ or "")
    n = 100_000 if args.quick else 1_000_000
    rounds = args.rounds or (1 if args.quick else 3)
    print(f"machine: {machine()}; items={n:,}, rounds={rounds}")
    workdir = tempfile.mkdtemp(prefix="keystone-import-bench-")
    try:
        for name, typed in (("plain", False), ("typed", True)):
            source = os.path.join(workdir, f"{name}.jsonl")
            size = write_input(source, n, typed)
            times = [import_once(workdir, source, n) for _ in range(rounds)]
            best, median = min(times), statistics.median(times)
            rate = n / median
            line = (
                f"  {name:<6} {size / n:5.0f} B/line  median {median:6.2f}s  best {best:6.2f}s"
                f"  {rate:12,.0f} items/s"
            )
            if not typed:
                line += f"  (target >= {TARGET:,}/s: {'met' if rate >= TARGET else 'MISSED'})"
            print(line)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
