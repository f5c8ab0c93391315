"""The CLI's table verbs on a real file: tables, create-table, describe-table, delete-table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keystone


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keystone", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_create_list_describe_and_delete_tables(tmp_path: Path) -> None:
    path = tmp_path / "app.keystone"
    done = cli(
        "create-table", path, "orders", "--partition-key", "customer:S", "--sort-key", "placed:N"
    )
    assert done.returncode == 0, done.stderr
    assert (
        cli("create-table", path, "sessions", "--partition-key", "id", "--no-sort-key").returncode
        == 0
    )
    listed = cli("tables", path)
    assert [json.loads(line)["table"] for line in listed.stdout.splitlines()] == [
        "default",
        "orders",
        "sessions",
    ]
    with keystone.Database.open(path) as db:
        db.table("orders").put({"customer": "c", "placed": 7})
    described = json.loads(cli("describe-table", path, "orders", "--json").stdout)
    assert described["TableName"] == "orders" and described["ItemCount"] == 1
    assert described["AttributeDefinitions"] == [
        {"AttributeName": "customer", "AttributeType": "S"},
        {"AttributeName": "placed", "AttributeType": "N"},
    ]
    assert cli("delete-table", path, "orders").returncode == 0
    assert [json.loads(line)["table"] for line in cli("tables", path).stdout.splitlines()] == [
        "default",
        "sessions",
    ]


def test_errors_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "app.keystone"
    keystone.Database.open(path).close()
    missing = cli("describe-table", path, "nope")
    assert missing.returncode == 1 and "Table: nope not found" in missing.stderr
    bad_type = cli("create-table", path, "orders", "--partition-key", "id:X")
    assert bad_type.returncode == 2 and "NAME:TYPE" in bad_type.stderr
    half_typed = cli("create-table", path, "orders", "--partition-key", "id:S")
    assert half_typed.returncode == 2 and "type both key attributes" in half_typed.stderr
    bad_name = cli("create-table", path, "ab")
    assert bad_name.returncode == 1 and "3-255 characters" in bad_name.stderr
    assert [json.loads(line) for line in cli("tables", path).stdout.splitlines()] == [
        {"table": "default"}
    ]
