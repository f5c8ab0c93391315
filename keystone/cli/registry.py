"""What every verb shares: the :class:`Command` record, its run context, argument helpers.

A verb is a :class:`Command`: how it opens the database (``"read"``: an
existing file, read-only; ``"change"``: an existing file, for writing;
``"write"``: for writing, created if missing), the arguments it adds
to its ``argparse`` sub-parser, and ``run(ctx, args)``, which calls the
library method of the same name. ``keystone.cli.main`` and the interactive
shell both dispatch through :data:`COMMANDS`, so a verb behaves the same in
both.
"""

from __future__ import annotations

import argparse
import binascii
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TextIO

from ..database import Database, Table
from ..errors import ValidationError
from ..schema import GlobalIndex, Schema
from ..types import parse_number
from . import jsonl
from .output import Output
from .remote import KeyInfo, RemoteStore, classify, open_remote

Access = Literal["read", "change", "write"]


class UsageError(Exception):
    """A command-line argument the parser could not check (bad JSON, say): exit status 2."""


@dataclass
class Context:
    """What a verb runs against: the open database, where output goes, the terminal."""

    #: A database file, or a server (``RemoteStore``: the data verbs only); with
    #: ``--table NAME``, that table of it (a ``Table``, or a ``RemoteStore`` of it).
    db: Database | Table | RemoteStore
    out: Output
    stdin: TextIO
    stderr: TextIO
    #: Whether progress bars and summaries may be drawn on ``stderr``.
    interactive: bool


@dataclass(frozen=True)
class Command:
    """One verb of the CLI (and of the shell)."""

    name: str
    summary: str
    description: str
    access: Access
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Context, argparse.Namespace], int]
    #: Whether the verb prints items (and so takes ``--json`` / ``--output``).
    prints: bool = True
    #: Whether the verb may create the file (and so takes the key schema options).
    creates: bool = False
    #: Whether the verb also works on a server (PATH a URL; see :mod:`.remote`).
    remote: bool = False
    #: Whether the verb acts on one table (and so takes ``--table NAME``).
    tables: bool = False


COMMANDS: dict[str, Command] = {}

#: The order verbs are listed in ``--help`` and ``.help``.
ORDER: Final = (
    "put", "get", "delete", "update", "query", "scan", "sql",
    "import", "export", "backup", "stats",
    "tables", "create-table", "describe-table", "delete-table",
)  # fmt: skip


def register(cmd: Command) -> Command:
    COMMANDS[cmd.name] = cmd
    return cmd


def listed() -> list[Command]:
    """Every registered verb, in :data:`ORDER`."""
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(COMMANDS.values(), key=lambda cmd: rank.get(cmd.name, len(rank)))


# --------------------------------------------------------------------------
# Argument helpers
# --------------------------------------------------------------------------


def add_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pk", metavar="PK", help="partition key value (a string)")
    parser.add_argument(
        "sk", metavar="SK", nargs="?", default=None, help="sort key value (omit for none)"
    )


def add_placeholders(parser: argparse.ArgumentParser, *, values: bool = True) -> None:
    parser.add_argument(
        "--names",
        metavar="JSON",
        help='attribute name placeholders, e.g. \'{"#s": "status"}\' (the # may be omitted)',
    )
    if values:
        parser.add_argument(
            "--values",
            metavar="JSON",
            help="value placeholders in typed JSON, e.g. '{\":v\": 1}' (the : may be omitted)",
        )


def add_condition(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--condition",
        metavar="EXPR",
        help="write only if this condition holds, e.g. 'attribute_not_exists(pk)'",
    )


def add_read_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--filter", metavar="EXPR", help="keep only items matching this filter")
    parser.add_argument(
        "--projection", metavar="EXPR", help="attributes to print, e.g. 'pk, sk, total'"
    )
    parser.add_argument("--index", metavar="NAME", help="read this secondary index")
    parser.add_argument(
        "--limit", metavar="N", type=positive_int, help="print at most N items (after the filter)"
    )
    add_placeholders(parser)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--output json|table`` (``-o``): how a verb prints."""
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON Lines (as --output json)")
    fmt.add_argument(
        "-o",
        "--output",
        choices=("json", "table"),
        help="print JSON Lines or a table (default: a table on a terminal, JSON Lines otherwise)",
    )


def add_table_option(parser: argparse.ArgumentParser) -> None:
    """``--table NAME``: the table a verb acts on."""
    parser.add_argument(
        "--table",
        dest="table_name",
        metavar="NAME",
        help="act on the table NAME (default: the file's default table; see `keystone tables`)",
    )


def output_json(args: argparse.Namespace | None) -> bool | None:
    """Whether the options ask for JSON Lines (``True``), a table (``False``) or neither."""
    if args is None:
        return None
    if getattr(args, "json", False):
        return True
    chosen = getattr(args, "output", None)
    return None if chosen is None else chosen == "json"


def table_of(db: Database | RemoteStore, args: argparse.Namespace | None) -> Any:
    """The store a verb acts on: ``db``, or its table ``--table NAME`` (``NotFound`` if none)."""
    name = getattr(args, "table_name", None)
    if name is None:
        return db
    return db.table(name)


def key_info(store: Any) -> KeyInfo:
    """The key attributes and declared key types of the table a verb acts on."""
    if isinstance(store, RemoteStore):
        return store.key_info()
    schema: Schema = store.schema
    indexes: dict[str, tuple[str | None, str | None]] = {}
    for idx in schema.indexes:
        if isinstance(idx, GlobalIndex):
            indexes[idx.name] = (idx.partition_key_type, idx.sort_key_type)
        else:
            indexes[idx.name] = (schema.partition_key_type, idx.sort_key_type)
    return KeyInfo(schema.partition_key_type, schema.sort_key_type, indexes)


def key_value(text: str, kind: str | None, what: str) -> Any:
    """A key value given on the command line, read as its declared type says:
    a number for ``N``, base64 for ``B``, the text itself otherwise."""
    if kind == "N":
        return parse_number(text, what)
    if kind == "B":
        try:
            return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise ValidationError(
                f"{what}: the key attribute is binary (B); give its value in base64, got {text!r}"
            ) from None
    return text


def add_schema_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "key schema (used when the file is created; must match an existing file)"
    )
    group.add_argument(
        "--partition-key", metavar="NAME", help="partition key attribute (default: pk)"
    )
    keys = group.add_mutually_exclusive_group()
    keys.add_argument("--sort-key", metavar="NAME", help="sort key attribute (default: sk)")
    keys.add_argument("--no-sort-key", action="store_true", help="items have no sort key")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def json_arg(text: str, what: str) -> Any:
    """Parse a typed JSON argument; a bad one is a usage error."""
    try:
        return jsonl.loads(text)
    except jsonl.JSONValueError as exc:
        raise UsageError(f"{what}: {exc}") from None


def placeholders(args: argparse.Namespace) -> dict[str, Any]:
    """``names=`` / ``values=`` keyword arguments from ``--names`` / ``--values``."""
    out: dict[str, Any] = {}
    if getattr(args, "names", None) is not None:
        names = json_arg(args.names, "--names")
        if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
            raise UsageError('--names must be a JSON object of strings, e.g. {"#s": "status"}')
        out["names"] = {k if k.startswith("#") else "#" + k: v for k, v in names.items()}
    if getattr(args, "values", None) is not None:
        values = json_arg(args.values, "--values")
        if not isinstance(values, dict):
            raise UsageError('--values must be a JSON object, e.g. {":v": 1}')
        out["values"] = {k if k.startswith(":") else ":" + k: v for k, v in values.items()}
    return out


def schema_from_args(args: argparse.Namespace) -> Schema | None:
    """The schema from ``--partition-key`` / ``--sort-key`` / ``--no-sort-key`` (or ``None``)."""
    pk = getattr(args, "partition_key", None)
    sk = getattr(args, "sort_key", None)
    no_sk = getattr(args, "no_sort_key", False)
    if pk is None and sk is None and not no_sk:
        return None
    kwargs: dict[str, Any] = {}
    if pk is not None:
        kwargs["partition_key"] = pk
    if no_sk:
        kwargs["sort_key"] = None
    elif sk is not None:
        kwargs["sort_key"] = sk
    return Schema(**kwargs)


# --------------------------------------------------------------------------
# Opening the database, choosing the output
# --------------------------------------------------------------------------


def open_database(
    path: str, access: Access, schema: Schema | None = None, *, expected_bytes: int = 0
) -> Database | RemoteStore:
    """Open ``path`` for a verb: ``"read"`` read-only, ``"change"`` an existing file,
    ``"write"`` created if missing.

    A PATH that names a server (:func:`.remote.classify`) is connected to.
    ``expected_bytes`` (an import's input size) sizes the memory map up front,
    so that a large import does not have to restart after growing it.
    """
    target = classify(path)
    if target.is_server:
        return open_remote(target, schema)
    if access == "read":
        return Database.open(path, schema, read_only=True)
    create = access == "write"
    if expected_bytes <= 0:
        return Database.open(path, schema, create=create)
    current = os.path.getsize(path) if os.path.exists(path) else 0
    wanted = max(current * 2, current + 4 * expected_bytes)
    size = 64 << 20
    while size < wanted and size < 1 << 40:
        size *= 2
    return Database.open(path, schema, create=create, map_size=size)


def local(db: Database | Table | RemoteStore, verb: str) -> Table:
    """``db`` if it is (a table of) a database file; a usage error for a verb that needs one."""
    if isinstance(db, Table):
        return db
    raise UsageError(f"{verb} needs a database file, not a server")


def whole(db: Database | Table | RemoteStore, verb: str) -> Database | RemoteStore:
    """``db`` if it is a whole file or server (not one of its tables)."""
    if isinstance(db, (Database, RemoteStore)):
        return db
    raise UsageError(f"{verb} acts on the whole file, not on one table")


def local_file(db: Database | Table | RemoteStore, verb: str) -> Database:
    """``db`` if it is a whole database file; a usage error otherwise."""
    if isinstance(db, Database):
        return db
    raise UsageError(f"{verb} needs a database file, not a server")


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def make_output(
    args: argparse.Namespace | None, db: Any, stream: TextIO, default: bool | None = None
) -> Output:
    """Tables on a terminal, JSON Lines otherwise; ``--json`` / ``--output`` decide
    first, then ``default`` (the shell's ``.json`` / ``.table``)."""
    as_json = output_json(args)
    if as_json is None:
        as_json = default if default is not None else not is_terminal(stream)
    schema = db.schema
    keys = [schema.partition_key] + ([schema.sort_key] if schema.sort_key else [])
    return Output(stream, json=as_json, key_attrs=keys)


__all__ = [
    "COMMANDS",
    "add_output_options",
    "add_table_option",
    "key_info",
    "key_value",
    "output_json",
    "table_of",
    "Access",
    "Command",
    "Context",
    "UsageError",
    "is_terminal",
    "make_output",
    "open_database",
    "listed",
    "local",
    "local_file",
    "whole",
    "register",
]
