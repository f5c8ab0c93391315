"""Protobuf wire primitives: varints, length-delimited fields, field spans; internal errors with lazy paths."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Final, NoReturn

from keystone.errors import (
    ValidationError,
)
from keystone.types import (
    MAX_NESTING_DEPTH,
)
from keystone_net._proto import keystone as pb

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
# Parsed messages: the types betterproto2 does not check
# --------------------------------------------------------------------------

# betterproto2 keeps whatever a field's *wire* type decodes to, without
# comparing it with the field's declared type: a message field sent as a
# varint parses as an ``int``, a string field sent as a varint as an ``int``,
# an integer field sent length-delimited as ``bytes``. Such a message must be
# refused as malformed before any code reads it.

_Check = Callable[[object, str], None]
_checks: dict[type, list[tuple[str, _Check]]] = {}


def check_parsed(msg: object, where: str) -> None:
    """Raise ``ValidationError`` unless every field of parsed ``msg`` holds its declared type.

    Recursive: nested messages, repeated fields and map values are checked
    too. ``where`` names the message in the error.
    """
    checks = _checks.get(type(msg))
    if checks is None:
        checks = _checks[type(msg)] = _compile(type(msg))
    for name, check in checks:
        value = getattr(msg, name)
        if value is not None:
            check(value, f"{where}.{name}")


def _compile(cls: type) -> list[tuple[str, _Check]]:
    meta = cls._betterproto  # type: ignore[attr-defined]
    out: list[tuple[str, _Check]] = []
    for name, field in meta.meta_by_field_name.items():
        if field.proto_type == "map":
            one = _one(meta.cls_by_field[name + ".value"])
            out.append((name, _each_value(one)))
        elif field.repeated:
            out.append((name, _each(_one(meta.cls_by_field[name]))))
        else:
            out.append((name, _one(meta.cls_by_field[name])))
    return out


def _one(expected: type) -> _Check:
    if isinstance(expected, type) and hasattr(expected, "_betterproto"):

        def message(value: object, where: str) -> None:
            if type(value) is not expected:
                _wrong(where, expected, value)
            check_parsed(value, where)

        return message

    def scalar(value: object, where: str) -> None:
        # (bool is an int; an int field never parses as bool, nor the reverse)
        if not isinstance(value, expected) or (expected is int and type(value) is bool):
            _wrong(where, expected, value)

    return scalar


def _each(one: _Check) -> _Check:
    def each(values: object, where: str) -> None:
        if not isinstance(values, list):
            _wrong(where, list, values)
        for i, value in enumerate(values):
            one(value, f"{where}[{i}]")

    return each


def _each_value(one: _Check) -> _Check:
    def each_value(mapping: object, where: str) -> None:
        if not isinstance(mapping, dict):
            _wrong(where, dict, mapping)
        for key, value in mapping.items():
            if not isinstance(key, str):
                _wrong(f"{where} key", str, key)
            one(value, f"{where}[{key!r}]")

    return each_value


def _wrong(where: str, expected: type, value: object) -> NoReturn:
    raise ValidationError(
        f"malformed message: {where} should be {expected.__name__}, "
        f"got {type(value).__name__} (a field sent with the wrong wire type)"
    )
