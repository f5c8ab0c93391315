"""The ``keystone`` CLI against a real server: PATH given as a URL."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from keystone.cli import main


def run_main(*args: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    inp = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    status = main(list(args), stdin=inp, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def url(tmp_path: Path, start_server: Any) -> str:
    server = start_server(tmp_path / "served.keystone")
    return f"http://{server.url}"


def test_the_data_verbs_work_over_a_server(url: str) -> None:
    assert run_main("put", url, '{"pk": "user#1", "sk": "profile", "name": "Ada", "n": 1}')[0] == 0
    for i in range(3):
        assert (
            run_main("put", url, f'{{"pk": "user#1", "sk": "order#{i}", "amount": {i * 10}}}')[0]
            == 0
        )
    status, out, err = run_main("get", url, "user#1", "profile")
    assert (status, lines(out)) == (
        0,
        [{"pk": "user#1", "sk": "profile", "name": "Ada", "n": 1}],
    ), err
    status, out, _ = run_main(
        "update", url, "user#1", "profile", "--set", "n = n + :one", "--values", '{":one": 1}'
    )
    assert status == 0 and lines(out)[0]["n"] == 2
    status, out, _ = run_main("query", url, "user#1", "--sk-begins-with", "order#", "--reverse")
    assert [i["amount"] for i in lines(out)] == [20, 10, 0]
    status, out, _ = run_main("scan", url, "--filter", "amount >= :t", "--values", '{":t": 10}')
    assert sorted(i["amount"] for i in lines(out)) == [10, 20]
    status, out, _ = run_main("sql", url, "SELECT sk FROM t WHERE pk = 'user#1' AND sk < 'order#2'")
    assert [i["sk"] for i in lines(out)] == ["order#0", "order#1"]
    status, out, _ = run_main("export", url)
    assert status == 0 and len(lines(out)) == 4
    assert run_main("delete", url, "user#1", "order#0")[0] == 0
    status, _, err = run_main("get", url, "user#1", "order#0")
    assert status == 1 and "NotFound" in err


@pytest.mark.parametrize(
    "verb", [["stats"], ["backup", "never-written.keystone"], ["import", "-"], ["shell"]]
)
def test_file_verbs_say_they_need_a_file(url: str, verb: list[str]) -> None:
    status, _, err = run_main(verb[0], url, *verb[1:])
    assert status == 2
    assert f"{verb[0]} needs a database file, not a server" in err


def test_errors_from_the_server_are_one_line(url: str) -> None:
    status, _, err = run_main("put", url, '{"pk": "a"}', "--condition", "attribute_exists(pk)")
    assert status == 1 and err.startswith("keystone: ConditionalCheckFailed")
    status, _, err = run_main("query", url, "a", "--filter", "a = = b")
    assert status == 1 and "ValidationError" in err and "Traceback" not in err


def test_the_token_and_a_missing_server(tmp_path: Path, start_server: Any) -> None:
    server = start_server(tmp_path / "guarded.keystone", 0, "--auth-token", "s3cret")
    url = f"http://{server.url}"
    command = [sys.executable, "-m", "keystone", "get", url, "a"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "AuthenticationError" in refused.stderr
    env = {"KEYSTONE_AUTH_TOKEN": "s3cret", "PATH": "/usr/bin:/bin"}
    allowed = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert allowed.returncode == 1 and "NotFound" in allowed.stderr  # let in; no such item
    server.terminate()
    status, _, err = run_main("get", url, "a")
    assert status == 1 and "Unavailable" in err


def test_the_table_verbs_work_over_a_server(url: str) -> None:
    status, _, err = run_main(
        "create-table", url, "orders", "--partition-key", "customer:S", "--sort-key", "placed:N"
    )
    assert status == 0, err
    status, out, _ = run_main("tables", url, "--json")
    assert (status, lines(out)) == (0, [{"table": "default"}, {"table": "orders"}])
    status, out, _ = run_main("describe-table", url, "orders", "--json")
    description = json.loads(out)
    assert status == 0 and description["TableName"] == "orders"
    assert {"AttributeName": "placed", "AttributeType": "N"} in description["AttributeDefinitions"]
    status, _, err = run_main("create-table", url, "orders")
    assert status != 0 and "Table already exists: orders" in err
    assert run_main("delete-table", url, "orders")[0] == 0
    status, out, _ = run_main("tables", url, "--json")
    assert lines(out) == [{"table": "default"}]
    status, _, err = run_main("describe-table", url, "orders")
    assert status != 0 and "Table: orders not found" in err
