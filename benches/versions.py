"""Regression bench: this tree's keystone vs another commit's, side by side in one run.

    python benches/versions.py [--base COMMIT] [--quick] [--rounds N]

The base commit (default: where this branch left main, ``git merge-base HEAD
main``) has its ``keystone`` package exported with ``git archive`` into a
temporary directory; each round runs the same workload once under each tree
(in a fresh subprocess, alternating which goes first), so both see the same
machine load; each subprocess keeps the best of three passes per operation, timed
in CPU time (process_time), which waiting for a busy CPU does not inflate. The
workload is the core bench's hot paths where expressions matter: ``get``,
``put`` with a condition, ``update`` with SET arithmetic and a condition,
and ``query`` of 100 items with a filter and a projection. Reported: median
seconds per operation for each tree and the ratio (new ops/s / base ops/s;
above 1.0 is faster).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import machine, parse_args  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKLOAD = r"""
import json, os, sys, tempfile, time
import keystone

n_items, n_ops = int(sys.argv[1]), int(sys.argv[2])
tmp = tempfile.mkdtemp(prefix="keystone-versions-")
db = keystone.Database.open(os.path.join(tmp, "v.keystone"), durability="async")
db.batch_write(puts=[
    {"pk": f"user#{i % 100:03d}", "sk": f"order#{i:08d}", "total": i, "state_": "new",
     "tags": ["a", "b"], "addr": {"city": "Paris", "zip": "75001"}}
    for i in range(n_items)
])
keys = [(f"user#{i % 100:03d}", f"order#{i:08d}") for i in range(0, n_items, max(1, n_items // n_ops))][:n_ops]
out = {}

def timed(name, fn):
    best = None
    for _ in range(3):  # the best of three passes: load spikes from elsewhere fall out
        t0 = time.process_time()
        n = fn()
        took = (time.process_time() - t0) / n
        best = took if best is None else min(best, took)
    out[name] = best

def gets():
    for pk, sk in keys:
        db.get(pk, sk)
    return len(keys)

def puts():
    for i, (pk, sk) in enumerate(keys):
        db.put({"pk": pk, "sk": sk, "total": i, "state_": "new", "addr": {"city": "Paris"}},
               condition="attribute_exists(pk) AND #s = :s", names={"#s": "state_"},
               values={":s": "new"})
    return len(keys)

def updates():
    for pk, sk in keys:
        db.update(pk, sk, update="SET #t = #t + :one, addr.city = :c",
                  condition="#t >= :zero", names={"#t": "total"},
                  values={":one": 1, ":c": "Lyon", ":zero": 0})
    return len(keys)

def queries():
    n = max(1, len(keys) // 20)
    for i in range(n):
        db.query(f"user#{i % 100:03d}", filter="#t > :t AND begins_with(#s, :p)",
                 names={"#s": "state_", "#t": "total"}, values={":t": 10, ":p": "n"},
                 projection="sk, #t", limit=100)
    return n

timed("get", gets)
timed("put with condition", puts)
timed("update with SET and condition", updates)
timed("query of 100 with filter", queries)
db.close()
print(json.dumps(out))
"""


def export(base: str, dest: str) -> None:
    """The base commit's ``keystone`` package, extracted under ``dest``."""
    data = subprocess.run(
        ["git", "-C", ROOT, "archive", "--format=tar", base, "keystone"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def run(tree: str, n_items: int, n_ops: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    done = subprocess.run(
        [sys.executable, "-c", WORKLOAD, str(n_items), str(n_ops)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
    )
    if done.returncode != 0:
        raise SystemExit(f"the workload failed under {tree}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    sys.argv, base = _pop_base(sys.argv)
    args = parse_args(__doc__ or "")
    n_items, n_ops = (2_000, 400) if args.quick else (20_000, 2_000)
    rounds = args.rounds or (3 if args.quick else 7)
    print(f"machine: {machine()}; base={base}, items={n_items}, ops={n_ops}, rounds={rounds}")
    with tempfile.TemporaryDirectory(prefix="keystone-base-") as old:
        export(base, old)
        samples: dict[str, dict[str, list[float]]] = {"new": {}, "base": {}}
        for round_ in range(rounds):
            order = [("new", ROOT), ("base", old)]
            for label, tree in order if round_ % 2 == 0 else order[::-1]:
                for name, secs in run(tree, n_items, n_ops).items():
                    samples[label].setdefault(name, []).append(secs)
    print(f"\n{'operation':34} {'new us/op':>10} {'base us/op':>11} {'new/base ops/s':>15}")
    for name in samples["new"]:
        new = statistics.median(samples["new"][name])
        old_ = statistics.median(samples["base"][name])
        print(f"{name:34} {new * 1e6:10.1f} {old_ * 1e6:11.1f} {old_ / new:15.2f}")


def _pop_base(argv: list[str]) -> tuple[list[str], str]:
    if "--base" in argv:
        i = argv.index("--base")
        return argv[:i] + argv[i + 2 :], argv[i + 1]
    base = subprocess.run(
        ["git", "-C", ROOT, "merge-base", "HEAD", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return argv, base


if __name__ == "__main__":
    main()
