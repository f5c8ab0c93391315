"""``keystone import`` / ``keystone export`` and the typed JSON they speak."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import keystone
from keystone import engine
from keystone.cli import jsonl, main

UTC = dt.UTC


def cli(*args: str | Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keystone", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_main(
    *args: str | Path, stdin: str = "", stderr: io.StringIO | None = None
) -> tuple[int, str, str]:
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    inp = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    status = main([str(a) for a in args], stdin=inp, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def every_type() -> list[dict[str, Any]]:
    """Items holding every stored type, including the awkward corners."""
    return [
        {
            "pk": "types",
            "sk": "scalars",
            "s": 'héllo\n\t"quoted" ✓',
            "empty": "",
            "int": 42,
            "negative": -7,
            "big": 10**37 + 1,
            "huge": 10**120,
            "decimal": Decimal("0.1"),
            "precise": Decimal("3.1415926535897932384626433832795028841"),
            "tiny": Decimal("1E-130"),
            "bytes": b"\x00\x01\xff",
            "no_bytes": b"",
            "true": True,
            "false": False,
            "null": None,
        },
        {
            "pk": "types",
            "sk": "collections",
            "list": [1, "two", [3.5, None], {"four": b"4"}],
            "map": {"a": {"b": {"c": [Decimal("-0.5")]}}},
            "empty_list": [],
            "empty_map": {},
            "ss": {"a", "b", "ü"},
            "ns": {1, Decimal("2.5"), -3, 10**30},
            "bs": {b"\x00", b"\x01\x02"},
            "vector": keystone.Vector([0.1, -2.5, 3e-7, 1e30]),
            "ts": dt.datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
            "ts_other_zone": dt.datetime(
                2024, 1, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
            ),
        },
        {
            "pk": "types",
            "sk": "tag lookalikes",
            "looks_like_number": {"$n": "not a number"},
            "looks_like_bytes": {"$b64": "!!"},
            "escaped_already": {"$$n": 1},
            "two_keys": {"$n": "1", "$b64": "x"},
            "dollar_keys": {"$price": 3},
            "nested": [{"$ss": ["x"]}],
        },
        {"pk": b"\x00binary\xffkey", "sk": b"\x01", "note": "bytes keys"},
        {"pk": "no sort key"},
    ]


# --------------------------------------------------------------------------
# Typed JSON
# --------------------------------------------------------------------------


class TestTypedJson:
    @pytest.mark.parametrize("item", every_type(), ids=lambda i: repr(i.get("sk", i["pk"])))
    def test_every_value_round_trips(self, item: dict[str, Any]) -> None:
        with keystone.Database.memory() as db:
            db.put(item)
            stored = db.get(item["pk"], item.get("sk"))
        text = jsonl.dumps(stored)
        assert "\n" not in text
        assert jsonl.loads_item(text) == stored

    def test_the_documented_encodings(self) -> None:
        item = {
            "b": b"\x00\x01",
            "ss": {"b", "a"},
            "ns": {Decimal("1.5"), 2},
            "bs": {b"\x00\x01"},
            "v": keystone.Vector([0.5, 1.25]),
            "t": dt.datetime(2024, 1, 1, tzinfo=UTC),
            "n": Decimal("0.1"),
            "i": 10**30,
            "m": {"$n": "x"},
        }
        assert json.loads(jsonl.dumps(item)) == {
            "b": {"$b64": "AAE="},
            "ss": {"$ss": ["a", "b"]},
            "ns": {"$ns": ["1.5", "2"]},
            "bs": {"$bs": ["AAE="]},
            "v": {"$vec": [0.5, 1.25]},
            "t": {"$ts": "2024-01-01T00:00:00.000Z"},
            "n": {"$n": "0.1"},
            "i": 10**30,
            "m": {"$$n": "x"},
        }

    def test_plain_json_numbers_are_read_as_exact_decimals(self) -> None:
        item = jsonl.loads_item('{"a": 0.1, "b": 1e2, "c": 3.14159265358979323846264338327950288}')
        assert item == {
            "a": Decimal("0.1"),
            "b": Decimal("1e2"),
            "c": Decimal("3.14159265358979323846264338327950288"),
        }
        with keystone.Database.memory() as db:
            db.put({"pk": "x", **item})
            assert db.get("x")["a"] + Decimal("0.2") == Decimal("0.3")  # type: ignore[index]

    def test_number_sets_take_numbers_or_strings(self) -> None:
        assert jsonl.loads('{"$ns": [1, "2.5", 0.5]}') == {1, Decimal("2.5"), Decimal("0.5")}

    def test_timestamps_take_any_utc_offset(self) -> None:
        value = jsonl.loads('{"$ts": "2024-01-01T05:30:00+05:30"}')
        assert value == dt.datetime(2024, 1, 1, tzinfo=UTC)

    def test_an_escaped_dollar_is_a_tag_too(self) -> None:
        assert jsonl.loads('{"\\u0024b64": "AAE="}') == b"\x00\x01"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('{"a": NaN}', "NaN is not a number KeystoneDB can store"),
            ('{"a": Infinity}', "Infinity is not a number"),
            ('{"$b64": "!!"}', "invalid base64"),
            ('{"$b64": 3}', "takes base64 text, got a number"),
            ('{"$ts": "2024-01-01T00:00:00"}', "needs a UTC offset"),
            ('{"$ts": "yesterday"}', "is not an ISO 8601 time"),
            ('{"$n": "abc"}', "is not a number"),
            ('{"$n": "NaN"}', "is not a finite number"),
            ('{"$ss": [1]}', "takes an array of strings"),
            ('{"$ss": "a"}', "takes an array, got a string"),
            ('{"$vec": ["a"]}', "takes an array of numbers"),
            ('{"a": 1', "invalid JSON: Expecting ',' delimiter (column 8)"),
            ('{"a": 1} x', "invalid JSON: Extra data"),
            ("[1, 2]", "an item must be a JSON object, got an array"),
            (b'{"a": "\xff"}', "not UTF-8 text"),
        ],
    )
    def test_bad_input_says_what_is_wrong(self, text: str | bytes, message: str) -> None:
        with pytest.raises(jsonl.JSONValueError) as info:
            jsonl.loads_item(text)
        assert message.replace("invalid base64", "is not valid base64") in str(info.value)

    def test_surrounding_whitespace_is_fine(self) -> None:
        assert jsonl.loads_item('  {"a": 1}  \r\n') == {"a": 1}


# --------------------------------------------------------------------------
# import / export
# --------------------------------------------------------------------------


@pytest.fixture
def full(tmp_path: Path) -> Path:
    p = tmp_path / "full.keystone"
    with keystone.Database.open(p) as db:
        for item in every_type():
            db.put(item)
    return p


def all_items(path: Path) -> list[dict[str, Any]]:
    with keystone.Database.open(path, create=False) as db:
        return list(db.scan_all())


class TestRoundTrip:
    def test_export_then_import_keeps_every_value_of_every_type(
        self, full: Path, tmp_path: Path
    ) -> None:
        exported = tmp_path / "items.jsonl"
        result = cli("export", full, exported)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        copy = tmp_path / "copy.keystone"
        result = cli("import", copy, exported)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert all_items(copy) == all_items(full)
        assert len(all_items(copy)) == len(every_type())
        again = cli("export", copy)
        assert again.stdout == exported.read_text(encoding="utf-8")

    def test_export_to_stdout_piped_into_import_from_stdin(
        self, full: Path, tmp_path: Path
    ) -> None:
        exported = cli("export", full)
        assert exported.returncode == 0
        assert len(exported.stdout.splitlines()) == len(every_type())
        copy = tmp_path / "copy.keystone"
        result = cli("import", copy, "-", input=exported.stdout)
        assert result.returncode == 0, result.stderr
        assert all_items(copy) == all_items(full)

    def test_export_does_not_overwrite_a_file(self, full: Path, tmp_path: Path) -> None:
        dest = tmp_path / "keep.jsonl"
        dest.write_text("keep me")
        status, _, err = run_main("export", full, dest)
        assert status == 2
        assert "already exists" in err
        assert dest.read_text() == "keep me"

    def test_import_creates_a_file_with_the_given_key_schema(self, tmp_path: Path) -> None:
        source = tmp_path / "users.jsonl"
        source.write_text('{"id": "u1", "name": "Ada"}\n{"id": "u2", "name": "Lin"}\n')
        p = tmp_path / "users.keystone"
        status, _, err = run_main("import", p, source, "--partition-key", "id", "--no-sort-key")
        assert status == 0, err
        with keystone.Database.open(p) as db:
            assert db.schema.sort_key is None
            assert db.get("u2") == {"id": "u2", "name": "Lin"}

    def test_blank_lines_are_skipped_and_a_later_duplicate_wins(self, tmp_path: Path) -> None:
        source = tmp_path / "dup.jsonl"
        source.write_text('{"pk": "a", "v": 1}\n\n   \n{"pk": "a", "v": 2}\n{"pk": "b"}')
        p = tmp_path / "dup.keystone"
        status, _, err = run_main("import", p, source)
        assert status == 0, err
        assert sorted(all_items(p), key=lambda i: i["pk"]) == [{"pk": "a", "v": 2}, {"pk": "b"}]


class TestBrokenImport:
    @pytest.fixture
    def existing(self, tmp_path: Path) -> Path:
        p = tmp_path / "existing.keystone"
        with keystone.Database.open(p) as db:
            db.batch_write(puts=[{"pk": "old", "sk": str(i), "v": i} for i in range(10)])
        return p

    @pytest.mark.parametrize(
        ("bad_line", "message"),
        [
            ('{"pk": "x", "sk": ', "line 734: invalid JSON"),
            (
                '{"sk": "no partition key"}',
                "line 734: the item has no partition key attribute 'pk'",
            ),
            ('["not", "an", "object"]', "line 734: an item must be a JSON object, got an array"),
            ('{"pk": "x", "b": {"$b64": "%%%"}}', "line 734: "),
            ('{"pk": "x", "s": {"$ss": []}}', "line 734: "),
            ('{"pk": "x", "n": 1e400}', "line 734: "),
            ('{"pk": "x", "big": "' + "x" * 500_000 + '"}', "line 734: the item is"),
        ],
    )
    def test_a_bad_line_is_named_and_nothing_is_written(
        self, existing: Path, tmp_path: Path, bad_line: str, message: str
    ) -> None:
        good = [json.dumps({"pk": "new", "sk": f"{i:04d}", "v": i}) for i in range(1, 1200)]
        good[733] = bad_line  # line 734
        source = tmp_path / "broken.jsonl"
        source.write_text("\n".join(good) + "\n")
        before = all_items(existing)
        status, out, err = run_main("import", existing, source)
        assert (status, out) == (1, "")
        assert err.startswith("keystone: ValidationError: " + message)
        assert err.count("\n") == 1
        assert all_items(existing) == before

    def test_a_broken_import_from_stdin_in_a_subprocess_changes_nothing(
        self, existing: Path
    ) -> None:
        text = '{"pk": "new", "sk": "1"}\n{"pk": "new", "sk": "2"}\n{"pk": \n'
        before = all_items(existing)
        result = cli("import", existing, "-", input=text)
        assert result.returncode == 1
        assert result.stderr.startswith("keystone: ValidationError: line 3: invalid JSON")
        assert "Traceback" not in result.stderr
        assert all_items(existing) == before

    def test_a_missing_input_file_is_a_clean_error(self, existing: Path, tmp_path: Path) -> None:
        status, _, err = run_main("import", existing, tmp_path / "nope.jsonl")
        assert status == 1
        assert err == f"keystone: error: {tmp_path / 'nope.jsonl'}: No such file or directory\n"


class TestImportMechanics:
    def test_an_import_that_outgrows_the_map_runs_again_and_completes(self, tmp_path: Path) -> None:
        p = tmp_path / "small-map.keystone"
        held = engine.acquire(str(p), map_size=1 << 20)  # a 1 MiB map, far too small
        try:
            with keystone.Database.open(p) as db:
                from keystone.cli.progress import Progress
                from keystone.cli.transfer import import_jsonl

                text = "".join(
                    json.dumps({"pk": f"p{i % 97}", "sk": f"{i:06d}", "pad": "x" * 200}) + "\n"
                    for i in range(20_000)
                )
                progress = Progress("importing", io.StringIO(), total=None, enabled=False)
                count = import_jsonl(db, io.BytesIO(text.encode()), progress)
                assert count == 20_000
                assert db.stats()["items"] == 20_000
                assert db.stats()["map_bytes"] > 1 << 20
        finally:
            held.release()

    def test_progress_and_a_summary_are_drawn_on_a_terminal(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("keystone.cli.progress._CHECK_EVERY", 1)
        source = tmp_path / "many.jsonl"
        source.write_text("".join(f'{{"pk": "p", "sk": "{i:05d}"}}\n' for i in range(3000)))
        terminal = FakeTerminal()
        status, _, err = run_main("import", tmp_path / "db.keystone", source, stderr=terminal)
        assert status == 0
        final = err.split("\r")[-1]  # tqdm's last redraw of the bar
        assert final.startswith("importing: 100%")
        assert "3,000 items" in final
        assert "imported 3,000 items in" in err.splitlines()[-1]

        terminal = FakeTerminal()
        status, out, err = run_main(
            "export", tmp_path / "db.keystone", tmp_path / "out.jsonl", stderr=terminal
        )
        assert status == 0
        assert err.split("\r")[-1].startswith("exporting: 100%")
        assert "3000/3000" in err
        assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3000

    def test_nothing_is_drawn_when_stderr_is_not_a_terminal(self, tmp_path: Path) -> None:
        source = tmp_path / "many.jsonl"
        source.write_text("".join(f'{{"pk": "p", "sk": "{i:05d}"}}\n' for i in range(3000)))
        result = cli("import", tmp_path / "db.keystone", source)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_snapshot_items_which_export_reads_ignore_writes_made_meanwhile(tmp_path: Path) -> None:
    """Items written, changed and deleted while the export runs are not in it."""
    import threading

    path = tmp_path / "live.keystone"
    with keystone.Database.open(path) as db:
        db.batch_write(puts=[{"pk": f"p{i:04d}", "v": 0} for i in range(2000)])
        items = db.snapshot_items()
        first = [next(items) for _ in range(10)]

        def writer() -> None:  # another thread, while the snapshot is open
            db.batch_write(puts=[{"pk": f"new{i}", "v": 1} for i in range(25)])
            db.batch_write(deletes=[{"pk": f"p{i:04d}"} for i in range(100, 125)])
            db.update("p1999", update="SET v = :v", values={":v": 9})

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(30)
        rest = list(items)
        seen = first + rest
        assert len(seen) == 2000 and len({i["pk"] for i in seen}) == 2000
        assert all(i["v"] == 0 and not i["pk"].startswith("new") for i in seen)
        assert db.get("p1999") == {"pk": "p1999", "v": 9}  # the writes did happen
        assert db.stats()["items"] == 2000  # +25 -25
