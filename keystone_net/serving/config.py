"""The server's settings: one dataclass, one command-line parser, one environment.

:class:`ServerConfig` holds every setting of ``python -m keystone_net serve``.
:func:`parse` builds it from the command line and the environment: each
option ``--some-option`` may also come from ``KEYSTONE_SOME_OPTION``, and a
flag given on the command line wins over the variable. :data:`OPTIONS` is
the single table both come from, so ``serve --help`` names each option's
variable and the two can never drift apart.

Secrets (``--auth-token``) are better passed through the environment, where
other users of the machine cannot read them in the process list.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_DYNAMODB_PORT",
    "DEFAULT_METRICS_PORT",
    "DEFAULT_WORKERS",
    "ENV_PREFIX",
    "OPTIONS",
    "QUEUE_PER_WORKER",
    "ConfigError",
    "Option",
    "ServerConfig",
    "build_parser",
    "parse",
]

#: Worker threads running database calls, by default.
DEFAULT_WORKERS: Final = 32
#: Calls that may wait for a worker, per worker, by default (``--max-queue``).
QUEUE_PER_WORKER: Final = 4
#: The port of ``/metrics``, ``/health`` and ``/ready`` unless told otherwise.
DEFAULT_METRICS_PORT: Final = 9090
#: The largest request or reply message, by default (``--max-message-bytes``).
DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
#: The port of the DynamoDB endpoint unless told otherwise (DynamoDB Local's).
DEFAULT_DYNAMODB_PORT: Final = 8000
#: Every option's environment variable is this prefix + its name in upper case.
ENV_PREFIX: Final = "KEYSTONE_"

Durability = Literal["sync", "async"]
LogFormat = Literal["text", "json"]
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A setting is invalid or the settings contradict each other."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``serve`` needs; the defaults are the command line's."""

    db_path: str
    host: str = "127.0.0.1"
    port: int = 50051
    #: Threads running database calls.
    workers: int = DEFAULT_WORKERS
    #: Calls that may wait for a worker before new ones are refused
    #: (RESOURCE_EXHAUSTED "server overloaded"); ``None``: ``workers * QUEUE_PER_WORKER``.
    max_queue: int | None = None
    durability: Durability = "sync"
    #: Concurrent durable writes share one commit (``Database.open(group_commit=...)``).
    group_commit: bool = True
    #: Seconds to let calls in flight finish on SIGTERM/SIGINT.
    shutdown_timeout: float = 30.0
    #: Open connections allowed at once; 0: unlimited.
    max_connections: int = 0
    #: Seconds a connection may stay idle (no call in flight) before it is closed; 0: never.
    connection_timeout: float = 0.0
    #: Calls per second on one connection (a token bucket, bursts of one second); 0: unlimited.
    max_rps_per_connection: float = 0.0
    #: Calls per second on the whole server; 0: unlimited.
    max_rps_global: float = 0.0
    #: The largest request or reply message in bytes; 0: unlimited.
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    #: Compress replies with this gRPC encoding (gzip or deflate) for clients
    #: that accept it; ``"none"``: never. Compressed requests are always read.
    compression: str = "none"
    #: Replies smaller than this are sent uncompressed.
    compression_min_bytes: int = 1024
    #: The port of /metrics, /health and /ready; 0: off. ``None``: the default
    #: port, :data:`DEFAULT_METRICS_PORT`, on which a port already in use is a
    #: warning rather than an error.
    metrics_port: int | None = None
    #: The address of the metrics endpoint; ``None``: :attr:`host`.
    metrics_host: str | None = None
    log_level: str = "INFO"
    log_format: LogFormat = "text"
    tls_cert: str | None = None
    tls_key: str | None = None
    #: Client certificates must be signed by this CA (mutual TLS).
    tls_client_ca: str | None = None
    #: Calls must carry ``authorization: Bearer <token>``; ``None``: no authentication.
    auth_token: str | None = field(default=None, repr=False)
    #: Serve the gRPC door (on :attr:`host`:``port``).
    grpc: bool = True
    #: Serve the DynamoDB endpoint (on :attr:`dynamodb_bind`).
    dynamodb: bool = True
    #: The port of the DynamoDB endpoint; 0 picks a free one.
    dynamodb_port: int = DEFAULT_DYNAMODB_PORT
    #: The address of the DynamoDB endpoint; ``None``: :attr:`host`.
    dynamodb_host: str | None = None
    #: ``ACCESS_KEY:SECRET`` pairs, comma-separated: the DynamoDB endpoint then
    #: verifies every request's SigV4 signature; ``None``: any signature goes.
    aws_credentials: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def queue_limit(self) -> int:
        """The calls that may wait for a worker."""
        return self.workers * QUEUE_PER_WORKER if self.max_queue is None else self.max_queue

    @property
    def metrics_bind(self) -> tuple[str, int] | None:
        """``(host, port)`` of the metrics endpoint, or ``None`` when it is off."""
        port = DEFAULT_METRICS_PORT if self.metrics_port is None else self.metrics_port
        if port == 0:
            return None
        return (self.metrics_host or self.host, port)

    @property
    def dynamodb_bind(self) -> tuple[str, int] | None:
        """``(host, port)`` of the DynamoDB endpoint, or ``None`` when it is off."""
        if not self.dynamodb:
            return None
        return (self.dynamodb_host or self.host, self.dynamodb_port)

    @property
    def credentials(self) -> dict[str, str]:
        """The access keys and secrets of ``aws_credentials`` (empty: no signature checks)."""
        out: dict[str, str] = {}
        for pair in (self.aws_credentials or "").split(","):
            key, _, secret = pair.strip().partition(":")
            if key:
                out[key.strip()] = secret.strip()
        return out

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def _problems(c: ServerConfig) -> list[str]:
    out = []
    if not c.db_path:
        out.append("the database path is empty")
    for name in ("port", "metrics_port", "dynamodb_port"):
        value = getattr(c, name)
        if value is not None and not 0 <= value <= 65535:
            out.append(f"{name} must be from 0 to 65535, got {value}")
    if c.workers < 1:
        out.append(f"workers must be at least 1, got {c.workers}")
    for name in (
        "max_queue",
        "max_connections",
        "max_message_bytes",
        "shutdown_timeout",
        "connection_timeout",
        "max_rps_per_connection",
        "max_rps_global",
        "compression_min_bytes",
    ):
        value = getattr(c, name)
        if value is not None and value < 0:
            out.append(f"{name} must not be negative, got {value}")
    if c.durability not in ("sync", "async"):
        out.append(f"durability must be 'sync' or 'async', got {c.durability!r}")
    if c.compression not in ("none", "gzip", "deflate"):
        out.append(f"compression must be none, gzip or deflate, got {c.compression!r}")
    if c.log_format not in ("text", "json"):
        out.append(f"log_format must be 'text' or 'json', got {c.log_format!r}")
    if c.log_level not in _LOG_LEVELS:
        out.append(f"log_level must be one of {', '.join(_LOG_LEVELS)}, got {c.log_level!r}")
    if (c.tls_cert is None) != (c.tls_key is None):
        out.append("--tls-cert and --tls-key go together")
    if c.tls_client_ca is not None and c.tls_cert is None:
        out.append("--tls-client-ca needs --tls-cert and --tls-key")
    if c.auth_token is not None and not c.auth_token.strip():
        out.append("the auth token is empty")
    if c.aws_credentials is not None:
        pairs = [p.strip() for p in c.aws_credentials.split(",") if p.strip()]
        if not pairs or any(not k or not s for k, _, s in (p.partition(":") for p in pairs)):
            out.append("--aws-credentials takes ACCESS_KEY:SECRET pairs, comma-separated")
    return out


# --------------------------------------------------------------------------
# Options: the command line and the environment from one table
# --------------------------------------------------------------------------


def _int(text: str) -> int:
    return int(text.strip())


def _float(text: str) -> float:
    value = float(text.strip())
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def _level(text: str) -> str:
    value = text.strip().upper()
    if value not in _LOG_LEVELS:
        raise ValueError(f"not one of {', '.join(_LOG_LEVELS)}: {text!r}")
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"not one of {', '.join(choices)}: {text!r}")
        return value

    convert.__name__ = "choice"
    return convert


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean (1/0, true/false, yes/no, on/off): {text!r}")


@dataclass(frozen=True)
class Option:
    """One setting: its flags, the :class:`ServerConfig` field, its parser and help."""

    flags: tuple[str, ...]
    dest: str
    convert: Callable[[str], Any] | None  # None: a switch (store_true)
    help: str
    default: Any = None
    metavar: str | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.flags[0].lstrip("-").replace("-", "_").upper()


#: The options of the server as a whole and of its gRPC door.
_SERVER_OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        ("--db-path",),
        "db_path",
        str,
        "the database file (created if missing, in an existing directory)",
        None,
        "PATH",
    ),
    Option(("--host",), "host", str, "address to listen on", "127.0.0.1"),
    Option(("--port",), "port", _int, "port to listen on; 0 picks a free one", 50051),
    Option(("--workers",), "workers", _int, "threads running database calls", DEFAULT_WORKERS),
    Option(
        ("--max-queue",),
        "max_queue",
        _int,
        "calls that may wait for a worker; beyond, calls get RESOURCE_EXHAUSTED "
        f"'server overloaded' (default: {QUEUE_PER_WORKER} x --workers)",
        None,
        "N",
    ),
    Option(
        ("--durability",),
        "durability",
        _choice("sync", "async"),
        "sync: every write is on disk when the call returns; "
        "async: a power loss may lose the last writes",
        "sync",
        "sync|async",
    ),
    Option(
        ("--no-group-commit",),
        "no_group_commit",
        None,
        "commit every durable write on its own instead of letting concurrent "
        "writes share one commit and one fsync",
        False,
    ),
    Option(
        ("--shutdown-timeout", "--grace"),
        "shutdown_timeout",
        _float,
        "seconds to let calls in flight finish on SIGTERM/SIGINT",
        30.0,
        "SECONDS",
    ),
    Option(
        ("--max-connections",),
        "max_connections",
        _int,
        "open connections at once; the calls of one more get RESOURCE_EXHAUSTED (0: unlimited)",
        0,
        "N",
    ),
    Option(
        ("--connection-timeout",),
        "connection_timeout",
        _float,
        "seconds a connection may stay idle before the server closes it (0: never)",
        0.0,
        "SECONDS",
    ),
    Option(
        ("--max-rps-per-connection",),
        "max_rps_per_connection",
        _float,
        "calls per second on one connection, beyond which calls get "
        "RESOURCE_EXHAUSTED (0: unlimited)",
        0.0,
        "RATE",
    ),
    Option(
        ("--max-rps-global",),
        "max_rps_global",
        _float,
        "calls per second on the whole server (0: unlimited)",
        0.0,
        "RATE",
    ),
    Option(
        ("--max-message-bytes",),
        "max_message_bytes",
        _int,
        "largest request or reply message; larger ones get RESOURCE_EXHAUSTED "
        "(0: unlimited; below ~1.1 MiB, scans of large items fail)",
        DEFAULT_MAX_MESSAGE_BYTES,
        "BYTES",
    ),
    Option(
        ("--compression",),
        "compression",
        _choice("none", "gzip", "deflate"),
        "compress replies with this gRPC encoding for clients that accept it "
        "(compressed requests are always read)",
        "none",
        "none|gzip|deflate",
    ),
    Option(
        ("--compression-min-bytes",),
        "compression_min_bytes",
        _int,
        "replies smaller than this are sent uncompressed",
        1024,
        "BYTES",
    ),
    Option(
        ("--metrics-port",),
        "metrics_port",
        _int,
        f"port of /metrics, /health and /ready (0: off; default: {DEFAULT_METRICS_PORT}, "
        "where a port in use is only a warning)",
        None,
        "PORT",
    ),
    Option(
        ("--metrics-host",),
        "metrics_host",
        str,
        "address of the metrics endpoint (default: --host)",
        None,
        "HOST",
    ),
    Option(
        ("--log-level",),
        "log_level",
        _level,
        "one of " + ", ".join(_LOG_LEVELS),
        "INFO",
        "LEVEL",
    ),
    Option(
        ("--log-format",),
        "log_format",
        _choice("text", "json"),
        "text, or json: one JSON object per line",
        "text",
        "text|json",
    ),
    Option(("--tls-cert",), "tls_cert", str, "serve TLS with this certificate (PEM)", None, "FILE"),
    Option(("--tls-key",), "tls_key", str, "the private key of --tls-cert (PEM)", None, "FILE"),
    Option(
        ("--tls-client-ca",),
        "tls_client_ca",
        str,
        "require client certificates signed by this CA (mutual TLS)",
        None,
        "FILE",
    ),
    Option(
        ("--auth-token",),
        "auth_token",
        str,
        "require the metadata 'authorization: Bearer TOKEN' on every call but "
        "health checks (others get UNAUTHENTICATED); prefer the environment variable",
        None,
        "TOKEN",
    ),
)


#: The options of the DynamoDB endpoint and of which doors are open.
_DYNAMODB_OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        ("--no-grpc",),
        "no_grpc",
        None,
        "do not serve gRPC (only the DynamoDB endpoint)",
        False,
    ),
    Option(
        ("--no-dynamodb",),
        "no_dynamodb",
        None,
        "do not serve the DynamoDB endpoint (only gRPC)",
        False,
    ),
    Option(
        ("--dynamodb-port",),
        "dynamodb_port",
        _int,
        "port of the DynamoDB endpoint (DynamoDB's JSON protocol over HTTP); 0 picks a free one",
        DEFAULT_DYNAMODB_PORT,
        "PORT",
    ),
    Option(
        ("--dynamodb-host",),
        "dynamodb_host",
        str,
        "address of the DynamoDB endpoint (default: --host)",
        None,
        "HOST",
    ),
    Option(
        ("--aws-credentials",),
        "aws_credentials",
        str,
        "ACCESS_KEY:SECRET[,ACCESS_KEY:SECRET...]: the DynamoDB endpoint verifies every "
        "request's SigV4 signature with these (default: any signature is accepted); "
        "prefer the environment variable",
        None,
        "PAIRS",
    ),
)

#: Every option of ``serve``, in the order of ``--help``.
OPTIONS: Final[tuple[Option, ...]] = _SERVER_OPTIONS + _DYNAMODB_OPTIONS


def _help(option: Option) -> str:
    text = option.help
    if option.default is not None and option.convert is not None and "default:" not in text:
        text += f" (default: {option.default})"
    return f"{text} [env: {option.env}]".replace("%", "%%")


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add every option of :data:`OPTIONS` to ``parser`` (defaults resolved later)."""
    for option in OPTIONS:
        if option.convert is None:
            parser.add_argument(
                *option.flags,
                dest=option.dest,
                action="store_true",
                default=None,
                help=_help(option),
            )
            continue

        def checked(text: str, option: Option = option) -> Any:
            try:
                return option.convert(text)  # type: ignore[misc]
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None

        checked.__name__ = option.dest
        parser.add_argument(
            *option.flags,
            dest=option.dest,
            type=checked,
            default=None,
            metavar=option.metavar or option.dest.upper(),
            help=_help(option),
        )


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """``python -m keystone_net`` with its ``serve`` command.

    ``prog="keystone-server"``: the ``keystone-server`` command, which is
    ``serve`` itself, so its usage says ``keystone-server [OPTIONS]``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m keystone_net", description="KeystoneDB gRPC server."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        prog=prog,
        help="serve one database file over gRPC",
        description="Serve one database file over gRPC until SIGTERM/SIGINT. Every option "
        f"may also come from the environment variable named after it ({ENV_PREFIX}...); "
        "an option on the command line wins.",
    )
    add_options(serve)
    return parser


def config_from(
    values: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """The config of parsed ``values`` (``None``: not given), completed from ``environ``.

    Raises :class:`ConfigError` naming the variable or option at fault.
    """
    env = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for option in OPTIONS:
        value = values.get(option.dest)
        if value is None and option.env in env:
            text = env[option.env]
            try:
                value = (option.convert or _flag)(text)
            except ValueError as exc:
                raise ConfigError(f"{option.env}: {exc}") from None
        if value is None:
            value = option.default
        settings[option.dest] = value
    if settings["db_path"] is None:
        raise ConfigError(f"--db-path (or {ENV_PREFIX}DB_PATH) is required")
    settings["group_commit"] = not settings.pop("no_group_commit")
    settings["grpc"] = not settings.pop("no_grpc")
    settings["dynamodb"] = not settings.pop("no_dynamodb")
    return ServerConfig(**settings)


def parse(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    prog: str | None = None,
) -> ServerConfig:
    """The config of ``python -m keystone_net serve ARGV`` in ``environ`` (exits on errors).

    ``prog`` names the command in usage and errors (``keystone-server``).
    """
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return config_from(vars(args), environ)
    except ConfigError as exc:
        if prog is not None:
            parser.exit(2, f"usage: {prog} [OPTIONS]\n{prog}: error: {exc}\n")
        parser.error(str(exc))
