"""``python -m keystone_net serve``: run the KeystoneDB gRPC server.

    python -m keystone_net serve --db-path ./data/keystone.db [--host 127.0.0.1]
                                 [--port 50051] [--workers 32] [...]

Every option may also come from the environment (``--max-connections`` from
``KEYSTONE_MAX_CONNECTIONS``, ...; the command line wins); ``serve --help``
lists them all (the table is :data:`keystone_net.serving.config.OPTIONS`).

Beside gRPC, the same process answers DynamoDB's own JSON protocol on
``--dynamodb-port`` (8000 by default; ``keystone_net.dynamodb``), over the same
database, limits, metrics, logs and TLS; ``--no-grpc`` and ``--no-dynamodb``
turn either door off. The event loop is uvloop's when it is installed
(``KEYSTONE_EVENT_LOOP``; ``keystone_net.serving.eventloop``).

The database file is created if missing, in an existing directory (the
rule of ``keystone.Database.open``: no directory is created). The server logs
``listening on HOST:PORT`` to stderr once it accepts calls (``--port 0``
picks a free port and logs the real one), and on SIGTERM or SIGINT stops
accepting calls, finishes the ones in flight, closes the database and exits
with status 0. It exits with status 1 when it cannot serve (port in use,
database unreadable, bad TLS files), 2 on invalid options. The
``keystone-server`` command is ``serve`` itself (``keystone-server --db-path P``;
a leading ``serve`` is accepted too).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence

from keystone.errors import KeystoneError
from keystone_net.grpc.server import serve
from keystone_net.serving import config as settings
from keystone_net.serving import eventloop, logs


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    prog: str | None = None,
) -> int:
    """Run the command line; returns the exit status. ``prog`` names the command in usage."""
    config = settings.parse(argv, environ, prog=prog)
    setup = logs.configure(config.log_level, config.log_format)
    try:
        eventloop.run(serve(config=config))  # (uvloop where installed: serving/eventloop.py)
    except (OSError, KeystoneError, settings.ConfigError, eventloop.LoopError) as exc:
        # port taken, file not writable or corrupt, TLS files unreadable, ...
        cause = f"{type(exc).__name__}: {exc}" if isinstance(exc, KeystoneError) else exc
        logging.getLogger("keystone_net").error("cannot serve: %s", cause)
        return 1
    finally:
        setup.close()
    return 0


def server_main() -> int:
    """``keystone-server [OPTIONS]``: the same as ``python -m keystone_net serve [OPTIONS]``."""
    args = sys.argv[1:]
    if args[:1] != ["serve"]:
        args = ["serve", *args]
    return main(args, prog="keystone-server")


if __name__ == "__main__":
    sys.exit(main())
