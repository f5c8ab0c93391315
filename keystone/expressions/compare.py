"""DynamoDB-typed equality and ordering of normalised values.

This module owns the comparison rules every expression shares:

* ``=`` compares type *and* value, deeply for lists and maps (so ``True`` is
  not ``1`` and ``[1] = [True]`` is false);
* ordering (``< <= > >=``, ``BETWEEN``) is defined only between two values of
  the same orderable type: S (code-point order, which equals UTF-8 byte
  order), N, B (bytewise) and Ts. Anything else is simply "not ordered".

:data:`MISSING` stands for an attribute that is not in the item.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any, Final

from ..types import Vector, type_of


class _Missing:
    """The singleton marking an attribute that is not there."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()

#: Orderable type code of the exact Python types normalised values have.
_ORDER_KIND: Final[dict[type, str]] = {
    str: "S",
    int: "N",
    Decimal: "N",
    bytes: "B",
    _dt.datetime: "Ts",
}

#: Types whose values are equal exactly when Python says so (for same types).
_PLAIN: Final[frozenset[type]] = frozenset(
    {str, int, Decimal, bytes, bool, type(None), _dt.datetime, Vector}
)


def type_code(value: Any) -> str | None:
    """The stored type code of ``value``, or None for MISSING or a foreign object."""
    if value is MISSING:
        return None
    try:
        return type_of(value)
    except Exception:
        return None


def order_kind(value: Any) -> str | None:
    """``"S"``, ``"N"``, ``"B"`` or ``"Ts"`` for orderable values, else None."""
    kind = _ORDER_KIND.get(type(value))
    if kind is not None or value is MISSING:
        return kind
    code = type_code(value)
    return code if code in ("S", "N", "B", "Ts") else None


def equal(a: Any, b: Any) -> bool:
    """DynamoDB ``=``: same type and same value (deep). MISSING equals nothing."""
    ta = type(a)
    if ta is type(b) and ta in _PLAIN:
        return bool(a == b)
    if a is MISSING or b is MISSING:
        return False
    code = type_code(a)
    if code is None or code != type_code(b):
        return False
    if code == "L":
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if code == "M":
        return a.keys() == b.keys() and all(equal(v, b[k]) for k, v in a.items())
    return bool(a == b)


def ordered(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` can be ordered against each other."""
    kind = order_kind(a)
    return kind is not None and kind == order_kind(b)


def less(a: Any, b: Any) -> bool:
    """DynamoDB ``<``; false when the two are not of one orderable type."""
    return ordered(a, b) and bool(a < b)


def less_equal(a: Any, b: Any) -> bool:
    """DynamoDB ``<=``; false when the two are not of one orderable type."""
    return ordered(a, b) and bool(a <= b)


def between(value: Any, low: Any, high: Any) -> bool:
    """DynamoDB ``value BETWEEN low AND high`` (inclusive, one orderable type)."""
    kind = order_kind(value)
    return (
        kind is not None
        and kind == order_kind(low)
        and kind == order_kind(high)
        and bool(low <= value <= high)
    )


def contains(container: Any, element: Any) -> bool:
    """DynamoDB ``contains``: substring, set element, list element or byte run."""
    tc = type(container)
    if tc is str:
        return type(element) is str and element in container
    if tc is bytes:
        return type(element) is bytes and element in container
    code = type_code(container)
    if code in ("SS", "NS", "BS"):
        return code[0] == type_code(element) and element in container
    if code == "L":
        return any(equal(x, element) for x in container)
    if code == "S" and type_code(element) == "S":
        return str(element) in str(container)
    if code == "B" and type_code(element) == "B":
        return bytes(element) in bytes(container)
    return False


def begins_with(value: Any, prefix: Any) -> bool:
    """DynamoDB ``begins_with`` for strings and binary values."""
    tv = type(value)
    if tv is str or tv is bytes:
        return type(prefix) is tv and value.startswith(prefix)
    code = type_code(value)
    if code == "S" and type_code(prefix) == "S":
        return str(value).startswith(str(prefix))
    if code == "B" and type_code(prefix) == "B":
        return bytes(value).startswith(bytes(prefix))
    return False


def size(value: Any) -> Any:
    """DynamoDB ``size``: characters of S, bytes of B, elements of SS/NS/BS/L/M,
    length of a vector; MISSING for other types (so comparisons are false)."""
    code = type_code(value)
    if code in ("S", "B", "SS", "NS", "BS", "L", "M", "VecF32"):
        return len(value)
    return MISSING
