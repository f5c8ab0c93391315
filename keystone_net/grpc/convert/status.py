"""keystone exceptions <-> gRPC statuses, messages and trailing metadata (PROTOCOL.md).

:func:`status_for` gives an exception's status, message and keystone
trailers (``keystone-error``, ``keystone-cancellation-reasons``,
``keystone-item-bin``); :func:`error_details` gives the same facts as the
details of the standard ``grpc-status-details-bin`` trailer (a
``google.rpc.Status``, read by ``grpc_status.rpc_status.from_call`` in
grpcio, ``status.FromError`` in grpc-go, or by decoding it in grpc-js): one
``google.rpc.ErrorInfo`` of domain :data:`ERROR_DOMAIN` whose ``reason`` is the
keystone error in UPPER_SNAKE_CASE (``CONDITIONAL_CHECK_FAILED``; the status
name for errors that are not keystone's), with ``metadata`` ``error`` (the
class name) and ``cancellation_reasons`` (the JSON list) when there are
some. :func:`exception_for` turns a status received back into the exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from google.rpc import error_details_pb2
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from keystone.errors import (
    ConditionalCheckFailed,
    Corruption,
    DatabaseClosed,
    IdempotentParameterMismatch,
    KeystoneError,
    NotFound,
    ResourceExhausted,
    Timeout,
    TransactionCanceled,
    Unavailable,
    ValidationError,
)
from keystone_net.errors import AuthenticationError

from .decode import item_from_bytes, value_from_bytes
from .encode import item_to_bytes, value_to_bytes

# --------------------------------------------------------------------------
# Errors <-> gRPC statuses
# --------------------------------------------------------------------------

#: Trailing metadata: the keystone exception class of an error status.
ERROR_CLASS_KEY: Final = "keystone-error"
#: Trailing metadata: ``TransactionCanceled.reasons`` as a JSON list.
CANCELLATION_REASONS_KEY: Final = "keystone-cancellation-reasons"
#: Trailing metadata (binary): ``TransactionCanceled.items`` as one serialized
#: ``Value`` (a list: a map per part whose item travels, null for the others);
#: sent only when some part has an item, within :data:`MAX_ITEM_METADATA_BYTES`.
CANCELLATION_ITEMS_KEY: Final = "keystone-cancellation-items-bin"
#: The library's message for creating a table that exists (DynamoDB's
#: ResourceInUseException); the wire reports it as ALREADY_EXISTS (PROTOCOL.md).
TABLE_EXISTS_MESSAGE: Final = "Table already exists: "
#: Trailing metadata (binary): ``ConditionalCheckFailed.item`` as a serialized ``Item``.
ITEM_KEY: Final = "keystone-item-bin"
#: ``ConditionalCheckFailed.item`` travels only up to this encoded size (HTTP/2
#: limits the size of trailers); a larger one arrives as ``item=None``.
MAX_ITEM_METADATA_BYTES: Final = 16 * 1024
#: ``google.rpc.ErrorInfo.domain`` of our errors.
ERROR_DOMAIN: Final = "keystonedb"
_MAX_MESSAGE: Final = 4096
_WORD_START: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_INTERNAL_MESSAGE: Final = "internal server error"

# Most specific first: status_for walks the exception's MRO.
_STATUS_OF: Final[dict[type[BaseException], Status]] = {
    TransactionCanceled: Status.ABORTED,
    IdempotentParameterMismatch: Status.INVALID_ARGUMENT,
    ConditionalCheckFailed: Status.FAILED_PRECONDITION,
    ValidationError: Status.INVALID_ARGUMENT,
    NotFound: Status.NOT_FOUND,
    ResourceExhausted: Status.RESOURCE_EXHAUSTED,
    Corruption: Status.DATA_LOSS,
    Timeout: Status.DEADLINE_EXCEEDED,
    Unavailable: Status.UNAVAILABLE,
    DatabaseClosed: Status.UNAVAILABLE,
    AuthenticationError: Status.UNAUTHENTICATED,
    KeystoneError: Status.INTERNAL,
}
_CLASS_BY_NAME: Final = {cls.__name__: cls for cls in _STATUS_OF}
_CLASS_OF_STATUS: Final[dict[Status, type[KeystoneError]]] = {
    Status.INVALID_ARGUMENT: ValidationError,
    Status.OUT_OF_RANGE: ValidationError,
    Status.NOT_FOUND: NotFound,
    Status.FAILED_PRECONDITION: ConditionalCheckFailed,
    Status.ALREADY_EXISTS: ConditionalCheckFailed,
    Status.ABORTED: TransactionCanceled,
    Status.RESOURCE_EXHAUSTED: ResourceExhausted,
    Status.DATA_LOSS: Corruption,
    Status.DEADLINE_EXCEEDED: Timeout,
    Status.UNAVAILABLE: Unavailable,
    Status.CANCELLED: Unavailable,
    Status.UNAUTHENTICATED: AuthenticationError,
    Status.PERMISSION_DENIED: AuthenticationError,
}


def status_for(exc: BaseException) -> tuple[Status, str, dict[str, str | bytes]]:
    """The gRPC ``(status, message, trailing metadata)`` that reports ``exc``.

    Keystone errors keep their message (it is meant for the user); a
    ``GRPCError`` passes through; ``MemoryError`` is RESOURCE_EXHAUSTED;
    anything else is INTERNAL with a generic message (log it on the server,
    never send the traceback).
    """
    if isinstance(exc, GRPCError):
        return exc.status, exc.message or exc.status.name, {}
    if not isinstance(exc, KeystoneError):
        if isinstance(exc, MemoryError):
            return Status.RESOURCE_EXHAUSTED, "the server is out of memory", {}
        return Status.INTERNAL, _INTERNAL_MESSAGE, {}
    for cls in type(exc).__mro__:
        status = _STATUS_OF.get(cls)
        if status is not None:
            break
    else:  # pragma: no cover - KeystoneError is in the table
        cls, status = KeystoneError, Status.INTERNAL
    message = str(exc) or cls.__name__
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    metadata: dict[str, str | bytes] = {ERROR_CLASS_KEY: cls.__name__}
    if cls is ValidationError and message.startswith(TABLE_EXISTS_MESSAGE):
        status = Status.ALREADY_EXISTS
    if isinstance(exc, TransactionCanceled):
        metadata[CANCELLATION_REASONS_KEY] = json.dumps(exc.reasons, separators=(",", ":"))
        if any(item is not None for item in exc.items):
            try:
                raw = value_to_bytes(list(exc.items), "items")
            except ValidationError:
                raw = b""
            if raw and len(raw) <= MAX_ITEM_METADATA_BYTES:
                metadata[CANCELLATION_ITEMS_KEY] = raw
    elif isinstance(exc, ConditionalCheckFailed) and exc.item is not None:
        try:
            raw = item_to_bytes(exc.item)
        except ValidationError:
            raw = b""
        if raw and len(raw) <= MAX_ITEM_METADATA_BYTES:
            metadata[ITEM_KEY] = raw
    return status, message, metadata


def error_details(status: Status, metadata: Iterable[tuple[str, Any]]) -> list[Any]:
    """The ``google.rpc.Status`` details of an error sent with trailers ``metadata``."""
    info = error_details_pb2.ErrorInfo(domain=ERROR_DOMAIN, reason=status.name)
    for key, value in metadata:
        if key == ERROR_CLASS_KEY and isinstance(value, str):
            info.reason = _WORD_START.sub("_", value).upper()
            info.metadata["error"] = value
        elif key == CANCELLATION_REASONS_KEY and isinstance(value, str):
            info.metadata["cancellation_reasons"] = value
    return [info]


def exception_for(
    status: Status,
    message: str | None,
    metadata: Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]] | None = None,
) -> KeystoneError:
    """The keystone exception of an error status received by the client.

    ``metadata`` is the call's trailing metadata (``stream.trailing_metadata``
    in grpclib), a mapping or a list of pairs; it may be ``None``.
    """
    md: Mapping[str, str | bytes]
    if metadata is None:
        md = {}
    elif isinstance(metadata, Mapping):
        md = metadata
    else:
        md = dict(metadata)
    cls: type[KeystoneError] | None = None
    name = md.get(ERROR_CLASS_KEY)
    if isinstance(name, str):
        named = _CLASS_BY_NAME.get(name)
        if named is not None and (
            _STATUS_OF[named] == status
            or (named is ValidationError and status is Status.ALREADY_EXISTS)
        ):
            cls = named  # type: ignore[assignment]
    if cls is None:
        cls = _CLASS_OF_STATUS.get(status, KeystoneError)
    if not message:
        message = f"the server answered {status.name}"
    if cls is TransactionCanceled:
        reasons = _reasons(md.get(CANCELLATION_REASONS_KEY))
        return TransactionCanceled(
            reasons, message, _items_of(md.get(CANCELLATION_ITEMS_KEY), len(reasons))
        )
    if cls is ConditionalCheckFailed:
        return ConditionalCheckFailed(message, _item_of(md.get(ITEM_KEY)))
    return cls(message)


def _reasons(raw: str | bytes | None) -> list[str | None]:
    if raw is None:
        return []
    try:
        reasons = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(reasons, list):
        return []
    return [r if r is None or isinstance(r, str) else str(r) for r in reasons]


def _item_of(raw: str | bytes | None) -> dict[str, Any] | None:
    if not isinstance(raw, bytes):
        return None
    try:
        return item_from_bytes(raw) or None
    except ValidationError:
        return None


def _items_of(raw: str | bytes | None, count: int) -> list[dict[str, Any] | None] | None:
    """``TransactionCanceled.items`` of its metadata (``None``: none travelled)."""
    if not isinstance(raw, bytes):
        return None
    try:
        items = value_from_bytes(raw, "items")
    except ValidationError:
        return None
    if not isinstance(items, list) or len(items) != count:
        return None
    return [item if isinstance(item, dict) and item else None for item in items]
