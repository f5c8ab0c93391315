"""Keys on the wire: key bytes, puts without key attributes, continuation keys, sort-key conditions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

from keystone.errors import (
    ValidationError,
)
from keystone.types import _NUMBER_TEXT, format_number, normalize_number, parse_number
from keystone_net._proto import keystone as pb

from .decode import item_from_bytes, value_from_bytes, value_from_proto
from .encode import item_to_bytes, value_to_bytes
from .wire import _MALFORMED, Span, _Bad, _skip, _varint, _varint_tail, len_field

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
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        # An N key: the number's canonical DynamoDB text (PROTOCOL.md).
        return format_number(normalize_number(value, what)).encode()
    raise ValidationError(f"{what} must be str, bytes or a number, got {t.__name__}")


def wire_bytes(value: object) -> bytes:
    """The key bytes of a value for the original fields; ``b""`` when it has none.

    (A value that is not a str, bytes or a finite number travels only as its
    ``Value``, which the server hands to the library to refuse.)
    """
    t = type(value)
    if t is str:
        return value.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined, no-any-return]
    if t is bytes:
        return value  # type: ignore[return-value]
    try:
        return _key_bytes(value, "key")
    except (ValidationError, UnicodeEncodeError):
        return b""


def key_value_bytes(value: object, what: str) -> bytes:
    """The serialized ``Value`` of a key value, as the caller gave it.

    A number travels as its text unchecked (:func:`key_value_from_bytes`
    reads it back): whether it fits DynamoDB's range is the database's to
    say, in its words and after it has checked the key's type. Every other
    value is encoded as any value is (``ValidationError`` if it cannot be).
    """
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if isinstance(value, float):
            text = repr(float(value))
        elif isinstance(value, int):
            text = str(int(value)) if abs(value) < _HUGE_INT else format(Decimal(value), "E")
        else:
            text = str(value)
        raw = text.encode()
        return b"\x12" + _varint(len(raw)) + raw  # Value.number_value
    return value_to_bytes(value, what)


_HUGE_INT: Final = 10**4000  # past Python's int <-> str digit limit (4300)
#: What a number's text may be besides DynamoDB's form: a float's special values.
_SPECIAL_NUMBERS: Final = frozenset({"nan", "inf", "-inf"})


def _key_number(text: str, what: str) -> int | Decimal:
    """A key's number text (:func:`key_value_bytes`), read without range checks.

    Text that is not a number is refused as the library refuses it.
    """
    if len(text) > _MAX_NUMBER_TEXT or (
        _NUMBER_TEXT.fullmatch(text) is None and text not in _SPECIAL_NUMBERS
    ):
        return parse_number(text[:_MAX_NUMBER_TEXT], what)  # raises the library's error
    if len(text) < 4000 and (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        return int(text)
    return Decimal(text)


_MAX_NUMBER_TEXT: Final = 20000


def key_value_from_bytes(data: bytes, what: str) -> Any:
    """The key value of a serialized ``Value`` (see :func:`key_value_bytes`)."""
    if len(data) > 1 and data[0] == 0x0A and data[1] == len(data) - 2 < 0x80:
        try:  # the common key, a short string: read here, without the general decoder
            return data[2:].decode()
        except UnicodeDecodeError:
            pass  # the general decoder names the fault
    if data[:1] == b"\x12":
        n = data[1] if len(data) > 1 else 0x80
        pos = 2
        if n & 0x80:
            try:
                n, pos = _varint_tail(data, 2, n)
            except (_Bad, IndexError):
                raise ValidationError(f"{what}: {_MALFORMED}") from None
        if pos + n == len(data):
            try:
                text = data[pos:].decode()
            except UnicodeDecodeError:
                raise ValidationError(f"{what}: {_MALFORMED}") from None
            return _key_number(text, what)
    return value_from_bytes(data, what)


def key_value_from_proto(msg: pb.Value, what: str) -> Any:
    """The key value of a ``Value`` message (see :func:`key_value_bytes`)."""
    if msg.number_value is not None:
        return _key_number(msg.number_value, what)
    return value_from_proto(msg, what)


def typed_key(
    pk: object, sk: object, pk_field: int, sk_field: int
) -> tuple[bytes, bytes | None, bytes]:
    """A key as the caller gave it: ``(pk bytes, sk bytes, typed fields)``.

    The bytes go in the original ``partition_key``/``sort_key`` fields; the
    typed fields are the serialized ``partition_key_value`` (``pk_field``)
    and ``sort_key_value`` (``sk_field``) ``Value`` fields (ours), which
    carry the values' types so that the server hands the library exactly
    what the caller gave (an ``int`` where the key is ``S`` is refused as
    locally, a ``str`` where it is ``N`` too). A value the wire cannot carry
    at all is refused here (``ValidationError``).
    """
    typed = len_field(pk_field, key_value_bytes(pk, "partition key"))
    if sk is None:
        return wire_bytes(pk), None, typed
    typed += len_field(sk_field, key_value_bytes(sk, "sort key"))
    return wire_bytes(pk), wire_bytes(sk), typed


def key_value(raw: bytes, kind: str | None, what: str) -> Any:
    """The key value of wire bytes, read by the key's declared type (PROTOCOL.md).

    ``S``: UTF-8 text; ``N``: the number's DynamoDB text; ``B`` and the
    untyped key of older files: the bytes themselves.
    """
    if kind is None or kind == "B":
        return raw
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ValidationError(
            f"{what}: the key attribute is declared {kind}, but the bytes are not UTF-8"
        ) from None
    if kind == "S":
        return text
    return parse_number(text, what)


def key_to_proto(pk: object, sk: object = None) -> tuple[bytes, bytes | None]:
    """The wire bytes of a key: ``str`` as UTF-8, ``bytes`` as is, a number as its text."""
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


def key_message(pk: object, sk: object = None) -> pb.Key:
    """A ``Key`` message (``BatchGetRequest.keys``, ``TransactGetRequest.keys``)."""
    pk_bytes, sk_bytes = key_to_proto(pk, sk)
    return pb.Key(partition_key=pk_bytes, sort_key=sk_bytes)


def keys_from_proto(keys: Iterable[pb.Key]) -> list[tuple[bytes, bytes | None]]:
    """``(pk, sk)`` byte tuples of ``Key`` messages, in order."""
    return [key_from_proto(k.partition_key, k.sort_key) for k in keys]


def key_field(
    field: int, pk: bytes, sk: bytes | None, table: str | None = None, typed: bytes = b""
) -> bytes:
    """A ``Key`` message (wire bytes of a key, its table, and the serialized
    typed key fields of :func:`typed_key`) as field ``field``."""
    body = b"\x0a" + _varint(len(pk)) + pk
    if sk is not None:
        body += b"\x12" + _varint(len(sk)) + sk
    if table:
        name = table.encode()
        body += _varint(_TABLE_TAG) + _varint(len(name)) + name
    body += typed
    return _varint(field << 3 | 2) + _varint(len(body)) + body


_TABLE_TAG: Final = 103 << 3 | 2  # Key.table (ours)
_PK_VALUE_TAG: Final = 104 << 3 | 2  # Key.partition_key_value (ours)
_SK_VALUE_TAG: Final = 105 << 3 | 2  # Key.sort_key_value (ours)
#: ``Key`` field numbers of the typed key values (see :func:`typed_key`).
KEY_VALUE_FIELDS: Final = (104, 105)

#: A typed key value a ``Key`` message does not carry.
ABSENT: Final[Any] = object()


def keys_from_spans(data: bytes, spans: Iterable[Span]) -> list[tuple[bytes, bytes | None]]:
    """``(pk, sk)`` of each ``Key`` message found by :func:`split_fields`, in order.

    (The same as :func:`keys_from_proto`, without building betterproto2 messages.)
    """
    return [(k[0], k[1]) for k in table_keys_from_spans(data, spans)]


def table_keys_from_spans(
    data: bytes, spans: Iterable[Span]
) -> list[tuple[bytes, bytes | None, str | None, Any, Any]]:
    """``(pk, sk, table, pk value, sk value)`` of each ``Key`` message.

    ``table``: field 103, ``None`` if absent; the values: the typed key
    fields 104 and 105 (:func:`typed_key`) decoded, :data:`ABSENT` if absent.
    """
    out: list[tuple[bytes, bytes | None, str | None, Any, Any]] = []
    try:
        for i, (start, end) in enumerate(spans):
            pk = b""
            sk = None
            table: str | None = None
            values: list[Any] = [ABSENT, ABSENT]
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
                    if t in (_TABLE_TAG, _PK_VALUE_TAG, _SK_VALUE_TAG):
                        n = data[pos]
                        pos += 1
                        if n & 0x80:
                            n, pos = _varint_tail(data, pos, n)
                        if pos + n > end:
                            raise _Bad(_MALFORMED)
                        payload = data[pos : pos + n]
                        pos += n
                        if t == _TABLE_TAG:
                            table = payload.decode()
                        else:
                            which = t == _SK_VALUE_TAG
                            field = "sort_key_value" if which else "partition_key_value"
                            values[which] = key_value_from_bytes(payload, f"keys[{i}].{field}")
                        continue
                    pos = _skip(data, pos, t)
            if pos > end:
                raise _Bad(_MALFORMED)
            out.append((pk, sk, table, values[0], values[1]))
    except (_Bad, IndexError, UnicodeDecodeError):
        raise ValidationError(f"a Key message is malformed: {_MALFORMED}") from None
    return out


def item_with_key(
    item: dict[str, Any],
    pk: bytes,
    sk: bytes | None,
    pk_name: str = "pk",
    sk_name: str = "sk",
    pk_type: str | None = None,
    sk_type: str | None = None,
) -> dict[str, Any]:
    """Apply a put request's key fields to its item (PROTOCOL.md, semantics).

    A key attribute the item lacks is taken from the request (as ``bytes``);
    one it has must have the same bytes, else ``ValidationError``. An empty
    ``pk`` or an absent ``sk`` means the request does not say (proto3 cannot
    tell an empty partition key from none), so the item decides. ``item`` is
    changed in place and returned. With declared key types (``pk_type``,
    ``sk_type``) the request's bytes are read by type (:func:`key_value`).
    """
    if pk:
        have = item.get(pk_name, _MISSING)
        if pk_type is not None:
            pk = _key_bytes(key_value(pk, pk_type, "partition_key"), "partition_key")
        if have is _MISSING:
            item[pk_name] = key_value(pk, pk_type, "partition_key")
        elif _key_bytes(have, f"key attribute {pk_name!r}") != pk:
            raise ValidationError(
                f"{pk_name}: the item's partition key does not match the request's partition_key"
            )
    if sk is not None:
        have = item.get(sk_name, _MISSING)
        if sk_type is not None:
            sk = _key_bytes(key_value(sk, sk_type, "sort_key"), "sort_key")
        if have is _MISSING:
            item[sk_name] = key_value(sk, sk_type, "sort_key")
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
    msg: pb.LastKey | None,
    pk_name: str = "pk",
    sk_name: str = "sk",
    pk_type: str | None = None,
    sk_type: str | None = None,
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
    out: dict[str, Any] = {
        pk_name: key_value(msg.partition_key, pk_type, "exclusive_start_key.partition_key")
    }
    if msg.sort_key is not None:
        out[sk_name] = key_value(msg.sort_key, sk_type, "exclusive_start_key.sort_key")
    return out


# --------------------------------------------------------------------------
# Sort-key conditions
# --------------------------------------------------------------------------


def _key_value_proto(value: object, what: str) -> pb.Value:
    return pb.Value.parse(key_value_bytes(value, what))


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
                lower=_key_value_proto(values[0], "sort key lower bound"),
                upper=_key_value_proto(values[1], "sort key upper bound"),
            )
        )
    if len(values) != 1:
        raise ValidationError(f"a {op} sort key condition takes one value")
    condition = pb.SortKeyCondition()
    setattr(condition, field, _key_value_proto(values[0], "sort key condition"))
    return condition


def sort_key_condition_from_proto(msg: pb.SortKeyCondition) -> tuple[str, tuple[Any, ...]]:
    """``(op, values)`` of a ``SortKeyCondition`` (see :data:`SORT_KEY_OPS`)."""
    between = msg.between
    if between is not None:
        if between.lower is None or between.upper is None:
            raise ValidationError("sort_key_condition: between needs both lower and upper")
        return "between", (
            key_value_from_proto(between.lower, "sort key lower bound"),
            key_value_from_proto(between.upper, "sort key upper bound"),
        )
    for field, op in _OP_BY_FIELD.items():
        v = getattr(msg, field)
        if v is not None and field != "between":
            return op, (key_value_from_proto(v, "sort key condition"),)
    raise ValidationError("sort_key_condition: no condition is set")
