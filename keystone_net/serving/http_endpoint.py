"""A small HTTP/1.1 server on the event loop, for scrapes and probes.

:class:`HttpEndpoint` answers ``GET`` and ``HEAD`` with whatever its route
function returns for the path; everything else is refused without reaching
it: other methods get 405, malformed requests 400, a request head over
16 KiB 431, connections beyond 64 at once 503. Connections are kept alive
(HTTP/1.1 rules) and closed after 30 s without a request. Request bodies are
not read (the connection closes after the answer). Nothing a client sends
can stop the endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from keystone_net.serving.sockets import listen_socket

__all__ = ["HttpEndpoint", "Response", "Route", "TEXT"]

logger = logging.getLogger(__name__)

#: What a route answers: status, body, content type.
Response = tuple[int, bytes, str]
#: The route function: the path (without query string) and the request headers
#: (lower-case names) in, the response out.
Route = Callable[[str, Mapping[str, str]], Awaitable[Response]]

TEXT: Final = "text/plain; charset=utf-8"

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


class HttpEndpoint:
    """Serves ``route`` over HTTP/1.1 between :meth:`start` and :meth:`stop`."""

    def __init__(self, route: Route) -> None:
        self._route = route
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int | None:
        """The bound port, or ``None`` when not running."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (``port=0``: a free one); the bound port.

        Raises ``OSError`` if the address cannot be bound and
        ``RuntimeError`` if already running.
        """
        if self._server is not None:
            raise RuntimeError("the HTTP endpoint is already running")
        sock = listen_socket(host, port, backlog=32)
        try:
            self._server = await asyncio.start_server(
                self._serve_connection, sock=sock, limit=_MAX_HEAD
            )
        except BaseException:
            sock.close()
            raise
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close every connection (no-op when not running)."""
        server, self._server = self._server, None
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
            if self._server is not None:  # not stop(): a real cancellation
                raise
        except Exception:
            logger.exception("HTTP endpoint: unexpected error")
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
            allow = (("Allow", "GET, HEAD"),)
            await _respond(writer, 405, b"only GET and HEAD\n", keep_alive=False, extra=allow)
            return False
        try:
            status, body, content_type = await self._route(target.split("?", 1)[0], headers)
        except Exception:
            logger.exception("HTTP endpoint: %s %s failed", method, target)
            status, body, content_type = 500, b"internal error\n", TEXT
        await _respond(
            writer,
            status,
            body,
            content_type=content_type,
            keep_alive=keep_alive,
            head=method == "HEAD",
        )
        return keep_alive


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str], bool] | None:
    """Method, target, headers (lower-case names) and keep-alive of a request head; None if malformed."""
    lines = head.decode("latin-1").split("\r\n")
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
    and the reset can overtake the response just sent (a 405 whose body was
    not read, a 503 to a request never looked at).
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
    content_type: str = TEXT,
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
