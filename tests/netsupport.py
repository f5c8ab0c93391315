"""Helpers of the TLS, client and nginx tests: server flags, in-process servers, fakes.

* :func:`requires_flags` skips a test when ``python -m keystone_net serve``
  does not have the options it needs (read once from ``serve --help``).
* :func:`quiet_args` are extra server options that keep a test server to
  itself (no metrics endpoint fighting over port 9090), when supported.
* :class:`InProcessServer` runs the real ``KeystoneService`` on a grpclib
  server in the test's own event loop, optionally over TLS and behind a
  token check, for tests of the client that need no subprocess.
* :class:`DroppingServer` is a TCP server that reads a request and closes
  the connection without answering: the client cannot know whether the
  request was applied.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from grpclib.const import Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream

import keystone
from keystone_net.server import KeystoneService


@functools.cache
def serve_flags() -> frozenset[str]:
    """The long options of ``python -m keystone_net serve``."""
    out = subprocess.run(
        [sys.executable, "-m", "keystone_net", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return frozenset(re.findall(r"(--[a-z][a-z0-9-]*)", out))


def requires_flags(*flags: str) -> pytest.MarkDecorator:
    missing = [flag for flag in flags if flag not in serve_flags()]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"the server has no {', '.join(missing)} option yet (keystone_net serve --help)",
    )


def quiet_args() -> tuple[str, ...]:
    """Server options for a private test server: no metrics endpoint."""
    return ("--metrics-port", "0") if "--metrics-port" in serve_flags() else ()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------
# The service in the test's event loop
# --------------------------------------------------------------------------


class _TokenGuard:
    """The service's handlers, each refusing calls without ``authorization: Bearer <token>``."""

    def __init__(self, service: KeystoneService, token: str, seen: list[str | None]) -> None:
        self._service = service
        self._token = token
        self._seen = seen

    def __mapping__(self) -> dict[str, Handler]:
        out = {}
        for name, handler in self._service.__mapping__().items():
            out[name] = Handler(self._guard(handler.func), *handler[1:])
        return out

    def _guard(self, func: Callable[[Stream[Any, Any]], Awaitable[None]]) -> Any:
        async def guarded(stream: Stream[Any, Any]) -> None:
            value = stream.metadata.get("authorization") if stream.metadata else None
            self._seen.append(value)
            if value != f"Bearer {self._token}":
                raise GRPCError(Status.UNAUTHENTICATED, "a valid bearer token is required")
            await func(stream)

        return guarded


class InProcessServer:
    """``async with InProcessServer(path, ssl=..., token=...) as server: server.port``."""

    def __init__(
        self,
        path: Path,
        *,
        ssl: ssl.SSLContext | None = None,
        token: str | None = None,
        workers: int = 4,
    ) -> None:
        self.path = path
        self._ssl = ssl
        self._token = token
        self._workers = workers
        self.port = 0
        #: The ``authorization`` metadata of every call (with a token check).
        self.seen_tokens: list[str | None] = []

    async def __aenter__(self) -> InProcessServer:
        self.db = keystone.Database.open(self.path, durability="async")
        service: Any = KeystoneService(self.db, workers=self._workers)
        if self._token is not None:
            service = _TokenGuard(service, self._token, self.seen_tokens)
        self.server = Server([service])
        await self.server.start("127.0.0.1", 0, ssl=self._ssl)
        self.port = self.server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await asyncio.wait_for(self.server.wait_closed(), 10)
        self.db.close()


# --------------------------------------------------------------------------
# A server that swallows a request and hangs up
# --------------------------------------------------------------------------


class DroppingServer:
    """Accepts connections, reads until ``marker`` arrived (or 5 s), then closes.

    :attr:`connections` counts connections accepted; :attr:`marked` those
    that carried the marker (the request reached the "server").
    """

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self.connections = 0
        self.marked = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(0.2)
                data = b""
                until = time.monotonic() + 5
                while self.marker not in data and time.monotonic() < until:
                    try:
                        chunk = conn.recv(65536)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    data += chunk
                if self.marker in data:
                    self.marked += 1

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(5)

    def __enter__(self) -> DroppingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
