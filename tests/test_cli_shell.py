"""``keystone shell``: driven through a pseudo-terminal, and fed a script through a pipe."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import keystone
from keystone.cli import main

pty = pytest.importorskip("pty")

needs_partiql = pytest.mark.skipif(
    importlib.util.find_spec("keystone.partiql") is None,
    reason="PartiQL (keystone.partiql) has not landed yet",
)
TIMEOUT = 20.0
PROMPT = "keystone> "


class Terminal:
    """``python -m keystone shell PATH`` on a pseudo-terminal, with expect-style reads."""

    def __init__(self, path: Path, home: Path) -> None:
        master, slave = pty.openpty()
        env = {
            **os.environ,
            "HOME": str(home),
            "TERM": "dumb",
            "KEYSTONE_HISTORY": str(home / ".keystone_history"),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "keystone", "shell", str(path)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.buffer = ""

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Read until ``pattern`` (a regex) appears; return everything up to its end."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self.buffer)
            if match:
                seen, self.buffer = self.buffer[: match.end()], self.buffer[match.end() :]
                return seen
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; got {self.buffer!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(
                        f"the shell exited before {pattern!r}; got {self.buffer!r}"
                    )
                self.buffer += chunk.decode(errors="replace").replace("\r\n", "\n")

    def command(self, line: str) -> str:
        """Send a line; return what it printed before the next prompt (without the echo)."""
        self.send(line + "\n")
        seen = self.expect(re.escape(PROMPT))
        echoed = seen.split("\n", 1)
        return echoed[1][: -len(PROMPT)] if len(echoed) > 1 else ""

    def wait(self) -> int:
        return self.process.wait(TIMEOUT)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path / "shell.keystone", tmp_path)
    try:
        term.expect("Type .help for help")
        term.expect(re.escape(PROMPT))
        yield term
    finally:
        term.close()


def test_put_get_and_exit_through_a_terminal(terminal: Terminal, tmp_path: Path) -> None:
    assert terminal.command('put {"pk": "user#1", "sk": "profile", "name": "Ada", "n": 1}') == ""
    table = terminal.command("get user#1 profile")
    assert table.split("\n")[:3] == ["attribute  value", "---------  -------", "pk         user#1"]
    assert "name       Ada" in table
    terminal.command(".json")
    assert json.loads(terminal.command("get user#1 profile")) == {
        "pk": "user#1",
        "sk": "profile",
        "name": "Ada",
        "n": 1,
    }
    terminal.send(".exit\n")
    assert terminal.wait() == 0
    history = (tmp_path / ".keystone_history").read_text()
    assert "get user#1 profile" in history
    with keystone.Database.open(tmp_path / "shell.keystone") as db:
        assert db.get("user#1", "profile") == {
            "pk": "user#1",
            "sk": "profile",
            "name": "Ada",
            "n": 1,
        }


def test_ctrl_d_leaves_the_shell(terminal: Terminal) -> None:
    terminal.send("\x04")
    assert terminal.wait() == 0


def test_errors_are_reported_and_the_shell_goes_on(terminal: Terminal) -> None:
    assert "NotFound: no item with pk='nope'" in terminal.command("get nope")
    assert "unknown command 'frobnicate'" in terminal.command("frobnicate")
    assert "invalid JSON" in terminal.command("put {oops")
    assert "usage: get" in terminal.command("get")
    assert "the item has no partition key" in terminal.command('put {"x": 1}')
    terminal.command('put {"pk": "still", "sk": "alive"}')
    assert "still" in terminal.command("get still alive")


def test_update_and_query_verbs_with_options(terminal: Terminal) -> None:
    terminal.command(".json")
    for i in range(3):
        terminal.command(f'put {{"pk": "u", "sk": "order#{i}", "amount": {i}}}')
    out = terminal.command("update u order#1 --set 'amount = amount + :d' --values '{\":d\": 10}'")
    assert json.loads(out)["amount"] == 11
    out = terminal.command("query u --sk-begins-with order# --reverse")
    assert [json.loads(line)["sk"] for line in out.splitlines()] == [
        "order#2",
        "order#1",
        "order#0",
    ]


@needs_partiql
def test_partiql_statements_at_the_prompt(terminal: Terminal) -> None:
    terminal.command(".json")
    assert terminal.command("INSERT INTO t VALUE {'pk': 'p', 'sk': 's', 'n': 1};") == ""
    out = terminal.command("UPDATE t SET n = n + 1 WHERE pk = 'p' AND sk = 's'")
    assert json.loads(out) == {"pk": "p", "sk": "s", "n": 2}  # UPDATE prints the new item
    out = terminal.command("SELECT * FROM t WHERE pk = 'p'")
    assert json.loads(out) == {"pk": "p", "sk": "s", "n": 2}
    assert "PartiQL syntax error" in terminal.command("SELECT FROM")
    assert terminal.command("DELETE FROM t WHERE pk = 'p' AND sk = 's'") == ""
    assert terminal.command("sql SELECT * FROM t") == ""


def test_history_is_loaded_from_the_previous_session(tmp_path: Path) -> None:
    (tmp_path / ".keystone_history").write_text("get remembered item\n")
    term = Terminal(tmp_path / "shell.keystone", tmp_path)
    try:
        term.expect(re.escape(PROMPT))
        term.send("\x1b[A\n")  # up arrow recalls the last line, then run it
        assert "NotFound: no item with pk='remembered', sk='item'" in term.expect(re.escape(PROMPT))
        term.send(".quit\n")
        assert term.wait() == 0
    finally:
        term.close()


def test_a_script_on_stdin_runs_without_prompts(tmp_path: Path) -> None:
    script = (
        '-- a comment\nput {"pk": "a", "sk": "b", "n": 1}\n\nget a b\nget a missing\n'
        ".table\nGET a b\n.help\n"
    )
    out, err = io.StringIO(), io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO(script.encode()), encoding="utf-8")
    status = main(["shell", str(tmp_path / "s.keystone")], stdin=stdin, stdout=out, stderr=err)
    assert status == 0
    printed = out.getvalue().splitlines()
    assert json.loads(printed[0]) == {"pk": "a", "sk": "b", "n": 1}
    assert printed[1:3] == ["attribute  value", "---------  -----"]
    assert "PartiQL:" in out.getvalue()
    assert PROMPT not in out.getvalue()
    assert err.getvalue() == "NotFound: no item with pk='a', sk='missing'\n"
