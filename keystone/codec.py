"""Bytes on disk: msgpack item encoding and the layout of item keys.

Items are stored as one msgpack map each. Plain values (str, small int,
bytes, bool, None, list, map) use msgpack's own types, so decoding an item
is a single ``msgpack.unpackb`` call; the rest use extension types:

==========  ==============================================================
ext code    payload
==========  ==============================================================
1           N, a non-integral decimal, as its ASCII string (``"0.1"``)
2           N, an integer outside int64, as its ASCII string
3 / 4 / 5   SS / NS / BS, a msgpack array of the elements (sorted)
6           VecF32, little-endian float32 values
7           Ts, milliseconds since the epoch, big-endian uint64
==========  ==============================================================

Item keys: ``stripe (2 bytes) | len(pk) (2 bytes) | pk | flag | sk``. The
stripe is a hash of the partition key, so a partition's items are
contiguous and ordered by sort key bytewise, while scan segments are ranges
of stripes that partition the table evenly. ``flag`` is 0 for an item with
no sort key (followed by nothing) and 1 for an item with one. Keys that
would pass LMDB's key limit are shortened by :class:`keystone.table.Storage`
(a long partition key as its hash, a long sort key as its first bytes and a
hash), and tables other than the default one prefix their keys with their
id (``keystone/catalog.py``); ``docs/design.md`` has the details.
"""

from __future__ import annotations

import datetime as _dt
import struct
from decimal import Decimal
from typing import Any, Final

import msgpack

from .errors import Corruption, ValidationError
from .types import Item, Vector, datetime_to_ms, ms_to_datetime

STRIPES: Final = 1 << 16
_HEADER: Final = struct.Struct(">HH")
#: Bytes the engine adds to a partition key + sort key in an item key.
KEY_OVERHEAD: Final = _HEADER.size + 1
NO_SK: Final = b"\x00"
HAS_SK: Final = b"\x01"

_EXT_DECIMAL: Final = 1
_EXT_BIGINT: Final = 2
_EXT_SS: Final = 3
_EXT_NS: Final = 4
_EXT_BS: Final = 5
_EXT_VECTOR: Final = 6
_EXT_TS: Final = 7
_TS: Final = struct.Struct(">Q")


# --------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------


def _default(value: Any) -> Any:
    t = type(value)
    if t is Decimal:
        return msgpack.ExtType(_EXT_DECIMAL, str(value).encode())
    if t is set or t is frozenset:
        return _encode_set(value)
    if t is Vector:
        return msgpack.ExtType(_EXT_VECTOR, value.to_bytes())
    if t is _dt.datetime:
        return msgpack.ExtType(_EXT_TS, _TS.pack(datetime_to_ms(value)))
    if t is int:  # only reached through _pack_bigints
        return msgpack.ExtType(_EXT_BIGINT, str(value).encode())
    raise TypeError(f"cannot encode {t.__name__}")


def _encode_set(value: set[Any] | frozenset[Any]) -> msgpack.ExtType:
    first = next(iter(value))
    if isinstance(first, str):
        code = _EXT_SS
    elif isinstance(first, bytes):
        code = _EXT_BS
    else:
        code = _EXT_NS
    return msgpack.ExtType(code, _pack(sorted(value)))


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_DECIMAL:
        return Decimal(data.decode())
    if code == _EXT_BIGINT:
        return int(data)
    if code in (_EXT_SS, _EXT_NS, _EXT_BS):
        return set(msgpack.unpackb(data, ext_hook=_ext_hook, raw=False))
    if code == _EXT_VECTOR:
        return Vector.from_bytes(data)
    if code == _EXT_TS:
        return ms_to_datetime(_TS.unpack(data)[0])
    raise Corruption(f"unknown msgpack extension type {code} in stored item")


def _pack(value: Any) -> bytes:
    try:
        return msgpack.packb(value, default=_default, use_bin_type=True)  # type: ignore[no-any-return]
    except OverflowError:
        return msgpack.packb(_bigints_to_ext(value), default=_default, use_bin_type=True)  # type: ignore[no-any-return]


def _bigints_to_ext(value: Any) -> Any:
    t = type(value)
    if t is int and not -(2**63) <= value < 2**64:
        return msgpack.ExtType(_EXT_BIGINT, str(value).encode())
    if t is dict:
        return {k: _bigints_to_ext(v) for k, v in value.items()}
    if t is list:
        return [_bigints_to_ext(v) for v in value]
    return value


def encode_item(item: Item) -> bytes:
    """Encode a normalised item."""
    return _pack(item)


def encode_value(value: Any) -> bytes:
    """Encode one normalised value (used for index keys and stream images)."""
    return _pack(value)


def decode(raw: bytes) -> Any:
    """Decode bytes written by :func:`encode_item` or :func:`encode_value`."""
    try:
        return msgpack.unpackb(raw, ext_hook=_ext_hook, raw=False)
    except Corruption:
        raise
    except Exception as exc:
        raise Corruption(f"stored item cannot be decoded: {exc}") from None


# Fast path for the hot read loops: the database calls this directly.
unpackb: Final = msgpack.unpackb
EXT_HOOK: Final = _ext_hook


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------


def key_bytes(value: object, what: str) -> bytes:
    """The stored bytes of a key value (str as UTF-8, bytes as is)."""
    if type(value) is str:
        raw = value.encode()
    elif isinstance(value, (bytes, bytearray, memoryview)) and not isinstance(value, bool):
        raw = bytes(value)
    elif isinstance(value, str):
        raw = str(value).encode()
    else:
        raise ValidationError(f"{what} must be str or bytes, got {type(value).__name__}")
    if not raw:
        raise ValidationError(f"{what} must not be empty")
    return raw


# Number keys: sign class, then for non-zero numbers the decimal exponent
# and the digits, arranged so that bytes order as the numbers do.
_NEGATIVE: Final = 0x01
_ZERO: Final = 0x02
_POSITIVE: Final = 0x03
_EXPONENT_BIAS: Final = 0x8000  # exponents fit in -32768..32767 (DynamoDB's: -129..126)
_NEGATIVE_END: Final = b"\xff"  # after a negative's digits (see number_key)


def number_key(value: int | Decimal) -> bytes:
    """Bytes of a number (``int`` or finite ``Decimal``) that order as the numbers do.

    Equal numbers give equal bytes whatever their form (``1``, ``1.0``,
    ``Decimal("1.00")``). A non-zero number is ``0.d1d2...dn x 10**e`` with
    ``d1 != 0`` and ``dn != 0``: a positive one is ``03 | e+bias (2 bytes) |
    d1+1 ... dn+1``, so a larger exponent, then larger digits, sort later, and
    a shorter mantissa sorts before a longer one sharing its digits (the end
    of the key, or the index's terminator, sorts first). A negative one
    mirrors it, ``01 | bias-e | 10-d1 ... 10-dn | FF``: the closing ``FF``
    makes -0.12 sort after -0.123. Zero is ``02``.
    """
    if type(value) is int:  # the common case: digits from the decimal text
        if value == 0:
            return _ZERO_KEY
        negative = value < 0
        significant = str(-value if negative else value).encode()
        e = len(significant)
        significant = significant.rstrip(b"0")
        table = _NEGATIVE_TEXT if negative else _POSITIVE_TEXT
    else:
        d = value if isinstance(value, Decimal) else Decimal(value)
        if d.is_zero():
            return _ZERO_KEY
        sign, digits, exponent = d.as_tuple()
        assert isinstance(exponent, int)
        negative = bool(sign)
        e = exponent + len(digits)  # (a coefficient has no leading zeros)
        significant = bytes(digits).rstrip(b"\x00")
        table = _NEGATIVE_DIGITS if negative else _POSITIVE_DIGITS
    if not -_EXPONENT_BIAS <= e < _EXPONENT_BIAS:
        raise ValidationError(f"number {value} is out of range for a key")
    if negative:
        return (
            _NEGATIVE_HEAD
            + (_EXPONENT_BIAS - e).to_bytes(2, "big")
            + significant.translate(table)
            + _NEGATIVE_END
        )
    return _POSITIVE_HEAD + (_EXPONENT_BIAS + e).to_bytes(2, "big") + significant.translate(table)


_ZERO_KEY: Final = bytes([_ZERO])
_NEGATIVE_HEAD: Final = bytes([_NEGATIVE])
_POSITIVE_HEAD: Final = bytes([_POSITIVE])
#: A digit (as ASCII text, or as its value) -> its byte in a key: d+1 in a
#: positive number, 10-d in a negative one.
_POSITIVE_TEXT: Final = bytes.maketrans(b"0123456789", bytes(range(1, 11)))
_NEGATIVE_TEXT: Final = bytes.maketrans(b"0123456789", bytes(range(10, 0, -1)))
_POSITIVE_DIGITS: Final = bytes.maketrans(bytes(range(10)), bytes(range(1, 11)))
_NEGATIVE_DIGITS: Final = bytes.maketrans(bytes(range(10)), bytes(range(10, 0, -1)))


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def stripe_key(stripe: int) -> bytes | None:
    """The smallest item key in ``stripe``; ``None`` past the last stripe."""
    if stripe >= STRIPES:
        return None
    return stripe.to_bytes(2, "big")


__all__ = [
    "EXT_HOOK",
    "HAS_SK",
    "KEY_OVERHEAD",
    "NO_SK",
    "number_key",
    "STRIPES",
    "decode",
    "encode_item",
    "encode_value",
    "key_bytes",
    "stripe_key",
    "unpackb",
]
