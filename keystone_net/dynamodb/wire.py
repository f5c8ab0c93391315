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
* :func:`key_condition`: a ``KeyConditionExpression`` (parsed by the
  library's expression grammar) as the partition key value and a
  ``keystone.sk`` condition, with the placeholders it used.

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

from keystone import sk as sk_conditions
from keystone.errors import ValidationError
from keystone.expressions import ast
from keystone.expressions.parser import parse_condition
from keystone.sk import SortKeyCondition
from keystone.types import Vector, format_number, parse_number

from . import errors

__all__ = [
    "decode_item",
    "decode_value",
    "decode_values",
    "encode_item",
    "encode_value",
    "key_condition",
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


# --------------------------------------------------------------------------
# Key conditions
# --------------------------------------------------------------------------

_SK_OPS: Final = {"=": "eq", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_FLIP: Final = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


class KeyCondition:
    """A parsed ``KeyConditionExpression``: partition key value, sort key condition, placeholders."""

    __slots__ = ("pk", "sk", "used_names", "used_values")

    def __init__(self) -> None:
        self.pk: Any = None
        self.sk: SortKeyCondition | None = None
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()


def key_condition(
    text: str,
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    pk_name: str,
    sk_name: str | None,
) -> KeyCondition:
    """The partition key value and sort key condition a ``KeyConditionExpression`` says."""
    try:
        tree = parse_condition(text)
    except ValidationError as exc:
        raise errors.validation(f"Invalid KeyConditionExpression: {exc}") from None
    out = KeyCondition()
    names = names or {}
    values = values or {}

    def attribute(operand: Any) -> str | None:
        if not isinstance(operand, ast.Path):
            return None
        if len(operand.elements) != 1:
            raise errors.validation(
                "Invalid KeyConditionExpression: Key conditions may not use nested attributes"
            )
        element = operand.elements[0]
        assert isinstance(element, ast.Name)
        if element.placeholder:
            if element.text not in names:
                raise errors.validation(
                    "Invalid KeyConditionExpression: An expression attribute name used in the "
                    f"document path is not defined; attribute name: {element.text}"
                )
            out.used_names.add(element.text)
            return names[element.text]
        return element.text

    def value(operand: Any) -> Any:
        if not isinstance(operand, ast.ValueRef):
            raise errors.validation(
                "Invalid KeyConditionExpression: a key condition compares a key attribute "
                "with an expression attribute value"
            )
        if operand.key not in values:
            raise errors.validation(
                "Invalid KeyConditionExpression: An expression attribute value used in "
                f"expression is not defined; attribute value: {operand.key}"
            )
        out.used_values.add(operand.key)
        return values[operand.key]

    parts: list[Any] = []

    def flatten(node: Any) -> None:
        if isinstance(node, ast.And):
            flatten(node.left)
            flatten(node.right)
        elif isinstance(node, (ast.Or, ast.Not, ast.In)):
            word = {ast.Or: "OR", ast.Not: "NOT", ast.In: "IN"}[type(node)]
            raise errors.validation(f"Invalid operator used in KeyConditionExpression: {word}")
        else:
            parts.append(node)

    flatten(tree)
    seen: set[str] = set()
    for node in parts:
        if isinstance(node, ast.Comparison):
            op = node.op
            name = attribute(node.left)
            if name is None:
                name = attribute(node.right)
                if name is None:
                    raise errors.validation(
                        "Invalid KeyConditionExpression: a key condition names a key attribute"
                    )
                op, operand = _FLIP.get(op, op), node.left
            else:
                operand = node.right
            if op == "<>":
                raise errors.validation("Unsupported operator in KeyConditionExpression: <>")
            v = value(operand)
        elif isinstance(node, ast.Between):
            name = attribute(node.operand)
            if name is None:
                raise errors.validation(
                    "Invalid KeyConditionExpression: BETWEEN applies to a key attribute"
                )
            op, v = "between", (value(node.low), value(node.high))
        elif isinstance(node, ast.Function) and node.name == "begins_with":
            name = attribute(node.args[0])
            if name is None:
                raise errors.validation(
                    "Invalid KeyConditionExpression: begins_with applies to a key attribute"
                )
            op, v = "begins_with", value(node.args[1])
        else:
            fn = getattr(node, "name", type(node).__name__)
            raise errors.validation(f"Invalid operator used in KeyConditionExpression: {fn}")
        if name in seen:
            raise errors.validation(
                "KeyConditionExpressions must only contain one condition per key"
            )
        seen.add(name)
        if name == pk_name:
            if op != "=":
                raise errors.validation("Query key condition not supported")
            out.pk = v
        elif sk_name is not None and name == sk_name:
            if op == "between":
                low, high = v
                out.sk = sk_conditions.between(low, high)
            elif op == "begins_with":
                out.sk = sk_conditions.begins_with(v)
            else:
                out.sk = getattr(sk_conditions, _SK_OPS[op])(v)
        else:
            raise errors.validation(
                f"Query condition missed key schema element: {pk_name}"
                if pk_name not in seen
                else f"Query key condition not supported: {name} is not a key attribute"
            )
    if pk_name not in seen:
        raise errors.validation(f"Query condition missed key schema element: {pk_name}")
    return out
