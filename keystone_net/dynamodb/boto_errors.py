"""DynamoDB's error codes -> the library's exceptions (SPEC section 8), in one place.

botocore raises ``ClientError`` carrying DynamoDB's ``__type`` code;
:func:`translate` turns it into the exception ``keystone.Database`` raises
for the same mistake, so application code catches the same classes on a
file and on DynamoDB. Throttling reaches the caller as ``ResourceExhausted``
only after botocore's retries (``Config(retries=...)``) have run out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from botocore.exceptions import (
    ClientError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from keystone.errors import (
    ConditionalCheckFailed,
    KeystoneError,
    NotFound,
    ResourceExhausted,
    Timeout,
    TransactionCanceled,
    Unavailable,
    ValidationError,
)

from .encoding import decode_item

#: Codes whose meaning is "slow down and try again later".
THROTTLING: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "TransactionInProgressException",
        "ItemCollectionSizeLimitExceededException",
    }
)
_VALIDATION: Final = frozenset(
    {
        "ValidationException",
        "SerializationException",
        "IdempotentParameterMismatchException",
        "ResourceInUseException",
        "DuplicateItemException",
    }
)
_UNAVAILABLE: Final = frozenset(
    {"InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException"}
)
#: CancellationReasons codes that keep their name; "None" means the part was fine.
_REASONS: Final[Mapping[str, str]] = {"ValidationError": "ValidationError"}


def _reason(code: str | None) -> str | None:
    if code in (None, "None"):
        return None
    return _REASONS.get(code, code)


def translate(exc: ClientError) -> KeystoneError:
    """The library exception for one DynamoDB error response."""
    response: Mapping[str, Any] = exc.response
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message") or response.get("message") or code)
    if code == "ConditionalCheckFailedException":
        # DynamoDB's reply carries the item when ReturnValuesOnConditionCheckFailure=ALL_OLD.
        raw = response.get("Item")
        return ConditionalCheckFailed(item=decode_item(raw) if raw else None)
    if code == "TransactionCanceledException":
        given = response.get("CancellationReasons", [])
        return TransactionCanceled(
            [_reason(r.get("Code")) for r in given],
            items=[decode_item(r["Item"]) if r.get("Item") else None for r in given],
        )
    if code in _VALIDATION:
        return ValidationError(message)
    if code == "ResourceNotFoundException":
        return NotFound(message)
    if code in THROTTLING:
        return ResourceExhausted(f"{code}: {message} (retries exhausted)")
    if code in _UNAVAILABLE:
        return Unavailable(f"{code}: {message}")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code.isdigit() or (isinstance(status, int) and status >= 500):
        # No DynamoDB error code: the endpoint failed (an HTML error page is not a message).
        return Unavailable(
            f"the DynamoDB endpoint answered HTTP {status or code} without a DynamoDB error "
            "(a server error on its side)"
        )
    return KeystoneError(f"{code}: {message}")


def call(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """``fn(**kwargs)`` (a botocore client method) with DynamoDB's errors translated."""
    try:
        return fn(**{k: v for k, v in kwargs.items() if v is not None})
    except ClientError as exc:
        raise translate(exc) from exc
    except ParamValidationError as exc:
        raise ValidationError(str(exc)) from exc
    except ReadTimeoutError as exc:
        raise Timeout(str(exc)) from exc
    except BotoConnectionError as exc:
        raise Unavailable(str(exc)) from exc


__all__ = ["THROTTLING", "call", "translate"]
