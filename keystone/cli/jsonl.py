"""Typed JSON: KeystoneDB values <-> JSON text (the CLI's input and output).

JSON has strings, numbers, booleans, null, arrays and objects; KeystoneDB
also has bytes, three kinds of sets, vectors, timestamps and exact decimals.
Those are written as one-key objects whose key is a *tag*:

==========================  =================================================
KeystoneDB value            JSON
==========================  =================================================
S, BOOL, NULL, L, M         the plain JSON value
N, integral                 a JSON integer (any size, exact)
N, not integral             ``{"$n": "0.1"}``; on input a plain JSON number
                            such as ``0.1`` is also accepted, read exactly as
                            the decimal its text says (never via a float)
B                           ``{"$b64": "AAE="}`` (standard base64)
SS                          ``{"$ss": ["a", "b"]}``
NS                          ``{"$ns": ["1.5", "2"]}`` (numbers also accepted)
BS                          ``{"$bs": ["AAE=", "Ag=="]}``
VecF32                      ``{"$vec": [0.5, 1.25]}``
Ts                          ``{"$ts": "2024-01-01T00:00:00.000Z"}`` (output is
                            UTC with milliseconds; input takes any ISO 8601
                            time with a UTC offset)
==========================  =================================================

Only an object with exactly one key, that key being one of the tags above,
is read as a tagged value; every other object is a map. A map that has one
key which is a tag, or starts with ``$$``, is written with one more ``$``:
the map ``{"$n": "x"}`` is ``{"$$n": "x"}`` in typed JSON. Output is one
compact line per item with non-ASCII text kept as UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from ..types import UTC, Item, Vector, format_number

TAGS: Final = frozenset({"$n", "$b64", "$ss", "$ns", "$bs", "$vec", "$ts"})


class JSONValueError(ValueError):
    """Text that is not valid typed JSON; the message says where and why."""


def _no_constant(name: str) -> Any:
    raise JSONValueError(f"{name} is not a number KeystoneDB can store")


def _integer(text: str) -> int | Decimal:
    """A JSON integer: an ``int``, or a ``Decimal`` past Python's int-from-text digit limit
    (so that the library, not the parser, says the number is out of range)."""
    return int(text) if len(text) <= 4000 else Decimal(text)


_DECODER: Final = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constant)
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=lambda v: _tagged(v)
)
_SLOW_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------


def loads(text: str | bytes) -> Any:
    """Parse typed JSON text into a KeystoneDB value (raises :class:`JSONValueError`)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONValueError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    # Tags are rare: text without a '"$' (or an escaped "$") parses without the hook.
    decoder = _TAGGED_DECODER if ('"$' in text or "\\u0024" in text) else _DECODER
    try:
        # The scanner itself is the fast path for one value per line; anything
        # unusual (leading space, an error) goes through decode() for its message.
        value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]
        if end == len(text) or text[end:].isspace():
            return value
    except (StopIteration, ValueError, RecursionError):  # (a long integer: below)
        pass
    try:
        try:
            return decoder.decode(text)
        except ValueError as exc:
            if isinstance(exc, json.JSONDecodeError):
                raise
            return _LONG_INT_DECODER.decode(text)  # an integer past int()'s digit limit
    except json.JSONDecodeError as exc:
        raise JSONValueError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise JSONValueError("invalid JSON: nested too deeply") from None


def loads_item(text: str | bytes) -> Item:
    """Parse one item (a JSON object) from typed JSON text."""
    value = loads(text)
    if not isinstance(value, dict):
        raise JSONValueError(f"an item must be a JSON object, got {_json_kind(value)}")
    return value


def _object_hook(obj: dict[str, Any]) -> Any:
    """Each parsed JSON object, innermost first: a tag becomes its value."""
    if len(obj) != 1:
        return obj
    for key, inner in obj.items():
        if key[:1] != "$":
            return obj
        if key in TAGS:
            return _untag(key, inner)
        if key[:2] == "$$":  # an escaped one-key map: {"$$n": x} is the map {"$n": x}
            return {key[1:]: inner}
    return obj


def _untag(tag: str, inner: Any) -> Any:
    where = f'{{"{tag}": ...}}'
    if tag == "$n":
        return _number(inner, where)
    if tag == "$b64":
        return _b64(inner, where)
    if tag == "$ts":
        return _timestamp(inner, where)
    if not isinstance(inner, list):
        raise JSONValueError(f"{where} takes an array, got {_json_kind(inner)}")
    if tag == "$ss":
        if not all(isinstance(v, str) for v in inner):
            raise JSONValueError(f"{where} takes an array of strings")
        return set(inner)
    if tag == "$ns":
        return {_number(v, where) for v in inner}
    if tag == "$bs":
        return {_b64(v, where) for v in inner}
    # $vec
    if not all(isinstance(v, (int, Decimal)) and not isinstance(v, bool) for v in inner):
        raise JSONValueError(f"{where} takes an array of numbers")
    return Vector(float(v) for v in inner)


_TAGGED_DECODER: Final = json.JSONDecoder(
    object_hook=_object_hook, parse_float=Decimal, parse_constant=_no_constant
)
#: The decoder of text with an integer too long for ``int()`` (tags understood).
_LONG_INT_DECODER: Final = json.JSONDecoder(
    object_hook=_object_hook, parse_float=Decimal, parse_int=_integer, parse_constant=_no_constant
)


def _number(value: Any, where: str) -> int | Decimal:
    if isinstance(value, bool):
        raise JSONValueError(f'{where} takes a number as a string, e.g. "0.1"')
    if isinstance(value, (int, Decimal)):
        return value
    if not isinstance(value, str):
        raise JSONValueError(f'{where} takes a number as a string, e.g. "0.1"')
    try:
        number = Decimal(value.strip())
    except ArithmeticError:
        raise JSONValueError(f"{where}: {value!r} is not a number") from None
    if not value.strip() or not number.is_finite():
        raise JSONValueError(f"{where}: {value!r} is not a finite number")
    return number


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise JSONValueError(f"{where} takes base64 text, got {_json_kind(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise JSONValueError(f"{where}: {value!r} is not valid base64") from None


def _timestamp(value: Any, where: str) -> _dt.datetime:
    if not isinstance(value, str):
        raise JSONValueError(f"{where} takes an ISO 8601 time, got {_json_kind(value)}")
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise JSONValueError(
            f"{where}: {value!r} is not an ISO 8601 time like 2024-01-01T00:00:00.000Z"
        ) from None
    if parsed.tzinfo is None:
        raise JSONValueError(f"{where}: {value!r} needs a UTC offset, e.g. a trailing Z")
    return parsed


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """One line of typed JSON for a KeystoneDB value (an item, usually)."""
    text = _ENCODER.encode(value)
    if '{"$' in text and _has_tag_like_map(value):
        # A map whose only key looks like a tag: the careful walk escapes it.
        text = _SLOW_ENCODER.encode(to_json(value))
    return text


def _has_tag_like_map(value: Any) -> bool:
    """Whether ``value`` holds a map that must be escaped (its only key a tag or ``$$...``)."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            key = next(iter(value))
            if key in TAGS or key[:2] == "$$":
                return True
        return any(
            isinstance(v, (Mapping, list, tuple)) and _has_tag_like_map(v) for v in value.values()
        )
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, (Mapping, list, tuple)) and _has_tag_like_map(v) for v in value)
    return False


def to_json(value: Any) -> Any:
    """The value as JSON types only (tags for the rest), as :func:`loads` reads it back."""
    if isinstance(value, Mapping):
        out = {k: to_json(v) for k, v in value.items()}
        if len(out) == 1:
            ((key, inner),) = out.items()
            if key in TAGS or key[:2] == "$$":
                return {"$" + key: inner}
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return _tagged(value)


def _tagged(value: Any) -> Any:
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return {"$n": format_number(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (set, frozenset)):
        return _tagged_set(value)
    if isinstance(value, Vector):
        return {"$vec": value.tolist()}
    if isinstance(value, _dt.datetime):
        return {"$ts": format_timestamp(value)}
    if isinstance(value, float):
        return {"$n": format_number(Decimal(repr(value)))}
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def _tagged_set(value: set[Any] | frozenset[Any]) -> dict[str, list[Any]]:
    first = next(iter(value), "")
    if isinstance(first, str):
        return {"$ss": sorted(value)}
    if isinstance(first, (bytes, bytearray)):
        return {"$bs": [base64.b64encode(bytes(v)).decode("ascii") for v in sorted(value)]}
    return {"$ns": [format_number(v) for v in sorted(value)]}


def format_timestamp(value: _dt.datetime) -> str:
    """``2024-01-01T00:00:00.000Z``: UTC, milliseconds, a trailing Z."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


__all__ = [
    "TAGS",
    "JSONValueError",
    "dumps",
    "format_timestamp",
    "loads",
    "loads_item",
    "to_json",
]
