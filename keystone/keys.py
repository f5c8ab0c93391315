"""Typed key values (``S``, ``N``, ``B``): type checks, DynamoDB's messages, key bytes.

A typed table or index declares each key attribute's type. This module is
the one place that decides whether a value fits a declared key type and
turns it into key bytes: ``S`` as UTF-8, ``B`` as is, ``N`` as
:func:`keystone.codec.number_key` (bytes that order as the numbers do).
Its messages are DynamoDB's, so code that handles them here handles them
there. (Untyped, legacy keys keep :func:`keystone.codec.key_bytes`.)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from .codec import number_key
from .errors import ValidationError
from .schema import KeyType
from .sk import SortKeyCondition
from .types import check_unicode, normalize_number, type_of

MAX_PARTITION_KEY_BYTES: Final = 2048
MAX_SORT_KEY_BYTES: Final = 1024
PARTITION: Final = "partition"
SORT: Final = "sort"

_INVALID: Final = "One or more parameter values were invalid: "
PARTITION_TOO_LONG: Final = (
    _INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes"
)
SORT_TOO_LONG: Final = (
    _INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
)
CONDITION_TYPE: Final = _INVALID + "Condition parameter type does not match schema type"


def missing_key(attr: str) -> str:
    return f"{_INVALID}Missing the key {attr} in the item"


def schema_mismatch(detail: str) -> str:
    return f"The provided key element does not match the schema ({detail})"


def _type_name(value: object) -> str:
    try:
        return type_of(value)
    except ValidationError:
        return type(value).__name__


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _raw(value: object, kind: KeyType, attr: str) -> bytes | None:
    """The key bytes of ``value`` as a ``kind`` key, or ``None`` if it has another type."""
    if kind == "S":
        return check_unicode(value, attr).encode() if isinstance(value, str) else None
    if kind == "B":
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        return None
    if _is_number(value):
        return number_key(normalize_number(value, attr))
    return None


def empty_message(attr: str, kind: KeyType) -> str:
    what = "string" if kind == "S" else "binary"
    return (
        "One or more parameter values are not valid. The AttributeValue for a key attribute "
        f"cannot contain an empty {what} value. Key: {attr}"
    )


def key_value(value: object, attr: str, kind: KeyType, in_item: bool, role: str) -> bytes:
    """The key bytes of a table key value; ``in_item``: it comes from an item being written."""
    raw = _raw(value, kind, attr)
    if raw is None:
        detail = f"Type mismatch for key {attr} expected: {kind} actual: {_type_name(value)}"
        raise ValidationError(_INVALID + detail if in_item else schema_mismatch(detail))
    if not raw:
        raise ValidationError(empty_message(attr, kind))
    if kind != "N":
        if role == PARTITION and len(raw) > MAX_PARTITION_KEY_BYTES:
            raise ValidationError(PARTITION_TOO_LONG)
        if role == SORT and len(raw) > MAX_SORT_KEY_BYTES:
            raise ValidationError(SORT_TOO_LONG)
    return raw


def index_value(value: object, attr: str, kind: KeyType, index: str) -> bytes:
    """The key bytes of an index key value an item holds (typed index)."""
    raw = _raw(value, kind, attr)
    if raw is None:
        raise ValidationError(
            f"{_INVALID}Type mismatch for Index Key {attr} Expected: {kind} "
            f"Actual: {_type_name(value)} IndexName: {index}"
        )
    if not raw:
        what = "string" if kind == "S" else "binary"
        raise ValidationError(
            "One or more parameter values are not valid. A value specified for a secondary "
            "index key is not supported. The AttributeValue for a key attribute cannot "
            f"contain an empty {what} value. IndexName: {index}, IndexKey: {attr}"
        )
    return raw


def condition_value(value: object, attr: str, kind: KeyType) -> bytes:
    """The key bytes of a value a query compares a typed key with."""
    raw = _raw(value, kind, attr)
    if raw is None:
        raise ValidationError(CONDITION_TYPE)
    if not raw:
        raise ValidationError(empty_message(attr, kind))
    return raw


def condition_values(
    cond: SortKeyCondition, attr: str, kind: KeyType
) -> tuple[bytes, bytes | None]:
    """The key bytes of a typed sort key condition's value (and ``between``'s upper one)."""
    if cond.op == "begins_with" and kind == "N":
        raise ValidationError(
            "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N"
        )
    v = condition_value(cond.value, attr, kind)
    u = condition_value(cond.upper, attr, kind) if cond.op == "between" else None
    return v, u


__all__ = [
    "MAX_PARTITION_KEY_BYTES",
    "MAX_SORT_KEY_BYTES",
    "condition_values",
    "condition_value",
    "index_value",
    "key_value",
    "missing_key",
    "schema_mismatch",
]
