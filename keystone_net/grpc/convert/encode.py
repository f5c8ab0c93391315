"""Python values -> protobuf bytes: the one encoder of values, items and placeholder maps."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from keystone.errors import (
    ValidationError,
)
from keystone.types import (
    MAX_NESTING_DEPTH,
    Vector,
    datetime_to_ms,
    format_number,
    normalize_number,
    normalize_value,
    set_kind,
)
from keystone_net._proto import keystone as pb

from .wire import (
    _INT64_END,
    _INT64_MIN,
    _TOO_DEEP,
    _VARINT_TABLE_SIZE,
    _VARINTS,
    _Bad,
    _fail,
    _Item,
    _Value,
    _varint,
    len_field,
)

# --------------------------------------------------------------------------
# Python -> wire bytes (the one encoder)
# --------------------------------------------------------------------------


def _enc(v: Any, depth: int) -> bytes:
    """The serialized ``Value`` message of ``v``."""
    t = type(v)
    b: bytes
    if t is str:
        try:
            b = v.encode()
        except UnicodeEncodeError:
            raise _Bad("strings must be valid Unicode (no lone surrogates)") from None
        n = len(b)
        return b"\x0a" + (_VARINTS[n] if n < _VARINT_TABLE_SIZE else _varint(n)) + b
    if t is int:
        if _INT64_MIN <= v < _INT64_END:
            b = str(v).encode()
        else:
            b = format_number(_number(v)).encode()
        return b"\x12" + _VARINTS[len(b)] + b
    if t is Decimal or t is float:
        b = format_number(_number(v)).encode()
        return b"\x12" + _VARINTS[len(b)] + b
    if t is bytes:
        b = v
        n = len(b)
        return b"\x1a" + (_VARINTS[n] if n < _VARINT_TABLE_SIZE else _varint(n)) + b
    if t is bool:
        return b"\x20\x01" if v else b"\x20\x00"
    if v is None:
        return b"\x28\x00"
    if t is dict:
        if depth > MAX_NESTING_DEPTH:
            raise _Bad(_TOO_DEEP)
        body = _entries(v, depth + 1, b"\x0a")
        return b"\x3a" + _varint(len(body)) + body
    if t is list or t is tuple:
        if depth > MAX_NESTING_DEPTH:
            raise _Bad(_TOO_DEEP)
        depth += 1
        parts = []
        for i, sub in enumerate(v):
            try:
                b = _enc(sub, depth)
            except _Bad as exc:
                exc.parts.append(i)
                raise
            parts.append(b"\x0a" + _varint(len(b)) + b)
        body = b"".join(parts)
        return b"\x32" + _varint(len(body)) + body
    if t is set or t is frozenset:
        return _enc_set(v)
    if t is Vector or isinstance(v, Vector):
        raw = v.to_bytes()  # little-endian float32: a packed `repeated float`
        body = b"\x0a" + _varint(len(raw)) + raw if raw else b""
        return b"\x42" + _varint(len(body)) + body
    if t is _dt.datetime:
        try:
            return b"\x48" + _varint(datetime_to_ms(v))
        except ValidationError:
            raise _Bad("invalid datetime", lambda path: datetime_to_ms(v, path)) from None
    # Subclasses and other accepted types (bytearray, memoryview, Mapping,
    # set subclasses, ...): normalise as the library does, then encode.
    try:
        normal = normalize_value(v)
    except ValidationError:
        raise _Bad("unsupported value", lambda path: normalize_value(v, path)) from None
    if type(normal) is t:  # pragma: no cover - normalisation always changes the type here
        raise _Bad(f"unsupported value type {t.__name__}")
    return _enc(normal, depth)


def _entries(mapping: Mapping[Any, Any], depth: int, tag: bytes) -> bytes:
    """``map<string, Value>`` entries, each as field ``tag`` (depth is the values')."""
    parts = []
    for key, sub in mapping.items():
        if type(key) is not str:
            raise _Bad(f"map keys must be str, got {key!r}")
        try:
            kb = key.encode()
            vb = _enc(sub, depth)
        except _Bad as exc:
            exc.parts.append(key)
            raise
        except UnicodeEncodeError:
            raise _Bad("map keys must be valid Unicode (no lone surrogates)") from None
        entry = b"\x0a" + _varint(len(kb)) + kb + b"\x12" + _varint(len(vb)) + vb
        parts.append(tag + _varint(len(entry)) + entry)
    return b"".join(parts)


def _number(v: Any) -> int | Decimal:
    try:
        return normalize_number(v)
    except ValidationError:
        raise _Bad("invalid number", lambda path: normalize_number(v, path)) from None


def _enc_set(v: set[Any] | frozenset[Any]) -> bytes:
    if v:
        for e in v:
            if type(e) is not str:
                break
        else:
            return _set_bytes(b"\xa2\x06", [s.encode() for s in v])
    try:
        normal = normalize_value(v)
    except ValidationError:
        raise _Bad("invalid set", lambda path: normalize_value(v, path)) from None
    kind = set_kind(normal)
    if kind == "NS":
        return _set_bytes(b"\xaa\x06", [format_number(n).encode() for n in normal])
    if kind == "BS":
        return _set_bytes(b"\xb2\x06", list(normal))
    try:
        return _set_bytes(b"\xa2\x06", [s.encode() for s in normal])
    except UnicodeEncodeError:
        raise _Bad("strings must be valid Unicode (no lone surrogates)") from None


def _set_bytes(tag: bytes, members: list[bytes]) -> bytes:
    body = b"".join(b"\x0a" + _varint(len(m)) + m for m in members)
    return tag + _varint(len(body)) + body


def value_to_bytes(value: Any, path: str = "value") -> bytes:
    """The serialized ``Value`` message of one keystone value (``ValidationError`` if invalid)."""
    try:
        return _enc(value, 1)
    except _Bad as exc:
        _fail(exc, path)


def _map_bytes(mapping: Mapping[str, Any], tag: bytes, what: str) -> bytes:
    """A whole ``map<string, Value>`` as fields ``tag``; errors name the key as root."""
    parts = []
    for name, v in mapping.items():
        if type(name) is not str:
            raise ValidationError(f"{what} must be str, got {name!r}")
        try:
            vb = _enc(v, 1)
        except _Bad as exc:
            _fail(exc, name)
        try:
            kb = name.encode()
        except UnicodeEncodeError:
            raise ValidationError(f"{what} must be valid Unicode, got {name!r}") from None
        entry = b"\x0a" + _varint(len(kb)) + kb + b"\x12" + _varint(len(vb)) + vb
        parts.append(tag + _varint(len(entry)) + entry)
    return b"".join(parts)


def item_to_bytes(item: Mapping[str, Any]) -> bytes:
    """The serialized ``Item`` message of an item (a mapping of attribute name to value)."""
    return _map_bytes(item, b"\x0a", "attribute names")


def item_field(field: int, item: Mapping[str, Any]) -> bytes:
    """An ``Item`` as field ``field`` of an enclosing message (present even if empty)."""
    return len_field(field, item_to_bytes(item))


def values_field(field: int, values: Mapping[str, Any] | None) -> bytes:
    """An ``expression_values`` map (placeholder -> ``Value``) as field ``field``."""
    if not values:
        return b""
    return _map_bytes(values, _varint(field << 3 | 2), "placeholder names")


def value_to_proto(value: Any, path: str = "value") -> pb.Value:
    """The ``Value`` message of one keystone value (``ValidationError`` if invalid)."""
    return _Value.parse(value_to_bytes(value, path))


def item_to_proto(item: Mapping[str, Any]) -> pb.Item:
    """The ``Item`` message of an item (a mapping of attribute name to value)."""
    return _Item.parse(item_to_bytes(item))


def items_to_proto(items: Iterable[Mapping[str, Any]]) -> list[pb.Item]:
    """``Item`` messages of many items (query pages, batch results)."""
    return [item_to_proto(item) for item in items]


def values_to_proto(values: Mapping[str, Any] | None) -> dict[str, pb.Value]:
    """An ``expression_values`` map (placeholder -> ``Value``); ``None`` is empty."""
    if not values:
        return {}
    # PutRequest.expression_values is field 5: let betterproto2 build the messages.
    return dict(pb.PutRequest.parse(values_field(5, values)).expression_values)
