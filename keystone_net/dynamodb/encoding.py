"""Python values <-> DynamoDB ``AttributeValue``s, through boto3's own serializers.

Every value first goes through ``keystone.types.normalize_item`` (the
library's one validation of values), so a value the library refuses is
refused here with the same ``ValidationError``. boto3's ``TypeSerializer``
and ``TypeDeserializer`` then do the DynamoDB mapping. Around them sit only
the two types DynamoDB lacks and the output types the library promises:

* ``keystone.Vector`` is written as a map of one attribute,
  ``{"__keystone:VecF32": B}``, holding the vector's little-endian float32
  bytes (``Vector.to_bytes()``).
* an aware ``datetime`` is written as ``{"__keystone:Ts": N}``, the
  milliseconds since the epoch (UTC).

Both read back as the same Python values. Other DynamoDB readers (the
console, the AWS CLI, other SDKs) see an ordinary map with that one
attribute. A map of one attribute with one of those names is therefore
refused on write, so that what is read back is never ambiguous.

Numbers read back as ``int`` when integral, else ``Decimal``; binary as
``bytes``; sets as ``set`` -- as ``keystone.Database`` returns them.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from keystone.errors import ValidationError
from keystone.types import (
    Item,
    Vector,
    datetime_to_ms,
    ms_to_datetime,
    normalize_item,
    normalize_number,
    normalize_value,
)

#: The attribute name of the one-attribute map that holds a ``Vector``.
VECTOR_TAG: Final = "__keystone:VecF32"
#: The attribute name of the one-attribute map that holds a timestamp.
TIMESTAMP_TAG: Final = "__keystone:Ts"
_TAGS: Final = (VECTOR_TAG, TIMESTAMP_TAG)

AttributeValue = dict[str, Any]
_serializer: Final = TypeSerializer()
_deserializer: Final = TypeDeserializer()


def _to_dynamo(value: Any, path: str) -> Any:
    """A normalised value with the types DynamoDB lacks replaced by their tagged maps."""
    if isinstance(value, Vector):
        return {VECTOR_TAG: value.to_bytes()}
    if isinstance(value, _dt.datetime):
        return {TIMESTAMP_TAG: datetime_to_ms(value, path)}
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in _TAGS:
            raise ValidationError(
                f"{path}: a map whose only attribute is {next(iter(value))!r} is reserved "
                "for keystone's encoding of Vector and datetime values on DynamoDB"
            )
        return {k: _to_dynamo(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _from_dynamo(value: Any) -> Any:
    """The Python value of a deserialized DynamoDB value, as the library returns it."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        return normalize_number(value)
    if isinstance(value, Binary):
        return bytes(value.value)
    if isinstance(value, dict):
        if len(value) == 1:
            ((name, inner),) = value.items()
            if name == VECTOR_TAG and isinstance(inner, Binary):
                return Vector.from_bytes(bytes(inner.value))
            if name == TIMESTAMP_TAG and isinstance(inner, Decimal):
                return ms_to_datetime(int(inner))
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return {_from_dynamo(v) for v in value}
    return value


def encode_value(value: object, path: str = "value") -> AttributeValue:
    """One Python value as a DynamoDB ``AttributeValue`` (validated as the library does)."""
    out: AttributeValue = _serializer.serialize(_to_dynamo(normalize_value(value, path), path))
    return out


def encode_item(item: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """An item as a DynamoDB item (``{name: AttributeValue}``)."""
    normal = normalize_item(item)
    return {name: _serializer.serialize(_to_dynamo(v, name)) for name, v in normal.items()}


def encode_values(values: Mapping[str, Any] | None) -> dict[str, AttributeValue] | None:
    """``ExpressionAttributeValues`` from a ``values`` mapping (``None`` stays ``None``)."""
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise ValidationError(f"values must be a dict, got {type(values).__name__}")
    return {name: encode_value(v, name) for name, v in values.items()}


def decode_value(value: AttributeValue) -> Any:
    """The Python value of one DynamoDB ``AttributeValue``."""
    return _from_dynamo(_deserializer.deserialize(value))


def decode_item(item: Mapping[str, AttributeValue]) -> Item:
    """A DynamoDB item as the library's item (``dict[str, value]``)."""
    return {name: decode_value(v) for name, v in item.items()}


__all__ = [
    "TIMESTAMP_TAG",
    "VECTOR_TAG",
    "AttributeValue",
    "decode_item",
    "decode_value",
    "encode_item",
    "encode_value",
    "encode_values",
]
