"""Running a gRPC server of one service: connections, the call gate, metrics, TLS, draining.

:func:`run` serves a grpclib service (:class:`keystone_net.grpc.server.KeystoneService`
in ``python -m keystone_net serve``) the way :class:`keystone_net.serving.config.ServerConfig`
says, beside the health and reflection services of ``keystone_net.serving.metrics``:

* every connection is tracked by a :class:`keystone_net.serving.limits.ConnectionTable`
  (TCP_NODELAY and keepalive, the connection limit, per-connection rate,
  idle timeout);
* every call passes through a :class:`keystone_net.grpc.gate.CallGate` (auth
  token, limits, trace id, request log, metrics);
* messages are bounded by :class:`keystone_net.serving.limits.SizeLimitedCodec`, and
  compressed ones (gzip, deflate) are read and, with ``--compression``,
  written (``keystone_net.grpc.compression``);
* the metrics endpoint (/metrics, /health, /ready) runs on its own port;
  the server is ready only once its port listens;
* on ``stop`` it drains: not ready, no new connections, new calls refused
  (UNAVAILABLE), calls in flight finish (up to ``shutdown_timeout``), then the
  connections close once quiet.

:func:`keystone_net.grpc.server.serve` opens the database, builds the service and
handles the signals around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import logging
import ssl
from collections.abc import Callable
from typing import Any, Protocol

from grpclib.encoding.proto import ProtoStatusDetailsCodec
from grpclib.server import Server

import keystone
from keystone_net.grpc import compression as compressing
from keystone_net.grpc.gate import CallGate, MetricsSink, NoMetrics, take_deadline
from keystone_net.serving.config import ConfigError, ServerConfig
from keystone_net.serving.limits import ConnectionTable, SizeLimitedCodec
from keystone_net.serving.sockets import listen_socket

__all__ = ["Door", "DoorFactory", "is_loopback", "metrics_of", "run", "tls_context"]

logger = logging.getLogger(__name__)


class _Server(Server):
    """grpclib's server, with every connection tracked by a :class:`ConnectionTable`,
    every request's message compression negotiated (``keystone_net.grpc.compression``)
    and its deadline kept by the call gate (:func:`keystone_net.grpc.gate.take_deadline`)."""

    def __init__(
        self,
        handlers: list[Any],
        connections: ConnectionTable,
        codec: Any,
        compression: compressing.Policy,
    ) -> None:
        # (grpclib sets a status details codec only with its default codec)
        super().__init__(handlers, codec=codec, status_details_codec=ProtoStatusDetailsCodec())
        self._connections = connections
        self._compression = compression
        compressing.install()

    def _protocol_factory(self) -> asyncio.Protocol:  # type: ignore[override]
        protocol = super()._protocol_factory()
        handler = protocol.handler
        accept, policy = handler.accept, self._compression

        def accept_request(stream: Any, headers: Any, release_stream: Any) -> None:
            compressing.accept_request(stream, headers, policy)
            accept(stream, take_deadline(stream, headers), release_stream)

        handler.accept = accept_request  # type: ignore[method-assign]
        return self._connections.track(protocol)

    def stop_listening(self) -> None:
        """Accept no new connection; the open ones stay, so their calls can end.

        (grpclib only offers ``close()``, which also cancels the calls.)
        """
        listener = getattr(self, "_server", None)
        if listener is not None:
            listener.close()


def is_loopback(host: str) -> bool:
    """Whether ``host`` can only be reached from this machine (``127.0.0.1``, ``::1``, localhost)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name or a wildcard: other machines may reach it


class Door(Protocol):
    """Another front door served beside gRPC (the DynamoDB endpoint), sharing its limits."""

    @property
    def url(self) -> str: ...

    async def start(self) -> None: ...
    def stop_listening(self) -> None: ...
    async def stop(self) -> None: ...


#: Builds the other doors from the server's connection table and call gate.
DoorFactory = Callable[[ConnectionTable, CallGate], list[Door]]


def metrics_of(db: keystone.Database) -> MetricsSink:
    """``keystone_net.serving.metrics.Metrics(db)``, or a sink that keeps nothing if it is missing."""
    try:
        module = importlib.import_module("keystone_net.serving.metrics")
    except ImportError as exc:
        if exc.name != "keystone_net.serving.metrics":
            raise
        logger.warning(
            "keystone_net.serving.metrics is not installed: no metrics, health or reflection"
        )
        return NoMetrics()
    sink: MetricsSink = module.Metrics(db)
    return sink


def tls_context(config: ServerConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    try:
        tls = importlib.import_module("keystone_net.serving.tls")
    except ImportError as exc:
        raise ConfigError("TLS needs keystone_net.serving.tls, which is not installed") from exc
    context: ssl.SSLContext = tls.server_context(
        config.tls_cert, config.tls_key, config.tls_client_ca
    )
    return context


async def _start_metrics(metrics: MetricsSink, config: ServerConfig) -> bool:
    """Serve /metrics, /health, /ready if asked; ``True`` if it runs.

    A port in use is an error when the port was chosen, a warning on the default one.
    """
    bind = config.metrics_bind
    if bind is None:
        return False
    host, port = bind
    try:
        real_port = await metrics.start_http(host, port)
    except OSError as exc:
        if config.metrics_port is not None:
            raise OSError(
                exc.errno, f"metrics endpoint {host}:{port}: {exc.strerror or exc}"
            ) from exc
        logger.warning(
            "metrics endpoint not started on %s:%d: %s (choose one with --metrics-port)",
            host,
            port,
            exc.strerror or exc,
        )
        return False
    logger.info("metrics, /health and /ready on http://%s:%d", host, real_port)
    return True


async def run(
    service: Any,
    config: ServerConfig,
    metrics: MetricsSink,
    ssl_context: ssl.SSLContext | None,
    stop: asyncio.Event,
    force: asyncio.Event,
    on_listening: Callable[[int], None] | None = None,
    doors: DoorFactory | None = None,
) -> None:
    """Serve ``service`` (and ``metrics``' services) as ``config`` says until ``stop``, then drain.

    ``force`` cuts the drain short. Logs ``listening on HOST:PORT`` once the
    port takes calls (``on_listening(port)`` is told too). ``doors`` makes
    the other front doors (the DynamoDB endpoint), which share the
    connection table and call gate, start before the gRPC port and drain
    with it; with ``config.grpc`` off only they serve.
    """
    metrics.set_ready(False)
    connections = ConnectionTable(
        max_connections=config.max_connections,
        idle_timeout=config.connection_timeout,
        rps_per_connection=config.max_rps_per_connection,
        on_open=metrics.connection_opened,
        on_close=metrics.connection_closed,
    )
    gate = CallGate(
        connections, metrics, auth_token=config.auth_token, rps_global=config.max_rps_global
    )
    codec = SizeLimitedCodec(config.max_message_bytes) if config.max_message_bytes else None
    compression = compressing.Policy(
        None if config.compression == "none" else config.compression,
        config.compression_min_bytes,
        config.max_message_bytes or compressing.UNLIMITED,
    )
    server = _Server(
        gate.wrap([service, *metrics.grpc_services()]), connections, codec, compression
    )
    http = await _start_metrics(metrics, config)
    others = doors(connections, gate) if doors is not None else []
    started: list[Door] = []
    try:
        for door in others:
            await door.start()
            started.append(door)
            logger.info("DynamoDB endpoint on %s", door.url)
        sock = listen_socket(config.host, config.port) if config.grpc else None
        if sock is not None:
            await server.start(sock=sock, ssl=ssl_context)
        reaper = asyncio.ensure_future(connections.reap())
        try:
            real_port = sock.getsockname()[1] if sock is not None else 0
            metrics.set_ready(True)
            loop_kind = type(asyncio.get_running_loop()).__module__.partition(".")[0]
            if sock is not None:
                logger.info(
                    "listening on %s:%d (database %s, durability %s, %s loop, %d workers%s%s), "
                    "keystone %s",
                    config.host,
                    real_port,
                    config.db_path,
                    config.durability,
                    loop_kind,  # uvloop, asyncio
                    config.workers,
                    ", TLS" if ssl_context is not None else "",
                    ", token required" if config.auth_token is not None else "",
                    keystone.__version__,
                )
            else:
                logger.info(
                    "gRPC is off (--no-grpc); serving database %s, durability %s, %s loop, "
                    "%d workers, keystone %s",
                    config.db_path,
                    config.durability,
                    loop_kind,
                    config.workers,
                    keystone.__version__,
                )
            if (
                sock is not None
                and not is_loopback(config.host)
                and ssl_context is None
                and not config.auth_token
            ):
                logger.warning(
                    "listening on %s with neither --auth-token nor TLS: anyone who can reach "
                    "port %d can read and change the database (see docs/deployment.md)",
                    config.host,
                    real_port,
                )
            if on_listening is not None:
                on_listening(real_port)
            await stop.wait()
            metrics.set_ready(False)
            for door in started:
                door.stop_listening()
            await _shut_down(
                server, gate, connections, force, config.shutdown_timeout, sock is not None
            )
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
    finally:
        for door in started:
            await door.stop()
        if http:
            await metrics.stop_http()


async def _shut_down(
    server: _Server,
    gate: CallGate,
    connections: ConnectionTable,
    force: asyncio.Event,
    timeout: float,
    grpc: bool = True,
) -> None:
    """Let the calls in flight finish (until ``timeout`` or ``force``), then stop the server."""
    if grpc:
        server.stop_listening()
    waiting = asyncio.ensure_future(gate.drain())
    forced = asyncio.ensure_future(force.wait())
    done, _ = await asyncio.wait(
        {waiting, forced}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if waiting not in done:
        logger.warning("%d calls still in flight; cancelling them", gate.in_flight)
    for task in (waiting, forced):
        task.cancel()
    await connections.close_all()  # GOAWAY: the clients reconnect elsewhere
    if not grpc:
        return
    server.close()  # cancels what is left
    try:
        await asyncio.wait_for(server.wait_closed(), timeout=max(timeout, 1.0))
    except TimeoutError:
        logger.warning("connections did not close in time")
