"""Write bench: batches and conditional updates against single durable puts, in one run.

    python benches/writes.py [--quick] [--rounds N]

* batch_write of 25 items (one durable commit) vs the same 25 items as 25
  single durable ``db.put`` calls, in items per second (target >= 10x);
* ``db.update`` with a condition (``SET n = n + :one, ...`` guarded by
  ``attribute_exists(pk) AND n >= :zero``) vs a plain ``db.put`` of an item of
  the same shape, in operations per second (target >= 0.7x).

Both databases use the default durability (``"sync"``: every commit is on
disk when the call returns), so these figures include one fsync per commit.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _harness import compare, machine, parse_args  # noqa: E402

import keystone  # noqa: E402

BATCH = 25


def make_item(i: int, n: int = 0) -> dict[str, object]:
    return {
        "pk": f"user#{i % 100:03d}",
        "sk": f"order#{i:06d}",
        "name": f"customer {i}",
        "n": n,
        "status": "pending",
        "tags": ["a", "b"],
    }


def main() -> None:
    args = parse_args(__doc__ or "")
    quick = args.quick
    batches = 8 if quick else 40  # batches per round (x25 items)
    n_updates = 100 if quick else 600  # updates / puts per round
    rounds = args.rounds or (3 if quick else 7)
    print(f"machine: {machine()}; durability=sync, rounds={rounds}")

    tmp = tempfile.mkdtemp(prefix="keystone-bench-")
    try:
        db = keystone.Database.open(os.path.join(tmp, "writes.keystone"))
        run(db, batches, n_updates, rounds)
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(db: keystone.Database, batches: int, n_updates: int, rounds: int) -> None:
    # -- batch_write vs single puts ------------------------------------------
    groups = [[make_item(b * BATCH + j) for j in range(BATCH)] for b in range(batches)]
    gen = iter(range(1, 10**9))

    def batch_write() -> int:
        g = next(gen)
        for group in groups:
            db.batch_write(puts=[{**it, "n": g} for it in group])
        return batches * BATCH

    def single_puts() -> int:
        g = next(gen)
        put = db.put
        for group in groups:
            for it in group:
                put({**it, "n": g})
        return batches * BATCH

    compare(
        f"batch_write of {BATCH} items vs {BATCH} single durable puts (per item)",
        (f"batch_write x{BATCH}", batch_write),
        [("single db.put", single_puts)],
        rounds,
        targets={"single db.put": 10.0},
    )

    # -- conditional update vs plain put ---------------------------------------
    keys = [(f"user#{i % 100:03d}", f"order#{i:06d}") for i in range(n_updates)]
    db.batch_write(puts=[make_item(i) for i in range(n_updates)])
    values = {":one": 1, ":zero": 0, ":s": "shipped"}

    def conditional_update() -> int:
        update = db.update
        for pk, sk in keys:
            update(
                pk,
                sk,
                update="SET n = n + :one, #s = :s",
                condition="attribute_exists(pk) AND n >= :zero",
                names={"#s": "status"},
                values=values,
                returns="NONE",
            )
        return len(keys)

    items = [{**make_item(i), "status": "shipped"} for i in range(n_updates)]

    def plain_put() -> int:
        g = next(gen)
        put = db.put
        for it in items:
            put({**it, "n": g})
        return len(items)

    compare(
        "update with a condition vs a plain put (durable, one item each)",
        ("db.update + condition", conditional_update),
        [("db.put", plain_put)],
        rounds,
        targets={"db.put": 0.7},
    )


if __name__ == "__main__":
    main()
