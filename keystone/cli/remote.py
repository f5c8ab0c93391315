"""The CLI against a running server, and the one rule telling a server address from a file.

:func:`classify` decides what a verb's PATH (or ``--endpoint``) names:

* ``grpc://host:port`` and ``http://host:port``: a server in plaintext;
  ``grpcs://host:port`` and ``https://host:port``: a server over TLS (today
  every scheme means the gRPC server; the ``http`` schemes are kept apart
  in :data:`SCHEMES` so they can name another door later);
* ``host:port`` (``127.0.0.1:50051``, ``localhost:50051``, ``[::1]:50051``):
  a server in plaintext, as ``keystone_net.connect`` takes it;
* anything else is a file path. A file whose name looks like an address is
  written with a directory: ``./127.0.0.1:50051``.

The data verbs (put, get, delete, update, query, scan, sql, export: the
commands registered with ``remote=True``) work the same through
``keystone_net.connect``; import, backup, stats and the shell
need the database file. Connection settings come from the environment, as
for the server: ``KEYSTONE_AUTH_TOKEN`` (the bearer token),
``KEYSTONE_CA_FILE`` (the CA of a TLS server) and
``KEYSTONE_CERT_FILE``/``KEYSTONE_KEY_FILE`` (a client certificate). The
default table's key attribute names default to ``pk``/``sk``
(``--partition-key``/``--sort-key`` where a verb has them); a table named
with ``--table NAME`` is described by the server (DescribeTable), which
gives its key names and the declared key types the key arguments are read
by (:meth:`RemoteStore.key_info`).

``keystone_net`` is imported only here, only when a server is given: the
library itself never imports the network layer.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from ..schema import Schema

__all__ = [
    "SCHEMES",
    "AddressError",
    "KeyInfo",
    "key_info_of",
    "RemoteStore",
    "Target",
    "classify",
    "is_url",
    "open_remote",
    "server",
]

Kind = Literal["file", "grpc"]

#: Each URL scheme: which server it names and whether it is TLS.
SCHEMES: Final[Mapping[str, tuple[Kind, bool]]] = {
    "grpc": ("grpc", False),
    "grpcs": ("grpc", True),
    "http": ("grpc", False),
    "https": ("grpc", True),
}

#: ``host:port``: a host name, an IPv4 address or a bracketed IPv6 one, a port of digits.
_HOST_PORT: Final = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(?P<port>[0-9]{1,5})"
)

#: What the usage errors list as the forms of a server address.
SERVER_FORMS: Final = "host:port, grpc://host:port, grpcs://host:port, http://... or https://..."


class AddressError(ValueError):
    """A PATH or ``--endpoint`` that is neither a usable file path nor a server address."""


@dataclass(frozen=True)
class Target:
    """What a PATH names: a database file, or a server."""

    kind: Kind
    #: The file path, or the address as given.
    location: str
    tls: bool = False

    @property
    def is_server(self) -> bool:
        return self.kind != "file"

    @property
    def url(self) -> str:
        """The server's address in the form ``keystone_net.connect`` takes."""
        rest = self.location.split("://", 1)[-1]
        return ("https://" if self.tls else "http://") + rest


def classify(text: str) -> Target:
    """What PATH ``text`` names, by the rule of this module's docstring."""
    scheme, sep, rest = text.partition("://")
    if sep and "/" not in scheme:
        known = SCHEMES.get(scheme.lower())
        if known is None:
            raise AddressError(
                f"{text!r}: unknown scheme {scheme}:// (a server is {SERVER_FORMS}; "
                f"a file is a path, e.g. ./{text})"
            )
        kind, tls = known
        if not rest.strip("/"):
            raise AddressError(f"{text!r}: the server address has no host")
        return Target(kind, text, tls)
    match = _HOST_PORT.fullmatch(text)
    if match is not None:
        port = int(match["port"])
        if not 0 < port < 65536:
            raise AddressError(
                f"{text!r}: port {port} is out of range (a file of that name is ./{text})"
            )
        return Target("grpc", text)
    return Target("file", text)


def server(text: str) -> Target:
    """The server ``--endpoint text`` names (an error if it names a file)."""
    target = classify(text)
    if not target.is_server:
        raise AddressError(f"--endpoint takes a server address ({SERVER_FORMS}), got {text!r}")
    return target


def is_url(path: str) -> bool:
    """Whether PATH names a server rather than a file."""
    return classify(path).is_server


@dataclass(frozen=True)
class KeyInfo:
    """The declared key types of a table and of its indexes (``None``: untyped)."""

    pk_type: str | None
    sk_type: str | None
    #: index name -> (partition key type, sort key type)
    indexes: Mapping[str, tuple[str | None, str | None]]

    def of(self, index: str | None) -> tuple[str | None, str | None]:
        """The key types of the table (``index=None``) or of an index (unknown: untyped)."""
        if index is None:
            return self.pk_type, self.sk_type
        return self.indexes.get(index, (None, None))


def _key_schema(part: Mapping[str, Any]) -> tuple[str | None, str | None]:
    pk = sk = None
    for key in part.get("KeySchema") or ():
        if key.get("KeyType") == "HASH":
            pk = key.get("AttributeName")
        elif key.get("KeyType") == "RANGE":
            sk = key.get("AttributeName")
    return pk, sk


def key_info_of(description: Mapping[str, Any]) -> KeyInfo:
    """The key types a table description (DynamoDB's ``TableDescription``) declares.

    (An untyped key is described as ``S``: read as text, as it should be.)
    """
    types = {
        d.get("AttributeName"): d.get("AttributeType")
        for d in description.get("AttributeDefinitions") or ()
    }
    pk, sk = _key_schema(description)
    indexes: dict[str, tuple[str | None, str | None]] = {}
    for kind in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        for index in description.get(kind) or ():
            ipk, isk = _key_schema(index)
            indexes[index.get("IndexName")] = (types.get(ipk), types.get(isk))
    return KeyInfo(types.get(pk), types.get(sk), indexes)


class RemoteStore:
    """A ``keystone_net`` sync client, with the key ``schema`` the CLI prints by."""

    def __init__(
        self, client: Any, schema: Schema, description: Mapping[str, Any] | None = None
    ) -> None:
        self._client = client
        #: The key attribute names only: a client cannot see the server's indexes.
        self.schema = schema
        self._description = description

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def table(self, name: str) -> RemoteStore:
        """The server's table ``name`` (``NotFound`` if it has none), with its key names."""
        description = self._client.describe_table(name)
        pk, sk = _key_schema(description)
        schema = Schema(partition_key=pk or "pk", sort_key=sk)
        return RemoteStore(self._client.table(name), schema, description)

    def key_info(self) -> KeyInfo:
        """The declared key types (DescribeTable, asked once; untyped if it fails)."""
        if self._description is None:
            from ..errors import KeystoneError

            try:
                self._description = self._client.describe()
            except KeystoneError:
                return KeyInfo(None, None, {})
        return key_info_of(self._description)

    def close(self) -> None:
        self._client.close()


def open_remote(
    url: str | Target, schema: Schema | None, environ: Mapping[str, str] | None = None
) -> RemoteStore:
    """A :class:`RemoteStore` connected to ``url`` (settings from ``environ``)."""
    target = url if isinstance(url, Target) else classify(url)
    env = os.environ if environ is None else environ
    keys = schema or Schema()
    net = importlib.import_module("keystone_net")
    options: dict[str, Any] = {
        "partition_key": keys.partition_key,
        "sort_key": keys.sort_key or "sk",
        "auth_token": env.get("KEYSTONE_AUTH_TOKEN") or None,
    }
    if target.tls:
        for option in ("ca_file", "cert_file", "key_file"):
            value = env.get("KEYSTONE_" + option.upper())
            if value:
                options[option] = value
    return RemoteStore(net.connect(target.url, **options), keys)
