"""Serving the DynamoDB endpoint: uvicorn (httptools) on the server's event loop.

:class:`DynamoDBDoor` starts a ``uvicorn.Server`` for :class:`~keystone_net.dynamodb.app.DynamoApp`
on a socket of its own, inside the process and loop of ``python -m
keystone_net serve`` (beside gRPC, over the same database and worker
threads). Each of its connections is tracked by the server's shared
:class:`keystone_net.serving.limits.ConnectionTable` (TCP options, the
connection limit across both doors, idle timeout, drain), TLS is the
server's ``ssl.SSLContext``, and uvicorn's own logging and signal handling
stay out of the way (the server's logs and signals rule).

uvicorn writes a response's status line and headers, then its body: two
``send`` system calls and, on loopback, two segments per response, a
quarter of the CPU a small GetItem costs. :class:`CorkedTransport` holds
the writes made in one turn of the event loop and sends them as one at the
end of the turn, so a response leaves in one piece.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from keystone_net.serving.limits import ConnectionTable
from keystone_net.serving.sockets import listen_socket

__all__ = ["CorkedTransport", "DynamoDBDoor"]

logger = logging.getLogger(__name__)


class DynamoDBDoor:
    """One uvicorn server of an ASGI app, tracked by a :class:`ConnectionTable`."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        connections: ConnectionTable,
        ssl_context: ssl.SSLContext | None = None,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self._host = host
        self._port = port
        self._connections = connections

        def protocol(**kwargs: Any) -> asyncio.Protocol:
            return connections.track(HttpToolsProtocol(**kwargs), wrap=CorkedTransport)

        config = uvicorn.Config(
            app,
            http=protocol,  # type: ignore[arg-type]
            loop="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # (X-Forwarded-For must not change the peer the limits see)
            date_header=False,
            timeout_keep_alive=3600,
            timeout_graceful_shutdown=max(1, round(shutdown_timeout)),
        )
        config.load()
        config.ssl = ssl_context
        self._server = uvicorn.Server(config)
        self._server.lifespan = config.lifespan_class(config)  # "off": does nothing
        self._sock: Any = None
        self.tls = ssl_context is not None

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        """Listen and serve (raises ``OSError`` if the address cannot be bound)."""
        self._sock = listen_socket(self._host, self._port)
        await self._server.startup(sockets=[self._sock])
        if self._server.should_exit:
            raise OSError(f"the DynamoDB endpoint could not start on {self._host}:{self._port}")

    def stop_listening(self) -> None:
        for server in self._server.servers:
            server.close()

    async def stop(self) -> None:
        """Close the open connections once their responses are out, then stop."""
        self._server.force_exit = False
        await self._server.shutdown(sockets=[self._sock] if self._sock is not None else None)


class CorkedTransport:
    """A transport whose writes of one turn of the event loop go out in one ``write``.

    The first write of a turn schedules the flush (``loop.call_soon``): it
    runs once the callbacks of this turn are done, before the loop waits for
    I/O again, so nothing waits longer than the turn. ``close`` and
    ``write_eof`` flush first; ``abort`` drops what is held; the rest is the
    wrapped transport's.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self._transport: Any = transport
        self._loop = asyncio.get_running_loop()
        self._held: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._held:
            self._loop.call_soon(self._flush)
        self._held.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        held = self._held
        if not held:
            return
        data = held[0] if len(held) == 1 else b"".join(held)
        held.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return int(self._transport.get_write_buffer_size()) + sum(map(len, self._held))

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
