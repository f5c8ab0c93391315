"""Core library bench: keystone vs raw lmdb and sqlite3 on the same data, in one run.

    python benches/core.py [--quick]

* get: ``db.get`` vs raw ``lmdb`` get + ``msgpack.unpackb`` vs ``sqlite3``
  (a keyed WAL table holding the same msgpack bytes, decoded the same way);
* durable put: ``db.put`` (durability="sync") vs raw ``lmdb`` with one
  synced transaction per put;
* query of 100 items: ``db.query`` vs a raw ``lmdb`` cursor range read.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import tempfile

import lmdb
import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _harness import compare, machine, parse_args  # noqa: E402

import keystone  # noqa: E402


def make_item(i: int) -> dict[str, object]:
    return {
        "pk": f"user#{i % 1000:04d}",
        "sk": f"order#{i:08d}",
        "name": f"customer {i}",
        "total": i * 3,
        "status": "shipped" if i % 3 else "pending",
        "tags": ["a", "b"],
    }


def main() -> None:
    args = parse_args(__doc__ or "")
    quick = args.quick
    n_items = 2_000 if quick else 20_000
    n_gets = 2_000 if quick else 20_000
    n_puts = 50 if quick else 300
    n_queries = 100 if quick else 1_000
    rounds = args.rounds or (3 if quick else 7)
    print(f"machine: {machine()}; items={n_items}, rounds={rounds}")

    tmp = tempfile.mkdtemp(prefix="keystone-bench-")
    items = [make_item(i) for i in range(n_items)]

    # -- the same data in three stores -----------------------------------
    db = keystone.Database.open(os.path.join(tmp, "ks.keystone"))
    db.batch_write(puts=items)

    raw_env = lmdb.open(os.path.join(tmp, "raw.lmdb"), subdir=False, map_size=1 << 30)
    with raw_env.begin(write=True) as txn:
        for it in items:
            txn.put(f"{it['pk']}|{it['sk']}".encode(), msgpack.packb(it))

    sql = sqlite3.connect(os.path.join(tmp, "sq.sqlite"), check_same_thread=False)
    sql.execute("PRAGMA journal_mode=WAL")
    sql.execute("PRAGMA synchronous=NORMAL")
    sql.execute("CREATE TABLE t (pk TEXT, sk TEXT, data BLOB, PRIMARY KEY (pk, sk)) WITHOUT ROWID")
    sql.executemany(
        "INSERT INTO t VALUES (?, ?, ?)", [(it["pk"], it["sk"], msgpack.packb(it)) for it in items]
    )
    sql.commit()

    rng = random.Random(7)
    keys = [
        (items[j]["pk"], items[j]["sk"]) for j in (rng.randrange(n_items) for _ in range(n_gets))
    ]
    raw_keys = [f"{pk}|{sk}".encode() for pk, sk in keys]

    def ks_get() -> int:
        get = db.get
        for pk, sk in keys:
            get(pk, sk)
        return len(keys)

    def raw_get() -> int:
        unpackb = msgpack.unpackb
        for k in raw_keys:
            with raw_env.begin() as txn:
                unpackb(txn.get(k))
        return len(raw_keys)

    def sqlite_get() -> int:
        cur = sql.cursor()
        unpackb = msgpack.unpackb
        for pk, sk in keys:
            row = cur.execute("SELECT data FROM t WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
            unpackb(row[0])
        return len(keys)

    compare(
        "get (random existing key)",
        ("keystone db.get", ks_get),
        [("raw lmdb get + unpackb", raw_get), ("sqlite3 WAL select", sqlite_get)],
        rounds,
        targets={"raw lmdb get + unpackb": 0.5, "sqlite3 WAL select": 2.0},
    )

    # -- durable puts --------------------------------------------------------
    counter = iter(range(10**9))
    put_items = [make_item(n_items + i) for i in range(n_puts)]

    def ks_put() -> int:
        put = db.put
        for it in put_items:
            put({**it, "sk": f"new#{next(counter)}"})
        return n_puts

    def raw_put() -> int:
        packb = msgpack.packb
        for it in put_items:
            with raw_env.begin(write=True) as txn:
                txn.put(f"{it['pk']}|new#{next(counter)}".encode(), packb(it))
        return n_puts

    compare(
        "durable put (fsync per put)",
        ("keystone db.put sync", ks_put),
        [("raw lmdb txn-per-put sync", raw_put)],
        rounds,
        targets={"raw lmdb txn-per-put sync": 0.8},
    )

    # -- 100-item query ----------------------------------------------------
    qdb = keystone.Database.open(os.path.join(tmp, "q.keystone"), durability="async")
    qdb.batch_write(
        puts=[
            {"pk": f"p{p}", "sk": f"s{i:04d}", "n": i, "name": "x" * 20}
            for p in range(50)
            for i in range(100)
        ]
    )
    with raw_env.begin(write=True) as txn:
        for p in range(50):
            for i in range(100):
                it = {"pk": f"p{p}", "sk": f"s{i:04d}", "n": i, "name": "x" * 20}
                txn.put(f"q|p{p}|s{i:04d}".encode(), msgpack.packb(it))
    parts = [f"p{rng.randrange(50)}" for _ in range(n_queries)]

    def ks_query() -> int:
        q = qdb.query
        for p in parts:
            page = q(p)
            assert page.count == 100
        return len(parts)

    def raw_query() -> int:
        unpackb = msgpack.unpackb
        for p in parts:
            lo = f"q|{p}|".encode()
            hi = f"q|{p}}}".encode()
            out = []
            with raw_env.begin() as txn:
                cur = txn.cursor()
                cur.set_range(lo)
                for k, v in cur:
                    if k >= hi:
                        break
                    out.append(unpackb(v))
            assert len(out) == 100
        return len(parts)

    compare(
        "query of one 100-item partition",
        ("keystone db.query", ks_query),
        [("raw lmdb cursor range", raw_query)],
        rounds,
        targets={"raw lmdb cursor range": 0.4},
    )

    db.close()
    qdb.close()
    raw_env.close()
    sql.close()


if __name__ == "__main__":
    main()
