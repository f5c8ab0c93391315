"""gRPC message compression (gzip, deflate) on grpclib, which implements none.

grpclib frames every message itself (a flag byte saying "compressed", four
length bytes, the message) and refuses a message whose flag is set. This
module adds compression at that level, for the server and the client:

* :func:`install` replaces grpclib's two framing functions (in
  ``grpclib.server`` and ``grpclib.client``) with ones that read a
  compressed message by its stream's encoding and write one compressed when
  its stream asks for it. A stream that negotiated nothing is framed
  exactly as grpclib frames it.
* Server (:func:`accept_request`, called for every request): every reply's
  headers (a trailers-only error's too) name ours in ``grpc-accept-encoding``,
  as gRPC's compression spec asks. The request's ``grpc-encoding`` says how
  its compressed messages are compressed; an encoding we lack answers
  UNIMPLEMENTED (with that header, so the client can pick another). Replies are compressed when the server's
  ``--compression`` names an encoding the client lists in its
  ``grpc-accept-encoding``, and only messages of at least
  ``--compression-min-bytes`` (small ones grow or barely shrink); the
  reply headers then say ``grpc-encoding``.
* Client (:func:`client_stream`): requests of at least the minimum size are
  compressed, and replies are read in whatever encoding the server chose
  among those the client accepts.

Decompression is bounded: a message that would inflate past the message
size limit is refused (RESOURCE_EXHAUSTED) without inflating it further,
so a small "zip bomb" cannot take the server's memory.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any, Final

import grpclib.client
import grpclib.server
from grpclib.const import Status
from grpclib.exceptions import GRPCError

__all__ = [
    "ACCEPT",
    "DEFAULT_MIN_BYTES",
    "ENCODINGS",
    "UNLIMITED",
    "Policy",
    "accept_request",
    "client_stream",
    "compress",
    "decompress",
    "install",
]

#: zlib's window bits: gzip (RFC 1952) and gRPC's "deflate", the zlib format (RFC 1950).
_WBITS: Final = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
#: The encodings we read and write, as gRPC names them.
ENCODINGS: Final = tuple(_WBITS)
ACCEPT: Final = ",".join((*ENCODINGS, "identity"))
#: Messages smaller than this are sent as they are.
DEFAULT_MIN_BYTES: Final = 1024
#: The inflation limit when messages are otherwise unlimited (``--max-message-bytes 0``).
UNLIMITED: Final = 1 << 31
_HEADER: Final = struct.Struct(">?I")
_ACCEPT_HEADER: Final = ("grpc-accept-encoding", ACCEPT)


def compress(data: bytes, encoding: str) -> bytes:
    """``data`` compressed with ``encoding`` (gzip or deflate), at zlib's fast level."""
    packer = zlib.compressobj(1, zlib.DEFLATED, _WBITS[encoding])
    return packer.compress(data) + packer.flush()


def decompress(data: bytes, encoding: str, limit: int) -> bytes:
    """``data`` inflated, refused (RESOURCE_EXHAUSTED) once past ``limit`` bytes."""
    inflater = zlib.decompressobj(_WBITS[encoding])
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise GRPCError(
            Status.INVALID_ARGUMENT, f"a {encoding}-compressed message is corrupt: {exc}"
        ) from None
    if len(out) > limit:
        raise GRPCError(
            Status.RESOURCE_EXHAUSTED,
            f"a {encoding}-compressed message inflates past the message limit of {limit} bytes",
        )
    if not inflater.eof:
        raise GRPCError(Status.INVALID_ARGUMENT, f"a {encoding}-compressed message is cut short")
    return out


class Policy:
    """How one side compresses: the encoding to send (or ``None``) and the size limits."""

    __slots__ = ("encoding", "limit", "min_bytes")

    def __init__(self, encoding: str | None, min_bytes: int, limit: int) -> None:
        if encoding is not None and encoding not in _WBITS:
            raise ValueError(
                f"compression must be one of {', '.join(ENCODINGS)} or none, got {encoding!r}"
            )
        self.encoding = encoding
        self.min_bytes = min_bytes
        self.limit = limit


# The state a stream (grpclib's ``protocol.Stream``) carries, as attributes:
_SEND: Final = "_keystone_send"  # (encoding, min_bytes) to compress what it sends
_LIMIT: Final = "_keystone_limit"  # the largest message it may inflate
_RECV: Final = "_keystone_recv"  # server: the request's grpc-encoding


def _listed(value: str | None) -> list[str]:
    return [] if not value else [e.strip().lower() for e in value.split(",")]


def accept_request(stream: Any, headers: Sequence[tuple[str, str]], policy: Policy) -> None:
    """Server: note a new request's encodings on its stream, before its handler runs."""
    encoding = accepted = None
    for key, value in headers:
        if key == "grpc-encoding":
            encoding = value.strip().lower()
        elif key == "grpc-accept-encoding":
            accepted = value
    if encoding is not None:  # (nothing to note for an uncompressed request: the usual case)
        setattr(stream, _RECV, encoding)
        setattr(stream, _LIMIT, policy.limit)
    send = policy.encoding
    if send is not None and send in _listed(accepted):
        setattr(stream, _SEND, (send, policy.min_bytes))
        _add_headers(stream, [("grpc-encoding", send), _ACCEPT_HEADER])
    else:
        _add_headers(stream, [_ACCEPT_HEADER])


def client_stream(stream: Any, policy: Policy) -> None:
    """Client: a new request stream sends compressed and accepts compressed replies."""
    setattr(stream, _LIMIT, policy.limit)
    if policy.encoding is not None:
        setattr(stream, _SEND, (policy.encoding, policy.min_bytes))
        _add_request_headers(
            stream, [("grpc-encoding", policy.encoding), ("grpc-accept-encoding", ACCEPT)]
        )


def _add_headers(stream: Any, extra: list[tuple[str, str]]) -> None:
    """The stream's first HEADERS frame (the reply's initial metadata) gets ``extra``."""
    send_headers = stream.send_headers

    async def with_extra(headers: list[tuple[str, str]], *args: Any, **kwargs: Any) -> Any:
        stream.send_headers = send_headers  # once
        return await send_headers([*headers, *extra], *args, **kwargs)

    stream.send_headers = with_extra


def _add_request_headers(stream: Any, extra: list[tuple[str, str]]) -> None:
    send_request = stream.send_request

    async def with_extra(headers: list[tuple[str, str]], *args: Any, **kwargs: Any) -> Any:
        return await send_request([*headers, *extra], *args, **kwargs)

    stream.send_request = with_extra


def _encoding_of(stream: Any) -> str | None:
    """The encoding of the messages ``stream`` receives (request or reply headers)."""
    encoding = getattr(stream, _RECV, None)
    if encoding is not None:
        return str(encoding)
    for key, value in getattr(stream, "headers", None) or ():  # a client's reply headers
        if key == "grpc-encoding":
            return str(value).strip().lower()
    return None


async def _recv_message(stream: Any, codec: Any, message_type: Any) -> Any:
    try:  # (grpclib's buffer raises AssertionError when the stream ends inside a message)
        meta = await stream.recv_data(5)
        if not meta:
            return None
        if len(meta) < 5:
            raise AssertionError
        compressed, size = _HEADER.unpack(meta)
        data = await stream.recv_data(size)
        if len(data) != size:
            raise AssertionError
    except AssertionError:
        raise GRPCError(
            Status.INVALID_ARGUMENT, "the stream ended inside a message (a message cut short)"
        ) from None
    if compressed:
        encoding = _encoding_of(stream)
        if encoding is None or encoding == "identity":
            raise GRPCError(
                Status.UNIMPLEMENTED,
                f"a message flagged compressed came with grpc-encoding {encoding or '(none)'}; "
                f"use one of {', '.join(ENCODINGS)}",
            )
        if encoding not in _WBITS:
            raise GRPCError(
                Status.UNIMPLEMENTED,
                f"message compression {encoding!r} is not supported; use one of {ACCEPT}",
            )
        data = decompress(data, encoding, getattr(stream, _LIMIT, None) or UNLIMITED)
    return codec.decode(data, message_type)


async def _send_message(
    stream: Any, codec: Any, message: Any, message_type: Any, *, end: bool = False
) -> None:
    data = codec.encode(message, message_type)
    send: tuple[str, int] | None = getattr(stream, _SEND, None)
    compressed = send is not None and len(data) >= send[1]
    if send is not None and compressed:
        data = compress(data, send[0])
    await stream.send_data(_HEADER.pack(compressed, len(data)) + data, end_stream=end)


_installed = False


def install() -> None:
    """Frame grpclib's messages with this module's functions (once per process)."""
    global _installed
    if _installed:
        return
    for module in (grpclib.server, grpclib.client):
        for name, params in (
            ("recv_message", ("stream", "codec", "message_type")),
            ("send_message", ("stream", "codec", "message", "message_type")),
        ):
            found = getattr(module, name, None)
            code = getattr(found, "__code__", None)
            if code is None or code.co_varnames[: len(params)] != params:
                raise RuntimeError(  # a grpclib outside the tested range (pyproject.toml)
                    f"{module.__name__}.{name} is not the framing function keystone_net "
                    "replaces for compression; this grpclib version is not supported"
                )
    for module in (grpclib.server, grpclib.client):
        module.recv_message = _recv_message  # type: ignore[attr-defined]
        module.send_message = _send_message  # type: ignore[attr-defined]
    _installed = True
