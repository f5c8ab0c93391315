"""SPEC section 7: each limit raises ValidationError with the exact number and leaves the file unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import keystone
from keystone import ValidationError


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def filled(db):
    db.put({"pk": "keep", "v": 1})
    return db


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


class TestLimits:
    def check_unchanged(self, db, call, match):
        before = digest(db.path)
        with pytest.raises(ValidationError, match=match):
            call()
        assert digest(db.path) == before
        assert db.stats()["items"] == 1
        assert db.get("keep") == {"pk": "keep", "v": 1}

    def test_item_size_limit(self, filled):
        assert keystone.MAX_ITEM_BYTES == 409600
        filled.put({"pk": "fits", "blob": b"x" * 409_000})
        filled.delete("fits")
        self.check_unchanged(
            filled,
            lambda: filled.put({"pk": "big", "blob": b"x" * 409_600}),
            r"the item is \d+ bytes encoded; the limit is 409600 bytes",
        )

    def test_key_size_limits_are_dynamodbs(self, filled):
        assert filled.stats()["max_key_bytes"] == 511  # LMDB's; keys past it are stored too
        filled.put({"pk": "p" * 2048, "sk": "s" * 1024})
        filled.delete("p" * 2048, "s" * 1024)
        self.check_unchanged(
            filled,
            lambda: filled.put({"pk": "p" * 300, "sk": "s" * 1025}),
            "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        )
        self.check_unchanged(
            filled,
            lambda: filled.put({"pk": "p" * 2049, "sk": "s"}),
            "Size of hashkey has exceeded the maximum size limit of2048 bytes",
        )

    def test_a_long_inline_partition_key_leaves_little_room_in_the_default_table(self, filled):
        # The default table keeps partition keys of up to 506 bytes whole (as
        # files of format 2 have them), so a sort key beside one may be short.
        filled.put({"pk": "p" * 480, "sk": "s" * 26})  # 506 bytes
        with pytest.raises(ValidationError, match="the limit is 506 bytes"):
            filled.put({"pk": "p" * 480, "sk": "s" * 27})

    def test_key_size_limit_on_reads(self, filled):
        with pytest.raises(ValidationError, match="the limit is 506 bytes"):
            filled.get("p" * 480, "s" * 27)
        with pytest.raises(ValidationError, match="maximum size limit of2048 bytes"):
            filled.get("p" * 2049)

    def test_partition_keys_up_to_2048_bytes(self, filled):
        long_pk = "p" * 2048
        filled.put({"pk": long_pk, "sk": "a", "n": 1})
        filled.put({"pk": long_pk, "sk": "b", "n": 2})
        filled.put({"pk": "p" * 2047, "sk": "a", "n": 3})
        assert filled.get(long_pk, "a")["n"] == 1
        assert [i["n"] for i in filled.query(long_pk)] == [1, 2]
        assert [i["n"] for i in filled.query("p" * 2047)] == [3]
        filled.delete(long_pk, "a")
        assert filled.get(long_pk, "a") is None

    def test_nesting_depth_limit(self, filled):
        filled.put({"pk": "deep", "v": nested(32)})
        assert filled.get("deep")["v"] == nested(32)
        filled.delete("deep")
        self.check_unchanged(
            filled,
            lambda: filled.put({"pk": "deeper", "v": nested(33)}),
            "deeper than the limit of 32 levels",
        )

    def test_expression_length_limit(self, filled):
        long_expr = " OR ".join(["attribute_exists(a)"] * 300)
        assert len(long_expr) > 4096
        self.check_unchanged(
            filled,
            lambda: filled.put({"pk": "keep", "v": 2}, condition=long_expr),
            "Expression size has exceeded the maximum allowed size",
        )

    def test_in_operand_limit(self, filled):
        values = {f":v{i}": i for i in range(101)}
        expr = "v IN (" + ", ".join(values) + ")"
        self.check_unchanged(
            filled,
            lambda: filled.put({"pk": "keep", "v": 2}, condition=expr, values=values),
            "too many operands; number of operands: 101",
        )


def test_a_query_bound_too_long_beside_a_long_partition_key_is_refused(tmp_path):
    with keystone.Database.open(tmp_path / "q.keystone") as db:
        db.put({"pk": "p" * 500, "sk": "b"})
        with pytest.raises(ValidationError, match="the limit is 506 bytes"):
            db.query("p" * 500, keystone.sk.ge("a" * 20))
        assert [i["sk"] for i in db.query("p" * 500, keystone.sk.ge("a"))] == ["b"]
