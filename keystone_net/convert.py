"""The one place where protobuf messages meet keystone values, both ways.

Everything the server and the client send or receive passes through here:
values, items, placeholder maps, keys, continuation keys, sort-key
conditions, and the mapping between keystone exceptions and gRPC statuses.
The functions are on the hot path of every call, so they dispatch on exact
types first and build an error's attribute path only when there is an error.

Values (``keystone.types`` decides what is valid; see SPEC section 1):

=====================  ==========================  ======================
Python                 ``Value`` field             back in Python
=====================  ==========================  ======================
``str``                ``string_value``            ``str``
``int``/``Decimal``/   ``number_value`` (decimal   ``int`` when integral,
finite ``float``       string, 38 digits)          else ``Decimal``
``bytes``-like         ``binary_value``            ``bytes``
``bool``               ``bool_value``              ``bool``
``None``               ``null_value``              ``None``
``list``/``tuple``     ``list_value``              ``list``
``dict`` (str keys)    ``map_value``               ``dict``
``keystone.Vector``    ``vector_value``            ``Vector``
aware ``datetime``     ``timestamp_value`` (ms)    aware UTC ``datetime``
set of str/num/bytes   ``string_set`` /            ``set``
                       ``number_set`` /
                       ``binary_set``
=====================  ==========================  ======================

Encoding accepts what the library accepts and raises the library's
:class:`~keystone.errors.ValidationError` for the rest. Decoding rejects a
malformed message (a ``Value`` with no field of its oneof set, a number
string that is not a finite number of at most 38 digits, an empty set, a
non-finite vector element, a timestamp out of range, nesting deeper than
:data:`keystone.types.MAX_NESTING_DEPTH`) with a ``ValidationError`` naming
the attribute path, which the server reports as INVALID_ARGUMENT.

Keys. The wire carries keys as bytes only (``Key``, ``LastKey`` and the
``partition_key``/``sort_key`` fields of requests). The rule:

* the sender encodes a ``str`` key as UTF-8 and sends ``bytes`` as is
  (:func:`key_to_proto`);
* the receiver gets the bytes back unchanged (:func:`key_from_proto`) and
  looks items up by those bytes. The engine stores a key as its bytes (UTF-8
  for ``str``), so ``"a"`` and ``b"a"`` are the same stored key and a lookup
  by bytes finds the item whichever type it was written with; the database
  accepts ``bytes`` for any key argument.
* The key's Python type is not lost: items carry their key attributes as
  typed values, and continuation keys carry the whole typed key dict in
  ``LastKey.cursor`` (see :func:`last_key_to_proto`).
* A put whose item lacks the key attributes takes them from the request's
  key fields as binary values; if the item has them their bytes must match
  the request's (:func:`item_with_key`).

Errors (PROTOCOL.md): :func:`status_for` turns an exception into a gRPC
status, message and trailing metadata on the server; :func:`exception_for`
rebuilds the keystone exception on the client. Besides the status, the
trailing metadata carries ``keystone-error`` (the exception class, so that
e.g. ``DatabaseClosed`` and ``Unavailable``, both UNAVAILABLE, come back as
themselves), ``keystone-cancellation-reasons`` (JSON list, for
``TransactionCanceled``) and ``keystone-item-bin`` (the serialized ``Item``
of ``ConditionalCheckFailed.item``, when it has one of at most
:data:`MAX_ITEM_METADATA_BYTES`). UNAUTHENTICATED and PERMISSION_DENIED (a
refused ``authorization`` token, or a proxy's HTTP 401/403) come back as
:class:`keystone_net.errors.AuthenticationError`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, NoReturn

from grpclib.const import Status
from grpclib.exceptions import GRPCError

from keystone.errors import (
    ConditionalCheckFailed,
    Corruption,
    DatabaseClosed,
    KeystoneError,
    NotFound,
    ResourceExhausted,
    Timeout,
    TransactionCanceled,
    Unavailable,
    ValidationError,
)
from keystone.types import (
    MAX_NESTING_DEPTH,
    Vector,
    datetime_to_ms,
    format_number,
    ms_to_datetime,
    normalize_number,
    normalize_value,
    parse_number,
    set_kind,
)
from keystone_net._proto import keystone as pb
from keystone_net.errors import AuthenticationError

__all__ = [
    "CANCELLATION_REASONS_KEY",
    "ERROR_CLASS_KEY",
    "ITEM_KEY",
    "MAX_ITEM_METADATA_BYTES",
    "SORT_KEY_OPS",
    "RawMessage",
    "exception_for",
    "Span",
    "item_field",
    "item_from_bytes",
    "item_from_proto",
    "item_from_spans",
    "item_to_bytes",
    "item_to_proto",
    "item_with_key",
    "items_from_proto",
    "items_from_spans",
    "items_to_proto",
    "key_from_proto",
    "key_message",
    "key_to_proto",
    "key_field",
    "keys_from_proto",
    "keys_from_spans",
    "len_field",
    "last_key_from_proto",
    "last_key_to_proto",
    "sort_key_condition_from_proto",
    "split_fields",
    "sort_key_condition_to_proto",
    "status_for",
    "value_from_bytes",
    "value_from_proto",
    "value_to_bytes",
    "value_to_proto",
    "values_field",
    "values_from_proto",
    "values_from_spans",
    "values_to_proto",
]

_Value = pb.Value
_Item = pb.Item
_INT64_MIN: Final = -(2**63)
_INT64_END: Final = 2**63
_TOO_DEEP: Final = (
    f"nesting is deeper than the limit of {MAX_NESTING_DEPTH} levels of lists and maps"
)


class _Bad(Exception):
    """Internal: a value failed deep inside a structure.

    ``parts`` collects the map keys and list indexes on the way out, so the
    attribute path is only built when something is wrong. ``redo``, when
    given, raises the library's own ``ValidationError`` for the full path.
    """

    def __init__(self, reason: str, redo: Callable[[str], object] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.redo = redo
        self.parts: list[str | int] = []


def _fail(exc: _Bad, root: str) -> NoReturn:
    path = root
    for part in reversed(exc.parts):
        path = f"{path}[{part}]" if type(part) is int else f"{path}.{part}"
    if exc.redo is not None:
        exc.redo(path)  # raises the library's ValidationError for this path
    raise ValidationError(f"{path}: {exc.reason}") from None


# --------------------------------------------------------------------------
# Wire primitives
# --------------------------------------------------------------------------
#
# Items are the bulk of every message, and betterproto2 (pure Python, generic)
# needs ~0.1 ms to serialize or parse a five-attribute item. So items, values
# and ``map<string, Value>`` fields are encoded and decoded here directly,
# with a codec specialised to ``Value`` (~10x faster); the small envelopes
# around them (counts, keys, expressions) stay betterproto2 messages. Protobuf
# allows a message's fields in any order and merges repeated occurrences, so
# ``bytes(envelope) + item fields`` is a valid encoding of the whole message,
# and :func:`split_fields` cuts the item fields out of a received message
# before the rest is parsed by betterproto2.

_VARINT_TABLE_SIZE: Final = 1 << 14
_VARINTS: Final = [bytes((n,)) for n in range(0x80)] + [
    bytes(((n & 0x7F) | 0x80, n >> 7)) for n in range(0x80, _VARINT_TABLE_SIZE)
]
_MALFORMED: Final = "the message is malformed (truncated or invalid protobuf)"


def _varint(n: int) -> bytes:
    if n < _VARINT_TABLE_SIZE:
        return _VARINTS[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _varint_tail(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """Finish reading a varint whose first byte ``first`` had its high bit set."""
    result = first & 0x7F
    shift = 7
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Bad(_MALFORMED)


def _skip(data: bytes, pos: int, tag: int) -> int:
    """The position after the payload of a field with ``tag`` that starts at ``pos``."""
    wire = tag & 7
    if wire == 0:
        while data[pos] & 0x80:
            pos += 1
        return pos + 1
    if wire == 2:
        n = data[pos]
        pos += 1
        if n & 0x80:
            n, pos = _varint_tail(data, pos, n)
        return pos + n
    if wire == 5:
        return pos + 4
    if wire == 1:
        return pos + 8
    raise _Bad(_MALFORMED)  # groups (3, 4) are not used by proto3


class RawMessage:
    """A serialized protobuf message as grpclib's codec moves it: bytes, unparsed.

    The server and the client give grpclib this type for every request and
    reply, so that encoding and decoding happen here, where a malformed
    message becomes a ``ValidationError`` and items take the fast path.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def SerializeToString(self) -> bytes:  # grpclib's codec interface
        return self.data

    @classmethod
    def FromString(cls, data: bytes) -> RawMessage:  # grpclib's codec interface
        return cls(bytes(data))


def len_field(field: int, payload: bytes) -> bytes:
    """The encoding of a length-delimited field (message, bytes, string)."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


Span = tuple[int, int]


def split_fields(
    data: bytes, fields: Collection[int], start: int = 0, end: int | None = None
) -> tuple[bytes, dict[int, list[Span]]]:
    """Cut the length-delimited ``fields`` out of the message in ``data[start:end]``.

    Returns the message without them (for betterproto2 to parse) and, for
    each field number found, the ``(start, end)`` spans of its payloads in
    ``data``, in wire order. Raises ``ValidationError`` if the message is
    malformed.
    """
    if end is None:
        end = len(data)
    found: dict[int, list[Span]] = {}
    rest: list[bytes] = []
    pos = start
    try:
        while pos < end:
            first = pos
            tag = data[pos]
            pos += 1
            if tag & 0x80:
                tag, pos = _varint_tail(data, pos, tag)
            if tag & 7 == 2 and tag >> 3 in fields:
                n = data[pos]
                pos += 1
                if n & 0x80:
                    n, pos = _varint_tail(data, pos, n)
                found.setdefault(tag >> 3, []).append((pos, pos + n))
                pos += n
            else:
                pos = _skip(data, pos, tag)
                rest.append(data[first:pos])
    except (_Bad, IndexError):
        raise ValidationError(_MALFORMED) from None
    if pos > end:
        raise ValidationError(_MALFORMED)
    return b"".join(rest), found


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


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------


def _key_bytes(value: object, what: str) -> bytes:
    t = type(value)
    if t is str:
        return value.encode()  # type: ignore[attr-defined, no-any-return]
    if t is bytes:
        return value  # type: ignore[return-value]
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return str(value).encode()
    raise ValidationError(f"{what} must be str or bytes, got {t.__name__}")


def key_to_proto(pk: str | bytes, sk: str | bytes | None = None) -> tuple[bytes, bytes | None]:
    """The wire bytes of a key: ``str`` as UTF-8, ``bytes`` as is."""
    return (
        _key_bytes(pk, "the partition key"),
        None if sk is None else _key_bytes(sk, "the sort key"),
    )


def key_from_proto(pk: bytes, sk: bytes | None = None) -> tuple[bytes, bytes | None]:
    """The key of wire bytes, for lookups: the bytes themselves.

    A key written as ``str`` is stored as its UTF-8 bytes, so these bytes
    find it; see the module docstring.
    """
    if type(pk) is not bytes:
        pk = bytes(pk)
    if sk is not None and type(sk) is not bytes:
        sk = bytes(sk)
    return pk, sk


def key_message(pk: str | bytes, sk: str | bytes | None = None) -> pb.Key:
    """A ``Key`` message (``BatchGetRequest.keys``, ``TransactGetRequest.keys``)."""
    pk_bytes, sk_bytes = key_to_proto(pk, sk)
    return pb.Key(partition_key=pk_bytes, sort_key=sk_bytes)


def keys_from_proto(keys: Iterable[pb.Key]) -> list[tuple[bytes, bytes | None]]:
    """``(pk, sk)`` byte tuples of ``Key`` messages, in order."""
    return [key_from_proto(k.partition_key, k.sort_key) for k in keys]


def key_field(field: int, pk: bytes, sk: bytes | None) -> bytes:
    """A ``Key`` message (wire bytes of a key) as field ``field`` of an enclosing message."""
    body = b"\x0a" + _varint(len(pk)) + pk
    if sk is not None:
        body += b"\x12" + _varint(len(sk)) + sk
    return _varint(field << 3 | 2) + _varint(len(body)) + body


def keys_from_spans(data: bytes, spans: Iterable[Span]) -> list[tuple[bytes, bytes | None]]:
    """``(pk, sk)`` of each ``Key`` message found by :func:`split_fields`, in order.

    (The same as :func:`keys_from_proto`, without building betterproto2 messages.)
    """
    out: list[tuple[bytes, bytes | None]] = []
    try:
        for start, end in spans:
            pk = b""
            sk = None
            pos = start
            while pos < end:
                t = data[pos]
                pos += 1
                if t == 0x0A or t == 0x12:
                    n = data[pos]
                    pos += 1
                    if n & 0x80:
                        n, pos = _varint_tail(data, pos, n)
                    if t == 0x0A:
                        pk = data[pos : pos + n]
                    else:
                        sk = data[pos : pos + n]
                    pos += n
                else:
                    if t & 0x80:
                        t, pos = _varint_tail(data, pos, t)
                    pos = _skip(data, pos, t)
            if pos > end:
                raise _Bad(_MALFORMED)
            out.append((pk, sk))
    except (_Bad, IndexError):
        raise ValidationError(f"a Key message is malformed: {_MALFORMED}") from None
    return out


def item_with_key(
    item: dict[str, Any],
    pk: bytes,
    sk: bytes | None,
    pk_name: str = "pk",
    sk_name: str = "sk",
) -> dict[str, Any]:
    """Apply a put request's key fields to its item (PROTOCOL.md, semantics).

    A key attribute the item lacks is taken from the request (as ``bytes``);
    one it has must have the same bytes, else ``ValidationError``. An empty
    ``pk`` or an absent ``sk`` means the request does not say (proto3 cannot
    tell an empty partition key from none), so the item decides. ``item`` is
    changed in place and returned.
    """
    if pk:
        have = item.get(pk_name, _MISSING)
        if have is _MISSING:
            item[pk_name] = pk
        elif _key_bytes(have, f"key attribute {pk_name!r}") != pk:
            raise ValidationError(
                f"{pk_name}: the item's partition key does not match the request's partition_key"
            )
    if sk is not None:
        have = item.get(sk_name, _MISSING)
        if have is _MISSING:
            item[sk_name] = sk
        elif _key_bytes(have, f"key attribute {sk_name!r}") != sk:
            raise ValidationError(
                f"{sk_name}: the item's sort key does not match the request's sort_key"
            )
    return item


_MISSING: Final = object()


def last_key_to_proto(
    last_key: Mapping[str, Any] | None, pk_name: str = "pk", sk_name: str = "sk"
) -> pb.LastKey | None:
    """The ``LastKey`` of a page's ``last_key`` dict (``None`` on the last page).

    ``partition_key``/``sort_key`` carry the table key's bytes (for clients
    generated from the original protocol); ``cursor`` carries the whole key
    dict, index keys and types included, as a serialized ``Item``.
    """
    if last_key is None:
        return None
    pk = last_key.get(pk_name)
    sk = last_key.get(sk_name)
    return pb.LastKey(
        partition_key=b"" if pk is None else _key_bytes(pk, pk_name),
        sort_key=None if sk is None else _key_bytes(sk, sk_name),
        cursor=item_to_bytes(last_key),
    )


def last_key_from_proto(
    msg: pb.LastKey | None, pk_name: str = "pk", sk_name: str = "sk"
) -> dict[str, Any] | None:
    """The ``last_key``/``start`` dict of a ``LastKey`` (``None`` stays ``None``).

    With a ``cursor`` the key dict is exactly the one the server sent. Without
    one (a client of the original protocol) it is ``{pk_name: bytes,
    sk_name: bytes}`` from the key fields.
    """
    if msg is None:
        return None
    if msg.cursor is not None:
        try:
            key = item_from_bytes(msg.cursor)
        except ValidationError:
            key = {}
        if not key:
            raise ValidationError("exclusive_start_key: the cursor is not valid")
        return key
    out: dict[str, Any] = {pk_name: msg.partition_key}
    if msg.sort_key is not None:
        out[sk_name] = msg.sort_key
    return out


# --------------------------------------------------------------------------
# Sort-key conditions
# --------------------------------------------------------------------------

#: Sort-key condition operators (``keystone.sk`` names) -> ``SortKeyCondition`` field.
SORT_KEY_OPS: Final[Mapping[str, str]] = {
    "eq": "equal_to",
    "lt": "less_than",
    "le": "less_than_or_equal",
    "gt": "greater_than",
    "ge": "greater_than_or_equal",
    "begins_with": "begins_with",
    "between": "between",
}
_OP_BY_FIELD: Final = {field: op for op, field in SORT_KEY_OPS.items()}


def sort_key_condition_to_proto(op: str, *values: Any) -> pb.SortKeyCondition:
    """A ``SortKeyCondition``: ``op`` is a :data:`SORT_KEY_OPS` name; ``between``
    takes two values, every other operator one."""
    field = SORT_KEY_OPS.get(op)
    if field is None:
        raise ValidationError(f"unknown sort key condition {op!r}")
    if op == "between":
        if len(values) != 2:
            raise ValidationError("a between sort key condition takes two values")
        return pb.SortKeyCondition(
            between=pb.BetweenCondition(
                lower=value_to_proto(values[0], "sort key lower bound"),
                upper=value_to_proto(values[1], "sort key upper bound"),
            )
        )
    if len(values) != 1:
        raise ValidationError(f"a {op} sort key condition takes one value")
    condition = pb.SortKeyCondition()
    setattr(condition, field, value_to_proto(values[0], "sort key condition"))
    return condition


def sort_key_condition_from_proto(msg: pb.SortKeyCondition) -> tuple[str, tuple[Any, ...]]:
    """``(op, values)`` of a ``SortKeyCondition`` (see :data:`SORT_KEY_OPS`)."""
    between = msg.between
    if between is not None:
        if between.lower is None or between.upper is None:
            raise ValidationError("sort_key_condition: between needs both lower and upper")
        return "between", (
            value_from_proto(between.lower, "sort key lower bound"),
            value_from_proto(between.upper, "sort key upper bound"),
        )
    for field, op in _OP_BY_FIELD.items():
        v = getattr(msg, field)
        if v is not None and field != "between":
            return op, (value_from_proto(v, "sort key condition"),)
    raise ValidationError("sort_key_condition: no condition is set")


# --------------------------------------------------------------------------
# Errors <-> gRPC statuses
# --------------------------------------------------------------------------

#: Trailing metadata: the keystone exception class of an error status.
ERROR_CLASS_KEY: Final = "keystone-error"
#: Trailing metadata: ``TransactionCanceled.reasons`` as a JSON list.
CANCELLATION_REASONS_KEY: Final = "keystone-cancellation-reasons"
#: Trailing metadata (binary): ``ConditionalCheckFailed.item`` as a serialized ``Item``.
ITEM_KEY: Final = "keystone-item-bin"
#: ``ConditionalCheckFailed.item`` travels only up to this encoded size (HTTP/2
#: limits the size of trailers); a larger one arrives as ``item=None``.
MAX_ITEM_METADATA_BYTES: Final = 16 * 1024
_MAX_MESSAGE: Final = 4096
_INTERNAL_MESSAGE: Final = "internal server error"

# Most specific first: status_for walks the exception's MRO.
_STATUS_OF: Final[dict[type[BaseException], Status]] = {
    TransactionCanceled: Status.ABORTED,
    ConditionalCheckFailed: Status.FAILED_PRECONDITION,
    ValidationError: Status.INVALID_ARGUMENT,
    NotFound: Status.NOT_FOUND,
    ResourceExhausted: Status.RESOURCE_EXHAUSTED,
    Corruption: Status.DATA_LOSS,
    Timeout: Status.DEADLINE_EXCEEDED,
    Unavailable: Status.UNAVAILABLE,
    DatabaseClosed: Status.UNAVAILABLE,
    AuthenticationError: Status.UNAUTHENTICATED,
    KeystoneError: Status.INTERNAL,
}
_CLASS_BY_NAME: Final = {cls.__name__: cls for cls in _STATUS_OF}
_CLASS_OF_STATUS: Final[dict[Status, type[KeystoneError]]] = {
    Status.INVALID_ARGUMENT: ValidationError,
    Status.OUT_OF_RANGE: ValidationError,
    Status.NOT_FOUND: NotFound,
    Status.FAILED_PRECONDITION: ConditionalCheckFailed,
    Status.ALREADY_EXISTS: ConditionalCheckFailed,
    Status.ABORTED: TransactionCanceled,
    Status.RESOURCE_EXHAUSTED: ResourceExhausted,
    Status.DATA_LOSS: Corruption,
    Status.DEADLINE_EXCEEDED: Timeout,
    Status.UNAVAILABLE: Unavailable,
    Status.CANCELLED: Unavailable,
    Status.UNAUTHENTICATED: AuthenticationError,
    Status.PERMISSION_DENIED: AuthenticationError,
}


def status_for(exc: BaseException) -> tuple[Status, str, dict[str, str | bytes]]:
    """The gRPC ``(status, message, trailing metadata)`` that reports ``exc``.

    Keystone errors keep their message (it is meant for the user); a
    ``GRPCError`` passes through; ``MemoryError`` is RESOURCE_EXHAUSTED;
    anything else is INTERNAL with a generic message (log it on the server,
    never send the traceback).
    """
    if isinstance(exc, GRPCError):
        return exc.status, exc.message or exc.status.name, {}
    if not isinstance(exc, KeystoneError):
        if isinstance(exc, MemoryError):
            return Status.RESOURCE_EXHAUSTED, "the server is out of memory", {}
        return Status.INTERNAL, _INTERNAL_MESSAGE, {}
    for cls in type(exc).__mro__:
        status = _STATUS_OF.get(cls)
        if status is not None:
            break
    else:  # pragma: no cover - KeystoneError is in the table
        cls, status = KeystoneError, Status.INTERNAL
    message = str(exc) or cls.__name__
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    metadata: dict[str, str | bytes] = {ERROR_CLASS_KEY: cls.__name__}
    if isinstance(exc, TransactionCanceled):
        metadata[CANCELLATION_REASONS_KEY] = json.dumps(exc.reasons, separators=(",", ":"))
    elif isinstance(exc, ConditionalCheckFailed) and exc.item is not None:
        try:
            raw = item_to_bytes(exc.item)
        except ValidationError:
            raw = b""
        if raw and len(raw) <= MAX_ITEM_METADATA_BYTES:
            metadata[ITEM_KEY] = raw
    return status, message, metadata


def exception_for(
    status: Status,
    message: str | None,
    metadata: Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]] | None = None,
) -> KeystoneError:
    """The keystone exception of an error status received by the client.

    ``metadata`` is the call's trailing metadata (``stream.trailing_metadata``
    in grpclib), a mapping or a list of pairs; it may be ``None``.
    """
    md: Mapping[str, str | bytes]
    if metadata is None:
        md = {}
    elif isinstance(metadata, Mapping):
        md = metadata
    else:
        md = dict(metadata)
    cls: type[KeystoneError] | None = None
    name = md.get(ERROR_CLASS_KEY)
    if isinstance(name, str):
        named = _CLASS_BY_NAME.get(name)
        if named is not None and _STATUS_OF[named] == status:
            cls = named  # type: ignore[assignment]
    if cls is None:
        cls = _CLASS_OF_STATUS.get(status, KeystoneError)
    if not message:
        message = f"the server answered {status.name}"
    if cls is TransactionCanceled:
        return TransactionCanceled(_reasons(md.get(CANCELLATION_REASONS_KEY)), message)
    if cls is ConditionalCheckFailed:
        return ConditionalCheckFailed(message, _item_of(md.get(ITEM_KEY)))
    return cls(message)


def _reasons(raw: str | bytes | None) -> list[str | None]:
    if raw is None:
        return []
    try:
        reasons = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(reasons, list):
        return []
    return [r if r is None or isinstance(r, str) else str(r) for r in reasons]


def _item_of(raw: str | bytes | None) -> dict[str, Any] | None:
    if not isinstance(raw, bytes):
        return None
    try:
        return item_from_bytes(raw) or None
    except ValidationError:
        return None
