"""The one conversion between DynamoDB's JSON and ``keystone`` values, keys and conditions.

* :func:`decode_value` / :func:`decode_item`: an ``AttributeValue``
  (``{"S": "x"}``, ``{"N": "1.5"}``, ``{"B": "<base64>"}``, sets, ``L``, ``M``,
  ``NULL``, ``BOOL``) to the Python value the library stores, with DynamoDB's
  messages for what it refuses (an empty or ambiguous value, an empty set or
  one with duplicates, ``NULL: false``); numbers go through the library's
  own parser, which owns their rules;
* :func:`encode_value` / :func:`encode_item`: back. The two types DynamoDB
  lacks travel as DynamoDB types: a ``keystone.Vector`` as a list of numbers
  (``L`` of ``N``), a timestamp as its ISO 8601 text (``S``);
* :func:`key_of`: a request's ``Key`` as ``(pk, sk)`` of the table's key
  schema ("The provided key element does not match the schema" otherwise);

The legacy parameters (``Expected``, ``AttributesToGet``, ...) are turned
into expressions by :mod:`keystone_net.dynamodb.legacy`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from keystone.errors import ValidationError
from keystone.types import Vector, format_number, parse_number

from . import errors

__all__ = [
    "decode_item",
    "decode_value",
    "decode_values",
    "encode_item",
    "encode_value",
    "key_of",
]

_TYPES: Final = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
_SET_NAMES: Final = {"SS": "string", "NS": "number", "BS": "binary"}


def _invalid(message: str) -> errors.DynamoError:
    return errors.validation("One or more parameter values were invalid: " + message)


# --------------------------------------------------------------------------
# Decoding: JSON -> Python
# --------------------------------------------------------------------------


def _blob(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise errors.serialization("Base64 encoded binary data could not be decoded") from None


def _number(text: str) -> int | Decimal:
    stripped = text.strip()
    if not stripped or stripped != text or "_" in text:
        raise errors.validation(f"The parameter cannot be converted to a numeric value: {text}")
    try:
        return parse_number(text)
    except ValidationError as exc:
        if "is not a" in str(exc):
            raise errors.validation(
                f"The parameter cannot be converted to a numeric value: {text}"
            ) from None
        raise errors.validation(str(exc)) from None


def decode_value(av: Any) -> Any:
    """The Python value of one ``AttributeValue`` (its JSON types are checked already)."""
    if type(av) is not dict:
        raise errors.serialization("Start of structure or map expected")
    if len(av) != 1:
        present = [k for k in _TYPES if av.get(k) is not None]
        if not present:
            raise errors.validation(
                "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
            )
        if len(present) > 1:
            raise errors.validation(
                "Supplied AttributeValue has more than one datatypes set, "
                "must contain exactly one of the supported datatypes"
            )
        kind = present[0]
        value = av[kind]
    else:
        ((kind, value),) = av.items()
    if kind == "S":
        return value
    if kind == "N":
        return _number(value)
    if kind == "M":
        return {k: decode_value(v) for k, v in value.items()}
    if kind == "L":
        return [decode_value(v) for v in value]
    if kind == "BOOL":
        return value
    if kind == "NULL":
        if value is not True:
            raise _invalid("Null attribute value types must have the value of true")
        return None
    if kind == "B":
        return _blob(value)
    if kind in _SET_NAMES:
        if not value:
            raise _invalid(f"An {_SET_NAMES[kind]} set  may not be empty")
        if kind == "SS":
            members: set[Any] = set(value)
        elif kind == "NS":
            members = {_number(v) for v in value}
        else:
            members = {_blob(v) for v in value}
        if len(members) != len(value):
            raise _invalid(f"Input collection [{', '.join(map(str, value))}] contains duplicates.")
        return members
    raise errors.validation(
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    )


def decode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A map of attribute names to ``AttributeValue`` as a Python item."""
    return {name: decode_value(av) for name, av in item.items()}


def decode_values(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``ExpressionAttributeValues`` as Python values (``None`` when absent)."""
    if not values:
        return None
    return {name: decode_value(av) for name, av in values.items()}


# --------------------------------------------------------------------------
# Encoding: Python -> JSON
# --------------------------------------------------------------------------


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def encode_value(value: Any) -> dict[str, Any]:
    """The ``AttributeValue`` of a value the library returned."""
    t = type(value)
    if t is str:
        return {"S": value}
    if t is bool:
        return {"BOOL": value}
    if t is int or t is Decimal:
        return {"N": format_number(value)}
    if t is dict:
        return {"M": {k: encode_value(v) for k, v in value.items()}}
    if t is list:
        return {"L": [encode_value(v) for v in value]}
    if value is None:
        return {"NULL": True}
    if t is bytes:
        return {"B": _b64(value)}
    if t is set or t is frozenset:
        first = next(iter(value))
        if isinstance(first, str):
            return {"SS": sorted(value)}
        if isinstance(first, bytes):
            return {"BS": [_b64(v) for v in sorted(value)]}
        return {"NS": [format_number(v) for v in sorted(value)]}
    if isinstance(value, Vector):
        return {"L": [{"N": format_number(Decimal(repr(float(x))))} for x in value]}
    if isinstance(value, _dt.datetime):
        return {"S": value.isoformat()}
    if isinstance(value, (bytearray, memoryview)):
        return {"B": _b64(bytes(value))}
    raise TypeError(f"no DynamoDB type for {t.__name__}")


def encode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A Python item as a map of attribute names to ``AttributeValue``."""
    return {name: encode_value(v) for name, v in item.items()}


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------

_SCHEMA_MISMATCH: Final = "The provided key element does not match the schema"


def key_of(key: Mapping[str, Any], pk_name: str, sk_name: str | None) -> tuple[Any, Any]:
    """``(pk, sk)`` of a request's ``Key`` (``sk`` is ``None`` for a table without one)."""
    expected = 1 if sk_name is None else 2
    if len(key) != expected or pk_name not in key or (sk_name is not None and sk_name not in key):
        raise errors.validation(_SCHEMA_MISMATCH)
    pk = decode_value(key[pk_name])
    sk = None if sk_name is None else decode_value(key[sk_name])
    for value in (pk, sk):
        if value is not None and not isinstance(value, (str, bytes, int, Decimal)):
            raise errors.validation(_SCHEMA_MISMATCH)
    return pk, sk


def item_key(item: Mapping[str, Any], pk_name: str, sk_name: str | None) -> dict[str, Any]:
    """The key attributes of a (Python) item, as a Python key dict."""
    out = {pk_name: item[pk_name]}
    if sk_name is not None and sk_name in item:
        out[sk_name] = item[sk_name]
    return out
