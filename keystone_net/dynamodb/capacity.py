"""Capacity units as DynamoDB counts them, for ``ReturnConsumedCapacity``.

An item's size is the sum of its attribute names' UTF-8 lengths and its
values' sizes (strings by UTF-8 length, binaries by length, numbers by
about one byte per two significant digits plus one, booleans and nulls one
byte, lists and maps 3 bytes plus one byte per element plus their contents).
A read unit covers 4 KB of a strongly consistent read, or 8 KB eventually
consistent (half a unit per 4 KB); a write unit covers 1 KB. Transactions
cost twice as much. A query or scan is charged on the total size of the
items it read, rounded up once.

What the endpoint cannot know without reading more than it is asked to (the
size of an item a projection cut down, the old image of a write that did
not return it), it charges on what it has: the item read or written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

__all__ = ["consumed", "item_size", "read_units", "write_units"]

_KB: Final = 1024


def _value_size(value: Any) -> int:
    t = type(value)
    if t is str:
        return len(value.encode())
    if t is bool or value is None:
        return 1
    if t is int or t is Decimal:
        digits = len(str(abs(Decimal(value)).normalize()).replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if t is bytes:
        return len(value)
    if t is dict:
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in value.items())
    if t is list:
        return 3 + sum(_value_size(v) + 1 for v in value)
    if t is set or t is frozenset:
        return sum(_value_size(v) for v in value)
    return len(str(value).encode())


def item_size(item: Mapping[str, Any] | None) -> int:
    """The size of an item by DynamoDB's rules (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + _value_size(v) for name, v in item.items())


def read_units(size: int, consistent: bool = False, transactional: bool = False) -> float:
    """Read units for ``size`` bytes read in one go (at least one 4 KB block)."""
    units = float(max(1, math.ceil(size / (4 * _KB))))
    if transactional:
        return units * 2
    return units if consistent else units / 2


def write_units(size: int, transactional: bool = False) -> float:
    """Write units for writing an item of ``size`` bytes (at least 1 KB)."""
    units = float(max(1, math.ceil(size / _KB)))
    return units * 2 if transactional else units


def wanted(mode: str | None) -> bool:
    """Whether ``ReturnConsumedCapacity`` ``mode`` asks for units (TOTAL or INDEXES)."""
    return mode in ("TOTAL", "INDEXES")


def consumed(
    mode: str | None, charges: Iterable[tuple[str, float, str]]
) -> list[dict[str, Any]] | None:
    """``ConsumedCapacity`` entries for ``mode`` (TOTAL/INDEXES) of ``(table, units, kind)`` charges.

    ``kind`` is ``"read"`` or ``"write"``; ``None`` when the request did not ask
    (so a caller may leave its charges at 0 then: see :func:`wanted`).
    """
    if not wanted(mode):
        return None
    tables: dict[str, dict[str, float]] = {}
    for table, units, kind in charges:
        entry = tables.setdefault(table, {"read": 0.0, "write": 0.0})
        entry[kind] += units
    out = []
    for table, entry in tables.items():
        total = entry["read"] + entry["write"]
        one: dict[str, Any] = {"TableName": table, "CapacityUnits": total}
        if entry["read"]:
            one["ReadCapacityUnits"] = entry["read"]
        if entry["write"]:
            one["WriteCapacityUnits"] = entry["write"]
        if mode == "INDEXES":
            one["Table"] = {k: v for k, v in one.items() if k != "TableName"}
        out.append(one)
    return out
