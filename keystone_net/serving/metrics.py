"""Observability of a server: Prometheus metrics, HTTP health probes, gRPC health and reflection.

One :class:`Metrics` per served database owns:

* its own Prometheus ``CollectorRegistry`` (so several servers in one
  process never clash) with the server's metrics: ``rpc_requests_total``
  {method, status}, ``rpc_duration_seconds`` {method} (a histogram),
  ``active_connections``, ``rate_limited_requests_total`` {limit_type},
  ``blocking_queue_length``, ``database_size_bytes`` and ``database_items``
  (the last three read when scraped), plus the client library's standard
  ``process_*``, ``python_*`` and ``python_gc_*`` ones;
* an HTTP endpoint on the event loop (:meth:`Metrics.start_http`, see
  :mod:`keystone_net.serving.http`: uvicorn + httptools, the stack of the DynamoDB
  endpoint) answering ``GET /metrics`` (the registry, in the Prometheus or OpenMetrics
  text format the scraper asks for), ``GET /health`` (200 while the process
  runs: a liveness probe) and ``GET /ready`` (200 only after
  :meth:`Metrics.set_ready` ``(True)``: a readiness probe);
* the gRPC services :meth:`Metrics.grpc_services` returns for the server to
  serve beside ``keystone.KeystoneDB``: ``grpc.health.v1.Health`` (the
  overall status ``""`` and ``keystone.KeystoneDB`` are SERVING exactly when
  ready) and server reflection (v1 and v1alpha), so ``grpcurl`` works
  without the ``.proto`` file (see :mod:`keystone_net.grpc.services`).

The server reports what happens through :meth:`Metrics.observe` (on the
event loop, where every call ends), :meth:`Metrics.connection_opened` /
:meth:`Metrics.connection_closed` and :meth:`Metrics.rate_limited` (cheap and
safe from any thread).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from keystone_net.grpc.services import KEYSTONE_SERVICE, make_services
from keystone_net.serving.http import TEXT, HttpEndpoint, Response

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from keystone.database import Database

__all__ = ["DURATION_BUCKETS", "KEYSTONE_SERVICE", "Metrics"]

logger = logging.getLogger(__name__)

#: Buckets of ``rpc_duration_seconds``: a get takes tens of microseconds, a big scan seconds.
DURATION_BUCKETS: Final = (
    *(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
    *(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


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
        self._health: Any = None  # the health switch, made with the services
        self._grpc_services: list[Any] | None = None
        self._http = HttpEndpoint(self._route)

        registry = CollectorRegistry(auto_describe=True)
        self.registry: Final = registry
        self._calls = _CallCounts()
        registry.register(self._calls)
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
        self._calls.observe(method, status, seconds)

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
        status = self._health
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
            self._health, self._grpc_services = make_services(self._ready)
        return list(self._grpc_services)

    def _remember_loop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()

    # -- the HTTP endpoint -----------------------------------------------------------

    @property
    def http_port(self) -> int | None:
        """The port the HTTP endpoint listens on, or ``None`` when it is not running."""
        return self._http.port

    async def start_http(self, host: str, port: int) -> int:
        """Serve ``/metrics``, ``/health`` and ``/ready`` on ``host:port``; returns the bound port.

        ``port=0`` picks a free port. Raises ``OSError`` if the address
        cannot be bound and ``RuntimeError`` if the endpoint already runs.
        """
        self._remember_loop()
        bound = await self._http.start(host, port)
        logger.debug("metrics HTTP endpoint on %s:%d", host, bound)
        return bound

    async def stop_http(self) -> None:
        """Stop the HTTP endpoint and close its connections (no-op when it is not running)."""
        await self._http.stop()

    async def _route(self, path: str, headers: Mapping[str, str]) -> Response:
        if path == "/metrics":
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            # In a thread: reading the database waits while its map is being resized.
            return 200, await asyncio.to_thread(encoder, self.registry), content_type
        if path == "/health":
            return 200, b"ok\n", TEXT
        if path == "/ready":
            if self._ready:
                return 200, b"ready\n", TEXT
            return 503, b"not ready\n", TEXT
        return 404, b"not found: try /metrics, /health or /ready\n", TEXT

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


class _CallCounts(Collector):
    """``rpc_requests_total`` and ``rpc_duration_seconds``, counted without locks.

    Every call of both doors ends on the event loop thread, which alone
    counts (plain integers: no lock, no ``labels()`` lookup; a
    ``prometheus_client`` counter and histogram took three lock round trips
    and about a tenth of a small GetItem's CPU). A scrape (in a worker
    thread) reads copies: a call counted meanwhile shows in the next one.
    The exposition is the one ``Counter``/``Histogram`` gave, ``_created``
    samples included.
    """

    def __init__(self) -> None:
        # (method, status) -> [count, created]
        self._requests: dict[tuple[str, str], list[float]] = {}
        # method -> [calls per bucket..., calls over the last bucket, sum, created]
        self._durations: dict[str, list[float]] = {}
        self._bounds = DURATION_BUCKETS
        self._n = len(DURATION_BUCKETS)
        self._les = (*map(floatToGoString, DURATION_BUCKETS), "+Inf")

    def observe(self, method: str, status: str, seconds: float) -> None:
        counted = self._requests.get((method, status))
        if counted is None:
            counted = self._requests[(method, status)] = [0, time.time()]
        counted[0] += 1
        spread = self._durations.get(method)
        n = self._n
        if spread is None:
            spread = self._durations[method] = [0] * (n + 1) + [0.0, time.time()]
        spread[bisect.bisect_left(self._bounds, seconds)] += 1
        spread[n + 1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "rpc_requests",
            "Calls finished (gRPC and DynamoDB), by method and status",
            labels=["method", "status"],
        )
        for (method, status), (count, created) in list(self._requests.items()):
            requests.add_metric([method, status], count, created=created)
        yield requests
        durations = HistogramMetricFamily(
            "rpc_duration_seconds",
            "Time to handle a call (gRPC or DynamoDB), by method",
            labels=["method"],
        )
        n = self._n
        for method, spread in list(self._durations.items()):
            counts = list(spread)  # (one copy: the buckets and the sum agree)
            buckets = []
            total = 0.0
            for bound, count in zip(self._les, counts[: n + 1], strict=True):
                total += count
                buckets.append((bound, total))
            durations.add_metric([method], buckets, counts[n + 1])
            durations.samples.append(
                Sample("rpc_duration_seconds_created", {"method": method}, counts[n + 2])
            )
        yield durations

    def describe(self) -> list[Metric]:
        return [
            CounterMetricFamily("rpc_requests", "", labels=["method", "status"]),
            HistogramMetricFamily("rpc_duration_seconds", "", labels=["method"]),
        ]


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
