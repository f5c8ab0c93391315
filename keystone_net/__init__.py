"""KeystoneDB over gRPC: the server and its clients.

* :func:`connect` returns a :class:`SyncClient`, a blocking client that
  satisfies ``keystone.Store``: the same code runs on a local
  ``keystone.Database`` and on a server.
* :class:`Client` is the async client (``await db.get(...)``).
* Both speak plaintext (``"host:port"``) or TLS (``"https://host:port"``,
  :mod:`keystone_net.serving.tls`), send an optional bearer token, take a
  ``timeout=`` on every call and retry what is safe to retry
  (:class:`Retry`); a refused token raises :class:`AuthenticationError`.
* :class:`KeystoneService` is the grpclib service over one
  ``keystone.Database``; ``python -m keystone_net serve --db-path PATH``
  runs it (see :mod:`keystone_net.__main__`).

>>> import keystone_net
>>> db = keystone_net.connect("127.0.0.1:50051")   # doctest: +SKIP
>>> db.put({"pk": "user#1", "name": "Ada"})         # doctest: +SKIP
"""

from __future__ import annotations

from .errors import AuthenticationError
from .grpc.client import Client
from .grpc.retry import Retry
from .grpc.server import KeystoneService, serve
from .grpc.sync import SyncClient, connect
from .grpc.transport import DEFAULT_TIMEOUT, parse_url

__all__ = [
    "DEFAULT_TIMEOUT",
    "AuthenticationError",
    "Client",
    "KeystoneService",
    "Retry",
    "SyncClient",
    "connect",
    "parse_url",
    "serve",
]
