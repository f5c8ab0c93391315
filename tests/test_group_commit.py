"""Group commit: concurrent durable writes share commits, each keeping its own outcome."""

from __future__ import annotations

import threading

import pytest

import keystone
from keystone import ConditionalCheckFailed


def test_concurrent_writers_share_commits_and_keep_their_own_outcomes(tmp_path):
    db = keystone.Database.open(tmp_path / "gc.keystone")  # sync durability: group commit on
    group = db._engine._group
    assert group is not None
    db.put({"pk": "guard", "n": 0})
    failures: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(t: int) -> None:
        try:
            for i in range(40):
                db.put({"pk": f"t{t}", "sk": f"{i:03d}", "v": i})
                # every writer races for the same create-once key: exactly one wins per round
                try:
                    db.put(
                        {"pk": "once", "sk": f"{i:03d}", "by": t},
                        condition="attribute_not_exists(pk)",
                    )
                except ConditionalCheckFailed:
                    with lock:
                        failures.append(i)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    assert errors == []
    assert len(failures) == 15 * 40  # all but one writer lost each race
    assert db.query("once").count == 40
    assert db.stats()["items"] == 16 * 40 + 40 + 1
    assert group.writes >= 16 * 80
    assert group.batches < group.writes  # some commits carried several writes
    db.close()
    with keystone.Database.open(tmp_path / "gc.keystone") as again:
        assert again.stats()["items"] == 16 * 40 + 40 + 1


def test_a_failing_write_in_a_batch_rolls_back_only_itself(tmp_path):
    db = keystone.Database.open(tmp_path / "gc2.keystone")
    barrier = threading.Barrier(8)
    outcomes: dict[int, str] = {}

    def writer(t: int) -> None:
        barrier.wait(timeout=30)
        try:
            # even writers violate the size limit inside the write (a too-big update)
            if t % 2:
                db.put({"pk": f"ok{t}"})
                outcomes[t] = "ok"
            else:
                db.update(f"bad{t}", update="SET blob = :b", values={":b": b"x" * 500_000})
                outcomes[t] = "written"
        except keystone.ValidationError:
            outcomes[t] = "rejected"

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes == {t: ("ok" if t % 2 else "rejected") for t in range(8)}
    assert sorted(i["pk"] for i in db.scan_all()) == ["ok1", "ok3", "ok5", "ok7"]
    db.close()


@pytest.mark.parametrize(("durability", "expected"), [("sync", True), ("async", False)])
def test_group_commit_defaults_follow_durability(tmp_path, durability, expected):
    with keystone.Database.open(tmp_path / "d.keystone", durability=durability) as db:
        assert (db._engine._group is not None) is expected


def _last_txn(db: keystone.Database) -> int:
    return int(db._engine.env.info()["last_txnid"])


def _seen_from_another_thread(db: keystone.Database, pk: str) -> object:
    seen: list[object] = []
    reader = threading.Thread(target=lambda: seen.append(db.get(pk)))
    reader.start()
    reader.join(timeout=30)
    return seen[0]


def test_commit_together_shares_one_commit_and_each_write_keeps_its_outcome(tmp_path):
    db = keystone.Database.open(tmp_path / "together.keystone")
    db.put({"pk": "taken", "v": 0})
    before = _last_txn(db)
    outcomes: list[object] = []

    def writes() -> str:
        outcomes.clear()  # (fn may run again if the map grows)
        db.put({"pk": "a", "v": 1})
        try:
            db.put({"pk": "taken", "v": 1}, condition="attribute_not_exists(pk)")
        except ConditionalCheckFailed as exc:
            outcomes.append(exc)
        outcomes.append(db.update("a", update="SET v = v + :one", values={":one": 1}))
        db.delete("nobody")
        outcomes.append(_seen_from_another_thread(db, "a"))  # not committed yet
        return "done"

    assert db.commit_together(writes) == "done"
    assert isinstance(outcomes[0], ConditionalCheckFailed)
    assert outcomes[1] == {"pk": "a", "v": 2}
    assert outcomes[2] is None
    assert _last_txn(db) == before + 1  # four writes, one commit
    assert db.get("a") == {"pk": "a", "v": 2}
    assert db.get("taken") == {"pk": "taken", "v": 0}  # the failed write changed nothing
    db.close()


def test_commit_together_runs_again_when_the_map_must_grow(tmp_path):
    db = keystone.Database.open(tmp_path / "grow.keystone", map_size=256 * 1024)
    runs: list[int] = []
    blob = b"x" * 2000

    def writes() -> None:
        runs.append(1)
        for i in range(400):  # ~800 KB: more than the first map holds
            db.put({"pk": f"k{i:04d}", "blob": blob})

    db.commit_together(writes)
    assert len(runs) >= 2
    assert db.stats()["items"] == 400
    db.close()


def test_commit_together_without_group_commit_commits_each_write(tmp_path):
    db = keystone.Database.open(tmp_path / "alone.keystone", group_commit=False)
    before = _last_txn(db)
    seen: list[object] = []

    def writes() -> None:
        db.put({"pk": "a", "v": 1})
        seen.append(_seen_from_another_thread(db, "a"))  # committed already
        db.put({"pk": "b", "v": 1})

    db.commit_together(writes)
    assert seen == [{"pk": "a", "v": 1}]
    assert _last_txn(db) == before + 2
    db.close()
