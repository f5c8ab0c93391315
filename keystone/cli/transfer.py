"""``keystone import`` and ``keystone export``: JSON Lines in and out.

Import is all or nothing, in one write transaction: each line is parsed,
validated and put inside ``with db.transaction()``, so memory stays flat
however long the file is (LMDB spills the transaction's dirty pages to the
file), and the first bad line rolls everything back. The transaction holds
the database's single writer lock for the whole import: other writers wait,
readers go on seeing the state before the import until it commits.

If the file outgrows the database's memory map mid-way, the transaction is
rolled back, the map grows, and the import runs again from the first line;
the CLI sizes the map from the input's length up front so that this is rare.
Input read from a pipe is first copied to a temporary file so that it can be
read again.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Final, TextIO

from ..database import Table
from ..errors import ResourceExhausted, ValidationError
from . import jsonl
from .progress import Progress
from .registry import Command, Context, UsageError, is_terminal, local, register
from .remote import RemoteStore

log = logging.getLogger(__name__)

#: How many times an import may restart after growing the database's map.
MAX_ATTEMPTS: Final = 8


@contextmanager
def seekable(source: IO[bytes]) -> Iterator[IO[bytes]]:
    """``source`` itself if it can be read twice, else a temporary copy of it."""
    if source.seekable():
        yield source
        return
    with tempfile.TemporaryFile(prefix="keystone-import-") as spool:
        shutil.copyfileobj(source, spool, 1 << 20)
        spool.seek(0)
        yield spool


def input_size(source: IO[bytes]) -> int:
    """Bytes from the current position to the end of a seekable ``source``."""
    here = source.tell()
    end = source.seek(0, 2)
    source.seek(here)
    return end - here


def import_jsonl(db: Table, source: IO[bytes], progress: Progress) -> int:
    """Put every item of the JSON Lines ``source`` in one commit; returns how many.

    Blank lines are skipped; a later line with the same key replaces an
    earlier one. A bad line raises :class:`ValidationError` naming its line
    number, and nothing is written.
    """
    start = source.tell()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        source.seek(start)
        map_before = db.stats()["map_bytes"]
        try:
            return _import_once(db, source, progress)
        except ResourceExhausted:
            if attempt == MAX_ATTEMPTS or db.stats()["map_bytes"] <= map_before:
                raise
            log.info("import outgrew the map; it has grown, importing again")
    raise AssertionError("unreachable")


def _import_once(db: Table, source: IO[bytes], progress: Progress) -> int:
    count = 0
    done = 0
    loads_item = jsonl.loads_item
    update = progress.update
    with db.transaction() as tx:
        put = tx.put
        for lineno, line in enumerate(source, 1):
            done += len(line)
            if line.isspace() or not line:
                continue
            try:
                put(loads_item(line))
            except (jsonl.JSONValueError, ValidationError) as exc:
                raise ValidationError(f"line {lineno}: {exc}") from None
            count += 1
            update(done, count)
    progress.close(done, count)
    return count


def export_jsonl(db: Table | RemoteStore, dest: TextIO, progress: Progress) -> int:
    """Write every item as one typed JSON line; returns how many.

    A database file is read from one snapshot (``Database.snapshot_items``):
    the export is the table as it was when it began, whatever is written
    meanwhile. Over a server it is read page by page (each page one
    snapshot, as a DynamoDB scan).
    """
    count = 0
    write = dest.write
    dumps = jsonl.dumps
    update = progress.update
    items = db.snapshot_items() if isinstance(db, Table) else db.scan_all()
    for item in items:
        write(dumps(item))
        write("\n")
        count += 1
        update(count, count)
    progress.close(count, count)
    return count


# --------------------------------------------------------------------------
# The verbs
# --------------------------------------------------------------------------

TYPED_JSON_HELP = """\
typed JSON (every verb's input and output):
  bytes       {"$b64": "AAE="}
  sets        {"$ss": ["a", "b"]}  {"$ns": ["1.5", "2"]}  {"$bs": ["AAE="]}
  vector      {"$vec": [0.5, 1.25]}
  timestamp   {"$ts": "2024-01-01T00:00:00.000Z"}
  decimal     {"$n": "0.1"}  (plain JSON numbers are read exactly too: 0.1 is 0.1)
  a map whose only key is a tag (or starts with $$) gets one more $: {"$$n": "x"}"""


def _configure_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a JSON Lines file, or - for stdin")


def run_import(ctx: Context, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with _input(args.file, ctx) as raw, seekable(raw) as source:
        total = input_size(source)
        progress = Progress("importing", ctx.stderr, total=total, enabled=ctx.interactive, unit="B")
        count = import_jsonl(local(ctx.db, "import"), source, progress)
    if ctx.interactive:
        elapsed = max(time.perf_counter() - started, 1e-9)
        ctx.stderr.write(
            f"imported {count:,} items in {elapsed:.1f}s ({count / elapsed:,.0f} items/s)\n"
        )
    return 0


@contextmanager
def _input(name: str, ctx: Context) -> Iterator[IO[bytes]]:
    """The bytes of FILE, or of stdin for ``-`` (which is left open)."""
    if name == "-":
        yield ctx.stdin.buffer
        return
    with open(name, "rb") as stream:
        yield stream


register(
    Command(
        "import",
        "load items from JSON Lines, all or nothing",
        "Put every item of FILE (JSON Lines: one JSON object per line; - reads\n"
        "stdin) in ONE transaction: a bad line is reported with its line number\n"
        "and nothing is written. A later line with the same key replaces an\n"
        "earlier one; blank lines are skipped. Other writers wait until the\n"
        "import commits; readers see the old state until then. Progress is\n"
        "shown on a terminal.\n\n" + TYPED_JSON_HELP + "\n\n"
        "examples:\n"
        "  keystone import app.db items.jsonl\n"
        "  keystone export old.db | keystone import new.db - --partition-key id --no-sort-key",
        "write",
        _configure_import,
        run_import,
        prints=False,
        creates=True,
        tables=True,
    )
)


def _configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE", nargs="?", default="-", help="output file (default: stdout)"
    )


def run_export(ctx: Context, args: argparse.Namespace) -> int:
    to_stdout = args.file == "-"
    shown = ctx.interactive and not (to_stdout and is_terminal(ctx.out.stream))
    total = ctx.db.stats()["items"] if isinstance(ctx.db, Table) else None  # (a server: unknown)
    progress = Progress("exporting", ctx.stderr, total=total, enabled=shown)
    if to_stdout:
        export_jsonl(ctx.db, ctx.out.stream, progress)
        return 0
    if os.path.exists(args.file):
        raise UsageError(f"{args.file} already exists; export does not overwrite files")
    with open(args.file, "x", encoding="utf-8", buffering=1 << 20) as dest:
        export_jsonl(ctx.db, dest, progress)
    return 0


register(
    Command(
        "export",
        "write every item as JSON Lines",
        "Write every item to FILE (default: stdout; an existing FILE is not\n"
        "overwritten) as JSON Lines in typed JSON, read from one snapshot: the\n"
        "table as it was when the export began, even while others write.\n\n"
        + TYPED_JSON_HELP
        + "\n\nexamples:\n"
        "  keystone export app.db items.jsonl\n"
        "  keystone export app.db | jq -c 'select(.total > 100)'",
        "read",
        _configure_export,
        run_export,
        prints=False,
        remote=True,
        tables=True,
    )
)


__all__ = [
    "MAX_ATTEMPTS",
    "TYPED_JSON_HELP",
    "export_jsonl",
    "import_jsonl",
    "input_size",
    "seekable",
]
