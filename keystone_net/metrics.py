"""Observability of a server: Prometheus metrics, HTTP health probes, gRPC health and reflection.

One :class:`Metrics` per served database owns:

* its own Prometheus ``CollectorRegistry`` (so several servers in one
  process never clash) with the server's metrics: ``rpc_requests_total``
  {method, status}, ``rpc_duration_seconds`` {method} (a histogram),
  ``active_connections``, ``rate_limited_requests_total`` {limit_type},
  ``blocking_queue_length``, ``database_size_bytes`` and ``database_items``
  (the last three read when scraped), plus the client library's standard
  ``process_*``, ``python_*`` and ``python_gc_*`` ones;
* a small HTTP/1.1 server on the event loop (:meth:`Metrics.start_http`)
  answering ``GET /metrics`` (the registry, in the Prometheus or OpenMetrics
  text format the scraper asks for), ``GET /health`` (200 while the process
  runs: a liveness probe) and ``GET /ready`` (200 only after
  :meth:`Metrics.set_ready` ``(True)``: a readiness probe);
* the gRPC services :meth:`Metrics.grpc_services` returns for the server to
  serve beside ``keystone.KeystoneDB``: ``grpc.health.v1.Health`` (the
  overall status ``""`` and ``keystone.KeystoneDB`` are SERVING exactly when
  ready) and server reflection (v1 and v1alpha), which describes the
  protocol from ``keystone_net/_proto/keystone.binpb``, the descriptor set
  ``make proto`` writes, so ``grpcurl`` works without the ``.proto`` file.

The server reports what happens through :meth:`Metrics.observe`,
:meth:`Metrics.connection_opened`/:meth:`Metrics.connection_closed` and
:meth:`Metrics.rate_limited`; all of them are cheap and safe from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from keystone.database import Database

__all__ = ["DURATION_BUCKETS", "KEYSTONE_SERVICE", "Metrics"]

logger = logging.getLogger(__name__)

#: The gRPC service the health service reports on (besides the overall status "").
KEYSTONE_SERVICE: Final = "keystone.KeystoneDB"
#: Buckets of ``rpc_duration_seconds``: a get takes tens of microseconds, a big scan seconds.
DURATION_BUCKETS: Final = (
    *(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
    *(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

_DESCRIPTOR_SET: Final = "keystone.binpb"  # in keystone_net._proto, written by `make proto`
_MAX_HEAD: Final = 16 * 1024  # request line and headers
_MAX_CONNECTIONS: Final = 64
_READ_TIMEOUT: Final = 30.0  # seconds to wait for a request (also the keep-alive idle time)
_LINGER: Final = 2.0  # seconds to drain a client's input before closing its connection
_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TEXT: Final = "text/plain; charset=utf-8"


class Metrics:
    """The metrics, probes and gRPC health/reflection services of one server over ``db``.

    ``db`` is read (``db.stats()``) only when scraped; pass ``None`` to leave
    out the database gauges. Start the HTTP side with :meth:`start_http`;
    until :meth:`set_ready` ``(True)`` the server reports itself not ready.
    """

    def __init__(self, db: Database | None) -> None:
        self._db = db
        self._ready = False
        self._queue_length: Callable[[], int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._health_status: Any = None  # grpclib ServiceStatus, made by grpc_services()
        self._grpc_services: list[Any] | None = None
        self._http: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

        registry = CollectorRegistry(auto_describe=True)
        self.registry: Final = registry
        self._requests = Counter(
            "rpc_requests",
            "gRPC calls finished, by method and status",
            ["method", "status"],
            registry=registry,
        )
        self._duration = Histogram(
            "rpc_duration_seconds",
            "Time to handle a gRPC call, by method",
            ["method"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._connections_gauge = Gauge(
            "active_connections", "Open client connections to the gRPC server", registry=registry
        )
        self._rate_limited = Counter(
            "rate_limited_requests",
            "Calls refused by a limit, by limit type",
            ["limit_type"],
            registry=registry,
        )
        registry.register(_LiveGauges(self))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

    # -- what the server reports ---------------------------------------------------

    def observe(self, method: str, status: str, seconds: float) -> None:
        """Count one finished call of ``method`` (e.g. ``"Put"``) with ``status`` (e.g. ``"OK"``)."""
        self._requests.labels(method, status).inc()
        self._duration.labels(method).observe(seconds)

    def connection_opened(self) -> None:
        """One more client connection is open."""
        self._connections_gauge.inc()

    def connection_closed(self) -> None:
        """One client connection closed."""
        self._connections_gauge.dec()

    def rate_limited(self, limit_type: str) -> None:
        """A call was refused by the limit ``limit_type`` (e.g. ``"requests_per_second"``)."""
        self._rate_limited.labels(limit_type).inc()

    def set_queue_length(self, fn: Callable[[], int]) -> None:
        """Report ``fn()`` as ``blocking_queue_length`` when scraped.

        ``fn`` is called in a worker thread at scrape time: it must be cheap
        and safe to call from any thread (e.g. read one counter).
        """
        self._queue_length = fn

    # -- readiness -------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the server says it takes calls (see :meth:`set_ready`)."""
        return self._ready

    def set_ready(self, ready: bool) -> None:
        """Mark the server ready (``/ready`` 200, gRPC health SERVING) or not (503, NOT_SERVING).

        Call it with ``True`` once the gRPC server listens and with ``False``
        as soon as it starts to drain.
        """
        self._ready = bool(ready)
        status = self._health_status
        if status is None:
            return
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or loop.is_closed():
            status.set(self._ready)
        else:  # the watchers' events belong to the server's loop
            loop.call_soon_threadsafe(status.set, self._ready)

    # -- gRPC health and reflection --------------------------------------------------

    def grpc_services(self) -> list[Any]:
        """The ``grpc.health.v1.Health`` and server reflection services, for ``grpclib.server.Server``.

        Every call returns the same service objects.
        """
        if self._grpc_services is None:
            self._remember_loop()
            self._grpc_services = _make_grpc_services(self)
        return list(self._grpc_services)

    def _remember_loop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    # -- the HTTP endpoint -----------------------------------------------------------

    @property
    def http_port(self) -> int | None:
        """The port the HTTP endpoint listens on, or ``None`` when it is not running."""
        if self._http is None or not self._http.sockets:
            return None
        return int(self._http.sockets[0].getsockname()[1])

    async def start_http(self, host: str, port: int) -> int:
        """Serve ``/metrics``, ``/health`` and ``/ready`` on ``host:port``; returns the bound port.

        ``port=0`` picks a free port. Raises ``OSError`` if the address
        cannot be bound and ``RuntimeError`` if the endpoint already runs.
        """
        if self._http is not None:
            raise RuntimeError("the metrics HTTP endpoint is already running")
        self._remember_loop()
        sock = _listen(host, port)
        try:
            self._http = await asyncio.start_server(
                self._serve_connection, sock=sock, limit=_MAX_HEAD
            )
        except BaseException:
            sock.close()
            raise
        bound = int(sock.getsockname()[1])
        logger.debug("metrics HTTP endpoint on %s:%d", host, bound)
        return bound

    async def stop_http(self) -> None:
        """Stop the HTTP endpoint and close its connections (no-op when it is not running)."""
        server, self._http = self._http, None
        if server is None:
            return
        server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > _MAX_CONNECTIONS:
                await _respond(writer, 503, b"too many connections\n", keep_alive=False)
            else:
                while await self._serve_request(reader, writer):
                    pass
            await _linger(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away or went quiet
        except asyncio.CancelledError:
            if self._http is not None:  # not stop_http(): a real cancellation
                raise
        except Exception:
            logger.exception("metrics HTTP endpoint: unexpected error")
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; whether to wait for another on this connection."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                await _respond(writer, 400, b"incomplete request\n", keep_alive=False)
            return False
        except asyncio.LimitOverrunError:
            await _respond(writer, 431, b"request head too large\n", keep_alive=False)
            return False
        request = _parse_head(head)
        if request is None:
            await _respond(writer, 400, b"malformed request\n", keep_alive=False)
            return False
        method, target, headers, keep_alive = request
        if headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in headers:
            keep_alive = False  # a body we will not read: this connection cannot go on
        if method not in ("GET", "HEAD"):
            await _respond(
                writer,
                405,
                b"only GET and HEAD\n",
                keep_alive=False,
                extra=(("Allow", "GET, HEAD"),),
            )
            return False
        status, body, content_type = await self._route(target.split("?", 1)[0], headers)
        await _respond(
            writer,
            status,
            body,
            content_type=content_type,
            keep_alive=keep_alive,
            head=method == "HEAD",
        )
        return keep_alive

    async def _route(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
        if path == "/metrics":
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            try:
                # In a thread: reading the database waits if the map is being resized.
                body = await asyncio.to_thread(encoder, self.registry)
            except Exception:
                logger.exception("metrics HTTP endpoint: could not collect the metrics")
                return 500, b"could not collect the metrics\n", _TEXT
            return 200, body, content_type
        if path == "/health":
            return 200, b"ok\n", _TEXT
        if path == "/ready":
            if self._ready:
                return 200, b"ready\n", _TEXT
            return 503, b"not ready\n", _TEXT
        return 404, b"not found: try /metrics, /health or /ready\n", _TEXT

    # -- what a scrape reads -----------------------------------------------------------

    def _live(self) -> Iterator[Metric]:
        queue = GaugeMetricFamily(
            "blocking_queue_length", "Database calls waiting for a worker thread"
        )
        fn = self._queue_length
        if fn is not None:
            try:
                queue.add_metric([], float(fn()))
            except Exception as exc:
                logger.debug("blocking_queue_length: %s", exc)
        yield queue
        size = GaugeMetricFamily("database_size_bytes", "Size of the database file in bytes")
        items = GaugeMetricFamily("database_items", "Items in the database")
        if self._db is not None:
            try:
                stats = self._db.stats()
            except Exception as exc:  # closed while shutting down, ...
                logger.debug("database gauges: %s", exc)
            else:
                size.add_metric([], float(stats["file_bytes"]))
                items.add_metric([], float(stats["items"]))
        yield size
        yield items


class _LiveGauges(Collector):
    """The gauges read when scraped (the queue length and the database's size and items)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics._live()

    def describe(self) -> list[Metric]:
        return [
            GaugeMetricFamily("blocking_queue_length", ""),
            GaugeMetricFamily("database_size_bytes", ""),
            GaugeMetricFamily("database_items", ""),
        ]


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------


def _listen(host: str, port: int) -> socket.socket:
    """One listening socket (``SO_REUSEADDR``), so ``port=0`` has one answer."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(32)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str], bool] | None:
    """Method, target, headers (lower-case names) and keep-alive of a request head; None if malformed."""
    if len(head) > _MAX_HEAD:
        return None
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1") or not method.isalpha() or not target:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers[name.lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.1":
        keep_alive = "close" not in connection
    else:
        keep_alive = "keep-alive" in connection
    return method, target, headers, keep_alive


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then read what the client still sends (briefly) before closing.

    Closing a socket with unread input makes the kernel reset the connection,
    and the reset can overtake the response we just sent (a 405 whose body we
    did not read, a 503 to a request we never looked at).
    """
    if writer.is_closing() or not writer.can_write_eof():
        return
    writer.write_eof()
    deadline = asyncio.get_running_loop().time() + _LINGER
    async with asyncio.timeout_at(deadline):
        while await reader.read(65536):
            pass


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    *,
    content_type: str = _TEXT,
    keep_alive: bool,
    head: bool = False,
    extra: tuple[tuple[str, str], ...] = (),
) -> None:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{name}: {value}" for name, value in extra),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if not head:
        writer.write(body)
    await writer.drain()


# --------------------------------------------------------------------------
# gRPC health and reflection
# --------------------------------------------------------------------------


class _Named:
    """Stands for a service by name where grpclib wants a service object."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __mapping__(self) -> dict[str, Any]:
        return {f"/{self._name}/": None}


_pool_lock = threading.Lock()
_pool: Any = None


def _descriptor_pool() -> Any:
    """A protobuf DescriptorPool of keystone.proto and the health and reflection protocols.

    Its own pool, not protobuf's default one, so nothing else in the process
    that registers a ``keystone.proto`` can clash with it.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            from google.protobuf import (  # type: ignore[import-untyped]
                descriptor_pb2,
                descriptor_pool,
            )
            from grpclib.health.v1 import health_pb2
            from grpclib.reflection.v1 import reflection_pb2
            from grpclib.reflection.v1alpha import reflection_pb2 as reflection_v1alpha_pb2

            pool = descriptor_pool.DescriptorPool()
            for module in (health_pb2, reflection_pb2, reflection_v1alpha_pb2):
                pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
            data = importlib.resources.files("keystone_net._proto").joinpath(_DESCRIPTOR_SET)
            files = descriptor_pb2.FileDescriptorSet.FromString(data.read_bytes())
            for file in files.file:
                pool.AddSerializedFile(file.SerializeToString())
            _pool = pool
        return _pool


def _make_grpc_services(metrics: Metrics) -> list[Any]:
    from grpclib.health.check import ServiceStatus
    from grpclib.health.service import OVERALL, Health
    from grpclib.reflection.service import ServerReflection

    status = ServiceStatus()
    status.set(metrics.ready)
    metrics._health_status = status
    health = Health({_Named(KEYSTONE_SERVICE): [status], OVERALL: [status]})
    # extend() appends the v1 and v1alpha reflection services listing the services given.
    services = ServerReflection.extend([_Named(KEYSTONE_SERVICE), health], pool=_descriptor_pool())
    return services[1:]
