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
