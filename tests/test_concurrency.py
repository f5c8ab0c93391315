"""Thread safety: many readers and writers in one process."""

from __future__ import annotations

import threading

import keystone


def run_threads(n: int, target) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrapped(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    return errors


def test_concurrent_writers_and_readers(db):
    def work(t: int) -> None:
        for i in range(200):
            db.put({"pk": f"t{t}", "sk": f"{i:04d}", "v": i})
            got = db.get(f"t{t}", f"{i:04d}")
            assert got == {"pk": f"t{t}", "sk": f"{i:04d}", "v": i}
            if i % 50 == 0:
                page = db.query(f"t{t}")
                assert page.count == i + 1

    assert run_threads(8, work) == []
    assert db.stats()["items"] == 1600


def test_readers_see_a_consistent_snapshot_during_writes(db):
    db.batch_write(puts=[{"pk": "p", "sk": f"{i:03d}", "gen": 0} for i in range(100)])
    stop = threading.Event()

    def writer(_: int) -> None:
        gen = 0
        while not stop.is_set() and gen < 300:
            gen += 1
            db.batch_write(puts=[{"pk": "p", "sk": f"{i:03d}", "gen": gen} for i in range(100)])

    def reader(_: int) -> None:
        try:
            for _ in range(200):
                gens = {i["gen"] for i in db.query("p")}
                assert len(gens) == 1, gens  # one batch, never half of one
        finally:
            stop.set()

    t = threading.Thread(target=writer, args=(0,))
    t.start()
    errors = run_threads(3, reader)
    stop.set()
    t.join(timeout=60)
    assert errors == []


def test_same_path_opened_twice_in_one_process_shares_the_file(tmp_path):
    path = tmp_path / "twice.keystone"
    a = keystone.Database.open(path)
    b = keystone.Database.open(path)
    a.put({"pk": "x", "v": 1})
    assert b.get("x") == {"pk": "x", "v": 1}
    a.close()
    assert b.get("x") == {"pk": "x", "v": 1}  # b still works after a closes
    b.close()
