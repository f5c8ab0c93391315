"""The exception hierarchy of KeystoneDB (SPEC section 8).

Every error the library raises on purpose is a :class:`KeystoneError`.
``keystone_net`` rebuilds the same classes on the client side from gRPC
status codes, so application code catches the same exceptions whether it
talks to a local file or to a server.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence


class KeystoneError(Exception):
    """Base class of every KeystoneDB error."""


class ValidationError(KeystoneError, ValueError):
    """The request is malformed: a bad value, expression, key or limit.

    Nothing was changed. The message names what was wrong (the attribute
    path, the limit, or the position in the expression).
    """


class ConditionalCheckFailed(KeystoneError):
    """A write's condition evaluated to false; nothing was changed.

    ``item`` holds the item as it was when the write asked for it with
    ``return_values_on_condition_check_failure="ALL_OLD"`` (DynamoDB's
    ``ReturnValuesOnConditionCheckFailure``); ``None`` otherwise or when
    there was no item.
    """

    def __init__(
        self, message: str = "The conditional request failed", item: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.item = item


class TransactionCanceled(KeystoneError):
    """A transaction was cancelled; nothing was written.

    ``reasons`` has one entry per part of the transaction, in order: ``None``
    for a part that was fine, or a code such as ``"ConditionalCheckFailed"``
    or ``"ValidationError"``. ``items`` has one entry per part too: the item
    as it was, for a part whose condition failed and that asked for it with
    ``return_values_on_condition_check_failure="ALL_OLD"``; else ``None``.
    """

    def __init__(
        self,
        reasons: Sequence[str | None],
        message: str | None = None,
        items: Sequence[dict[str, object] | None] | None = None,
    ) -> None:
        self.reasons: list[str | None] = list(reasons)
        self.items: list[dict[str, object] | None] = (
            list(items) if items is not None else [None] * len(self.reasons)
        )
        if message is None:
            codes = ", ".join("None" if r is None else r for r in self.reasons)
            message = (
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{codes}]"
            )
        super().__init__(message)


class IdempotentParameterMismatch(ValidationError):
    """A ``transact_write`` token was used before, within 10 minutes, for other parts."""


class NotFound(KeystoneError):
    """A database file, index or other named thing does not exist."""


class ResourceExhausted(KeystoneError):
    """A limit of the server or of the machine was reached (retry later)."""


class Corruption(KeystoneError):
    """The database file holds data that cannot be decoded."""


class ReadOnly(KeystoneError, PermissionError):
    """A write where none can be made; nothing was changed.

    The database was opened with ``read_only=True``, or the file cannot be
    opened for writing: it is on read-only media, immutable, or not
    writable by this user (open it with ``read_only=True`` to read it).
    """


class DatabaseClosed(KeystoneError):
    """The database was used after ``close()``."""


class Timeout(KeystoneError, builtins.TimeoutError):
    """A call did not finish before its deadline (remote calls only)."""


class Unavailable(KeystoneError, ConnectionError):
    """The server could not be reached (remote calls only)."""


__all__ = [
    "ConditionalCheckFailed",
    "Corruption",
    "DatabaseClosed",
    "IdempotentParameterMismatch",
    "KeystoneError",
    "NotFound",
    "ReadOnly",
    "ResourceExhausted",
    "Timeout",
    "TransactionCanceled",
    "Unavailable",
    "ValidationError",
]
