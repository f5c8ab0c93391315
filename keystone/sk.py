"""Sort-key conditions for ``Database.query``: ``sk.eq``, ``sk.between``, ...

Each function returns an immutable :class:`SortKeyCondition`. Sort keys
order bytewise (UTF-8 for str), as DynamoDB orders S and B keys, so every
condition is a contiguous range of the partition; :meth:`key_range` gives
that range in sort-key bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from .codec import key_bytes
from .errors import ValidationError

Op = Literal["eq", "lt", "le", "gt", "ge", "between", "begins_with"]
#: A key value a query takes: the table's keys are str or bytes; an index's
#: may also be numbers.
KeyValue = str | bytes | int | float | Decimal


def bounds(
    op: str, v: bytes, u: bytes | None = None
) -> tuple[bytes | None, bool, bytes | None, bool]:
    """``(low, low_inclusive, high, high_inclusive)`` of operator ``op`` on key bytes ``v``
    (and ``u``, the upper bound of ``between``); ``None`` = open. ``begins_with``
    gives only its low bound: the caller bounds the prefix."""
    if op == "eq":
        return v, True, v, True
    if op == "lt":
        return None, True, v, False
    if op == "le":
        return None, True, v, True
    if op == "gt":
        return v, False, None, True
    if op == "ge":
        return v, True, None, True
    if op == "between":
        assert u is not None
        if v > u:
            raise ValidationError(
                "sk.between: the lower bound must not be greater than the upper bound"
            )
        return v, True, u, True
    if op == "begins_with":
        return v, True, None, True
    raise ValidationError(f"unknown sort key condition {op!r}")


@dataclass(frozen=True, slots=True)
class SortKeyCondition:
    """A condition on the sort key: ``op`` and one value (two for ``between``)."""

    op: Op
    value: KeyValue
    upper: KeyValue | None = None

    def key_range(self) -> tuple[bytes | None, bool, bytes | None, bool]:
        """``(low, low_inclusive, high, high_inclusive)`` in sort-key bytes; ``None`` = open."""
        v = key_bytes(self.value, "sort key condition value")
        u = None
        if self.op == "between":
            u = key_bytes(self.upper, "sort key condition upper bound")
        return bounds(self.op, v, u)

    def matches(self, sk: bytes) -> bool:
        """Whether sort-key bytes ``sk`` satisfy the condition."""
        v = key_bytes(self.value, "sort key condition value")
        op = self.op
        if op == "eq":
            return sk == v
        if op == "lt":
            return sk < v
        if op == "le":
            return sk <= v
        if op == "gt":
            return sk > v
        if op == "ge":
            return sk >= v
        if op == "between":
            return v <= sk <= key_bytes(self.upper, "sort key condition upper bound")
        return sk.startswith(v)


def eq(value: KeyValue) -> SortKeyCondition:
    """Sort key equal to ``value``."""
    return SortKeyCondition("eq", value)


def lt(value: KeyValue) -> SortKeyCondition:
    """Sort key less than ``value``."""
    return SortKeyCondition("lt", value)


def le(value: KeyValue) -> SortKeyCondition:
    """Sort key less than or equal to ``value``."""
    return SortKeyCondition("le", value)


def gt(value: KeyValue) -> SortKeyCondition:
    """Sort key greater than ``value``."""
    return SortKeyCondition("gt", value)


def ge(value: KeyValue) -> SortKeyCondition:
    """Sort key greater than or equal to ``value``."""
    return SortKeyCondition("ge", value)


def between(low: KeyValue, high: KeyValue) -> SortKeyCondition:
    """Sort key between ``low`` and ``high``, both included."""
    return SortKeyCondition("between", low, high)


def begins_with(prefix: KeyValue) -> SortKeyCondition:
    """Sort key starting with ``prefix``."""
    return SortKeyCondition("begins_with", prefix)


__all__ = ["SortKeyCondition", "begins_with", "between", "eq", "ge", "gt", "le", "lt"]
