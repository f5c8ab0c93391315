"""Admission control: which connections and calls the server takes on, and how many wait.

* :class:`TokenBucket`: a rate limit (calls per second, bursts of one second).
* :class:`ConnectionTable`: the open connections. It wraps grpclib's
  per-connection protocol, so it sees every connection open and close; sets
  TCP_NODELAY and TCP keepalive on the accepted socket; admits at most
  ``max_connections`` at once (the calls of the connections beyond get
  :class:`Refused`, and such a connection is closed after
  :data:`OVER_LIMIT_LINGER` seconds without calls); keeps a rate bucket per
  connection; and closes connections idle for longer than ``idle_timeout``
  (an HTTP/2 GOAWAY, then the socket), never within :data:`QUIET` seconds
  of a call.
* :class:`WorkerPool`: the threads that run database calls, with a bounded
  queue in front: when every worker is busy and ``max_queue`` calls already
  wait, a new call is refused at once ("server overloaded") instead of
  piling up in memory. Short calls go to the threads in batches
  (:class:`Batches`).
* :class:`SizeLimitedCodec`: grpclib's protobuf codec refusing messages
  larger than ``max_bytes``.

Every refusal is a :class:`Refused`, a ``keystone.ResourceExhausted`` (so
the client raises that) whose message says which limit, and whose
``limit_type`` names it for the metrics: ``"connections"``,
``"per_connection"``, ``"global"`` or ``"overload"``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import socket
import time
from collections.abc import Callable, Hashable
from typing import Any, Final, TypeVar

import anyio
import anyio.to_thread
from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError

from keystone.errors import ResourceExhausted

__all__ = [
    "OVER_LIMIT_LINGER",
    "QUIET",
    "Batches",
    "Connection",
    "ConnectionTable",
    "Refused",
    "SizeLimitedCodec",
    "TokenBucket",
    "WorkerPool",
]

logger = logging.getLogger(__name__)

#: Seconds an over-limit connection stays open without calls before it is closed.
OVER_LIMIT_LINGER: Final = 1.0
#: The server closes a connection only after this many seconds without a call
#: (see :meth:`ConnectionTable.close_all`), whatever the idle timeout.
QUIET: Final = 0.25
#: TCP keepalive: first probe after this many idle seconds, then every
#: ``_KEEPALIVE_INTERVAL`` seconds, giving up after ``_KEEPALIVE_PROBES``.
_KEEPALIVE_IDLE: Final = 60
_KEEPALIVE_INTERVAL: Final = 10
_KEEPALIVE_PROBES: Final = 6

T = TypeVar("T")


class Refused(ResourceExhausted):
    """A call refused by a limit; ``limit_type`` names the limit for the metrics."""

    def __init__(self, message: str, limit_type: str) -> None:
        super().__init__(message)
        self.limit_type = limit_type


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` (default: one second's worth) saved up."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float | None = None, now: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.burst = max(1.0, rate) if burst is None else burst
        self._tokens = self.burst
        self._stamp = time.monotonic() if now is None else now

    def take(self, now: float) -> bool:
        """Take one token at time ``now`` (``time.monotonic()``); ``False`` if there is none."""
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False


# --------------------------------------------------------------------------
# Connections
# --------------------------------------------------------------------------


class Connection:
    """One open connection, as the table and the call gate see it."""

    __slots__ = ("_protocol", "active", "admitted", "bucket", "label", "last_active", "peer")

    def __init__(self, protocol: _TrackedProtocol, peer: Any, admitted: bool) -> None:
        self._protocol = protocol
        self.peer = peer
        self.label = peer_label(peer)
        self.admitted = admitted
        self.active = 0  # calls in flight
        self.last_active = time.monotonic()
        self.bucket: TokenBucket | None = None

    def close(self) -> None:
        """Say GOAWAY and close the socket (calls in flight end)."""
        self._protocol.close()


def peer_label(peer: Any) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of a peer address, for the logs."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = peer[0]
        return f"[{host}]:{peer[1]}" if ":" in str(host) else f"{host}:{peer[1]}"
    return str(peer)


class _TrackedProtocol(asyncio.Protocol):
    """grpclib's protocol of one connection, with the table told of its life."""

    def __init__(
        self,
        inner: asyncio.Protocol,
        table: ConnectionTable,
        wrap: Callable[[asyncio.BaseTransport], Any] | None = None,
    ) -> None:
        self._inner = inner
        self._table = table
        self._wrap = wrap
        self._transport: asyncio.BaseTransport | None = None
        self.connection: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._wrap is not None:
            transport = self._wrap(transport)
        self._transport = transport
        self._table._opened(self, transport)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self._inner.connection_lost(exc)
        finally:
            self._table._closed(self)

    @property
    def closing(self) -> bool:
        transport = self._transport
        return transport is None or transport.is_closing()

    def close(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        # A GOAWAY first, so that the client knows no new call will be taken
        # (grpclib keeps its HTTP/2 state in ``connection._connection``).
        h2 = getattr(getattr(self._inner, "connection", None), "_connection", None)
        if h2 is not None:
            with contextlib.suppress(Exception):
                h2.close_connection()
                data = h2.data_to_send()
                if data:
                    transport.write(data)  # type: ignore[attr-defined]
        transport.close()


def _tune(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY (no 40 ms delayed-ACK stalls) and TCP keepalive (dead peers go away)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (
            ("TCP_KEEPIDLE", _KEEPALIVE_IDLE),
            ("TCP_KEEPINTVL", _KEEPALIVE_INTERVAL),
            ("TCP_KEEPCNT", _KEEPALIVE_PROBES),
        ):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
    except OSError as exc:  # the peer is already gone
        logger.debug("could not set socket options: %s", exc)


class ConnectionTable:
    """The open connections of one server: limit, per-connection rate, idle timeout.

    :meth:`track` wraps grpclib's protocol of each new connection, so the
    table sees it open and close; :meth:`get` finds a connection by its
    peer address (``stream.peer.addr()``). ``on_open``/``on_close`` are
    called for every connection (the metrics).
    """

    def __init__(
        self,
        *,
        max_connections: int = 0,
        idle_timeout: float = 0.0,
        rps_per_connection: float = 0.0,
        on_open: Callable[[], None] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.rps_per_connection = rps_per_connection
        self._on_open = on_open
        self._on_close = on_close
        self._by_peer: dict[Hashable, Connection] = {}
        self._all: set[_TrackedProtocol] = set()
        self._admitted = 0

    def __len__(self) -> int:
        return len(self._all)

    @property
    def admitted(self) -> int:
        """Connections counted against ``max_connections``."""
        return self._admitted

    def track(
        self,
        protocol: asyncio.Protocol,
        wrap: Callable[[asyncio.BaseTransport], Any] | None = None,
    ) -> asyncio.Protocol:
        """``protocol`` (of a new connection) with the table told of its life.

        ``wrap``, if given, is applied to the connection's transport before
        the table and ``protocol`` see it (:mod:`keystone_net.dynamodb.door`
        coalesces a response's writes that way).
        """
        return _TrackedProtocol(protocol, self, wrap)

    def get(self, peer: Any) -> Connection | None:
        try:
            return self._by_peer.get(peer)
        except TypeError:  # not hashable: not one of ours
            return None

    # -- the life of a connection --------------------------------------------------

    def _opened(self, protocol: _TrackedProtocol, transport: asyncio.BaseTransport) -> None:
        _tune(transport)
        peer = transport.get_extra_info("peername")
        limit = self.max_connections
        admitted = not limit or self._admitted < limit
        conn = Connection(protocol, peer, admitted)
        if self.rps_per_connection > 0:
            conn.bucket = TokenBucket(self.rps_per_connection)
        protocol.connection = conn
        self._all.add(protocol)
        if admitted:
            self._admitted += 1
        else:
            logger.warning(
                "connection from %s is over the limit of %d connections", conn.label, limit
            )
        with contextlib.suppress(TypeError):
            self._by_peer[peer] = conn
        if self._on_open is not None:
            self._on_open()

    def _closed(self, protocol: _TrackedProtocol) -> None:
        if protocol not in self._all:
            return
        self._all.discard(protocol)
        conn = protocol.connection
        assert conn is not None
        if conn.admitted:
            self._admitted -= 1
        with contextlib.suppress(TypeError):
            if self._by_peer.get(conn.peer) is conn:
                del self._by_peer[conn.peer]
        if self._on_close is not None:
            self._on_close()

    # -- admission ------------------------------------------------------------------

    def admit(self, conn: Connection) -> None:
        """Raise :class:`Refused` if ``conn`` is over the connection limit.

        A connection over the limit is admitted as soon as one of the
        admitted ones has closed.
        """
        if conn.admitted:
            return
        if self._admitted < self.max_connections:
            conn.admitted = True
            self._admitted += 1
            return
        raise Refused(f"connection limit of {self.max_connections} reached", "connections")

    # -- closing ---------------------------------------------------------------------

    def close_idle(self, now: float | None = None) -> int:
        """Close the connections idle for too long; returns how many."""
        now = time.monotonic() if now is None else now
        timeout = self.idle_timeout
        closed = 0
        for protocol in list(self._all):
            conn = protocol.connection
            if conn is None or conn.active:
                continue
            idle = now - conn.last_active
            if protocol.closing or idle < QUIET:
                continue
            if not conn.admitted and idle >= OVER_LIMIT_LINGER:
                logger.info("closing over-limit connection from %s", conn.label)
            elif timeout > 0 and idle >= timeout:
                logger.info("closing connection from %s, idle for %.1f s", conn.label, idle)
            else:
                continue
            conn.close()
            closed += 1
        return closed

    async def reap(self) -> None:
        """Close idle and over-limit connections, forever (run it as a task)."""
        periods = [OVER_LIMIT_LINGER / 4] if self.max_connections else []
        if self.idle_timeout > 0:
            periods.append(self.idle_timeout / 4)
        if not periods:
            return
        period = max(0.05, min(periods))
        while True:
            await asyncio.sleep(period)
            self.close_idle()

    async def close_all(self, limit: float = 1.0) -> None:
        """Close every connection once it is quiet, and all that are left after ``limit`` s.

        Quiet: no call in flight, and none ended in the last :data:`QUIET`
        seconds. (A client can lose a reply it has received but not yet read
        when the connection closes under it: grpclib's client ends every
        stream of a connection on GOAWAY or EOF.)
        """
        deadline = time.monotonic() + limit
        while True:
            now = time.monotonic()
            left = [p for p in self._all if not p.closing]
            for protocol in left:
                conn = protocol.connection
                quiet = conn is None or (not conn.active and now - conn.last_active >= QUIET)
                if quiet or now >= deadline:
                    protocol.close()
            if now >= deadline or not any(not p.closing for p in self._all):
                return
            await asyncio.sleep(0.02)


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------


class _Job:
    """One call of :meth:`Batches.run`: what to run, then how it went."""

    __slots__ = ("args", "done", "error", "fn", "future", "value")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], future: Any) -> None:
        self.fn = fn
        self.args = args
        self.future: asyncio.Future[Any] | None = future  # None: the runner's own call
        self.done = False
        self.value: Any = None
        self.error: Exception | None = None

    def settle(self) -> None:
        """Hand the outcome to the waiting call (if it still waits)."""
        future = self.future
        if future is None or future.done():
            return
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.value)

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


def _run_jobs(jobs: list[_Job]) -> None:
    """A batch, in a worker thread: each call in turn, its result or error kept."""
    for job in jobs:
        job.value, job.error = None, None  # (a rerun after the map grew)
        try:
            job.value = job.fn(*job.args)
        except Exception as exc:
            job.error = exc
        job.done = True


def _run_together(together: Callable[[Callable[[], None]], None], jobs: list[_Job]) -> None:
    """A batch inside ``together`` (e.g. one commit for all); if it fails, every call fails."""
    try:
        together(functools.partial(_run_jobs, jobs))
    except Exception as exc:
        for job in jobs:
            job.value, job.error, job.done = None, exc, True


#: The longest a batch of writes waits for more calls (see :class:`Batches`;
#: a durable commit of a few writes takes about a millisecond here).
GATHER_FOR: Final = 0.005


class WorkerPool:
    """``workers`` threads for blocking calls, at most ``max_queue`` calls waiting for one.

    :meth:`run` gives each call a thread of its own: for calls that may be
    long (a query, a scan page). :meth:`batches` makes a lane of
    :class:`Batches` for short calls, which go to the threads in batches.

    ``on_shed`` is called for every call refused because the queue is full.
    """

    def __init__(
        self,
        workers: int,
        max_queue: int | None = None,
        on_shed: Callable[[], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.max_queue = workers * 4 if max_queue is None else max_queue
        self.on_shed = on_shed
        self._workers = anyio.CapacityLimiter(workers)  # calls holding a worker
        # The threads themselves: as many, always free for a call holding a
        # worker (anyio's default limiter would cap them at 40).
        self._threads = anyio.CapacityLimiter(workers)
        self._waiting = 0  # calls waiting for a worker
        self._lanes: list[Batches] = []

    @property
    def queue_length(self) -> int:
        """Calls waiting for a worker right now (safe to read from any thread)."""
        return self._waiting + sum([len(lane.queue) for lane in self._lanes])

    def batches(
        self,
        together: Callable[[Callable[[], None]], None] | None = None,
        gather_for: float = GATHER_FOR,
    ) -> Batches:
        """A new lane of batched calls on these threads (see :class:`Batches`)."""
        lane = Batches(self, together, gather_for)
        self._lanes.append(lane)
        return lane

    async def run(self, fn: Callable[..., T], *args: Any, admit: bool = True) -> T:
        """``fn(*args)`` in a worker thread of its own.

        With ``admit`` (a new call, not the next page of one already
        running), raises :class:`Refused` at once if every worker is busy and
        the queue is full.
        """
        await self.take_worker(admit)
        return await self.in_thread(fn, *args)

    async def in_thread(
        self, fn: Callable[..., T], *args: Any, on_late: Callable[[], None] | None = None
    ) -> T:
        """``fn(*args)`` in a worker thread, for a caller holding a worker (:meth:`take_worker`).

        A thread cannot be stopped: if the caller is cancelled first, ``fn``
        runs on, its worker is freed only when it ends, and then ``on_late()``
        is called (on the loop; at once if ``fn`` had ended already).
        """
        borrower = asyncio.current_task()
        work = asyncio.ensure_future(anyio.to_thread.run_sync(fn, *args, limiter=self._threads))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            if not work.done():
                work.add_done_callback(functools.partial(self._ended_late, borrower, on_late))
                borrower = None  # (freed by _ended_late)
            elif on_late is not None:
                on_late()
            raise
        finally:
            if borrower is not None:
                self._workers.release_on_behalf_of(borrower)

    def _ended_late(
        self, borrower: object, on_late: Callable[[], None] | None, work: asyncio.Future[Any]
    ) -> None:
        if not work.cancelled():
            work.exception()  # (retrieved: the caller that wanted it is gone)
        self._workers.release_on_behalf_of(borrower)
        if on_late is not None:
            on_late()

    async def take_worker(self, admit: bool) -> None:
        """Wait for a free worker (refused at once, with ``admit``, if the queue is full)."""
        workers = self._workers
        try:
            workers.acquire_nowait()  # a free worker, and nobody waiting for one
        except anyio.WouldBlock:
            if admit:
                self.refuse_if_full()
            self._waiting += 1
            try:
                await workers.acquire()
            finally:
                self._waiting -= 1

    def refuse_if_full(self) -> None:
        """Raise :class:`Refused` ("server overloaded") if ``max_queue`` calls wait already."""
        waiting = self.queue_length
        if waiting < self.max_queue:
            return
        if self.on_shed is not None:
            self.on_shed()
        workers_text = "1 worker" if self.workers == 1 else f"{self.workers} workers"
        raise Refused(
            f"server overloaded: {waiting} calls already waiting for {workers_text}; retry later",
            "overload",
        )


class Batches:
    """A lane of short calls that go to a :class:`WorkerPool`'s threads in batches.

    Handing a call to a thread costs more than a short call (a get, a put
    without its fsync): a thread wake-up, a GIL hand-over and a loop
    wake-up, about 0.2 ms of CPU per call with 32 callers here. So while one
    batch of a lane runs in a worker thread, the calls that arrive wait in
    the lane's queue (counted in the pool's, refused when it is full), and
    the next batch takes them all (up to :data:`BATCH`) in one hand-off.
    The first call finding no batch running runs one itself; a batch's
    outcomes go back together once it is done.

    ``together`` runs each batch, if given: ``together(run)`` must call
    ``run()`` (``Database.commit_together``: the writes of a batch share one
    commit). If it raises, every call of the batch fails with its error.

    A lane with ``together`` gathers its batches: a durable commit of
    sixteen writes costs about twice one of a single write (the fsyncs are
    the same), and the callers of the batch that just ended come back with
    their next write a moment later. Started at
    once, the next batch would carry the one or two calls that came in
    during the commit, and the rest would queue behind it: the batches
    alternate between a few calls and many, and every second fsync carries
    almost nothing. So when fewer calls wait than the last batch carried
    (none waiting counts too, for a call arriving within that while), the
    next batch starts once as many wait again, or after as long as the last
    batch took (at most ``gather_for``), whichever comes first. A caller
    whose batch could not have been bigger (the last one carried a single
    call) never waits, and when callers went away the next batch is
    smaller, which lowers the count to wait for after it.
    """

    #: The most calls one hand-off carries.
    BATCH: Final = 64

    def __init__(
        self,
        pool: WorkerPool,
        together: Callable[[Callable[[], None]], None] | None = None,
        gather_for: float = GATHER_FOR,
    ) -> None:
        self.pool = pool
        self._gather_for = gather_for
        self.queue: collections.deque[_Job] = collections.deque()  # calls waiting
        self._together = together
        self._running = False  # a batch runs, or is about to
        self._runner: asyncio.Task[None] | None = None
        # Gathering (a lane with `together`): the size of the last batch, when
        # it ended, how long the next may wait, and the timer of one waiting.
        self._last_size = 0
        self._last_end = 0.0
        self._wait = 0.0
        self._timer: asyncio.TimerHandle | None = None

    async def run(self, fn: Callable[..., T], *args: Any, admit: bool = True) -> T:
        """``fn(*args)`` in a worker thread, in one batch with the calls waiting beside it.

        With ``admit``, refused like :meth:`WorkerPool.run` when the queue is full.
        """
        if not self._running and self._gathering(0):
            self._running = True
            self._gather()
        if self._running:
            if admit:
                self.pool.refuse_if_full()
            job = _Job(fn, args, asyncio.get_running_loop().create_future())
            self.queue.append(job)
            if self._timer is not None and len(self.queue) >= self._last_size:
                self._start()
            assert job.future is not None
            try:
                result: T = await job.future
            except asyncio.CancelledError:
                with contextlib.suppress(ValueError):
                    self.queue.remove(job)  # not run yet: it never will be
                raise
            return result
        self._running = True
        own = _Job(fn, args, None)
        try:
            await self.pool.take_worker(admit)
            await self._run_batch([own, *self._take(self.BATCH - 1)])
        finally:
            self._next()
        outcome: T = own.outcome()
        return outcome

    def _take(self, n: int) -> list[_Job]:
        queue = self.queue
        return [queue.popleft() for _ in range(min(n, len(queue)))]

    async def _run_batch(self, jobs: list[_Job]) -> None:
        """``jobs`` in a worker thread (the caller holds a worker), then their outcomes out.

        A thread cannot be stopped: if the caller is cancelled (its deadline
        passed, its client went away) while the batch runs, the batch goes
        on, and the other calls in it get their outcomes when it ends; they
        are never put back in the queue to run a second time.
        """
        late = functools.partial(self._settle_late, jobs)
        begun = time.monotonic()
        try:
            if self._together is None:
                await self.pool.in_thread(_run_jobs, jobs, on_late=late)
            else:
                await self.pool.in_thread(_run_together, self._together, jobs, on_late=late)
        except asyncio.CancelledError:
            raise  # (in_thread settles the batch through `late` once it has ended)
        except BaseException:
            self._settle(jobs)
            raise
        self._last_end = time.monotonic()
        self._wait = min(self._last_end - begun, self._gather_for)
        self._last_size = len(jobs)
        self._settle(jobs)

    def _settle(self, jobs: list[_Job]) -> None:
        unrun = []
        for job in jobs:  # in arrival order
            if job.done:
                job.settle()
            elif job.future is not None:  # the batch never ran (no thread): back to the front
                unrun.append(job)
        self.queue.extendleft(reversed(unrun))

    def _settle_late(self, jobs: list[_Job]) -> None:
        """A batch whose caller was cancelled has ended: its calls' outcomes out."""
        self._settle(jobs)
        if self.queue and not self._running:
            self._running = True
            self._next()

    def _next(self) -> None:
        """After a batch: a runner task for the calls that queued meanwhile, if any."""
        if self.queue:
            if self._gathering(len(self.queue)):
                self._gather()
            else:
                self._start()
        else:
            self._running = False

    def _gathering(self, waiting: int) -> bool:
        """Whether the next batch should wait for more calls than the ``waiting`` ones."""
        if self._together is None or time.monotonic() - self._last_end >= self._wait:
            return False
        return waiting < self._last_size > 1

    def _gather(self) -> None:
        """Start the next batch once :meth:`run` sees enough calls queued, or after a while."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(loop.time() + self._wait, self._start)

    def _start(self) -> None:
        """The next batch, with the calls queued now (or none to run: the lane idles)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.queue:  # (the waiting calls were cancelled)
            self._running = False
            return
        self._runner = asyncio.get_running_loop().create_task(self._run_queue())

    async def _run_queue(self) -> None:
        try:
            await self.pool.take_worker(admit=False)
            await self._run_batch(self._take(self.BATCH))
        except BaseException:
            # Cancelled (the server stops): nothing will run the waiting calls.
            for job in self._take(len(self.queue)):
                if job.future is not None:
                    job.future.cancel()
            raise
        finally:
            self._next()


# --------------------------------------------------------------------------
# Message sizes
# --------------------------------------------------------------------------


class SizeLimitedCodec(ProtoCodec):
    """grpclib's protobuf codec, refusing messages over ``max_bytes`` (RESOURCE_EXHAUSTED)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def encode(self, message: Any, message_type: Any) -> bytes:
        data: bytes = super().encode(message, message_type)
        if len(data) > self.max_bytes:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED,
                f"the reply is {len(data)} bytes, over the message limit of {self.max_bytes} bytes",
            )
        return data

    def decode(self, data: bytes, message_type: Any) -> Any:
        if len(data) > self.max_bytes:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED,
                f"the request message is {len(data)} bytes, over the message limit of "
                f"{self.max_bytes} bytes",
            )
        return super().decode(data, message_type)
