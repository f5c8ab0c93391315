"""``keystone copy SRC DST``: every item of one store into another, resumably.

SRC and DST are each a database file, a gRPC server (``host:port``,
``grpc://host:port``, ``http(s)://host:port``: the CLI's address rule) or a
DynamoDB table (``dynamodb://TABLE?region=...``). ``--table NAME`` picks the
table of a file or server side (default: its default table; a
``dynamodb://`` address names its own). A missing destination table is
created with the source's key schema and indexes (in a file, on a server,
or on DynamoDB, waited for until ACTIVE). A file copied to a new file without ``--table`` is LMDB's consistent copy of
the whole file (every table at one instant, indexes and streams included), written under
a temporary name: nothing to resume. Every other copy goes item by item:
the source is read by parallel scan segments, one thread each (one segment
when both sides are files: they share this interpreter); each page
read is written with ``batch_write`` (on DynamoDB: chunks of 25,
unprocessed writes retried with backoff), and a page that fails because
the destination is throttled or unreachable is written again after a
pause, a bounded number of times.

Resuming: after each page is written, the checkpoint file records that
segment's last key (and, at its end, that the segment is done), replaced
atomically. ``--resume`` starts every unfinished segment after its recorded
key. A page written but not yet recorded when the copy was stopped is
written again: puts replace items by key, so the destination ends with
neither duplicates nor gaps. Items changed in the source meanwhile are
copied as each page reads them (a scan is not one snapshot).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from ..catalog import DEFAULT_TABLE
from ..database import Database
from ..errors import NotFound, ResourceExhausted, Unavailable
from ..schema import Schema
from . import jsonl
from .progress import Progress
from .registry import UsageError, is_terminal
from .remote import classify

#: Tries of one page's write when the destination is throttled or unreachable.
WRITE_TRIES: Final = 8
DEFAULT_PAGE: Final = 1000


@dataclass
class Endpoint:
    """One side of a copy: the store, its schema if known, how to finish with it."""

    address: str
    store: Any
    schema: Schema | None
    close: Callable[[], None]
    count: int | None = None


def _open(
    address: str, *, source: bool, schema: Schema | None = None, table: str | None = None
) -> Endpoint:
    if address.startswith("dynamodb://"):
        from keystone_net.dynamodb.store import connect_dynamodb

        store = connect_dynamodb(address)
        try:
            store.describe_table()
        except NotFound:
            if source:
                raise
            store = store.create_table(store.table_name, schema or Schema())
        count = store.stats()["items"] if source else None
        return Endpoint(address, store, store.schema, store.close, count)
    target = classify(address)  # the CLI's one rule: host:port and URLs are servers
    if target.is_server:
        import keystone_net

        client = keystone_net.connect(target.url)
        try:
            return _server_side(address, client, source=source, schema=schema, table=table)
        except BaseException:
            client.close()
            raise
    if source:
        db = Database.open(address, create=False)
        try:
            read: Any = db if table is None else db.table(table)
            return Endpoint(address, read, read.schema, db.close, read.stats()["items"])
        except BaseException:
            db.close()
            raise
    db = Database.open(address, schema if table is None else None, durability="async")

    def finish() -> None:
        db.sync()
        db.close()

    try:
        if table is None:
            return Endpoint(address, db, db.schema, finish)
        try:
            named = db.table(table)
        except NotFound:
            named = db.create_table(table, schema)
        return Endpoint(address, named, named.schema, finish)
    except BaseException:
        db.close()
        raise


def _server_side(
    address: str, client: Any, *, source: bool, schema: Schema | None, table: str | None
) -> Endpoint:
    """A gRPC server's table (default: its default table): a missing destination is created."""
    from keystone_net.dynamodb.definitions import schema_of

    name = table or DEFAULT_TABLE
    try:
        handle = client.table(name)
    except NotFound:
        if source or table is None:
            raise
        handle = client.create_table(name, schema)
    description = handle.describe()
    return Endpoint(
        address,
        handle,
        schema_of(description),
        client.close,
        int(description.get("ItemCount", 0)) if source else None,
    )


@dataclass
class Checkpoint:
    """What is already copied: each finished segment, and each unfinished one's last key."""

    path: str
    source: str
    dest: str
    segments: int
    done: set[int] = field(default_factory=set)
    last: dict[int, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, path: str, source: str, dest: str, segments: int) -> Checkpoint:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise UsageError(f"--resume: no checkpoint {path}") from None
        if (data["source"], data["dest"]) != (source, dest):
            raise UsageError(
                f"--resume: checkpoint {path} is of a copy {data['source']} -> {data['dest']}"
            )
        segments = int(data["segments"])
        last = {int(s): jsonl.loads_item(text) for s, text in data["last"].items()}
        return cls(path, source, dest, segments, set(data["done"]), last)

    def save(self, segment: int, last_key: dict[str, Any] | None) -> None:
        """Record a written page of ``segment`` (``last_key=None``: the segment is done)."""
        with self.lock:
            if last_key is None:
                self.done.add(segment)
                self.last.pop(segment, None)
            else:
                self.last[segment] = last_key
            data = {
                "source": self.source,
                "dest": self.dest,
                "segments": self.segments,
                "done": sorted(self.done),
                "last": {str(s): jsonl.dumps(k) for s, k in self.last.items()},
            }
            temp = f"{self.path}.tmp"
            with open(temp, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(temp, self.path)


def _write(dest: Any, items: list[dict[str, Any]], stop: threading.Event) -> None:
    for attempt in range(WRITE_TRIES):
        try:
            dest.batch_write(puts=items)
            return
        except (ResourceExhausted, Unavailable):
            if attempt == WRITE_TRIES - 1 or stop.is_set():
                raise
            stop.wait(random.uniform(0, min(30.0, 0.5 * 2**attempt)))


def copy_segment(
    source: Any,
    dest: Any,
    segment: int,
    checkpoint: Checkpoint,
    page_size: int,
    counted: Callable[[int], None],
    stop: threading.Event,
) -> None:
    """Copy one scan segment page by page, recording each written page."""
    start = checkpoint.last.get(segment)
    while not stop.is_set():
        page = source.scan(
            limit=page_size, start=start, segment=segment, total_segments=checkpoint.segments
        )
        if page.items:
            _write(dest, page.items, stop)
            counted(len(page.items))
        checkpoint.save(segment, page.last_key)
        if page.last_key is None:
            return
        start = page.last_key


def copy(
    src: str,
    dst: str,
    *,
    segments: int | None = None,
    page_size: int = DEFAULT_PAGE,
    checkpoint_path: str | None = None,
    resume: bool = False,
    table: str | None = None,
    stderr: TextIO,
    interactive: bool,
) -> int:
    """Copy every item of ``src`` into ``dst``; returns the number of items written.

    ``table`` names the table of a file side (default: its default table; a
    new destination file without ``table`` is a snapshot of every table).
    """
    if segments is None:
        # Two files are read and written by this one interpreter: threads only
        # contend for it (200,000 items: 1 segment 125,000 items/s, 4: 70,000).
        segments = 1 if _is_file(src) and _is_file(dst) else 4
    if not 1 <= segments <= 1000:
        raise UsageError("--segments must be between 1 and 1000")
    if table is not None and _is_dynamodb(src) and _is_dynamodb(dst):
        raise UsageError(
            "--table names a table of a file or server side; a dynamodb:// address names its own"
        )
    if table is None and not resume and _is_file(src) and _is_file(dst) and not os.path.exists(dst):
        return _snapshot_copy(src, dst, stderr)
    path = checkpoint_path or default_checkpoint(src, dst, table)
    src_id = src if table is None else f"{src} (table {table})"
    if resume:
        checkpoint = Checkpoint.load(path, src_id, dst, segments)
    else:
        checkpoint = Checkpoint(path, src_id, dst, segments)
    source = _open(src, source=True, table=None if _is_dynamodb(src) else table)
    try:
        dest = _open(
            dst, source=False, schema=source.schema, table=None if _is_dynamodb(dst) else table
        )
    except BaseException:
        source.close()
        raise
    total = source.count
    progress = Progress("copying", stderr, total=total, enabled=interactive, log_every=5.0)
    written = 0
    lock = threading.Lock()

    def counted(n: int) -> None:
        nonlocal written
        with lock:
            written += n
            progress.update(written, written)

    stop = threading.Event()
    todo = [s for s in range(checkpoint.segments) if s not in checkpoint.done]
    try:
        with ThreadPoolExecutor(max(1, len(todo)), thread_name_prefix="keystone-copy") as pool:
            futures = [
                pool.submit(
                    copy_segment, source.store, dest.store, s, checkpoint, page_size, counted, stop
                )
                for s in todo
            ]
            try:
                finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:
                stop.set()
                raise
            stop.set()
            for future in finished:
                future.result()
    finally:
        progress.close(written, written)
        dest.close()
        source.close()
    if os.path.exists(path):
        os.remove(path)
    return written


def _is_dynamodb(address: str) -> bool:
    return address.startswith("dynamodb://")


def _is_file(address: str) -> bool:
    return not _is_dynamodb(address) and not classify(address).is_server


def _snapshot_copy(src: str, dst: str, stderr: TextIO) -> int:
    """A new destination file from a source file: LMDB's consistent copy of the whole file.

    Same items, schema, indexes and stream as the source at one instant; far
    faster than writing item by item, and nothing to resume (the copy is
    written under a temporary name and renamed when complete).
    """
    temp = f"{dst}.copying"
    if os.path.exists(temp):
        os.remove(temp)
    with Database.open(src, create=False) as db:
        count = sum(int(db.table(name).stats()["items"]) for name in db.tables())
        db.backup(temp)
    os.replace(temp, dst)
    return count


def default_checkpoint(src: str, dst: str, table: str | None = None) -> str:
    """``.keystone-copy-<hash>.json`` in the working directory, one per (SRC, DST, --table)."""
    import hashlib

    which = f"{src}\n{dst}" if table is None else f"{src}\n{dst}\n{table}"
    digest = hashlib.sha256(which.encode()).hexdigest()[:12]
    return f".keystone-copy-{digest}.json"


def add_parser(verbs: Any) -> None:
    """Register ``copy`` on the CLI's sub-parsers."""
    sub = verbs.add_parser(
        "copy",
        help="copy every item from one store to another (file, server, DynamoDB)",
        description=__doc__.split("\n\n", 1)[1] + "\nexamples:\n"
        "  keystone copy app.keystone 'dynamodb://app?region=eu-west-1'\n"
        "  keystone copy 'dynamodb://app?region=eu-west-1' backup.keystone --segments 8\n"
        "  keystone copy app.keystone http://10.0.0.5:50051 --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument(
        "src", metavar="SRC", help="a file, a server (host:port, http(s)://...) or dynamodb://TABLE"
    )
    sub.add_argument(
        "dst", metavar="DST", help="a file, a server (host:port, http(s)://...) or dynamodb://TABLE"
    )
    sub.add_argument(
        "--segments",
        type=int,
        default=None,
        help="parallel scan segments (threads), default 4 (1 when both sides are files)",
    )
    sub.add_argument(
        "--page-size", type=int, default=DEFAULT_PAGE, help="items per scan page and write"
    )
    sub.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="where progress is recorded (default .keystone-copy-<hash>.json here)",
    )
    sub.add_argument(
        "--resume", action="store_true", help="continue an interrupted copy from its checkpoint"
    )
    sub.add_argument(
        "--table",
        metavar="NAME",
        help="the table of a file or server side (default: its default table; created "
        "in the destination with the source's schema if missing)",
    )


def run(args: argparse.Namespace, stderr: TextIO) -> int:
    """``keystone copy`` after parsing: copy, then say how many items."""
    if args.page_size < 1:
        raise UsageError("--page-size must be at least 1")
    started = time.perf_counter()
    interactive = is_terminal(stderr)
    count = copy(
        args.src,
        args.dst,
        segments=args.segments,
        page_size=args.page_size,
        checkpoint_path=args.checkpoint,
        resume=args.resume,
        table=args.table,
        stderr=stderr,
        interactive=interactive,
    )
    elapsed = max(time.perf_counter() - started, 1e-9)
    stderr.write(f"copied {count:,} items in {elapsed:.1f} s ({count / elapsed:,.0f} items/s)\n")
    return 0


__all__ = ["Checkpoint", "add_parser", "copy", "copy_segment", "default_checkpoint", "run"]
