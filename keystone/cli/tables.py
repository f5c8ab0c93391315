"""The CLI's table verbs: ``tables``, ``create-table``, ``describe-table``, ``delete-table``.

Each calls the ``Database`` method of the same name on a database file, or
the client's on a server URL (the gRPC table management RPCs).
Importing this module registers them in :data:`.registry.COMMANDS`.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ValidationError
from ..schema import Schema
from .registry import Command, Context, UsageError, register, whole


def key_spec(text: str) -> str | tuple[str, str]:
    """``NAME`` (an untyped key) or ``NAME:TYPE`` with TYPE S, N or B."""
    name, sep, kind = text.rpartition(":")
    if not sep:
        return text
    if kind not in ("S", "N", "B") or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME or NAME:TYPE with TYPE S, N or B")
    return name, kind


def run_tables(ctx: Context, args: argparse.Namespace) -> int:
    ctx.out.items({"table": name} for name in whole(ctx.db, "tables").tables())
    return 0


register(
    Command(
        "tables",
        "list the tables of the file",
        'Print the name of every table in the file ("default" among them), sorted.\n\n'
        "example:\n"
        "  keystone tables app.db",
        "read",
        lambda parser: None,
        run_tables,
        remote=True,
    )
)


def _configure_create(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", metavar="NAME", help="the new table's name (3-255 of a-z A-Z 0-9 _ - .)"
    )
    parser.add_argument(
        "--partition-key",
        dest="table_partition_key",  # (not the default table's schema options)
        metavar="NAME[:TYPE]",
        type=key_spec,
        default="pk",
        help="partition key attribute, typed S, N or B (default: pk, untyped)",
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--sort-key",
        dest="table_sort_key",
        metavar="NAME[:TYPE]",
        type=key_spec,
        default="sk",
        help="sort key attribute, typed S, N or B (default: sk, untyped)",
    )
    keys.add_argument(
        "--no-sort-key",
        dest="table_no_sort_key",
        action="store_true",
        help="the table has no sort key",
    )


def run_create(ctx: Context, args: argparse.Namespace) -> int:
    sort: Any = None if args.table_no_sort_key else args.table_sort_key
    try:
        schema = Schema(partition_key=args.table_partition_key, sort_key=sort)
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    whole(ctx.db, "create-table").create_table(args.name, schema)
    return 0


register(
    Command(
        "create-table",
        "create a table in the file",
        "Create the table NAME with the key schema the options give (typed keys\n"
        "as NAME:TYPE, TYPE one of S, N, B). Prints nothing.\n\n"
        "examples:\n"
        "  keystone create-table app.db orders --partition-key customer:S --sort-key placed:N\n"
        "  keystone create-table app.db sessions --partition-key id:S --no-sort-key",
        "write",
        _configure_create,
        run_create,
        prints=False,
        remote=True,
    )
)


def _configure_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the table's name")


def run_describe(ctx: Context, args: argparse.Namespace) -> int:
    ctx.out.mapping(whole(ctx.db, "describe-table").describe_table(args.name))
    return 0


register(
    Command(
        "describe-table",
        "print a table's description (as DynamoDB's DescribeTable)",
        "Print the table's name, key schema, attribute definitions, indexes,\n"
        "item count and stream settings, shaped like DynamoDB's TableDescription.\n\n"
        "example:\n"
        "  keystone describe-table app.db orders --json",
        "read",
        _configure_name,
        run_describe,
        remote=True,
    )
)


def run_delete_table(ctx: Context, args: argparse.Namespace) -> int:
    whole(ctx.db, "delete-table").delete_table(args.name)
    return 0


register(
    Command(
        "delete-table",
        "delete a table and everything in it",
        "Delete the table NAME: its items, indexes and stream. Returns at once;\n"
        "the space is reclaimed in the background (the next time the file is\n"
        "open, if this command ends first). Prints nothing.\n\n"
        "example:\n"
        "  keystone delete-table app.db old_orders",
        "change",
        _configure_name,
        run_delete_table,
        prints=False,
        remote=True,
    )
)
