"""How a client's calls reach the server: URL, TLS, credentials, deadlines, retries.

:class:`Transport` owns one grpclib ``Channel`` (one HTTP/2 connection,
opened on the first call in the running event loop, opened again after it
breaks) and sends already-encoded request bytes over it; what the bytes
mean is ``keystone_net.grpc.client``'s business.

* **URL.** ``https://host[:port]`` is TLS (port 443 by default);
  ``http://host[:port]``, ``host[:port]`` and ``[v6]:port`` are plaintext
  (port 50051 by default). TLS options (``ca_file``, ``cert_file``,
  ``key_file``, ``ssl_context``) need an ``https://`` URL, so a typo never
  silently sends in the clear.
* **Credentials.** ``auth_token`` travels as ``authorization: Bearer <token>``
  metadata on every call; a server that refuses it answers UNAUTHENTICATED,
  raised as :class:`keystone_net.AuthenticationError`.
* **Deadlines.** A unary call sends its timeout as the gRPC deadline (the
  server stops waiting for it) and also enforces it locally; either way an
  expired call raises ``keystone.Timeout``. The timeout covers the whole
  call, retries and waits included. For a Scan stream the timeout bounds
  each message instead (a long scan is fine as long as it keeps flowing).
* **Retries** (:mod:`keystone_net.grpc.retry`): a call that failed to reach the
  server (connection refused or lost, a TLS session dropped, the status
  UNAVAILABLE) is tried again after a backoff if it is *idempotent* (get,
  query, scan, batch_get, transact_get), or if the request provably never
  left: the connection failed before the request message was handed to it.
  A write that may have been sent is never repeated: it raises
  ``keystone.Unavailable`` and the caller decides (make it conditional to
  repeat it safely). A TLS failure that will not go away by itself (the
  server certificate does not verify, a plaintext server on a TLS URL) is
  not retried.

Compression: grpclib (0.4) implements no gRPC message compression; it
sends every message uncompressed and refuses compressed ones, so neither
side offers it (see docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import ssl
from collections.abc import AsyncGenerator, Sequence
from typing import Any, Final

from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError, StreamTerminatedError

from keystone.errors import DatabaseClosed, KeystoneError, Timeout, Unavailable
from keystone_net.grpc import compression as compressing
from keystone_net.grpc import convert
from keystone_net.grpc.convert import RawMessage
from keystone_net.grpc.retry import DEFAULT_RETRIES, Retry, retry_policy
from keystone_net.serving import tls

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TLS_PORT",
    "UNSET",
    "Backoff",
    "Metadata",
    "PermanentUnavailable",
    "TimeoutArg",
    "Transport",
    "parse_target",
    "parse_url",
]

logger = logging.getLogger(__name__)

#: The port of a plaintext URL without one.
DEFAULT_PORT: Final = 50051
#: The port of an ``https://`` URL without one.
DEFAULT_TLS_PORT: Final = 443
#: Seconds a call may take before it raises ``keystone.Timeout``.
DEFAULT_TIMEOUT: Final = 60.0

_SERVICE: Final = "/keystone.KeystoneDB/"
# A server that went away shows up as one of these (ssl.SSLError is an OSError).
_CONNECTION_ERRORS: Final = (OSError, StreamTerminatedError, EOFError)
# TLS failures that a retry would only repeat.
_TLS_TRANSIENT: Final = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: The default of every method's ``timeout=``: the client's own timeout.
UNSET: Final = _Unset.UNSET
#: A method's ``timeout=``: seconds, ``None`` (wait forever) or ``UNSET`` (the client's).
TimeoutArg = float | None | _Unset
#: Request metadata: ``(key, value)`` pairs.
Metadata = Sequence[tuple[str, str]]


def parse_target(url: str) -> tuple[bool, str, int]:
    """``(tls, host, port)`` of a server URL (see the module docstring for the forms)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"the server URL must be a non-empty str like 'host:port', got {url!r}")
    text = url.strip()
    secure = False
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() not in ("http", "https"):
            raise ValueError(
                f"unsupported URL scheme {scheme!r} in {url!r}: use https://host:port "
                "(TLS) or http://host:port"
            )
        secure = scheme.lower() == "https"
    text = text.rstrip("/")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    try:
        port = int(port_text) if port_text else DEFAULT_TLS_PORT if secure else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"the port in {url!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"the port in {url!r} is out of range")
    return secure, host or "127.0.0.1", port


def parse_url(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``"https://host:port"``, ``"http://host:port"``, ``"host:port"``,
    ``"host"`` or ``"[::1]:port"``."""
    return parse_target(url)[1:]


def check_timeout(timeout: object, what: str = "timeout") -> float | None:
    """``timeout`` as seconds (``None`` = no limit); anything else is a ``ValueError``."""
    if timeout is None:
        return None
    if (
        not isinstance(timeout, (int, float))
        or isinstance(timeout, bool)
        or math.isnan(timeout)
        or timeout <= 0
    ):
        raise ValueError(f"{what} must be a positive number of seconds or None, got {timeout!r}")
    return None if math.isinf(timeout) else float(timeout)


def _auth_metadata(token: object) -> tuple[tuple[str, str], ...]:
    if token is None:
        return ()
    if not isinstance(token, str) or not token:
        raise ValueError("auth_token must be a non-empty str")
    if not all("!" <= ch <= "~" for ch in token):
        raise ValueError("auth_token may only hold visible ASCII characters (no spaces)")
    return (("authorization", f"Bearer {token}"),)


def _compress_streams(channel: Channel, policy: compressing.Policy) -> None:
    """Every request stream ``channel`` opens (on each of its connections) compresses."""
    connect = channel.__connect__

    async def connect_compressing() -> Any:
        protocol = await connect()
        connection: Any = protocol.processor.connection
        if not getattr(connection, "_keystone_compressing", False):
            create = connection.create_stream

            def create_stream(**kwargs: Any) -> Any:
                stream = create(**kwargs)
                compressing.client_stream(stream, policy)
                return stream

            connection.create_stream = create_stream
            connection._keystone_compressing = True
        return protocol

    channel.__connect__ = connect_compressing  # type: ignore[method-assign]


class Transport:
    """One connection to one server, and the rules for sending calls over it."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        retries: int | Retry | None = DEFAULT_RETRIES,
        ca_file: tls.StrPath | None = None,
        cert_file: tls.StrPath | None = None,
        key_file: tls.StrPath | None = None,
        ssl_context: ssl.SSLContext | None = None,
        auth_token: str | None = None,
        compression: str | None = None,
        compression_min_bytes: int = compressing.DEFAULT_MIN_BYTES,
    ) -> None:
        secure, self.host, self.port = parse_target(url)
        # Requests compressed (with that gRPC encoding, from that size), replies
        # accepted compressed; None: neither (compressed replies are still read).
        self._compression = compressing.Policy(
            compression, compression_min_bytes, compressing.UNLIMITED
        )
        if compression is not None:
            compressing.install()
        self.timeout = check_timeout(timeout)
        self.retry = retry_policy(retries)
        self._metadata = _auth_metadata(auth_token)
        self._ssl: ssl.SSLContext | None = None
        options = {"ca_file": ca_file, "cert_file": cert_file, "key_file": key_file}
        given = [name for name, value in options.items() if value is not None]
        if ssl_context is not None:
            given.append("ssl_context")
        if given and not secure:
            raise ValueError(
                f"{', '.join(given)} configure TLS, which needs an https:// URL, got {url!r}"
            )
        if ssl_context is not None:
            if len(given) > 1:
                raise ValueError("pass either ssl_context or ca_file/cert_file/key_file, not both")
            self._ssl = ssl_context
        elif secure:
            self._ssl = tls.client_context(ca_file, cert_file, key_file)
        self._channel: Channel | None = None
        self.closed = False

    @property
    def tls(self) -> bool:
        return self._ssl is not None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def close(self) -> None:
        self.closed = True
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def resolve(self, timeout: TimeoutArg) -> float | None:
        """The seconds a call may take: its own ``timeout=``, or the client's."""
        return self.timeout if timeout is UNSET else check_timeout(timeout)

    # -- the connection -----------------------------------------------------

    def _live_channel(self) -> Channel:
        if self.closed:
            raise DatabaseClosed("the client is closed")
        channel = self._channel
        if channel is None:
            channel = self._channel = Channel(self.host, self.port, ssl=self._ssl)
            if self._compression.encoding is not None:
                _compress_streams(channel, self._compression)
        return channel

    def _drop(self, channel: Channel) -> None:
        """Forget a broken connection; the next call opens a new one."""
        if self._channel is channel:
            self._channel = None
            channel.close()

    def _metadata_with(self, extra: Metadata | None) -> Metadata | None:
        if not extra:
            return self._metadata or None
        return (*self._metadata, *extra)

    def _unavailable(self, method: str, err: BaseException, tries: int) -> Unavailable:
        if isinstance(err, GRPCError):
            detail = f"{err.status.name}: {err.message or 'no message'}"
        else:
            detail = str(err) or type(err).__name__
        detail += self._hint(err, detail)
        after = f" after {tries} tries" if tries > 1 else ""
        cls = PermanentUnavailable if self._permanent(err) else Unavailable
        return cls(f"{method}: cannot reach the server at {self.address}{after}: {detail}")

    def _hint(self, err: BaseException, detail: str) -> str:
        """What a TLS failure probably means, for the error message."""
        if isinstance(err, ssl.SSLCertVerificationError):
            return (
                " (the server's certificate is not signed by a CA the client trusts"
                " (ca_file), or does not name the host connected to)"
            )
        if isinstance(err, ssl.SSLError) and not isinstance(err, _TLS_TRANSIENT):
            if "ALERT" in (err.reason or ""):
                return " (the server refused the TLS handshake: check cert_file/key_file)"
            return " (is the server speaking TLS on this port?)"
        lost = isinstance(err, (StreamTerminatedError, ConnectionResetError))
        if self.tls and lost and "GOAWAY" not in detail:
            return (
                " (a server that requires a client certificate closes the connection "
                "when it gets none, or one from another CA: check cert_file/key_file)"
            )
        return ""

    @staticmethod
    def _permanent(err: BaseException) -> bool:
        """A failure to reach the server that trying again would only repeat."""
        return isinstance(err, ssl.SSLError) and not isinstance(err, _TLS_TRANSIENT)

    # -- unary calls -----------------------------------------------------------

    async def unary(
        self,
        method: str,
        data: bytes,
        *,
        idempotent: bool,
        timeout: TimeoutArg = UNSET,
        metadata: Metadata | None = None,
    ) -> bytes:
        """Send one request, return the reply's bytes (or raise the keystone exception)."""
        seconds = self.resolve(timeout)
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = None if seconds is None else started + seconds
        backoff = None  # made on the first failure: the common path stays lean
        last: BaseException | None = None  # the last try's failure
        md = self._metadata_with(metadata)
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            try:
                if remaining is not None and remaining <= 0:
                    raise Timeout(f"{method} did not finish within {seconds} s")
                failure, reply = await self._try(method, data, remaining, md, idempotent)
            except Timeout:
                if backoff is None or last is None:
                    raise
                # The deadline ran out on a try after others could not reach
                # the server: that is what the caller is told.
                raise self._unavailable(method, last, backoff.tries) from None
            if failure is None:
                return reply
            last = failure
            if backoff is None:
                backoff = Backoff(self.retry, deadline, started)
            wait = backoff.next_wait()
            if wait is None:
                raise self._unavailable(method, failure, backoff.tries)
            logger.debug("%s: %s; trying again in %.3f s", method, failure, wait)
            await asyncio.sleep(wait)

    async def _try(
        self,
        method: str,
        data: bytes,
        timeout: float | None,
        metadata: Metadata | None,
        idempotent: bool,
    ) -> tuple[BaseException | None, bytes]:
        """One try: ``(None, reply)``, or ``(error, b"")`` when it may be tried again.

        Raises the call's exception when it may not.
        """
        channel = self._live_channel()
        stream = channel.request(
            _SERVICE + method,
            Cardinality.UNARY_UNARY,
            RawMessage,
            RawMessage,
            timeout=timeout,
            metadata=metadata,
        )
        sent = False
        try:
            async with stream:
                await stream.send_request()  # connects: nothing the server can act on yet
                sent = True
                await stream.send_message(RawMessage(data), end=True)
                reply = await stream.recv_message()
        except GRPCError as err:
            if err.status is Status.UNAVAILABLE and idempotent:
                return err, b""
            if err.status is Status.DEADLINE_EXCEEDED and timeout is not None:
                raise Timeout(f"{method} did not finish in time (deadline exceeded)") from None
            raise convert.exception_for(err.status, err.message, stream.trailing_metadata) from None
        except TimeoutError:
            raise Timeout(f"{method} did not finish in time") from None
        except _CONNECTION_ERRORS as err:
            self._drop(channel)
            if self._permanent(err) or not (idempotent or not sent):
                raise self._unavailable(method, err, 1) from None
            return err, b""
        if reply is None:
            raise KeystoneError(f"{method}: the server sent no reply")
        return None, reply.data

    # -- server streams ----------------------------------------------------------

    async def stream(
        self, method: str, data: bytes, *, timeout: TimeoutArg = UNSET
    ) -> AsyncGenerator[bytes, None]:
        """The messages of one server-streaming call.

        ``timeout`` bounds the wait for each message. Failing to reach the
        server raises ``keystone.Unavailable`` at once: a caller that can
        resume (a scan, from its last key) retries with a :class:`Backoff`,
        unless it is a :class:`PermanentUnavailable`.
        """
        seconds = self.resolve(timeout)
        channel = self._live_channel()
        stream = channel.request(
            _SERVICE + method,
            Cardinality.UNARY_STREAM,
            RawMessage,
            RawMessage,
            metadata=self._metadata_with(None),
        )
        try:
            async with stream:
                async with asyncio.timeout(seconds):
                    await stream.send_request()
                    await stream.send_message(RawMessage(data), end=True)
                while True:
                    async with asyncio.timeout(seconds):
                        message = await stream.recv_message()
                    if message is None:
                        return
                    yield message.data
        except GRPCError as err:
            if err.status is Status.UNAVAILABLE:
                raise self._unavailable(method, err, 1) from None
            raise convert.exception_for(err.status, err.message, stream.trailing_metadata) from None
        except TimeoutError:
            raise Timeout(f"{method} sent nothing for {seconds} s") from None
        except _CONNECTION_ERRORS as err:
            self._drop(channel)
            raise self._unavailable(method, err, 1) from None


class PermanentUnavailable(Unavailable):
    """The server could not be reached for a reason trying again would only repeat
    (a TLS handshake that failed: an untrusted certificate, a plaintext server)."""


class Backoff:
    """The waits between the tries of one call under a :class:`Retry` policy.

    :meth:`next_wait` is the seconds to wait before the next try, or ``None``
    when the call must give up: no tries left, or the wait would end past
    the policy's ``max_elapsed`` or past ``deadline`` (a loop time).
    :meth:`progress` gives a fresh budget (a stream that delivered messages
    before it broke is resumed as if new).
    """

    def __init__(
        self, policy: Retry, deadline: float | None = None, started: float | None = None
    ) -> None:
        self._policy = policy
        self._deadline = deadline
        self._loop = asyncio.get_running_loop()
        self.progress(started)

    def progress(self, started: float | None = None) -> None:
        """Start counting tries and time afresh (from ``started``, a loop time; default now)."""
        self.tries = 1
        self._waits = self._policy.backoffs()
        self._until = (self._loop.time() if started is None else started) + self._policy.max_elapsed

    def next_wait(self) -> float | None:
        wait = next(self._waits, None)
        if wait is None:
            return None
        end = self._loop.time() + wait
        if end > self._until or (self._deadline is not None and end >= self._deadline):
            return None
        self.tries += 1
        return wait
