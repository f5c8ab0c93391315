"""PartiQL bench: statements vs the equivalent direct calls, in one process.

    python benches/partiql.py [--quick]

* point SELECT (``SELECT * FROM t WHERE pk = ? AND sk = ?``) vs ``db.get``
  of the same item: the target is at most 2x the time of ``db.get``
  (throughput ratio >= 0.5); measured through ``db.execute`` and through
  ``keystone.partiql.execute(db, ...)`` (the difference is the cost of
  ``Database.execute`` itself);
* partition SELECT with a filter vs ``db.query`` with the same filter;
* point UPDATE vs ``db.update`` (async durability, so the commit is not
  dominated by fsync).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _harness import compare, machine, parse_args  # noqa: E402

import keystone  # noqa: E402
import keystone.partiql  # noqa: E402


def main() -> None:
    args = parse_args(__doc__ or "")
    quick = args.quick
    n_items = 2_000 if quick else 20_000
    n_gets = 2_000 if quick else 20_000
    n_queries = 100 if quick else 1_000
    n_updates = 500 if quick else 5_000
    rounds = args.rounds or (3 if quick else 7)
    print(f"machine: {machine()}; items={n_items}, rounds={rounds}")

    tmp = tempfile.mkdtemp(prefix="keystone-bench-")
    db = keystone.Database.open(os.path.join(tmp, "pq.keystone"), durability="async")
    db.batch_write(
        puts=[
            {
                "pk": f"user#{i % 100:03d}",
                "sk": f"order#{i:08d}",
                "total": i * 3,
                "status": "shipped" if i % 3 else "pending",
            }
            for i in range(n_items)
        ]
    )
    rng = random.Random(7)
    keys = [
        (f"user#{j % 100:03d}", f"order#{j:08d}")
        for j in (rng.randrange(n_items) for _ in range(n_gets))
    ]

    # -- point SELECT vs get ---------------------------------------------------
    point = "SELECT * FROM t WHERE pk = ? AND sk = ?"

    def pq_point() -> int:
        execute = db.execute
        for pk, sk in keys:
            execute(point, [pk, sk])
        return len(keys)

    def get() -> int:
        g = db.get
        for pk, sk in keys:
            g(pk, sk)
        return len(keys)

    def pq_point_direct() -> int:
        # keystone.partiql.execute itself, without Database.execute's per-call import.
        execute = keystone.partiql.execute
        for pk, sk in keys:
            execute(db, point, [pk, sk])
        return len(keys)

    compare(
        "point SELECT by full key",
        ("PartiQL SELECT pk = ? AND sk = ?", pq_point),
        [("db.get", get)],
        rounds,
        targets={"db.get": 0.5},
    )
    compare(
        "point SELECT by full key, calling keystone.partiql.execute(db, ...) directly",
        ("keystone.partiql.execute", pq_point_direct),
        [("db.get", get)],
        rounds,
        targets={"db.get": 0.5},
    )

    # -- partition SELECT with a filter vs query ---------------------------------
    parts = [f"user#{rng.randrange(100):03d}" for _ in range(n_queries)]
    select = "SELECT * FROM t WHERE pk = ? AND status = 'pending'"

    def pq_query() -> int:
        execute = db.execute
        for p in parts:
            execute(select, [p])
        return len(parts)

    def query() -> int:
        q = db.query
        for p in parts:
            q(p, filter="#s = :s", names={"#s": "status"}, values={":s": "pending"})
        return len(parts)

    compare(
        f"partition SELECT with a filter ({n_items // 100} items per partition)",
        ("PartiQL SELECT pk = ? AND status = ...", pq_query),
        [("db.query with filter", query)],
        rounds,
    )

    # -- point UPDATE vs update -----------------------------------------------------
    upd_keys = keys[:n_updates]
    statement = "UPDATE t SET total = total + ? WHERE pk = ? AND sk = ?"

    def pq_update() -> int:
        execute = db.execute
        for pk, sk in upd_keys:
            execute(statement, [1, pk, sk])
        return len(upd_keys)

    def update() -> int:
        u = db.update
        for pk, sk in upd_keys:
            u(
                pk,
                sk,
                update="SET #t = #t + :n",
                condition="attribute_exists(pk)",
                names={"#t": "total"},
                values={":n": 1},
            )
        return len(upd_keys)

    compare(
        "point UPDATE (async durability)",
        ("PartiQL UPDATE ... WHERE pk = ? AND sk = ?", pq_update),
        [("db.update", update)],
        rounds,
    )
    db.close()


if __name__ == "__main__":
    main()
