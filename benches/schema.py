"""Schema bench: the cost of global indexes on writes, and index queries vs base-table queries.

    python benches/schema.py [--quick]

* put throughput with 0, 1 and 3 global indexes (async durability, so the
  index maintenance rather than fsync is what is measured);
* a 100-item query on a global index vs a 100-item query on the table.
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _harness import compare, machine, parse_args  # noqa: E402

import keystone  # noqa: E402
from keystone import GlobalIndex, Schema  # noqa: E402


def main() -> None:
    args = parse_args(__doc__ or "")
    n_puts = 500 if args.quick else 5_000
    n_queries = 100 if args.quick else 1_000
    rounds = args.rounds or (3 if args.quick else 7)
    print(f"machine: {machine()}; puts/round={n_puts}, rounds={rounds}")
    tmp = tempfile.mkdtemp(prefix="keystone-bench-")
    gsis = [GlobalIndex("by_a", "a", "b"), GlobalIndex("by_c", "c"), GlobalIndex("by_d", "d", "a")]
    dbs = {
        n: keystone.Database.open(
            os.path.join(tmp, f"g{n}.keystone"),
            schema=Schema(global_indexes=gsis[:n]),
            durability="async",
        )
        for n in (0, 1, 3)
    }
    counter = iter(range(10**9))

    def putter(db: keystone.Database):
        def run() -> int:
            for _ in range(n_puts):
                i = next(counter)
                db.put(
                    {
                        "pk": f"p{i % 997}",
                        "sk": f"s{i}",
                        "a": f"a{i % 50}",
                        "b": f"b{i}",
                        "c": f"c{i % 13}",
                        "d": f"d{i % 7}",
                        "payload": "x" * 40,
                    }
                )
            return n_puts

        return run

    compare(
        "put with 0 / 1 / 3 global indexes",
        ("put, 3 global indexes", putter(dbs[3])),
        [("put, no index", putter(dbs[0])), ("put, 1 global index", putter(dbs[1]))],
        rounds,
        targets={"put, no index": 0.5},
    )
    print("  (target: 3 indexes cost <= 2x the time of none, i.e. >= 0.5x its throughput)")

    qdb = keystone.Database.open(
        os.path.join(tmp, "q.keystone"),
        schema=Schema(global_indexes=[GlobalIndex("by_g", "g", "n")]),
        durability="async",
    )
    qdb.batch_write(
        puts=[
            {"pk": f"g{p}", "sk": f"{i:04d}", "g": f"g{p}", "n": f"{i:04d}", "name": "x" * 20}
            for p in range(50)
            for i in range(100)
        ]
    )
    parts = [f"g{i % 50}" for i in range(n_queries)]

    def base_query() -> int:
        for p in parts:
            assert qdb.query(p).count == 100
        return len(parts)

    def index_query() -> int:
        for p in parts:
            assert qdb.query(p, index="by_g").count == 100
        return len(parts)

    compare(
        "100-item query: index vs base table",
        ("query on global index", index_query),
        [("query on base table", base_query)],
        rounds,
        targets={"query on base table": 0.8},
    )
    for db in (*dbs.values(), qdb):
        db.close()


if __name__ == "__main__":
    main()
