"""The ``keystone`` command line: every verb end to end on a real file.

Most tests run ``python -m keystone`` in a subprocess (stdout is a pipe, so
output is JSON Lines); a few run ``keystone.cli.main`` in-process where only
the formatting is under test.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import keystone
from keystone.cli import main

needs_partiql = pytest.mark.skipif(
    importlib.util.find_spec("keystone.partiql") is None,
    reason="PartiQL (keystone.partiql) has not landed yet",
)


def cli(*args: str | Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keystone", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_main(*args: str | Path, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    inp = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    status = main([str(a) for a in args], stdin=inp, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A database file with three orders of one user and a profile."""
    p = tmp_path / "app.keystone"
    with keystone.Database.open(p) as db:
        db.put({"pk": "user#1", "sk": "profile", "name": "Ada", "visits": 1})
        for i, amount in enumerate([5, 50, 500], 1):
            db.put({"pk": "user#1", "sk": f"order#{i}", "amount": amount})
        db.put({"pk": "user#2", "sk": "profile", "name": "Grace"})
    return p


def read(path: Path, pk: str, sk: str | None = None) -> dict[str, Any] | None:
    with keystone.Database.open(path, create=False) as db:
        return db.get(pk, sk)


# --------------------------------------------------------------------------
# put / get / delete / update
# --------------------------------------------------------------------------


class TestPutGet:
    def test_put_then_get_round_trips_an_item(self, tmp_path: Path) -> None:
        p = tmp_path / "new.keystone"
        item = (
            '{"pk": "user#9", "sk": "profile", "name": "Lin", "score": 0.5, "tags": {"$ss": ["a"]}}'
        )
        put = cli("put", p, item)
        assert (put.returncode, put.stdout, put.stderr) == (0, "", "")
        got = cli("get", p, "user#9", "profile")
        assert got.returncode == 0, got.stderr
        assert lines(got.stdout) == [
            {
                "pk": "user#9",
                "sk": "profile",
                "name": "Lin",
                "score": {"$n": "0.5"},
                "tags": {"$ss": ["a"]},
            }
        ]

    def test_put_reads_the_item_from_stdin_with_dash(self, tmp_path: Path) -> None:
        p = tmp_path / "new.keystone"
        assert cli("put", p, "-", input='{"pk": "a", "n": 1}\n').returncode == 0
        assert read(p, "a") == {"pk": "a", "n": 1}

    def test_put_with_a_failing_condition_exits_1_and_keeps_the_item(self, path: Path) -> None:
        result = cli(
            "put",
            path,
            '{"pk": "user#1", "sk": "profile"}',
            "--condition",
            "attribute_not_exists(pk)",
        )
        assert result.returncode == 1
        assert result.stderr.startswith("keystone: ConditionalCheckFailed:")
        assert result.stderr.count("\n") == 1
        assert read(path, "user#1", "profile")["name"] == "Ada"  # type: ignore[index]

    def test_put_of_an_item_without_partition_key_is_a_one_line_error(self, path: Path) -> None:
        result = cli("put", path, '{"sk": "x"}')
        assert result.returncode == 1
        assert (
            result.stderr
            == "keystone: ValidationError: the item has no partition key attribute 'pk'\n"
        )

    def test_put_of_invalid_json_is_a_usage_error(self, path: Path) -> None:
        result = cli("put", path, '{"pk": ')
        assert result.returncode == 2
        assert "ITEM_JSON: invalid JSON" in result.stderr
        assert "Traceback" not in result.stderr

    def test_get_of_a_missing_item_exits_1(self, path: Path) -> None:
        result = cli("get", path, "user#1", "nope")
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == "keystone: NotFound: no item with pk='user#1', sk='nope'\n"

    def test_get_with_projection_and_names(self, path: Path) -> None:
        status, out, _ = run_main(
            "get", path, "user#1", "profile", "--projection", "#n", "--names", '{"n": "name"}'
        )
        assert (status, lines(out)) == (0, [{"name": "Ada"}])

    def test_get_on_a_terminal_is_an_attribute_table(self, path: Path) -> None:
        status, out, _ = run_main("get", path, "user#1", "profile", "--output", "table")
        assert status == 0
        assert out.splitlines() == [
            "attribute  value",
            "---------  -------",
            "pk         user#1",
            "sk         profile",
            "name       Ada",
            "visits     1",
        ]


class TestDelete:
    def test_delete_removes_the_item(self, path: Path) -> None:
        result = cli("delete", path, "user#1", "order#1")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        assert read(path, "user#1", "order#1") is None

    def test_delete_with_a_failing_condition_keeps_the_item(self, path: Path) -> None:
        result = cli(
            "delete",
            path,
            "user#1",
            "order#2",
            "--condition",
            "amount < :t",
            "--values",
            '{":t": 10}',
        )
        assert result.returncode == 1
        assert "ConditionalCheckFailed" in result.stderr
        assert read(path, "user#1", "order#2") == {"pk": "user#1", "sk": "order#2", "amount": 50}

    def test_delete_on_a_missing_file_does_not_create_it(self, tmp_path: Path) -> None:
        result = cli("delete", tmp_path / "none.keystone", "a")
        assert result.returncode == 1
        assert result.stderr.startswith("keystone: NotFound: no database at")
        assert not (tmp_path / "none.keystone").exists()


class TestUpdate:
    def test_update_combines_set_remove_and_add_and_prints_the_new_item(self, path: Path) -> None:
        result = cli(
            "update", path, "user#1", "profile",
            "--set", "visits = visits + :one",
            "--set", "#s = :s",
            "--remove", "#n",
            "--add", "tags :t",
            "--names", '{"#s": "status", "#n": "name"}',
            "--values", '{":one": 1, "s": "active", ":t": {"$ss": ["vip"]}}',
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        expected = {
            "pk": "user#1",
            "sk": "profile",
            "visits": 2,
            "status": "active",
            "tags": {"$ss": ["vip"]},
        }
        assert lines(result.stdout) == [expected]
        assert read(path, "user#1", "profile") == {**expected, "tags": {"vip"}}

    def test_update_returns_what_is_asked(self, path: Path) -> None:
        status, out, _ = run_main(
            "update", path, "user#1", "profile", "--set", "visits = :v",
            "--values", '{":v": 7}', "--returns", "UPDATED_OLD",
        )  # fmt: skip
        assert (status, lines(out)) == (0, [{"visits": 1}])

    def test_update_delete_removes_set_elements(self, path: Path) -> None:
        run_main("update", path, "u", "--set", "t = :t", "--values", '{":t": {"$ss": ["a", "b"]}}')
        status, out, _ = run_main(
            "update", path, "u", "--delete", "t :x", "--values", '{":x": {"$ss": ["a"]}}'
        )
        assert (status, lines(out)) == (0, [{"pk": "u", "t": {"$ss": ["b"]}}])

    def test_update_without_an_action_is_a_usage_error(self, path: Path) -> None:
        status, _, err = run_main("update", path, "user#1", "profile")
        assert status == 2
        assert "give at least one of --set" in err

    def test_updating_a_key_attribute_is_refused(self, path: Path) -> None:
        status, _, err = run_main(
            "update", path, "user#1", "profile", "--set", "pk = :v", "--values", '{":v": "x"}'
        )
        assert status == 1
        assert err.startswith(
            "keystone: ValidationError: One or more parameter values were invalid: "
            "Cannot update attribute pk. This attribute is part of the key"
        )


# --------------------------------------------------------------------------
# query / scan / sql
# --------------------------------------------------------------------------


class TestQuery:
    def test_query_prints_the_partition_in_sort_key_order(self, path: Path) -> None:
        result = cli("query", path, "user#1", "--sk-begins-with", "order#")
        assert result.returncode == 0, result.stderr
        assert [i["amount"] for i in lines(result.stdout)] == [5, 50, 500]

    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            (["--sk-eq", "order#2"], ["order#2"]),
            (["--sk-lt", "order#2"], ["order#1"]),
            (["--sk-le", "order#2"], ["order#1", "order#2"]),
            (["--sk-gt", "order#2"], ["order#3", "profile"]),
            (["--sk-ge", "order#3"], ["order#3", "profile"]),
            (["--sk-between", "order#2", "order#3"], ["order#2", "order#3"]),
            (["--sk-begins-with", "pro"], ["profile"]),
            (["--reverse", "--limit", "2"], ["profile", "order#3"]),
            (["--filter", "amount >= :t", "--values", '{":t": 50}'], ["order#2", "order#3"]),
            (["--filter", "attribute_exists(amount)", "--limit", "1"], ["order#1"]),
        ],
    )
    def test_query_options(self, path: Path, options: list[str], expected: list[str]) -> None:
        status, out, err = run_main("query", path, "user#1", *options)
        assert status == 0, err
        assert [i["sk"] for i in lines(out)] == expected

    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            (["--sk-gt", "5", "--sk-number"], [50, 500]),
            (["--sk-between", "5", "50.0", "--sk-number"], [5, 50]),
            (["--sk-lt", "100", "--sk-number", "--reverse"], [50, 5]),
            (["--sk-gt", "5"], []),  # a string condition: no number sort key matches it
        ],
    )
    def test_query_an_index_with_number_keys(
        self, tmp_path: Path, options: list[str], expected: list[int]
    ) -> None:
        p = tmp_path / "indexed.keystone"
        schema = keystone.Schema(
            global_indexes=[keystone.GlobalIndex("by_total", "kind", "amount")]
        )
        with keystone.Database.open(p, schema) as db:
            for i, amount in enumerate([500, 5, 50]):
                db.put({"pk": f"o{i}", "kind": "order", "amount": amount})
            db.put({"pk": "n", "kind": 7, "amount": 1})
        status, out, err = run_main("query", p, "order", "--index", "by_total", *options)
        assert status == 0, err
        assert [i["amount"] for i in lines(out)] == expected
        status, out, err = run_main("query", p, "7.0", "--index", "by_total", "--pk-number")
        assert (status, [i["pk"] for i in lines(out)]) == (0, ["n"]), err
        status, out, err = run_main("query", p, "x", "--pk-number", "--index", "by_total")
        assert status != 0 and "PK: The parameter cannot be converted to a numeric value: x" in err

    def test_query_projection(self, path: Path) -> None:
        status, out, _ = run_main(
            "query", path, "user#1", "--sk-eq", "order#3", "--projection", "amount"
        )
        assert (status, lines(out)) == (0, [{"amount": 500}])

    def test_two_sort_key_conditions_are_a_usage_error(self, path: Path) -> None:
        result = cli("query", path, "user#1", "--sk-eq", "a", "--sk-lt", "b")
        assert result.returncode == 2
        assert "not allowed with argument" in result.stderr

    def test_query_as_a_table(self, path: Path) -> None:
        status, out, _ = run_main(
            "query", path, "user#1", "--sk-begins-with", "order#", "-o", "table"
        )
        assert status == 0
        assert out.splitlines() == [
            "pk      sk       amount",
            "------  -------  ------",
            "user#1  order#1  5",
            "user#1  order#2  50",
            "user#1  order#3  500",
            "(3 items)",
        ]


class TestScan:
    def test_scan_prints_every_item(self, path: Path) -> None:
        result = cli("scan", path)
        assert result.returncode == 0, result.stderr
        assert len(lines(result.stdout)) == 5

    def test_scan_with_filter_and_limit(self, path: Path) -> None:
        status, out, _ = run_main(
            "scan", path, "--filter", "sk = :p", "--values", '{":p": "profile"}'
        )
        assert sorted(i["name"] for i in lines(out)) == ["Ada", "Grace"]
        status, out, _ = run_main("scan", path, "--limit", "2")
        assert (status, len(lines(out))) == (0, 2)

    def test_a_bad_filter_names_the_problem(self, path: Path) -> None:
        status, out, err = run_main("scan", path, "--filter", "amount >")
        assert (status, out) == (1, "")
        assert err.startswith("keystone: ValidationError:")
        assert err.count("\n") == 1

    def test_an_unknown_index_is_an_error(self, path: Path) -> None:
        status, _, err = run_main("scan", path, "--index", "nope")
        assert status == 1
        assert "nope" in err


@needs_partiql
class TestSql:
    def test_select_prints_items(self, path: Path) -> None:
        result = cli("sql", path, "SELECT * FROM t WHERE pk = 'user#1' AND sk = 'profile'")
        assert result.returncode == 0, result.stderr
        assert lines(result.stdout) == [
            {"pk": "user#1", "sk": "profile", "name": "Ada", "visits": 1}
        ]

    def test_insert_with_parameters_writes_and_prints_nothing(self, path: Path) -> None:
        status, out, err = run_main(
            "sql", path, "INSERT INTO t VALUE {'pk': ?, 'sk': 'x', 'n': ?}", "--params", '["p", 3]'
        )
        assert (status, out, err) == (0, "", "")
        assert read(path, "p", "x") == {"pk": "p", "sk": "x", "n": 3}

    def test_a_syntax_error_is_one_line_with_its_position(self, path: Path) -> None:
        status, _, err = run_main("sql", path, "SELEC * FROM t")
        assert status == 1
        assert err.startswith("keystone: ValidationError:")
        assert "column" in err
        assert err.count("\n") == 1


# --------------------------------------------------------------------------
# stats, backup, help, errors
# --------------------------------------------------------------------------


class TestStatsAndBackup:
    def test_stats_prints_counts(self, path: Path) -> None:
        result = cli("stats", path)
        assert result.returncode == 0, result.stderr
        (stats,) = lines(result.stdout)
        assert stats["items"] == 5
        assert (stats["partition_key"], stats["sort_key"]) == ("pk", "sk")

    def test_stats_as_a_table(self, path: Path) -> None:
        status, out, _ = run_main("stats", path, "--output", "table")
        assert status == 0
        assert any(line.split() == ["items", "5"] for line in out.splitlines())

    def test_backup_copies_the_database(self, path: Path, tmp_path: Path) -> None:
        dest = tmp_path / "copy.keystone"
        result = cli("backup", path, dest)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        with keystone.Database.open(dest, create=False) as copy:
            assert copy.stats()["items"] == 5
            assert copy.get("user#2", "profile") == {
                "pk": "user#2",
                "sk": "profile",
                "name": "Grace",
            }

    def test_backup_never_overwrites(self, path: Path, tmp_path: Path) -> None:
        dest = tmp_path / "copy.keystone"
        dest.write_text("precious")
        status, _, err = run_main("backup", path, dest)
        assert status == 1
        assert "already exists" in err
        assert dest.read_text() == "precious"


class TestHelpAndErrors:
    VERBS = [
        "put", "get", "delete", "update", "query", "scan", "sql",
        "import", "export", "backup", "stats", "shell",
    ]  # fmt: skip

    def test_every_verb_is_listed_in_the_main_help(self) -> None:
        result = cli("--help")
        assert result.returncode == 0
        for verb in self.VERBS:
            assert f"\n    {verb} " in result.stdout

    @pytest.mark.parametrize("verb", VERBS)
    def test_every_verb_has_help_with_an_example(self, verb: str) -> None:
        status, _, _ = run_main(verb, "--help")
        assert status == 0

    def test_verb_help_shows_usage_and_examples(self, capsys: pytest.CaptureFixture[str]) -> None:
        for verb in self.VERBS:
            assert main([verb, "--help"]) == 0
            text = capsys.readouterr().out
            assert text.startswith(f"usage: keystone {verb}")
            assert "example" in text
            assert "PATH" in text

    def test_a_missing_argument_is_a_usage_error(self) -> None:
        result = cli("get")
        assert result.returncode == 2
        assert "usage: keystone get" in result.stderr

    def test_an_unknown_verb_is_a_usage_error(self) -> None:
        assert cli("frobnicate", "x").returncode == 2

    def test_reading_a_missing_file_does_not_create_it(self, tmp_path: Path) -> None:
        for verb in (["get", "a"], ["query", "a"], ["scan"], ["stats"], ["export"]):
            status, _, err = run_main(verb[0], tmp_path / "none.keystone", *verb[1:])
            assert status == 1
            assert err == f"keystone: NotFound: no database at {tmp_path / 'none.keystone'}\n"
        assert list(tmp_path.iterdir()) == []

    def test_a_file_that_is_not_a_database_is_a_clean_error(self, tmp_path: Path) -> None:
        junk = tmp_path / "junk.keystone"
        junk.write_bytes(b"not an lmdb file at all" * 1000)
        result = cli("stats", junk)
        assert result.returncode == 1
        assert result.stderr == (
            f"keystone: Corruption: {junk} is not a KeystoneDB database "
            "(MDB_INVALID: File is not an LMDB file)\n"
        )
        assert not (tmp_path / "junk.keystone-lock").exists()

    def test_new_files_take_the_key_schema_options(self, tmp_path: Path) -> None:
        p = tmp_path / "users.keystone"
        status, _, err = run_main(
            "put", p, '{"id": "u1", "n": 1}', "--partition-key", "id", "--no-sort-key"
        )
        assert status == 0, err
        with keystone.Database.open(p) as db:
            assert (db.schema.partition_key, db.schema.sort_key) == ("id", None)
        status, _, err = run_main("put", p, '{"pk": "x"}', "--partition-key", "pk")
        assert status == 1
        assert "key schema differs" in err

    def test_python_dash_m_and_the_console_script_are_the_same_program(self) -> None:
        script = Path(sys.executable).with_name("keystone")
        if not script.exists():
            pytest.skip("the keystone console script is not installed in this environment")
        result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == f"keystone {keystone.__version__}"
