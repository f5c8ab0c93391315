"""``--table NAME`` on the CLI's item verbs, on a file and on a server URL alike;
typed key arguments, ``query --key-condition``, ``--count``; ``--output``.

Every flow runs twice: on a database file, and on a real server process
(PATH a URL), with the same commands and the same expected output.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import keystone
from keystone import GlobalIndex, Schema
from keystone.cli import OLD_TABLE_FLAG, main


def run_main(*args: str | Path, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    inp = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    status = main([str(a) for a in args], stdin=inp, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def ok(*args: str | Path, stdin: str = "") -> list[dict[str, Any]]:
    status, out, err = run_main(*args, stdin=stdin)
    assert status == 0, err
    return lines(out)


ORDERS = Schema(
    partition_key=("customer", "S"),
    sort_key=("placed", "N"),
    global_indexes=[GlobalIndex("by_status", ("status", "S"), ("amount", "N"))],
)


@pytest.fixture(params=["file", "server"])
def where(request: pytest.FixtureRequest, tmp_path: Path, start_server: Any) -> Iterator[str]:
    """A database file with the tables ``orders`` (S/N keys) and ``blobs`` (B key),
    as a path or served by a server process (its URL)."""
    path = tmp_path / "cli.keystone"
    with keystone.Database.open(path) as db:
        db.create_table("orders", ORDERS)
        db.create_table("blobs", Schema(partition_key=("id", "B"), sort_key=None))
    if request.param == "file":
        yield str(path)
    else:
        yield f"http://{start_server(path).url}"


def test_item_verbs_act_on_the_named_table(where: str) -> None:
    for placed, amount in (("1", 5), ("2.5", 50), ("10", 500), ("-3", 7)):
        item = f'{{"customer": "c1", "placed": {placed}, "amount": {amount}, "status": "open"}}'
        assert ok("put", where, item, "--table", "orders") == []
    ok("put", where, '{"pk": "a", "sk": "b"}')  # the default table
    # Keys on the command line are read as the table declares them: N as numbers.
    assert ok("get", where, "c1", "2.50", "--table", "orders")[0]["amount"] == 50
    got = ok("get", where, "c1", "10", "--table", "orders", "--projection", "amount")
    assert got == [{"amount": 500}]
    placed = [i["placed"] for i in ok("query", where, "c1", "--table", "orders")]
    assert placed == [-3, 1, {"$n": "2.5"}, 10]  # numeric order, not text order
    page = ok("query", where, "c1", "--sk-between", "1", "5", "--reverse", "--table", "orders")
    assert [i["amount"] for i in page] == [50, 5]
    by_status = ok(
        "query", where, "open", "--index", "by_status", "--sk-gt", "6", "--table", "orders"
    )
    assert [i["amount"] for i in by_status] == [7, 50, 500]
    updated = ok(
        "update", where, "c1", "1", "--set", "n = :n", "--values", '{":n": 1}', "--table", "orders"
    )
    assert updated == [{"customer": "c1", "placed": 1, "amount": 5, "status": "open", "n": 1}]
    assert ok("delete", where, "c1", "-3", "--table", "orders") == []
    assert len(ok("scan", where, "--table", "orders")) == 3
    assert ok("scan", where) == [{"pk": "a", "sk": "b"}]  # the default table is apart
    exported = ok("export", where, "--table", "orders")
    assert [i["placed"] for i in exported] == [1, {"$n": "2.5"}, 10]
    status, _, err = run_main("get", where, "c1", "99", "--table", "orders")
    assert status == 1 and "NotFound" in err


def test_binary_keys_are_base64_on_the_command_line(where: str) -> None:
    raw = base64.b64encode(b"\xff\x00").decode()
    ok("put", where, f'{{"id": {{"$b64": "{raw}"}}, "v": 1}}', "--table", "blobs")
    assert ok("get", where, raw, "--table", "blobs") == [{"id": {"$b64": raw}, "v": 1}]
    status, _, err = run_main("get", where, "not base64!", "--table", "blobs")
    assert status == 1 and "binary (B)" in err and "base64" in err


def test_wrong_keys_and_missing_tables_are_one_line_errors(where: str) -> None:
    status, _, err = run_main("get", where, "c1", "x", "--table", "orders")
    assert status == 1
    assert err.strip() == (
        "keystone: ValidationError: SK: The parameter cannot be converted to a numeric value: x"
    )
    status, _, err = run_main(
        "put", where, '{"customer": "c1", "placed": "x"}', "--table", "orders"
    )
    assert status == 1 and "Type mismatch for key placed expected: N actual: S" in err
    status, _, err = run_main("scan", where, "--table", "nope")
    assert status == 1 and "NotFound" in err and "nope" in err
    assert ok("scan", where, "--table", "orders") == []  # nothing was written


def test_key_condition_and_count(where: str) -> None:
    for placed in range(5):
        item = f'{{"customer": "c1", "placed": {placed}, "amount": {placed}, "status": "open"}}'
        ok("put", where, item, "--table", "orders")
    got = ok(
        "query", where, "--key-condition", "customer = :c AND placed BETWEEN :a AND :b",
        "--values", '{":c": "c1", ":a": 1, ":b": 3}', "--table", "orders",
    )  # fmt: skip
    assert [i["placed"] for i in got] == [1, 2, 3]
    counted = ok(
        "query", where, "--key-condition", "#c = :c", "--names", '{"#c": "customer"}',
        "--values", '{":c": "c1"}', "--count", "--table", "orders",
    )  # fmt: skip
    assert counted == [{"count": 5, "scanned_count": 5}]
    assert ok("query", where, "c1", "--sk-ge", "3", "--count", "--table", "orders") == [
        {"count": 2, "scanned_count": 2}
    ]
    filtered = ok(
        "scan", where, "--filter", "amount > :a", "--values", '{":a": 1}', "--count",
        "--table", "orders",
    )  # fmt: skip
    assert filtered == [{"count": 3, "scanned_count": 5}]
    assert ok("scan", where, "--count") == [{"count": 0, "scanned_count": 0}]
    status, _, err = run_main("query", where, "--table", "orders")
    assert status == 2 and "give PK, or --key-condition" in err
    status, _, err = run_main("scan", where, "--count", "--limit", "2", "--table", "orders")
    assert status == 2 and "--count prints none" in err
    status, _, err = run_main(
        "query", where, "--key-condition", "amount = :a", "--values", '{":a": 1}',
        "--table", "orders",
    )  # fmt: skip
    assert status == 1 and err.startswith("keystone: ValidationError: ")


def test_table_verbs_and_item_verbs_together(where: str) -> None:
    assert ok("tables", where) == [{"table": t} for t in ("blobs", "default", "orders")]
    assert ok("create-table", where, "events", "--partition-key", "id:N", "--no-sort-key") == []
    ok("put", where, '{"id": 7, "what": "x"}', "--table", "events")
    assert ok("get", where, "7", "--table", "events") == [{"id": 7, "what": "x"}]
    (description,) = ok("describe-table", where, "events", "--json")
    assert description["ItemCount"] == 1
    assert description["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "N"}]
    assert ok("delete-table", where, "events") == []
    status, _, err = run_main("get", where, "7", "--table", "events")
    assert status == 1 and "NotFound" in err


def test_output_format_and_the_old_table_flag(where: str) -> None:
    ok("put", where, '{"pk": "a", "sk": "b", "n": 1}')
    status, out, _ = run_main("get", where, "a", "b", "--output", "table")
    assert status == 0 and out.splitlines()[0].split() == ["attribute", "value"]
    status, out, _ = run_main("scan", where, "-o", "json")
    assert status == 0 and lines(out) == [{"pk": "a", "sk": "b", "n": 1}]
    assert run_main("scan", where, "--json", "--output", "table")[0] == 2  # (argparse's message)
    # `--table` without a name was the output flag: it is told what it is now.
    for words in (["get", where, "a", "b", "--table"], ["scan", where, "--table", "--json"]):
        status, out, err = run_main(*words)
        assert (status, out) == (2, "") and OLD_TABLE_FLAG in err


def test_import_into_a_table_and_the_shell(tmp_path: Path) -> None:
    path = tmp_path / "cli.keystone"
    with keystone.Database.open(path) as db:
        db.create_table("orders", ORDERS)
    rows = "\n".join(
        json.dumps({"customer": "c1", "placed": i, "amount": i, "status": "open"}) for i in range(3)
    )
    assert ok("import", path, "-", "--table", "orders", stdin=rows) == []
    assert len(ok("scan", path, "--table", "orders")) == 3 and ok("scan", path) == []
    status, _, err = run_main(
        "import", path, "-", "--table", "orders", stdin='{"customer": "c2", "placed": "x"}'
    )
    assert status == 1 and "line 1" in err
    assert len(ok("scan", path, "--table", "orders")) == 3  # all or nothing
    status, _, err = run_main("stats", path, "--table", "orders", "--json")
    assert status == 0, err
    (stats,) = lines(run_main("stats", path, "--table", "orders", "--json")[1])
    assert (stats["table"], stats["items"]) == ("orders", 3)
    script = "get c1 2 --table orders --json\nquery c1 --count --table orders --json\n"
    status, out, err = run_main("shell", path, stdin=script)
    assert status == 0, err
    assert lines(out) == [
        {"customer": "c1", "placed": 2, "amount": 2, "status": "open"},
        {"count": 3, "scanned_count": 3},
    ]
