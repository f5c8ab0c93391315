"""Python values <-> KeystoneDB's stored types (SPEC section 1).

This module owns the value model: which Python values are accepted, how they
are normalised before they are stored (``float`` -> exact decimal, ``tuple``
-> list, naive datetimes refused, ...), what type code each stored value
has, and the :class:`Vector` type. Everything that accepts a value from a
user passes through :func:`normalize_value`; everything that needs to know
a value's DynamoDB type calls :func:`type_of`.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping
from decimal import Context, Decimal
from typing import Any, Final, TypeAlias, overload

from .errors import ValidationError

#: Maximum depth of nested lists and maps (a top-level attribute is depth 1).
MAX_NESTING_DEPTH: Final = 32
#: DynamoDB's limit on an attribute name, in UTF-8 bytes (64 KB).
MAX_NAME_BYTES: Final = 65_535
#: Names no longer than this (in characters) cannot be over MAX_NAME_BYTES.
_LONG_NAME: Final = MAX_NAME_BYTES // 4
#: DynamoDB's limit on a key or index key attribute name, in UTF-8 bytes.
MAX_KEY_NAME_BYTES: Final = 255
#: DynamoDB's precision for numbers.
MAX_NUMBER_DIGITS: Final = 38
#: DynamoDB's range for numbers (by magnitude).
MAX_NUMBER_EXPONENT: Final = 125  # largest is 9.99..9E+125
MIN_NUMBER_EXPONENT: Final = -130  # smallest positive is 1E-130

#: Decimal context used for arithmetic on numbers. Results are checked
#: against the 38-digit limit afterwards, so precision here is generous.
NUMBER_CONTEXT: Final = Context(prec=80, Emax=999_999, Emin=-999_999)

UTC: Final = _dt.UTC
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=UTC)

Number: TypeAlias = int | Decimal
Item: TypeAlias = dict[str, Any]


class Vector:
    """A dense vector of float32 values (stored type ``VecF32``).

    Build one from any iterable of finite numbers: ``Vector([0.1, 0.2])``.
    It behaves as a read-only sequence of floats; two vectors are equal when
    their float32 values are equal.
    """

    __slots__ = ("_data",)

    def __init__(self, values: Iterable[float] = ()) -> None:
        if isinstance(values, Vector):
            self._data: array[float] = array("f", values._data)
            return
        try:
            data = array("f", (float(v) for v in values))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"Vector values must be finite numbers: {exc}") from None
        for v in data:
            if not math.isfinite(v):
                raise ValidationError("Vector values must be finite float32 numbers")
        self._data = data

    @classmethod
    def from_bytes(cls, raw: bytes) -> Vector:
        """Rebuild a vector from :meth:`to_bytes` output (little-endian float32)."""
        vec = cls.__new__(cls)
        data = array("f")
        data.frombytes(raw)
        if _BIG_ENDIAN:
            data.byteswap()
        vec._data = data
        return vec

    def to_bytes(self) -> bytes:
        """The values as little-endian float32 bytes."""
        if _BIG_ENDIAN:
            data = array("f", self._data)
            data.byteswap()
            return data.tobytes()
        return self._data.tobytes()

    def tolist(self) -> list[float]:
        return self._data.tolist()

    def __len__(self) -> int:
        return len(self._data)

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> list[float]: ...
    def __getitem__(self, index: int | slice) -> float | list[float]:
        if isinstance(index, slice):
            return self._data[index].tolist()
        return self._data[index]

    def __iter__(self) -> Iterator[float]:
        return iter(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Vector):
            return self._data == other._data
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._data.tobytes())

    def __repr__(self) -> str:
        return f"Vector({self._data.tolist()!r})"


_BIG_ENDIAN: Final = array("H", [1]).tobytes() == b"\x00\x01"


# --------------------------------------------------------------------------
# Type codes
# --------------------------------------------------------------------------

#: The stored type codes, as DynamoDB names them (plus VecF32 and Ts).
TYPE_CODES: Final = ("S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS", "VecF32", "Ts")


def type_of(value: object) -> str:
    """The stored type code of a *normalised* value (see :data:`TYPE_CODES`)."""
    code = _EXACT_TYPES.get(type(value))
    if code is not None:
        return code
    if isinstance(value, (set, frozenset)):
        return _set_type(value)
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, (int, Decimal)):
        return "N"
    if isinstance(value, str):
        return "S"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "B"
    if isinstance(value, (list, tuple)):
        return "L"
    if isinstance(value, Mapping):
        return "M"
    if isinstance(value, Vector):
        return "VecF32"
    if isinstance(value, _dt.datetime):
        return "Ts"
    raise ValidationError(f"unsupported value type {type(value).__name__}")


def _set_type(value: set[Any] | frozenset[Any]) -> str:
    for element in value:
        t = type_of(element)
        return {"S": "SS", "N": "NS", "B": "BS"}.get(t, "?")
    return "?"


_EXACT_TYPES: Final[dict[type, str]] = {
    str: "S",
    int: "N",
    Decimal: "N",
    bytes: "B",
    bool: "BOOL",
    type(None): "NULL",
    list: "L",
    dict: "M",
    Vector: "VecF32",
    _dt.datetime: "Ts",
}


# --------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------


#: DynamoDB's messages for numbers it cannot store (the wording of its ValidationException).
NUMBER_OVERFLOW: Final = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
NUMBER_UNDERFLOW: Final = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
NUMBER_TOO_PRECISE: Final = "Attempting to store more than 38 significant digits in a Number"
NOT_A_NUMBER: Final = "The parameter cannot be converted to a numeric value"

#: DynamoDB's number text: an optional sign, digits with an optional point, an
#: optional exponent; nothing else (no spaces, no ``_``, no NaN or Infinity).
_NUMBER_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: Longest exponent text accepted before the magnitude check (a longer one is
#: out of range whatever its digits, unless it is all zeros).
_MAX_EXPONENT_TEXT: Final = 12


def _number_error(message: str, path: str) -> ValidationError:
    if path == "value":
        return ValidationError(message)
    return ValidationError(f"{path}: {message}")


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` for an error message: clipped, and never raising (a huge int's
    repr raises ValueError; a user's object may raise anything)."""
    try:
        if type(value) is int and not -(10**40) < value < 10**40:
            return f"<an int of about {int(value.bit_length() * 0.30103) + 1} digits>"
        text = repr(value)
    except Exception:
        return f"<a {type(value).__name__}>"
    return clip(text, limit)


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters for an error message (``...`` marks a cut)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalize_number(value: object, path: str = "value") -> int | Decimal:
    """Validate a number and return it as ``int`` (integral) or ``Decimal``.

    Raises :class:`ValidationError` with DynamoDB's message for NaN,
    infinities, more than 38 significant digits, or a magnitude outside
    DynamoDB's range (1E-130 to 9.99...E+125). No ``decimal`` signal ever
    escapes: the checks read the number's digits and exponent directly.
    """
    if type(value) is int:
        if -(10**MAX_NUMBER_DIGITS) < value < 10**MAX_NUMBER_DIGITS:
            return value
        return _check_decimal(Decimal(value), path)
    if isinstance(value, bool):
        raise ValidationError(f"{path}: expected a number, got bool")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _number_error(f"{NOT_A_NUMBER}: {value!r}", path)
        return _check_decimal(Decimal(repr(value)), path)
    if isinstance(value, int):
        return normalize_number(int(value), path)
    if isinstance(value, Decimal):
        return _check_decimal(value, path)
    raise ValidationError(f"{path}: expected a number, got {type(value).__name__}")


def _check_decimal(value: Decimal, path: str) -> int | Decimal:
    if not value.is_finite():
        raise _number_error(f"{NOT_A_NUMBER}: {value}", path)
    if value.is_zero():
        return 0
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    # A coefficient has no leading zeros; drop the trailing ones into the exponent.
    end = len(digits)
    while digits[end - 1] == 0:
        end -= 1
    adjusted = exponent + len(digits) - 1
    if adjusted > MAX_NUMBER_EXPONENT:
        raise _number_error(NUMBER_OVERFLOW, path)
    if adjusted < MIN_NUMBER_EXPONENT:
        raise _number_error(NUMBER_UNDERFLOW, path)
    if end > MAX_NUMBER_DIGITS:
        raise _number_error(NUMBER_TOO_PRECISE, path)
    shift = exponent + len(digits) - end
    if shift >= 0:
        magnitude: int = int("".join(map(str, digits[:end]))) * 10**shift
        return -magnitude if sign else magnitude
    return Decimal((sign, digits[:end], shift))


def parse_number(text: str, path: str = "value") -> int | Decimal:
    """Parse a number from DynamoDB's text form (as the wire carries it).

    The text is DynamoDB's: ``[+-]digits[.digits][e[+-]digits]``; spaces,
    ``_``, ``NaN`` and ``Infinity`` are refused (Python's ``Decimal`` would
    take them).
    """
    if type(text) is not str or _NUMBER_TEXT.fullmatch(text) is None:
        raise _number_error(
            f"{NOT_A_NUMBER}: {clip(text) if type(text) is str else shown(text)}", path
        )
    mark = max(text.find("e"), text.find("E"))
    if mark >= 0:
        exponent = text[mark + 1 :].lstrip("+-").lstrip("0")
        if len(exponent) > _MAX_EXPONENT_TEXT:
            mantissa = text[:mark].lstrip("+-").replace(".", "").strip("0")
            if mantissa:
                negative = "-" in text[mark + 1 : mark + 2]
                raise _number_error(NUMBER_UNDERFLOW if negative else NUMBER_OVERFLOW, path)
            return 0
    return _check_decimal(Decimal(text), path)


def format_number(value: int | Decimal) -> str:
    """The canonical string of a number: no exponent for integers."""
    if type(value) is int:
        return str(value)
    if isinstance(value, Decimal):
        text = format(value, "f") if -30 < value.adjusted() < 40 else str(value)
        return text
    return str(value)


# --------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------


def datetime_to_ms(value: _dt.datetime, path: str = "value") -> int:
    """Milliseconds since the epoch of an aware datetime (sub-ms truncated)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{path}: datetimes must be timezone-aware (got a naive datetime)")
    delta = value - _EPOCH
    ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if ms < 0:
        raise ValidationError(f"{path}: timestamps before 1970-01-01T00:00:00Z are not supported")
    return ms


def ms_to_datetime(ms: int) -> _dt.datetime:
    """The aware UTC datetime of a millisecond timestamp."""
    return _EPOCH + _dt.timedelta(milliseconds=ms)


# --------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------


def check_unicode(text: str, what: str) -> str:
    """``text`` if it encodes as UTF-8; a lone surrogate (``"\\udcff"``) is a ValidationError."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"{clip(what)}: strings must be valid Unicode; the character "
                f"{text[exc.start]!r} at position {exc.start} is a lone surrogate, "
                "which UTF-8 cannot encode"
            ) from None
    return text


def check_name_size(name: str) -> None:
    """Refuse an attribute name longer than DynamoDB's 64 KB."""
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise ValidationError(
            f"An attribute name is {size} bytes long; the limit is {MAX_NAME_BYTES} bytes "
            f"(name: {clip(name)})"
        )


def normalize_item(item: Mapping[str, Any], path: str = "") -> Item:
    """Validate an item and return a normalised copy.

    Raises :class:`ValidationError` naming the attribute path of the first
    value that is not allowed.
    """
    if not isinstance(item, Mapping):
        raise ValidationError(f"an item must be a dict of attributes, got {type(item).__name__}")
    out: Item = {}
    for name, value in item.items():
        if type(name) is not str:
            raise ValidationError(f"attribute names must be str, got {shown(name)}")
        if not name:
            raise ValidationError("attribute names must not be empty")
        if len(name) > _LONG_NAME or not name.isascii():
            check_unicode(name, "an attribute name")
            check_name_size(name)
        t = type(value)
        # (the common scalars inline: every write of every item comes through here)
        if (
            (t is str and value.isascii())
            or t is bytes
            or t is bool
            or value is None
            or (t is int and -(2**63) <= value < 2**63)
        ):
            out[name] = value
        else:
            out[name] = _normalize(value, f"{path}.{name}" if path else name, 1)
    return out


def normalize_value(value: object, path: str = "value") -> Any:
    """Validate one value and return its normalised form."""
    return _normalize(value, path, 1)


def _normalize(value: object, path: str, depth: int) -> Any:
    t = type(value)
    if t is str:
        return value if value.isascii() else check_unicode(value, path)  # type: ignore[attr-defined,arg-type]
    if t is bool or value is None:
        return value
    if t is int:
        if -(2**63) <= value < 2**63:  # type: ignore[operator]
            return value
        return normalize_number(value, path)
    if t is bytes:
        return value
    if t is dict:
        if depth > MAX_NESTING_DEPTH:
            _too_deep(path)
        out: dict[str, Any] = {}
        for key, sub in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                raise ValidationError(f"{path}: map keys must be str, got {shown(key)}")
            if len(key) > _LONG_NAME or not key.isascii():
                check_unicode(key, f"{path}: a map key")
                check_name_size(key)
            out[key] = _normalize(sub, f"{path}.{key}", depth + 1)
        return out
    if t is list or t is tuple:
        if depth > MAX_NESTING_DEPTH:
            _too_deep(path)
        return [_normalize(sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(value)]  # type: ignore[arg-type,var-annotated]
    if t is Decimal or t is float:
        return normalize_number(value, path)
    if isinstance(value, (set, frozenset)):
        return _normalize_set(value, path)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return normalize_number(int(value), path)
    if isinstance(value, Decimal):
        return normalize_number(value, path)
    if isinstance(value, str):
        return check_unicode(str(value), path)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, Vector):
        return value
    if isinstance(value, _dt.datetime):
        return ms_to_datetime(datetime_to_ms(value, path))
    if isinstance(value, Mapping):
        return _normalize(dict(value), path, depth)
    if isinstance(value, (list, tuple)):
        return _normalize(list(value), path, depth)
    if isinstance(value, float):
        return normalize_number(value, path)
    raise ValidationError(f"{path}: unsupported value type {type(value).__name__}")


def _too_deep(path: str) -> None:
    raise ValidationError(
        f"{path}: nesting is deeper than the limit of {MAX_NESTING_DEPTH} levels of lists and maps"
    )


def _normalize_set(value: set[Any] | frozenset[Any], path: str) -> set[Any]:
    if not value:
        raise ValidationError(f"{path}: sets must not be empty")
    kinds: set[str] = set()
    out: set[Any] = set()
    for element in value:
        if isinstance(element, bool):
            raise ValidationError(f"{path}: sets hold strings, numbers or bytes, not bool")
        if isinstance(element, str):
            kinds.add("S")
            out.add(check_unicode(str(element), path))
        elif isinstance(element, (int, float, Decimal)):
            kinds.add("N")
            out.add(normalize_number(element, path))
        elif isinstance(element, (bytes, bytearray, memoryview)):
            kinds.add("B")
            out.add(bytes(element))
        else:
            raise ValidationError(
                f"{path}: sets hold strings, numbers or bytes, not {type(element).__name__}"
            )
        if len(kinds) > 1:
            raise ValidationError(
                f"{path}: a set must hold one kind of element (strings, numbers or bytes), not a mix"
            )
    return out


def set_kind(value: set[Any] | frozenset[Any]) -> str:
    """``"SS"``, ``"NS"`` or ``"BS"`` for a normalised non-empty set."""
    return _set_type(value)


__all__ = [
    "MAX_KEY_NAME_BYTES",
    "MAX_NAME_BYTES",
    "MAX_NESTING_DEPTH",
    "MAX_NUMBER_DIGITS",
    "NUMBER_CONTEXT",
    "TYPE_CODES",
    "UTC",
    "Item",
    "Number",
    "Vector",
    "datetime_to_ms",
    "format_number",
    "ms_to_datetime",
    "normalize_item",
    "normalize_number",
    "normalize_value",
    "check_name_size",
    "check_unicode",
    "clip",
    "shown",
    "parse_number",
    "set_kind",
    "type_of",
]
