"""DynamoDB's errors as the endpoint answers them: ``__type``, message, HTTP status, extra fields.

:class:`DynamoError` is every error the endpoint sends. :func:`error_for`
maps an exception raised while handling a request (a ``keystone`` error, a
limit's refusal, anything else) to one, so there is exactly one mapping from
the library's errors to DynamoDB's. An error is sent as DynamoDB sends it:
HTTP 400 (500 for an internal error, 503 for an unavailable server) and a
JSON body ``{"__type": "com.amazonaws.dynamodb.v20120810#<Code>", "message":
...}`` (the request layer's errors, ValidationException, SerializationException,
UnknownOperationException and the signature ones, in the ``com.amazon.coral``
namespaces DynamoDB sends them in; ``Message`` for the codes DynamoDB
spells that way), plus the code's own fields (``Item``, ``CancellationReasons``).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from keystone.errors import (
    ConditionalCheckFailed,
    DatabaseClosed,
    IdempotentParameterMismatch,
    NotFound,
    ResourceExhausted,
    TransactionCanceled,
    Unavailable,
    ValidationError,
)

__all__ = [
    "PREFIX",
    "DynamoError",
    "access_denied",
    "error_for",
    "invalid_signature",
    "resource_not_found",
    "serialization",
    "unknown_operation",
    "unrecognized_client",
    "validation",
]

logger = logging.getLogger(__name__)

#: The namespace of the ``__type`` of DynamoDB's own errors.
PREFIX: Final = "com.amazonaws.dynamodb.v20120810#"
#: Errors of the request layer in front of DynamoDB carry the namespace of
#: that layer, as DynamoDB sends them (SDKs read the part after ``#``).
_NAMESPACES: Final = {
    "ValidationException": "com.amazon.coral.validate#",
    "SerializationException": "com.amazon.coral.service#",
    "UnknownOperationException": "com.amazon.coral.service#",
    "UnrecognizedClientException": "com.amazon.coral.service#",
    "InvalidSignatureException": "com.amazon.coral.service#",
    "MissingAuthenticationTokenException": "com.amazon.coral.service#",
    "AccessDeniedException": "com.amazon.coral.service#",
}
#: Codes whose message field DynamoDB spells ``Message``.
_CAPITAL_MESSAGE: Final = frozenset(
    {"UnrecognizedClientException", "InvalidSignatureException", "AccessDeniedException"}
)
#: Codes answered with another HTTP status than 400.
_STATUS: Final = {"InternalServerError": 500, "ServiceUnavailable": 503}


class DynamoError(Exception):
    """An error answer: DynamoDB's code, its message and any fields of the code."""

    def __init__(self, code: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields

    @property
    def status(self) -> int:
        return _STATUS.get(self.code, 400)

    def body(self) -> dict[str, Any]:
        key = "Message" if self.code in _CAPITAL_MESSAGE else "message"
        namespace = _NAMESPACES.get(self.code, PREFIX)
        out: dict[str, Any] = {"__type": namespace + self.code, key: self.message}
        out.update(self.fields)
        return out


def validation(message: str) -> DynamoError:
    return DynamoError("ValidationException", message)


def serialization(message: str) -> DynamoError:
    return DynamoError("SerializationException", message)


def unknown_operation(target: str) -> DynamoError:
    return DynamoError("UnknownOperationException", f"Unknown operation: {target}")


def resource_not_found(message: str = "Requested resource not found") -> DynamoError:
    return DynamoError("ResourceNotFoundException", message)


def unrecognized_client() -> DynamoError:
    return DynamoError(
        "UnrecognizedClientException", "The security token included in the request is invalid."
    )


def invalid_signature(message: str) -> DynamoError:
    return DynamoError("InvalidSignatureException", message)


def access_denied(message: str) -> DynamoError:
    return DynamoError("AccessDeniedException", message)


def error_for(exc: BaseException, operation: str = "") -> DynamoError:
    """The DynamoDB error of an exception raised while handling ``operation``."""
    if isinstance(exc, DynamoError):
        return exc
    if isinstance(exc, ConditionalCheckFailed):
        fields: dict[str, Any] = {}
        item = getattr(exc, "wire_item", None)
        if item is not None:
            fields["Item"] = item
        return DynamoError(
            "ConditionalCheckFailedException", "The conditional request failed", **fields
        )
    if isinstance(exc, TransactionCanceled):
        reasons = getattr(exc, "wire_reasons", None) or [
            {"Code": "None"} if r is None else {"Code": _reason_code(r), "Message": _reason_text(r)}
            for r in exc.reasons
        ]
        codes = ", ".join(r["Code"] for r in reasons)
        return DynamoError(
            "TransactionCanceledException",
            f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
            CancellationReasons=reasons,
        )
    if isinstance(exc, IdempotentParameterMismatch):
        return DynamoError("IdempotentParameterMismatchException", str(exc))
    if isinstance(exc, ValidationError):
        return validation(str(exc))
    if isinstance(exc, NotFound):
        return resource_not_found(str(exc) or "Requested resource not found")
    if isinstance(exc, ResourceExhausted):
        # A limit of ours (connections, rates, overload): DynamoDB's throttling error,
        # which every SDK retries with backoff.
        return DynamoError("ThrottlingException", str(exc))
    if isinstance(exc, (Unavailable, DatabaseClosed)):
        return DynamoError("ServiceUnavailable", str(exc) or "the server is shutting down")
    logger.error("%s failed unexpectedly", operation or "a request", exc_info=exc)
    return DynamoError("InternalServerError", "Internal server error")


def _reason_code(reason: str) -> str:
    return {"ConditionalCheckFailed": "ConditionalCheckFailed"}.get(reason, reason)


def _reason_text(reason: str) -> str:
    if reason == "ConditionalCheckFailed":
        return "The conditional request failed"
    return "One or more parameter values were invalid"
