"""The HTTP endpoint of scrapes and probes, on the server's HTTP stack (uvicorn + httptools).

:class:`HttpEndpoint` serves a route function (``/metrics``, ``/health`` and
``/ready`` of :class:`keystone_net.serving.metrics.Metrics`) as a plain ASGI
app under uvicorn with the httptools parser, on the running event loop: the
same stack as the DynamoDB endpoint (:mod:`keystone_net.dynamodb.door`). It
answers ``GET`` and ``HEAD``; everything else is refused before the route
sees it: other methods get 405, a request httptools cannot parse (or one of
another HTTP version than 1.0/1.1) 400, a request head over 16 KiB 431, a
request cut short by the client 400, connections beyond 64 at once 503.
Connections are kept alive by HTTP/1.1's rules and closed after 30 s idle.
Request bodies are not read: the connection closes after the answer.
Nothing a client sends can stop the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from keystone_net.serving.sockets import listen_socket

__all__ = ["TEXT", "HttpEndpoint", "Response", "Route"]

logger = logging.getLogger(__name__)

#: What a route answers: status, body, content type.
Response = tuple[int, bytes, str]
#: The route function: the path (without query string) and the request headers
#: (lower-case names) in, the response out.
Route = Callable[[str, Mapping[str, str]], Awaitable[Response]]

TEXT: Final = "text/plain; charset=utf-8"

_MAX_HEAD: Final = 16 * 1024  # request line and headers
_MAX_CONNECTIONS: Final = 64
_IDLE: Final = 30  # seconds a kept-alive connection may wait for its next request
_REQUEST_LINE: Final = re.compile(rb"[A-Za-z]+ [^ ]+ HTTP/[0-9]\.[0-9]")


def _answer(status: int, body: bytes) -> bytes:
    reason = {400: "Bad Request", 431: "Request Header Fields Too Large"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {TEXT}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode("latin-1") + body


class _Protocol(HttpToolsProtocol):
    """httptools' protocol with the limits a probe endpoint keeps.

    uvicorn leaves three cases open that this one closes: a request line
    httptools is lenient with (a doubled space), a request head of any
    length (here: 431 past 16 KiB) and a request the client cut short
    before its head was complete (here: 400, instead of silence).
    """

    _head = 0  # bytes of the request head read so far (0: between requests)
    _in_head = False
    _refused = False

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head = 0
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_head and self._head == 0:  # a request line begins
            line, crlf, _ = data.partition(b"\r\n")
            if crlf and _REQUEST_LINE.fullmatch(line) is None:
                # (httptools lets a doubled space through; RFC 9112 does not)
                self._refuse(400, b"malformed request\n")
                return
        if self._in_head or self._head == 0:
            self._head += len(data)
            if self._head > _MAX_HEAD:
                self._refuse(431, b"request head too large\n")
                return
        super().data_received(data)

    def eof_received(self) -> None:
        if self._in_head and not self._refused:
            self._refuse(400, b"incomplete request\n")

    def _refuse(self, status: int, body: bytes) -> None:
        self._refused = True
        self.transport.write(_answer(status, body))
        self.transport.close()


async def _send(send: Any, status: int, body: bytes, content_type: str, close: bool) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    if close:
        headers.append((b"connection", b"close"))
    if status == 405:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _App:
    """The ASGI app of a route function."""

    def __init__(self, route: Route) -> None:
        self._route = route

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # ("lifespan" is off; nothing else is expected)
            return
        method = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body_follows = headers.get("content-length", "0").strip() != "0" or (
            "transfer-encoding" in headers
        )
        if scope.get("http_version") not in ("1.0", "1.1"):
            await _send(send, 400, b"malformed request\n", TEXT, close=True)
            return
        if method not in ("GET", "HEAD"):
            await _send(send, 405, b"only GET and HEAD\n", TEXT, close=True)
            return
        try:
            status, body, content_type = await self._route(scope["path"], headers)
        except Exception:
            logger.exception("HTTP endpoint: %s %s failed", method, scope["path"])
            status, body, content_type = 500, b"internal error\n", TEXT
        await _send(send, status, body, content_type, close=body_follows)


class HttpEndpoint:
    """Serves ``route`` over HTTP/1.1 (uvicorn + httptools) between :meth:`start` and :meth:`stop`."""

    def __init__(self, route: Route) -> None:
        self._app = _App(route)
        self._server: uvicorn.Server | None = None
        self._sock: Any = None

    @property
    def port(self) -> int | None:
        """The bound port, or ``None`` when not running."""
        if self._server is None or self._sock is None:
            return None
        return int(self._sock.getsockname()[1])

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (``port=0``: a free one); the bound port.

        Raises ``OSError`` if the address cannot be bound and
        ``RuntimeError`` if already running.
        """
        if self._server is not None:
            raise RuntimeError("the HTTP endpoint is already running")
        config = uvicorn.Config(
            self._app,
            http=_Protocol,
            loop="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            date_header=False,
            timeout_keep_alive=_IDLE,
            limit_concurrency=_MAX_CONNECTIONS + 1,  # (counts the one being refused)
            timeout_graceful_shutdown=1,
            backlog=32,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)  # "off": does nothing
        sock = listen_socket(host, port, backlog=32)
        try:
            await server.startup(sockets=[sock])
        except BaseException:
            sock.close()
            raise
        if server.should_exit:
            sock.close()
            raise OSError(f"the HTTP endpoint could not start on {host}:{port}")
        self._server, self._sock = server, sock
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close every connection (no-op when not running)."""
        server, sock = self._server, self._sock
        self._server = self._sock = None
        if server is None:
            return
        server.force_exit = False
        await server.shutdown(sockets=[sock])
        sock.close()
        await asyncio.sleep(0)
