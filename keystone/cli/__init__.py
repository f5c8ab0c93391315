"""The ``keystone`` command line: the library's verbs on a database file.

    keystone put PATH ITEM_JSON        keystone query PATH PK [--sk-... V]
    keystone get PATH PK [SK]          keystone scan PATH [--filter EXPR]
    keystone delete PATH PK [SK]       keystone sql PATH STATEMENT
    keystone update PATH PK [SK] ...   keystone import PATH FILE
    keystone export PATH [FILE]        keystone backup PATH DEST
    keystone stats PATH                keystone shell PATH

PATH may also be a server for the data verbs: ``host:port``,
``grpc://host:port``, ``grpcs://host:port`` (TLS), ``http://`` or
``https://`` (:func:`.remote.classify` is the rule); ``--endpoint ADDRESS``,
anywhere on the line, names the server instead of PATH, as the AWS CLI's
``--endpoint-url`` does. A file whose name looks like an address is written
``./NAME``.

The item verbs take ``--table NAME`` (the table they act on; default: the
file's default table). Output is a table on a terminal and typed JSON Lines
(:mod:`.jsonl`) when piped; ``--output json|table`` (``-o``, or ``--json``)
decides. A bare ``--table``, the output flag of earlier releases, is a
usage error that says so (:data:`OLD_TABLE_FLAG`). Errors are one line on stderr (cut at
:data:`MAX_MESSAGE` characters): exit status 1 for a failed operation, 2 for
a usage error; never a traceback (``KEYSTONE_DEBUG=1`` adds one for an
error that is not a :class:`~keystone.KeystoneError`, which is a bug).

Layout: :mod:`.registry` (the ``Command`` record and shared helpers),
:mod:`.verbs` (one function per verb), :mod:`.transfer` (import/export),
:mod:`.shell` (the interactive prompt), :mod:`.output`, :mod:`.jsonl`,
:mod:`.progress`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Final, TextIO

from .. import __version__
from ..errors import KeystoneError
from . import copy as _copy
from . import transfer as _transfer  # noqa: F401 - registers import and export
from . import verbs as _verbs  # noqa: F401 - registers the other verbs
from .registry import (
    COMMANDS,
    Context,
    UsageError,
    add_output_options,
    add_schema_options,
    add_table_option,
    is_terminal,
    listed,
    make_output,
    open_database,
    schema_from_args,
    table_of,
)
from .remote import SERVER_FORMS, AddressError, classify, server

PROG = "keystone"
#: The longest error message printed; the rest is cut (a 200,000-digit number, say).
MAX_MESSAGE: Final = 500
ENDPOINT_HELP: Final = (
    "a server to run the verb on, instead of PATH (" + SERVER_FORMS + "), "
    "as the AWS CLI's --endpoint-url"
)


def build_parser(*, shell: bool = False, endpoint: bool = False) -> argparse.ArgumentParser:
    """The argument parser of ``keystone`` (``shell=True``: the shell's, without PATH;
    ``endpoint=True``: ``--endpoint`` was given, so the verbs take no PATH)."""
    parser = argparse.ArgumentParser(
        prog="" if shell else PROG,
        description=None if shell else "KeystoneDB: the library's verbs on a database file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=None if shell else "Run `keystone VERB --help` for a verb's options and examples.",
        add_help=not shell,
    )
    if not shell:
        parser.add_argument("--version", action="version", version=f"keystone {__version__}")
        parser.add_argument("--endpoint", metavar="ADDRESS", help=ENDPOINT_HELP)
    verbs = parser.add_subparsers(dest="command", metavar="VERB", required=True)
    for cmd in listed():
        sub = verbs.add_parser(
            cmd.name,
            help=cmd.summary,
            description=cmd.description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            prog=cmd.name if shell else None,
        )
        if not shell and not endpoint:
            sub.add_argument(
                "path",
                metavar="PATH",
                help="the database file (./NAME for a name like host:port)"
                + (", or a server: host:port, grpc://, grpcs://, http(s)://" if cmd.remote else ""),
            )
        cmd.configure(sub)
        if cmd.tables:
            add_table_option(sub)
        if cmd.prints:
            add_output_options(sub)
        if cmd.creates and not shell:
            add_schema_options(sub)
    if not shell:
        sub = verbs.add_parser(
            "shell",
            help="an interactive prompt for PartiQL and the verbs",
            description="An interactive prompt on the database, with history in\n"
            "~/.keystone_history (or $KEYSTONE_HISTORY). Type PartiQL statements or\n"
            "the verbs without PATH (get user#1 profile); .help lists the rest,\n"
            ".exit or Ctrl-D leaves.\n\n"
            "example:\n"
            "  keystone shell app.db",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("path", metavar="PATH", help="the database file (created if missing)")
        add_schema_options(sub)
        _copy.add_parser(verbs)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``keystone`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    words = list(sys.argv[1:] if argv is None else argv)
    endpoint, words = take_endpoint(words)
    parser = build_parser(endpoint=endpoint is not None)
    hint = old_table_flag(words)
    if hint is not None:
        stderr.write(f"{PROG}: error: {hint}\n")
        return 2
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.command == "copy":  # two addresses, opened by the verb itself
            if endpoint is not None:
                raise UsageError("copy takes its two addresses as SRC and DST, not --endpoint")
            return _copy.run(args, stderr)
        if endpoint is not None:
            if args.command == "shell":
                raise UsageError("the shell needs a database file, not --endpoint")
            args.path = server(endpoint).location
        cmd = COMMANDS.get(args.command)
        if classify(args.path).is_server and (cmd is None or not cmd.remote):
            remote = ", ".join(c.name for c in listed() if c.remote)
            hint = "" if "://" in args.path else f"; a file of that name is ./{args.path}"
            raise UsageError(
                f"{args.command} needs a database file, not a server: {args.path!r} "
                f"(over a server: {remote}{hint})"
            )
        if args.command == "shell":
            from .shell import run_shell

            return run_shell(args.path, schema_from_args(args), stdin, stdout, stderr)
        return run_command(args, stdin, stdout, stderr)
    except (UsageError, AddressError) as exc:
        stderr.write(f"{PROG} {args.command}: error: {one_line(str(exc))}\n")
        return 2
    except BrokenPipeError:
        # The reader went away (`keystone scan db | head`): stop quietly.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        except (OSError, ValueError):  # not a real file (tests)
            pass
        return 1
    except KeyboardInterrupt:
        stderr.write(f"{PROG}: interrupted\n")
        return 130
    except Exception as exc:
        message = error_message(exc)
        if message is None:  # a bug: still one line, the traceback only when asked
            message = one_line(f"internal error: {type(exc).__name__}: {exc}")
            if os.environ.get("KEYSTONE_DEBUG"):
                traceback.print_exc(file=stderr)
        stderr.write(f"{PROG}: {message}\n")
        return 1


#: What a bare ``--table`` (the output flag of earlier releases) is told.
OLD_TABLE_FLAG: Final = (
    "--table takes a table name now (--table NAME: the table to act on); "
    "for table-formatted output use --output table (or -o table)"
)


def old_table_flag(words: Sequence[str]) -> str | None:
    """The hint for ``--table`` given without a name, as earlier releases took it
    (last on the line, or before another option); ``None`` otherwise."""
    for i, word in enumerate(words):
        if word == "--":
            return None
        if word == "--table" and (i + 1 == len(words) or words[i + 1].startswith("-")):
            return OLD_TABLE_FLAG
    return None


def take_endpoint(words: list[str]) -> tuple[str | None, list[str]]:
    """``--endpoint ADDRESS`` (or ``--endpoint=ADDRESS``) taken out of the arguments."""
    endpoint: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            rest.extend(words[i:])
            break
        if word == "--endpoint" and i + 1 < len(words):
            endpoint, i = words[i + 1], i + 2
            continue
        if word.startswith("--endpoint="):
            endpoint = word.partition("=")[2]
        else:
            rest.append(word)
        i += 1
    return endpoint, rest


def one_line(text: str) -> str:
    """``text`` on one line, at most :data:`MAX_MESSAGE` characters, printable on any terminal."""
    text = " ".join(text.split("\n"))
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) > MAX_MESSAGE:
        text = f"{text[: MAX_MESSAGE - 30]}... ({len(text):,} characters in all)"
    return text


def run_command(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Open the database as the verb needs, run it, close the database."""
    cmd = COMMANDS[args.command]
    expected = 0
    if args.command == "import" and args.file != "-":
        try:
            expected = os.path.getsize(args.file)
        except OSError:
            expected = 0
    db = open_database(args.path, cmd.access, schema_from_args(args), expected_bytes=expected)
    try:
        store = table_of(db, args)
        ctx = Context(store, make_output(args, store, stdout), stdin, stderr, is_terminal(stderr))
        status = cmd.run(ctx, args)
        stdout.flush()
        return status
    finally:
        db.close()


def error_message(exc: BaseException) -> str | None:
    """The one-line message for an error the CLI reports, or ``None`` for a bug."""
    if isinstance(exc, KeystoneError):
        text = f"{type(exc).__name__}: {exc}"
    elif isinstance(exc, UnicodeError):  # a lone surrogate the library let through
        text = f"ValidationError: a string is not valid Unicode text ({exc})"
    elif isinstance(exc, ArithmeticError):  # a number the library let through (decimal signals)
        text = (
            "ValidationError: a number is out of range (at most 38 significant digits, "
            "magnitude 1E-130 to 9.99E+125)"
        )
    elif isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"error: {where}{exc.strerror or exc}"
    else:
        try:
            import lmdb
        except ImportError:  # pragma: no cover - lmdb is a dependency
            return None
        if not isinstance(exc, lmdb.Error):
            return None
        text = f"error: not a usable KeystoneDB file ({exc})"
    return one_line(text)


__all__ = [
    "OLD_TABLE_FLAG",
    "build_parser",
    "error_message",
    "main",
    "old_table_flag",
    "one_line",
    "run_command",
    "take_endpoint",
]
