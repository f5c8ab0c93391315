"""The call gate: every call to the server passes here before and after its handler.

:class:`CallGate` wraps the handlers of every service of a server (the
KeystoneDB service, health, reflection; :meth:`CallGate.wrap`), so every
call is treated the same way. For each call it

1. gives it a trace id (:func:`keystone_net.serving.logs.request_id`: the client's
   ``x-request-id`` or a new one), returned in the trailing metadata
   ``x-request-id``: the call's stream sends its trailers through the gate,
   which adds it and notes the status (cheaper than grpclib's
   ``SendTrailingMetadata`` event, ~25 µs per call);
2. admits it or answers at once, without reading the request:
   UNAVAILABLE while the server drains; UNAUTHENTICATED without the right
   ``authorization: Bearer <token>``; RESOURCE_EXHAUSTED over the
   connection limit or a rate limit (per connection, then global). Health
   checks (``grpc.health.v1.Health``) are always admitted, so probes work
   without the token and report NOT_SERVING while the server drains;
3. keeps the call's deadline (the request's ``grpc-timeout``, which
   :func:`take_deadline` takes from grpclib, whose own handling answers a
   deadline already past with UNKNOWN): a call whose deadline has passed on
   arrival is answered DEADLINE_EXCEEDED at once; one whose deadline passes
   while it runs is stopped and answered DEADLINE_EXCEEDED. A client whose
   own deadline passes resets the stream; a reset within a tenth of the
   call's timeout (:data:`CLIENT_DEADLINE_SLACK`) of its deadline is that
   deadline, not a cancellation. Only other resets count as CANCELLED;
4. runs the handler; an error escaping it becomes its gRPC status (an
   unexpected one is logged with its traceback here and reaches the client as
   INTERNAL without it);
5. sends every error status with the standard ``grpc-status-details-bin``
   (:func:`keystone_net.grpc.convert.error_details`) beside its keystone trailers;
6. writes one request-log line (method, status, duration, trace id, peer) and
   reports the call to the metrics (:class:`MetricsSink`), both with the
   status the client was sent (DEADLINE_EXCEEDED for a deadline, CANCELLED
   for a call the client cancelled).

It also counts the calls in flight, so the server can drain: :meth:`drain`
refuses new calls and waits for those in flight.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol

from grpclib.const import Handler as MethodHandler
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from grpclib.metadata import Deadline, decode_timeout
from grpclib.server import Stream

from keystone.errors import Unavailable
from keystone_net.errors import AuthenticationError
from keystone_net.grpc import convert
from keystone_net.serving.limits import ConnectionTable, Refused, TokenBucket, peer_label
from keystone_net.serving.logs import REQUEST_ID_KEY, log_call, request_id

__all__ = [
    "AUTHORIZATION_KEY",
    "CLIENT_DEADLINE_SLACK",
    "DEADLINE_PASSED",
    "SHUTTING_DOWN",
    "CallGate",
    "MetricsSink",
    "NoMetrics",
    "take_deadline",
]

logger = logging.getLogger(__name__)

#: Request metadata carrying ``Bearer <token>`` (``--auth-token``).
AUTHORIZATION_KEY: Final = "authorization"
#: The message of calls refused while the server drains.
SHUTTING_DOWN: Final = "the server is shutting down"

#: The message of a call whose deadline passed.
DEADLINE_PASSED: Final = "the call's deadline passed"
#: A client resets the stream when its deadline passes. Its deadline began
#: before the server's by the time the request took to arrive (more on a
#: loaded machine), so a reset this close to the server's deadline is that
#: deadline: a tenth of the call's timeout, within these bounds (seconds).
CLIENT_DEADLINE_SLACK: Final = (0.005, 0.25)

_KEYSTONE: Final = "/keystone.KeystoneDB/"
_TIMEOUT: Final = "grpc-timeout"
#: On grpclib's protocol stream: the ``time.monotonic()`` at which the call's
#: deadline passes, and how close to it a client's reset counts as that deadline.
_DEADLINE: Final = "_keystone_deadline"
_HEALTH: Final = "/grpc.health.v1.Health/"


class MetricsSink(Protocol):
    """What the server reports to ``keystone_net.serving.metrics.Metrics``."""

    def observe(self, method: str, status: str, seconds: float) -> None: ...
    def connection_opened(self) -> None: ...
    def connection_closed(self) -> None: ...
    def rate_limited(self, limit_type: str) -> None: ...
    def set_queue_length(self, fn: Callable[[], int]) -> None: ...
    def set_ready(self, ready: bool) -> None: ...
    async def start_http(self, host: str, port: int) -> int: ...
    async def stop_http(self) -> None: ...
    def grpc_services(self) -> list[Any]: ...


class NoMetrics:
    """A :class:`MetricsSink` that keeps nothing (``keystone_net.serving.metrics`` is missing)."""

    def observe(self, method: str, status: str, seconds: float) -> None:
        pass

    def connection_opened(self) -> None:
        pass

    def connection_closed(self) -> None:
        pass

    def rate_limited(self, limit_type: str) -> None:
        pass

    def set_queue_length(self, fn: Callable[[], int]) -> None:
        pass

    def set_ready(self, ready: bool) -> None:
        pass

    async def start_http(self, host: str, port: int) -> int:
        raise OSError("keystone_net.serving.metrics is not installed")

    async def stop_http(self) -> None:
        pass

    def grpc_services(self) -> list[Any]:
        return []


def _slack(timeout: float) -> float:
    low, high = CLIENT_DEADLINE_SLACK
    return min(high, max(low, timeout / 10))


def take_deadline(h2_stream: Any, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Server, for each new request: keep its deadline on its stream for the gate.

    Returns the headers grpclib then gets: without ``grpc-timeout``, so that
    grpclib neither answers a deadline already past with UNKNOWN nor cancels
    the call unseen by the gate. A malformed ``grpc-timeout`` stays, for
    grpclib to refuse.
    """
    timeouts = [value for key, value in headers if key == _TIMEOUT]
    if not timeouts:
        return headers
    try:
        timeout = min(decode_timeout(value) for value in timeouts)
    except ValueError:
        return headers
    setattr(h2_stream, _DEADLINE, (time.monotonic() + timeout, _slack(timeout)))
    return [(key, value) for key, value in headers if key != _TIMEOUT]


class _Call:
    """One call as the gate follows it."""

    __slots__ = ("expired", "method", "peer", "status", "trace_id")

    def __init__(self, method: str, trace_id: str, peer: str) -> None:
        self.method = method
        self.trace_id = trace_id
        self.peer = peer
        self.status: str | None = None  # set when the trailers go out
        self.expired = False  # its deadline passed while it ran: the gate stopped it


class _Gated:
    """A grpclib service whose methods pass through a :class:`CallGate`."""

    def __init__(self, service: Any, gate: CallGate) -> None:
        self._service = service
        self._gate = gate

    def __mapping__(self) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for route, handler in self._service.__mapping__().items():
            if handler is not None:  # (a name-only entry stays as it is)
                handler = MethodHandler(
                    self._gate.gated(route, handler.func),
                    handler.cardinality,
                    handler.request_type,
                    handler.reply_type,
                )
            mapping[route] = handler
        return mapping


Handler = Callable[[Stream[Any, Any]], Awaitable[None]]


def _method_name(route: str) -> str:
    """``Get`` for KeystoneDB methods, ``grpc.health.v1.Health/Check`` for others."""
    if route.startswith(_KEYSTONE):
        return route[len(_KEYSTONE) :]
    return route.lstrip("/")


class CallGate:
    """Admission, trace ids, request log and metrics for every call of one server."""

    def __init__(
        self,
        connections: ConnectionTable,
        metrics: MetricsSink,
        *,
        auth_token: str | None = None,
        rps_global: float = 0.0,
    ) -> None:
        self._connections = connections
        self._metrics = metrics
        self._token = None if auth_token is None else auth_token.encode()
        self._global = TokenBucket(rps_global) if rps_global > 0 else None
        self._rps_global = rps_global
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False

    def wrap(self, services: list[Any]) -> list[Any]:
        """``services`` (grpclib services) with every method behind the gate."""
        return [_Gated(service, self) for service in services]

    def gated(self, route: str, handler: Handler) -> Handler:
        """``handler`` of ``route`` behind the gate."""
        # A partial, not a closure: every await of the handler passes through
        # each coroutine frame above it, so the gate adds just one.
        return functools.partial(self._run, handler, route, _method_name(route))

    # -- draining -------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Calls being handled right now."""
        return self._in_flight

    @property
    def draining(self) -> bool:
        return self._draining

    async def drain(self) -> None:
        """Refuse new calls (UNAVAILABLE) and wait until those in flight are done."""
        self._draining = True
        await self._idle.wait()

    # -- trailers -------------------------------------------------------------------

    @staticmethod
    async def _send_trailers(
        call: _Call,
        send: Callable[..., Awaitable[None]],
        *,
        status: Status = Status.OK,
        status_message: str | None = None,
        status_details: Any = None,
        metadata: Any = None,
    ) -> None:
        """A call's ``stream.send_trailing_metadata``: the trace id added, the status noted."""
        pairs: list[tuple[str, Any]] = []
        if metadata:
            pairs.extend(metadata.items() if isinstance(metadata, Mapping) else metadata)
        pairs.append((REQUEST_ID_KEY, call.trace_id))
        call.status = status.name
        if status is not Status.OK and status_details is None:
            status_details = convert.error_details(status, pairs)
        await send(
            status=status,
            status_message=status_message,
            status_details=status_details,
            metadata=pairs,
        )

    # -- one call ----------------------------------------------------------------

    async def _run(
        self, handler: Handler, route: str, method: str, stream: Stream[Any, Any]
    ) -> None:
        start = time.perf_counter()
        metadata = stream.metadata
        address = stream.peer.addr()
        conn = self._connections.get(address)
        call = _Call(method, request_id(metadata), conn.label if conn else peer_label(address))
        stream.send_trailing_metadata = functools.partial(  # type: ignore[method-assign]
            self._send_trailers, call, stream.send_trailing_metadata
        )
        self._in_flight += 1
        self._idle.clear()
        if conn is not None:
            conn.active += 1
        deadline: float | None = None
        slack = 0.0
        kept = getattr(stream._stream, _DEADLINE, None)
        if kept is not None:
            deadline, slack = kept
        timer: asyncio.TimerHandle | None = None
        try:
            refusal = self._refusal(route, metadata, conn)
            if refusal is None and deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    refusal = GRPCError(Status.DEADLINE_EXCEEDED, DEADLINE_PASSED)
                else:
                    stream.deadline = Deadline.from_timeout(left)
                    task = asyncio.current_task()
                    assert task is not None
                    timer = asyncio.get_running_loop().call_later(left, _expire, call, task)
            if refusal is not None:
                await self._finish(stream, call, refusal)
            else:
                # The handler, inline (one frame less under each of its awaits).
                try:
                    await handler(stream)
                except GRPCError as err:
                    await self._finish(stream, call, err)
                except (asyncio.CancelledError, StreamTerminatedError):
                    if call.expired:  # the gate's own timer stopped the handler: answer
                        await self._finish(
                            stream, call, GRPCError(Status.DEADLINE_EXCEEDED, DEADLINE_PASSED)
                        )
                    elif deadline is not None and (
                        deadline - time.monotonic() <= slack
                    ):  # the client reset the stream at its own deadline
                        call.status = Status.DEADLINE_EXCEEDED.name
                    # (grpclib's stream, seeing its trailers sent, ends the cancellation quietly)
                    raise  # the client went away or the server is stopping
                except Exception as exc:
                    logger.error(
                        "%s failed unexpectedly (trace_id=%s)", route, call.trace_id, exc_info=exc
                    )
                    await self._finish(stream, call, exc)
                else:
                    if call.status is None:  # the handler sent its reply; now the OK trailers
                        try:
                            await stream.send_trailing_metadata()
                        except Exception as err:
                            logger.debug("%s: could not end the call: %s", route, err)
        finally:
            if timer is not None:
                timer.cancel()
            if conn is not None:
                conn.active -= 1
                conn.last_active = time.monotonic()
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()
            seconds = time.perf_counter() - start
            status = call.status or "CANCELLED"  # no trailers: the client went away
            self._metrics.observe(method, status, seconds)
            log_call(method, status, seconds, call.trace_id, call.peer)

    def _refusal(self, route: str, metadata: Any, conn: Any) -> BaseException | None:
        """Why the call may not run now, or ``None``."""
        if route.startswith(_HEALTH):
            return None
        if self._draining:
            return Unavailable(SHUTTING_DOWN)
        if self._token is not None:
            problem = self._auth_problem(metadata)
            if problem is not None:
                return AuthenticationError(problem)
        return self.admission(conn)

    # -- for the server's other doors -----------------------------------------------
    # (The DynamoDB endpoint shares this gate, so both doors drain together and
    # share the global rate limit; its requests authenticate by signature.)

    def begin(self, conn: Any) -> None:
        """A request of another door starts (counted in flight until :meth:`end`)."""
        self._in_flight += 1
        self._idle.clear()
        if conn is not None:
            conn.active += 1

    def end(self, conn: Any) -> None:
        """A request of another door is done."""
        if conn is not None:
            conn.active -= 1
            conn.last_active = time.monotonic()
        self._in_flight -= 1
        if not self._in_flight:
            self._idle.set()

    def admission(self, conn: Any) -> BaseException | None:
        """Why a request may not run now (draining, connection or rate limits), or ``None``."""
        if self._draining:
            return Unavailable(SHUTTING_DOWN)
        now = time.monotonic()
        try:
            if conn is not None:
                self._connections.admit(conn)
                if conn.bucket is not None and not conn.bucket.take(now):
                    raise Refused(
                        f"rate limit of {conn.bucket.rate:g} requests/s per connection exceeded",
                        "per_connection",
                    )
            if self._global is not None and not self._global.take(now):
                raise Refused(
                    f"global rate limit of {self._rps_global:g} requests/s exceeded", "global"
                )
        except Refused as refused:
            self._metrics.rate_limited(refused.limit_type)
            return refused
        return None

    def _auth_problem(self, metadata: Any) -> str | None:
        value = metadata.get(AUTHORIZATION_KEY) if metadata else None
        if not isinstance(value, str) or not value.strip():
            return "missing bearer token: send the metadata 'authorization: Bearer <token>'"
        scheme, _, given = value.strip().partition(" ")
        assert self._token is not None
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self._token
        ):
            return "invalid bearer token"
        return None

    async def _finish(self, stream: Stream[Any, Any], call: _Call, exc: BaseException) -> None:
        """Answer the call with the status of ``exc`` (no traceback), unless it was answered."""
        if call.status is not None:
            return
        status, message, metadata = convert.status_for(exc)
        try:
            await stream.send_trailing_metadata(
                status=status, status_message=message, metadata=metadata
            )
        except Exception as err:  # the client is gone; nobody to tell
            logger.debug("could not send %s: %s", status.name, err)


def _expire(call: _Call, task: asyncio.Task[Any]) -> None:
    """The call's deadline passed: stop its handler, unless it has answered already."""
    if call.status is None:
        call.expired = True
        task.cancel()
