"""``python -m keystone_net serve``: run the KeystoneDB gRPC server.

    python -m keystone_net serve --db-path ./data/keystone.db [--host 127.0.0.1]
                                 [--port 50051] [--workers 32]

The database file is created if missing. The server logs
``listening on HOST:PORT`` to stderr once it accepts calls (``--port 0``
picks a free port and logs the real one), and on SIGTERM or SIGINT stops
accepting calls, finishes the ones in flight, closes the database and exits
with status 0. The ``keystone-server`` command is the same program.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from keystone.errors import KeystoneError
from keystone_net.server import DEFAULT_WORKERS, serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m keystone_net", description="KeystoneDB gRPC server."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "serve",
        help="serve one database file over gRPC",
        description="Serve one database file over gRPC until SIGTERM/SIGINT.",
    )
    run.add_argument("--db-path", required=True, help="the database file (created if missing)")
    run.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    run.add_argument(
        "--port",
        type=int,
        default=50051,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    run.add_argument(
        "--workers",
        type=_positive,
        default=DEFAULT_WORKERS,
        help="threads running database calls (default: %(default)s)",
    )
    run.add_argument(
        "--durability",
        choices=("sync", "async"),
        default="sync",
        help="sync: every write is on disk when the call returns (default); "
        "async: a power loss may lose the last writes",
    )
    run.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds to let calls in flight finish on shutdown (default: %(default)s)",
    )
    run.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="default: %(default)s",
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(
            serve(
                args.db_path,
                args.host,
                args.port,
                workers=args.workers,
                durability=args.durability,
                grace=args.grace,
            )
        )
    except (OSError, KeystoneError) as exc:  # port taken, file not writable or corrupt, ...
        logging.getLogger("keystone_net").error("cannot serve: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
