"""KeystoneDB over gRPC: the server and its clients.

* :func:`connect` returns a :class:`SyncClient`, a blocking client that
  satisfies ``keystone.Store``: the same code runs on a local
  ``keystone.Database`` and on a server.
* :class:`Client` is the async client (``await db.get(...)``).
* :class:`KeystoneService` is the grpclib service over one
  ``keystone.Database``; ``python -m keystone_net serve --db-path PATH``
  runs it (see :mod:`keystone_net.__main__`).

>>> import keystone_net
>>> db = keystone_net.connect("127.0.0.1:50051")   # doctest: +SKIP
>>> db.put({"pk": "user#1", "name": "Ada"})         # doctest: +SKIP
"""

from __future__ import annotations

from .client import DEFAULT_TIMEOUT, Client, SyncClient, connect, parse_url
from .server import KeystoneService, serve

__all__ = [
    "DEFAULT_TIMEOUT",
    "Client",
    "KeystoneService",
    "SyncClient",
    "connect",
    "parse_url",
    "serve",
]
