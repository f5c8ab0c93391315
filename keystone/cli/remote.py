"""The CLI against a running server: PATH given as ``http://host:port`` or ``https://...``.

The data verbs (put, get, delete, update, query, scan, sql, export: the
commands registered with ``remote=True``) work the same through
``keystone_net.connect``; import, backup, stats and the shell
need the database file. Connection settings come from the environment, as
for the server: ``KEYSTONE_AUTH_TOKEN`` (the bearer token),
``KEYSTONE_CA_FILE`` (the CA of an https:// server) and
``KEYSTONE_CERT_FILE``/``KEYSTONE_KEY_FILE`` (a client certificate). The
table's key attribute names, which a client cannot ask the server, default
to ``pk``/``sk`` (``--partition-key``/``--sort-key`` where a verb has them).

``keystone_net`` is imported only here, only when a URL is given: the
library itself never imports the network layer.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from ..schema import Schema

__all__ = ["RemoteStore", "is_url", "open_remote"]


def is_url(path: str) -> bool:
    """Whether PATH names a server rather than a file."""
    return path.startswith(("http://", "https://"))


class RemoteStore:
    """A ``keystone_net`` sync client, with the key ``schema`` the CLI prints by."""

    def __init__(self, client: Any, schema: Schema) -> None:
        self._client = client
        #: The key attribute names only: a client cannot see the server's indexes.
        self.schema = schema

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def close(self) -> None:
        self._client.close()


def open_remote(
    url: str, schema: Schema | None, environ: Mapping[str, str] | None = None
) -> RemoteStore:
    """A :class:`RemoteStore` connected to ``url`` (settings from ``environ``)."""
    env = os.environ if environ is None else environ
    keys = schema or Schema()
    net = importlib.import_module("keystone_net")
    options: dict[str, Any] = {
        "partition_key": keys.partition_key,
        "sort_key": keys.sort_key or "sk",
        "auth_token": env.get("KEYSTONE_AUTH_TOKEN") or None,
    }
    if url.startswith("https://"):
        for option in ("ca_file", "cert_file", "key_file"):
            value = env.get("KEYSTONE_" + option.upper())
            if value:
                options[option] = value
    return RemoteStore(net.connect(url, **options), keys)
