"""Protobuf -> Python values: from raw bytes (the hot path) and from betterproto2 messages."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from keystone.errors import (
    ValidationError,
)
from keystone.types import (
    MAX_NESTING_DEPTH,
    Vector,
    ms_to_datetime,
    parse_number,
)
from keystone_net._proto import keystone as pb

from .wire import _MALFORMED, _TOO_DEEP, Span, _Bad, _fail, _skip, _varint_tail

# --------------------------------------------------------------------------
# Leaf rules shared by both decoders
# --------------------------------------------------------------------------


def _parse_number(text: str) -> int | Decimal:
    # Fast path: short plain integers ("42", "-7") are always valid.
    if (
        len(text) < 19
        and text.isascii()
        and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit()))
    ):
        return int(text)
    try:
        return parse_number(text)
    except ValidationError:
        raise _Bad("not a number", lambda path: parse_number(text, path)) from None


def _timestamp(ms: int) -> _dt.datetime:
    try:
        return ms_to_datetime(ms)
    except OverflowError:
        raise _Bad(f"timestamp {ms} ms is out of range") from None


def _vector(values: Iterable[float]) -> Vector:
    try:
        return Vector(values)
    except ValidationError as exc:
        raise _Bad(str(exc)) from None


def _non_empty(values: list[Any]) -> list[Any]:
    if not values:
        raise _Bad("sets must not be empty")
    return values


_NO_TYPE: Final = "the value has no type (no field of Value is set)"
_MISSING_VALUE: Final = "the value is missing (no field of Value is set)"


# --------------------------------------------------------------------------
# wire bytes -> Python (the hot-path decoder)
# --------------------------------------------------------------------------

# Tags (field number << 3 | wire type) of Value's oneof members.
_T_STRING: Final = 0x0A
_T_NUMBER: Final = 0x12
_T_BINARY: Final = 0x1A
_T_BOOL: Final = 0x20
_T_NULL: Final = 0x28
_T_LIST: Final = 0x32
_T_MAP: Final = 0x3A
_T_VECTOR: Final = 0x42
_T_TIMESTAMP: Final = 0x48
_T_STRING_SET: Final = 100 << 3 | 2
_T_NUMBER_SET: Final = 101 << 3 | 2
_T_BINARY_SET: Final = 102 << 3 | 2
_VALUE_TAGS: Final = frozenset(
    {
        _T_STRING,
        _T_NUMBER,
        _T_BINARY,
        _T_BOOL,
        _T_NULL,
        _T_LIST,
        _T_MAP,
        _T_VECTOR,
        _T_TIMESTAMP,
        _T_STRING_SET,
        _T_NUMBER_SET,
        _T_BINARY_SET,
    }
)


def _text(data: bytes, start: int, end: int) -> str:
    try:
        return data[start:end].decode()
    except UnicodeDecodeError:
        raise _Bad("a string is not valid UTF-8") from None


def _decb(data: bytes, pos: int, end: int, depth: int) -> Any:
    """The keystone value of the ``Value`` message in ``data[pos:end]``."""
    if end - pos >= 2:  # fast path: one short scalar field, as every encoder writes it
        t = data[pos]
        n = data[pos + 1]
        if n < 0x80 and pos + 2 + n == end:
            if t == _T_STRING:
                return _text(data, pos + 2, end)
            if t == _T_NUMBER:
                return _parse_number(_text(data, pos + 2, end))
            if t == _T_BINARY:
                return data[pos + 2 : end]
        if end == pos + 2 and n < 0x80:
            if t == _T_BOOL:
                return n != 0
            if t == _T_NULL:
                return None
    # Read every field; the last member of the oneof wins (protobuf rule).
    tag = -1
    vs = ve = num = 0
    while pos < end:
        t = data[pos]
        pos += 1
        if t & 0x80:
            t, pos = _varint_tail(data, pos, t)
        wire = t & 7
        if wire == 2:
            n = data[pos]
            pos += 1
            if n & 0x80:
                n, pos = _varint_tail(data, pos, n)
            if t in _VALUE_TAGS:
                tag, vs, ve = t, pos, pos + n
            pos += n
        elif wire == 0:
            n = data[pos]
            pos += 1
            if n & 0x80:
                n, pos = _varint_tail(data, pos, n)
            if t in _VALUE_TAGS:
                tag, num = t, n
        else:
            pos = _skip(data, pos, t)
    if pos > end:
        raise _Bad(_MALFORMED)
    if tag == _T_STRING:
        return _text(data, vs, ve)
    if tag == _T_NUMBER:
        return _parse_number(_text(data, vs, ve))
    if tag == _T_BINARY:
        return data[vs:ve]
    if tag == _T_MAP:
        if depth > MAX_NESTING_DEPTH:
            raise _Bad(_TOO_DEEP)
        return _decb_entries(data, vs, ve, depth + 1)
    if tag == _T_LIST:
        if depth > MAX_NESTING_DEPTH:
            raise _Bad(_TOO_DEEP)
        depth += 1
        items = []
        for i, (s, e) in enumerate(_repeated(data, vs, ve, 0x0A)):
            try:
                items.append(_decb(data, s, e, depth))
            except _Bad as exc:
                exc.parts.append(i)
                raise
        return items
    if tag == _T_BOOL:
        return num != 0
    if tag == _T_NULL:
        return None
    if tag == _T_TIMESTAMP:
        return _timestamp(num)
    if tag == _T_VECTOR:
        return _vector_of(data, vs, ve)
    if tag == _T_STRING_SET:
        return {_text(data, s, e) for s, e in _non_empty(_repeated(data, vs, ve, 0x0A))}
    if tag == _T_NUMBER_SET:
        spans = _non_empty(_repeated(data, vs, ve, 0x0A))
        return {_parse_number(_text(data, s, e)) for s, e in spans}
    if tag == _T_BINARY_SET:
        return {data[s:e] for s, e in _non_empty(_repeated(data, vs, ve, 0x0A))}
    raise _Bad(_NO_TYPE)


def _repeated(data: bytes, pos: int, end: int, want: int) -> list[Span]:
    """Spans of the length-delimited fields with tag ``want`` in ``data[pos:end]``."""
    spans = []
    while pos < end:
        t = data[pos]
        pos += 1
        if t & 0x80:
            t, pos = _varint_tail(data, pos, t)
        if t == want:
            n = data[pos]
            pos += 1
            if n & 0x80:
                n, pos = _varint_tail(data, pos, n)
            spans.append((pos, pos + n))
            pos += n
        else:
            pos = _skip(data, pos, t)
    if pos > end:
        raise _Bad(_MALFORMED)
    return spans


def _vector_of(data: bytes, pos: int, end: int) -> Vector:
    """The ``Vector`` of a ``VectorValue`` in ``data[pos:end]`` (packed, or not)."""
    chunks = []
    while pos < end:
        t = data[pos]
        pos += 1
        if t & 0x80:
            t, pos = _varint_tail(data, pos, t)
        if t == 0x0A:  # packed: the proto3 default
            n = data[pos]
            pos += 1
            if n & 0x80:
                n, pos = _varint_tail(data, pos, n)
            if n % 4:
                raise _Bad(_MALFORMED)
            chunks.append(data[pos : pos + n])
            pos += n
        elif t == 0x0D:  # one unpacked float
            chunks.append(data[pos : pos + 4])
            pos += 4
        else:
            pos = _skip(data, pos, t)
    if pos > end:
        raise _Bad(_MALFORMED)
    vec = Vector.from_bytes(b"".join(chunks))  # little-endian float32, as on the wire
    # The sum of float32 values cannot overflow a double, so it is finite
    # exactly when every value is; otherwise let Vector say what is wrong.
    if not math.isfinite(sum(vec)):
        return _vector(vec.tolist())
    return vec


def _decb_entries(data: bytes, pos: int, end: int, depth: int) -> dict[str, Any]:
    """The ``map<string, Value>`` whose entries are the field-1 payloads in ``data[pos:end]``."""
    out = {}
    for s, e in _repeated(data, pos, end, 0x0A):
        key, vs, ve = _entry(data, s, e)
        try:
            if vs < 0:
                raise _Bad(_MISSING_VALUE)
            out[key] = _decb(data, vs, ve, depth)
        except _Bad as exc:
            exc.parts.append(key)
            raise
    return out


def _entry(data: bytes, pos: int, end: int) -> tuple[str, int, int]:
    """``(key, value start, value end)`` of one map entry in ``data[pos:end]``.

    The value start is -1 when the entry has no value.
    """
    if end - pos >= 4 and data[pos] == 0x0A:  # fast path: short key, then the value
        n = data[pos + 1]
        ke = pos + 2 + n
        if n < 0x80 and ke + 2 <= end and data[ke] == 0x12:
            m = data[ke + 1]
            if m < 0x80 and ke + 2 + m == end:
                return _text(data, pos + 2, ke), ke + 2, end
    ks = ke = ve = 0
    vs = -1
    while pos < end:
        t = data[pos]
        pos += 1
        if t == 0x0A or t == 0x12:
            n = data[pos]
            pos += 1
            if n & 0x80:
                n, pos = _varint_tail(data, pos, n)
            if t == 0x0A:
                ks, ke = pos, pos + n
            else:
                vs, ve = pos, pos + n
            pos += n
        else:
            if t & 0x80:
                t, pos = _varint_tail(data, pos, t)
            pos = _skip(data, pos, t)
    if pos > end:
        raise _Bad(_MALFORMED)
    return _text(data, ks, ke), vs, ve


def _decode_top(data: bytes, spans: Iterable[Span], item: bool) -> dict[str, Any]:
    """A top-level map (item attributes or placeholder values) over ``spans``.

    With ``item`` each span is an ``Item`` message (entries as its field 1);
    otherwise each span is one entry of a map field of the enclosing
    message. Errors name the entry's key as the root of the path.
    """
    out: dict[str, Any] = {}
    try:
        for s, e in spans:
            for es, ee in _repeated(data, s, e, 0x0A) if item else ((s, e),):
                key, vs, ve = _entry(data, es, ee)
                try:
                    if vs < 0:
                        raise _Bad(_MISSING_VALUE)
                    out[key] = _decb(data, vs, ve, 1)
                except _Bad as exc:
                    _fail(exc, key)
    except _Bad as exc:  # the structure itself (not a value) is broken
        raise ValidationError(exc.reason) from None
    except IndexError:
        raise ValidationError(_MALFORMED) from None
    return out


def item_from_bytes(data: bytes, start: int = 0, end: int | None = None) -> dict[str, Any]:
    """The item of the serialized ``Item`` message in ``data[start:end]``."""
    return _decode_top(data, ((start, len(data) if end is None else end),), True)


def item_from_spans(data: bytes, spans: Iterable[Span]) -> dict[str, Any] | None:
    """The item of an optional ``Item`` field found by :func:`split_fields` (``None`` if absent).

    Several occurrences of the field are merged, as protobuf requires.
    """
    spans = list(spans)
    if not spans:
        return None
    return _decode_top(data, spans, True)


def items_from_spans(data: bytes, spans: Iterable[Span]) -> list[dict[str, Any]]:
    """The items of a ``repeated Item`` field found by :func:`split_fields`."""
    return [_decode_top(data, (span,), True) for span in spans]


def values_from_spans(data: bytes, spans: Iterable[Span]) -> dict[str, Any]:
    """The placeholder values of an ``expression_values`` field found by :func:`split_fields`."""
    return _decode_top(data, spans, False)


def value_from_bytes(data: bytes, path: str = "value") -> Any:
    """The keystone value of a serialized ``Value`` message."""
    try:
        return _decb(data, 0, len(data), 1)
    except _Bad as exc:
        _fail(exc, path)
    except IndexError:
        raise ValidationError(f"{path}: {_MALFORMED}") from None


# --------------------------------------------------------------------------
# betterproto2 messages -> Python
# --------------------------------------------------------------------------


def _dec(msg: pb.Value | None, depth: int) -> Any:
    if msg is None:  # a map entry without its value
        raise _Bad(_MISSING_VALUE)
    v: Any = msg.string_value
    if v is not None:
        return v
    v = msg.number_value
    if v is not None:
        return _parse_number(v)
    v = msg.binary_value
    if v is not None:
        return v
    v = msg.bool_value
    if v is not None:
        return v
    if msg.null_value is not None:
        return None
    v = msg.map_value
    if v is not None:
        if depth > MAX_NESTING_DEPTH:
            raise _Bad(_TOO_DEEP)
        depth += 1
        out = {}
        for key, sub in v.fields.items():
            try:
                out[key] = _dec(sub, depth)
            except _Bad as exc:
                exc.parts.append(key)
                raise
        return out
    v = msg.list_value
    if v is not None:
        if depth > MAX_NESTING_DEPTH:
            raise _Bad(_TOO_DEEP)
        depth += 1
        items = []
        for i, sub in enumerate(v.items):
            try:
                items.append(_dec(sub, depth))
            except _Bad as exc:
                exc.parts.append(i)
                raise
        return items
    v = msg.timestamp_value
    if v is not None:
        return _timestamp(v)
    v = msg.vector_value
    if v is not None:
        return _vector(v.values)
    v = msg.string_set
    if v is not None:
        return set(_non_empty(v.values))
    v = msg.number_set
    if v is not None:
        return {_parse_number(n) for n in _non_empty(v.values)}
    v = msg.binary_set
    if v is not None:
        return set(_non_empty(v.values))
    raise _Bad(_NO_TYPE)


def value_from_proto(msg: pb.Value, path: str = "value") -> Any:
    """The keystone value of a ``Value`` message (``ValidationError`` if malformed)."""
    try:
        return _dec(msg, 1)
    except _Bad as exc:
        _fail(exc, path)


def item_from_proto(msg: pb.Item) -> dict[str, Any]:
    """The item (``dict``) of an ``Item`` message."""
    return values_from_proto(msg.attributes)


def items_from_proto(msgs: Iterable[pb.Item]) -> list[dict[str, Any]]:
    """The items of many ``Item`` messages."""
    return [item_from_proto(msg) for msg in msgs]


def values_from_proto(values: Mapping[str, pb.Value]) -> dict[str, Any]:
    """The placeholder values of an ``expression_values`` map."""
    out = {}
    try:
        for name, v in values.items():
            out[name] = _dec(v, 1)
    except _Bad as exc:
        _fail(exc, name)
    return out
