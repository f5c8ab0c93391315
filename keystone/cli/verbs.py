"""The CLI's verbs: each one calls the library method of the same name.

Importing this module registers every verb in :data:`.registry.COMMANDS`.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from .. import sk as _sk
from ..errors import KeystoneError, NotFound
from ..sk import SortKeyCondition
from .registry import (
    Command,
    Context,
    UsageError,
    add_condition,
    add_key,
    add_placeholders,
    add_read_options,
    json_arg,
    key_info,
    key_value,
    local,
    local_file,
    placeholders,
    register,
)

# --------------------------------------------------------------------------
# put, get, delete, update
# --------------------------------------------------------------------------


def _key(ctx: Context, args: argparse.Namespace) -> tuple[Any, Any]:
    """``PK [SK]`` read as the table's declared key types (``N``: a number, ``B``: base64)."""
    pk_type, sk_type = key_info(ctx.db).of(None)
    pk = key_value(args.pk, pk_type, "PK")
    sk = None if args.sk is None else key_value(args.sk, sk_type, "SK")
    return pk, sk


def _configure_put(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "item", metavar="ITEM_JSON", help="the item as a JSON object, or - for stdin"
    )
    add_condition(parser)
    add_placeholders(parser)


def run_put(ctx: Context, args: argparse.Namespace) -> int:
    text = ctx.stdin.read() if args.item == "-" else args.item
    item = json_arg(text, "ITEM_JSON")
    if not isinstance(item, dict):
        raise UsageError('ITEM_JSON must be a JSON object, e.g. \'{"pk": "a"}\'')
    ctx.db.put(item, condition=args.condition, **placeholders(args))
    return 0


register(
    Command(
        "put",
        "store an item (replacing any item with its key)",
        "Store ITEM_JSON, an item in typed JSON (see `keystone import --help`),\n"
        "replacing any item with the same key. Prints nothing.\n\n"
        "examples:\n"
        '  keystone put app.db \'{"pk": "user#1", "sk": "profile", "name": "Ada"}\'\n'
        "  keystone put app.db '{\"pk\": \"a\"}' --condition 'attribute_not_exists(pk)'\n"
        '  echo \'{"pk": "a", "data": {"$b64": "AAE="}}\' | keystone put app.db -',
        "write",
        _configure_put,
        run_put,
        prints=False,
        creates=True,
        remote=True,
        tables=True,
    )
)


def _configure_get(parser: argparse.ArgumentParser) -> None:
    add_key(parser)
    parser.add_argument("--projection", metavar="EXPR", help="attributes to print")
    add_placeholders(parser, values=False)


def run_get(ctx: Context, args: argparse.Namespace) -> int:
    item = ctx.db.get(*_key(ctx, args), projection=args.projection, **placeholders(args))
    if item is None:
        raise NotFound(f"no item with {_describe_key(ctx, args.pk, args.sk)}")
    ctx.out.item(item)
    return 0


def _describe_key(ctx: Context, pk: str, sk: str | None) -> str:
    schema = ctx.db.schema
    text = f"{schema.partition_key}={pk!r}"
    if sk is not None:
        text += f", {schema.sort_key or 'sort key'}={sk!r}"
    return text


register(
    Command(
        "get",
        "print one item",
        "Print the item with key PK [SK]; exit status 1 if there is none. Key\n"
        "values are read as the table declares them (N: a number, B: base64).\n\n"
        "examples:\n"
        "  keystone get app.db user#1 profile\n"
        "  keystone get app.db user#1 profile --projection 'name, #s' --names '{\"#s\": \"status\"}'",
        "read",
        _configure_get,
        run_get,
        remote=True,
        tables=True,
    )
)


def _configure_delete(parser: argparse.ArgumentParser) -> None:
    add_key(parser)
    add_condition(parser)
    add_placeholders(parser)


def run_delete(ctx: Context, args: argparse.Namespace) -> int:
    ctx.db.delete(*_key(ctx, args), condition=args.condition, **placeholders(args))
    return 0


register(
    Command(
        "delete",
        "delete one item",
        "Delete the item with key PK [SK]. Deleting a missing item is not an\n"
        "error; a failed --condition is (status 1, nothing deleted). Prints nothing.\n\n"
        "examples:\n"
        "  keystone delete app.db user#1 profile\n"
        "  keystone delete app.db user#1 cart --condition 'total = :z' --values '{\":z\": 0}'",
        "change",
        _configure_delete,
        run_delete,
        prints=False,
        remote=True,
        tables=True,
    )
)


def _configure_update(parser: argparse.ArgumentParser) -> None:
    add_key(parser)
    clauses = parser.add_argument_group(
        "update actions (repeatable; together they make one update expression)"
    )
    clauses.add_argument("--set", metavar="EXPR", action="append", default=[], help="'a = :v'")
    clauses.add_argument(
        "--remove", metavar="PATH", action="append", default=[], help="an attribute to remove"
    )
    clauses.add_argument(
        "--add", metavar="EXPR", action="append", default=[], help="'n :one' (numbers, sets)"
    )
    clauses.add_argument(
        "--delete",
        metavar="EXPR",
        action="append",
        default=[],
        help="'tags :old' (remove set elements)",
    )
    add_condition(parser)
    add_placeholders(parser)
    parser.add_argument(
        "--returns",
        choices=["ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD", "NONE"],
        default="ALL_NEW",
        help="what to print (default: ALL_NEW, the whole new item)",
    )


def run_update(ctx: Context, args: argparse.Namespace) -> int:
    clauses = [
        f"{verb} {', '.join(actions)}"
        for verb, actions in (
            ("SET", args.set),
            ("REMOVE", args.remove),
            ("ADD", args.add),
            ("DELETE", args.delete),
        )
        if actions
    ]
    if not clauses:
        raise UsageError("give at least one of --set, --remove, --add or --delete")
    result = ctx.db.update(
        *_key(ctx, args),
        " ".join(clauses),
        condition=args.condition,
        returns=args.returns,
        **placeholders(args),
    )
    if result is not None:
        ctx.out.item(result)
    return 0


register(
    Command(
        "update",
        "change attributes of an item (creating it if absent)",
        "Apply one update expression, made of the --set / --remove / --add /\n"
        "--delete actions, to the item PK [SK] (created if absent, as in\n"
        "DynamoDB), and print the new item (see --returns).\n\n"
        "examples:\n"
        "  keystone update app.db user#1 profile --set 'visits = visits + :one' --values '{\":one\": 1}'\n"
        "  keystone update app.db user#1 profile --set 'name = :n' --remove nickname --values '{\":n\": \"Ada\"}'\n"
        '  keystone update app.db user#1 profile --add \'tags :t\' --values \'{":t": {"$ss": ["vip"]}}\'',
        "write",
        _configure_update,
        run_update,
        creates=True,
        remote=True,
        tables=True,
    )
)


# --------------------------------------------------------------------------
# query, scan, sql
# --------------------------------------------------------------------------

_SK_OPTIONS = {
    "sk_eq": _sk.eq,
    "sk_lt": _sk.lt,
    "sk_le": _sk.le,
    "sk_gt": _sk.gt,
    "sk_ge": _sk.ge,
    "sk_begins_with": _sk.begins_with,
}


def _configure_query(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "pk", metavar="PK", nargs="?", help="partition key value (or give --key-condition)"
    )
    parser.add_argument(
        "--key-condition",
        metavar="EXPR",
        help="DynamoDB's KeyConditionExpression instead of PK and --sk-*, "
        "e.g. 'pk = :p AND begins_with(sk, :s)' (placeholders from --names/--values)",
    )
    group = parser.add_argument_group("sort key condition (at most one)")
    conditions = group.add_mutually_exclusive_group()
    for op, symbol in (("eq", "="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
        conditions.add_argument(f"--sk-{op}", metavar="V", help=f"sort key {symbol} V")
    conditions.add_argument("--sk-begins-with", metavar="V", help="sort key starts with V")
    conditions.add_argument("--sk-between", metavar=("A", "B"), nargs=2, help="A <= sort key <= B")
    group.add_argument(
        "--sk-number",
        action="store_true",
        help="the sort key values are numbers (an index whose sort key is a number)",
    )
    parser.add_argument(
        "--pk-number",
        action="store_true",
        help="PK is a number (an index whose partition key is a number)",
    )
    add_read_options(parser)
    parser.add_argument("--reverse", action="store_true", help="descending sort key order")
    add_count_option(parser)


def add_count_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--count",
        action="store_true",
        help="print only how many items match (and how many were read): Select=COUNT",
    )


def run_query(ctx: Context, args: argparse.Namespace) -> int:
    pk_type, sk_type = key_info(ctx.db).of(args.index)
    if args.pk_number:
        pk_type = "N"
    if args.sk_number:
        sk_type = "N"

    def sort_value(text: str) -> Any:
        return key_value(text, sk_type, "the sort key value")

    cond: SortKeyCondition | None = None
    if args.sk_between is not None:
        cond = _sk.between(*(sort_value(v) for v in args.sk_between))
    for option, make in _SK_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            cond = make(sort_value(value))
    if args.pk is None and args.key_condition is None:
        raise UsageError("give PK, or --key-condition EXPR")
    pk = None if args.pk is None else key_value(args.pk, pk_type, "PK")
    kwargs = _read_options(args)
    if args.key_condition is not None:
        kwargs["key_condition"] = args.key_condition
    if args.count:
        _print_count(ctx, args, lambda **more: ctx.db.query(pk, cond, **kwargs, **more))
        return 0
    items = ctx.db.query_all(pk, cond, reverse=args.reverse, **kwargs)
    ctx.out.items(_limited(items, args.limit))
    return 0


def _print_count(ctx: Context, args: argparse.Namespace, page: Any) -> None:
    """Sum the counts of every page of a ``select="COUNT"`` query or scan, and print them."""
    if args.limit is not None:
        raise UsageError("--limit bounds the items printed; --count prints none (drop one)")
    count = scanned = 0
    start = None
    more = {"reverse": True} if getattr(args, "reverse", False) else {}
    while True:  # every page moves past the last: it ends with the table
        result = page(select="COUNT", start=start, **more)
        count += result.count
        scanned += result.scanned_count
        start = result.last_key
        if start is None:
            break
    ctx.out.mapping({"count": count, "scanned_count": scanned})


def _read_options(args: argparse.Namespace) -> dict[str, Any]:
    kwargs = placeholders(args)
    for name in ("filter", "projection", "index"):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    return kwargs


def _limited(items: Iterator[dict[str, Any]], limit: int | None) -> Iterable[dict[str, Any]]:
    return items if limit is None else itertools.islice(items, limit)


register(
    Command(
        "query",
        "print the items of one partition, in sort key order",
        "Print the items whose partition key is PK, in sort key order, reading\n"
        "every page. --limit counts printed items (after --filter), unlike the\n"
        "library's limit=, which bounds the items read per page. Key values are\n"
        "read as the table (or --index) declares them: numbers for N, base64\n"
        "for B. --key-condition EXPR replaces PK and --sk-*; --count prints only\n"
        "how many items match (Select=COUNT).\n\n"
        "examples:\n"
        "  keystone query app.db user#1 --sk-begins-with order#\n"
        "  keystone query app.db user#1 --sk-between order#2024-01 order#2024-12 --reverse --limit 10\n"
        "  keystone query app.db user#1 --filter 'total > :t' --values '{\":t\": 100}' --json\n"
        "  keystone query app.db c1 --sk-gt 1700000000 --table orders   (an N sort key)\n"
        "  keystone query app.db --key-condition 'pk = :p AND begins_with(sk, :s)' \\\n"
        '      --values \'{":p": "user#1", ":s": "order#"}\' --count',
        "read",
        _configure_query,
        run_query,
        remote=True,
        tables=True,
    )
)


def _configure_scan(parser: argparse.ArgumentParser) -> None:
    add_read_options(parser)
    add_count_option(parser)


def run_scan(ctx: Context, args: argparse.Namespace) -> int:
    if args.count:
        _print_count(ctx, args, lambda **more: ctx.db.scan(**_read_options(args), **more))
        return 0
    ctx.out.items(_limited(ctx.db.scan_all(**_read_options(args)), args.limit))
    return 0


register(
    Command(
        "scan",
        "print every item (optionally filtered)",
        "Print every item of the table (or of --index), reading every page;\n"
        "--count prints only how many match (Select=COUNT).\n\n"
        "examples:\n"
        "  keystone scan app.db\n"
        "  keystone scan app.db --filter 'begins_with(sk, :p)' --values '{\":p\": \"order#\"}' --limit 20",
        "read",
        _configure_scan,
        run_scan,
        remote=True,
        tables=True,
    )
)


def _configure_sql(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("statement", metavar="STATEMENT", help="one PartiQL statement")
    parser.add_argument(
        "--params", metavar="JSON", help="a JSON array (typed JSON) of values for the ? marks"
    )


def run_sql(ctx: Context, args: argparse.Namespace) -> int:
    params = None
    if args.params is not None:
        params = json_arg(args.params, "--params")
        if not isinstance(params, list):
            raise UsageError("--params must be a JSON array, e.g. '[\"user#1\", 3]'")
    run_statement(ctx, args.statement, params)
    return 0


def run_statement(ctx: Context, statement: str, params: list[Any] | None = None) -> None:
    """Run one PartiQL statement; print the items it returns."""
    try:
        page = ctx.db.execute(statement, params)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("keystone.partiql"):
            raise KeystoneError("PartiQL is not available in this installation") from None
        raise
    if page.items or statement.lstrip()[:6].lower() == "select":
        ctx.out.items(page.items)


register(
    Command(
        "sql",
        "run one PartiQL statement",
        "Run one PartiQL statement and print the items it returns: a SELECT's\n"
        "matches, the new item of an UPDATE; INSERT and DELETE print nothing.\n"
        "Strings go in single quotes; each ? takes the next value of --params.\n"
        "Any table name works (one database is one table).\n\n"
        "examples:\n"
        "  keystone sql app.db \"SELECT * FROM t WHERE pk = 'user#1' AND begins_with(sk, 'order#')\"\n"
        '  keystone sql app.db "UPDATE t SET n = n + 1 WHERE pk = ? AND sk = ?" --params \'["user#1", "a"]\'',
        "change",
        _configure_sql,
        run_sql,
        remote=True,
    )
)


# --------------------------------------------------------------------------
# backup, stats (import and export live in .transfer)
# --------------------------------------------------------------------------


def _configure_backup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dest", metavar="DEST", help="path of the copy (must not exist)")


def run_backup(ctx: Context, args: argparse.Namespace) -> int:
    local_file(ctx.db, "backup").backup(args.dest)
    return 0


register(
    Command(
        "backup",
        "copy the database consistently while others keep writing",
        "Write a compacted copy of the database to DEST (which must not exist),\n"
        "taken from one snapshot: it is consistent even while other threads and\n"
        "processes write, and does not block them.\n\n"
        "example:\n"
        "  keystone backup app.db backups/app-$(date +%F).db",
        "read",
        _configure_backup,
        run_backup,
        prints=False,
    )
)


def _configure_stats(parser: argparse.ArgumentParser) -> None:
    del parser  # no options of its own


def run_stats(ctx: Context, args: argparse.Namespace) -> int:
    ctx.out.mapping(local(ctx.db, "stats").stats())
    return 0


register(
    Command(
        "stats",
        "print counts and sizes",
        "Print the number of items, the file and map sizes, the key schema and\n"
        "the durability.\n\n"
        "example:\n"
        "  keystone stats app.db --json",
        "read",
        _configure_stats,
        run_stats,
        tables=True,
    )
)

from . import tables as _tables  # noqa: E402, F401 - registers tables, create-table, ...
