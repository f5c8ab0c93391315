"""``keystone shell PATH``: an interactive prompt for PartiQL and the verbs.

A line is one of:

* a PartiQL statement (``SELECT ...``, ``INSERT ...``, ``UPDATE t SET ...``,
  ``DELETE FROM ...``), or ``sql <statement>``; a trailing ``;`` is fine;
* a verb without PATH, parsed exactly as on the command line
  (``get user#1 profile``, ``query user#1 --sk-begins-with order#``);
  ``put`` takes its JSON object unquoted: ``put {"pk": "a", "n": 1}``;
* a dot command: ``.help``, ``.json``, ``.table``, ``.auto``, ``.schema``,
  ``.exit`` / ``.quit`` (or Ctrl-D).

With a terminal, lines are edited with readline and kept in
``~/.keystone_history`` (``$KEYSTONE_HISTORY`` overrides the path). Without
one (a script piped in), there is no prompt and no history.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import Final, TextIO

from ..database import Database
from ..schema import Schema
from . import build_parser, error_message
from .registry import (
    COMMANDS,
    Context,
    UsageError,
    is_terminal,
    listed,
    local_file,
    make_output,
    open_database,
    table_of,
)
from .verbs import run_statement

PROMPT: Final = "keystone> "
HISTORY_LENGTH: Final = 1000
_PARTIQL_STARTS: Final = ("select", "insert", "exists")
DOT_COMMANDS: Final = {
    ".help": "this help",
    ".json": "print JSON Lines",
    ".table": "print tables",
    ".auto": "tables on a terminal, JSON Lines otherwise (the default)",
    ".schema": "print the key schema",
    ".exit": "leave the shell (also .quit, Ctrl-D)",
}


def history_path() -> str:
    return os.environ.get("KEYSTONE_HISTORY") or os.path.expanduser("~/.keystone_history")


def run_shell(
    path: str, schema: Schema | None, stdin: TextIO, stdout: TextIO, stderr: TextIO
) -> int:
    """Open ``path`` (created if missing) and read commands until ``.exit`` or end of input."""
    db = local_file(open_database(path, "write", schema), "shell")
    try:
        Shell(db, stdin, stdout, stderr).loop()
    finally:
        db.close()
    return 0


class Shell:
    """The read-eval-print loop over one open database."""

    def __init__(self, db: Database, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> None:
        self.db = db
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.interactive = is_terminal(stdin)
        self.use_readline = self.interactive and stdin is sys.stdin and _setup_readline()
        self.json_mode: bool | None = None  # None: decide by the terminal
        self.parser = build_parser(shell=True)

    # -- the loop ----------------------------------------------------------

    def loop(self) -> None:
        if self.interactive:
            self.stdout.write(
                f"KeystoneDB shell on {self.db.path}. "
                "Type .help for help, .exit or Ctrl-D to leave.\n"
            )
            self.stdout.flush()
        try:
            while True:
                try:
                    line = self._read(PROMPT if self.interactive else "")
                except EOFError:
                    if self.interactive:
                        self.stdout.write("\n")
                    return
                except KeyboardInterrupt:
                    self.stdout.write("^C\n")
                    continue
                try:
                    if not self.handle(line):
                        return
                except KeyboardInterrupt:
                    self.stderr.write("interrupted\n")
                self.stdout.flush()
        finally:
            self.stdout.flush()
            if self.use_readline:
                _save_history()

    def _read(self, prompt: str) -> str:
        if self.use_readline:
            return input(prompt)
        if prompt:
            self.stdout.write(prompt)
            self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")

    # -- one line ----------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Run one line; ``False`` means leave the shell."""
        text = line.strip()
        if not text or text.startswith("--"):
            return True
        if text.startswith("."):
            return self._dot(text)
        try:
            self._run(text)
        except UsageError as exc:
            self._error(f"error: {exc}")
        except Exception as exc:
            # A bug should not end the session: say what happened on one line.
            self._error(error_message(exc) or f"internal error: {type(exc).__name__}: {exc}")
        return True

    def _run(self, text: str) -> None:
        first, _, rest = text.partition(" ")
        verb = first.lower()
        if verb == "sql":
            run_statement(self._context(None), rest.strip().rstrip(";"))
            return
        if _is_partiql(text):
            run_statement(self._context(None), text.rstrip().rstrip(";"))
            return
        if verb not in COMMANDS:
            raise UsageError(f"unknown command {first!r}; type .help for the list")
        argv = self._argv(verb, rest)
        try:
            args = self.parser.parse_args(argv)
        except SystemExit:  # argparse printed the usage error or the help
            return
        COMMANDS[verb].run(self._context(args), args)

    @staticmethod
    def _argv(verb: str, rest: str) -> list[str]:
        rest = rest.strip()
        if verb == "put" and rest.startswith("{"):
            try:
                _, end = json.JSONDecoder().raw_decode(rest)
            except json.JSONDecodeError as exc:
                raise UsageError(f"put: invalid JSON: {exc.msg} (column {exc.colno})") from None
            return [verb, rest[:end], *_split(rest[end:])]
        return [verb, *_split(rest)]

    def _context(self, args: argparse.Namespace | None) -> Context:
        store = table_of(self.db, args)  # --table NAME
        out = make_output(args, store, self.stdout, self.json_mode)
        return Context(store, out, self.stdin, self.stderr, is_terminal(self.stderr))

    def _dot(self, text: str) -> bool:
        word = text.split()[0].lower()
        if word in (".exit", ".quit"):
            return False
        if word == ".help":
            self.stdout.write(self.help_text())
        elif word in (".json", ".table", ".auto"):
            self.json_mode = {".json": True, ".table": False, ".auto": None}[word]
        elif word == ".schema":
            self._context(None).out.mapping(self.db.schema.to_dict())
        else:
            self._error(f"error: unknown command {word!r}; type .help for the list")
        return True

    def _error(self, message: str) -> None:
        self.stdout.flush()
        self.stderr.write(message + "\n")
        self.stderr.flush()

    @staticmethod
    def help_text() -> str:
        lines = [
            "PartiQL:  SELECT * FROM t WHERE pk = 'a'   (also INSERT, UPDATE, DELETE; or sql ...)",
            "verbs (as on the command line, without PATH; VERB --help for options):",
        ]
        lines += [f"  {cmd.name:<8} {cmd.summary}" for cmd in listed()]
        lines.append(
            '  e.g.  put {"pk": "a", "sk": "b", "n": 1}   get a b   query a --sk-begins-with b'
        )
        lines.append("dot commands:")
        lines += [f"  {name:<8} {text}" for name, text in DOT_COMMANDS.items()]
        return "\n".join(lines) + "\n"


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"cannot split the line into arguments: {exc}") from None


def _is_partiql(text: str) -> bool:
    """Whether a line is a PartiQL statement rather than a verb of the same name."""
    words = text.split()
    first = words[0].lower()
    if first in _PARTIQL_STARTS:
        return True
    if first == "delete":
        return len(words) > 1 and words[1].lower() == "from"
    if first == "update":
        lowered = [w.lower() for w in words]
        return not any(w.startswith("--") for w in words) and (
            "set" in lowered or "remove" in lowered
        )
    return False


# --------------------------------------------------------------------------
# readline: editing, completion, history
# --------------------------------------------------------------------------


def _setup_readline() -> bool:
    try:
        import readline
    except ImportError:  # pragma: no cover - e.g. Windows without pyreadline
        return False
    try:
        readline.read_history_file(history_path())
    except OSError:
        pass
    readline.set_history_length(HISTORY_LENGTH)
    words = sorted([*COMMANDS, "sql", "select", "insert", "update", "delete", *DOT_COMMANDS])

    def complete(text: str, state: int) -> str | None:
        if readline.get_begidx() != 0:
            return None
        matches = [w + " " for w in words if w.startswith(text.lower())]
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.set_completer_delims(" \t\n")
    if "libedit" in (readline.__doc__ or ""):  # pragma: no cover - macOS
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    return True


def _save_history() -> None:
    try:
        import readline

        readline.write_history_file(history_path())
    except (ImportError, OSError):
        pass


__all__ = ["DOT_COMMANDS", "PROMPT", "Shell", "history_path", "run_shell"]
