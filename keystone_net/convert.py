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
:data:`MAX_ITEM_METADATA_BYTES`).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
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

__all__ = [
    "CANCELLATION_REASONS_KEY",
    "ERROR_CLASS_KEY",
    "ITEM_KEY",
    "MAX_ITEM_METADATA_BYTES",
    "SORT_KEY_OPS",
    "exception_for",
    "item_from_proto",
    "item_to_proto",
    "item_with_key",
    "items_from_proto",
    "items_to_proto",
    "key_from_proto",
    "key_message",
    "key_to_proto",
    "keys_from_proto",
    "last_key_from_proto",
    "last_key_to_proto",
    "sort_key_condition_from_proto",
    "sort_key_condition_to_proto",
    "status_for",
    "value_from_proto",
    "value_to_proto",
    "values_from_proto",
    "values_to_proto",
]

_Value = pb.Value
_ListValue = pb.ListValue
_MapValue = pb.MapValue
_Item = pb.Item
_NULL = pb.NullValue.NULL_VALUE
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
# Python -> proto
# --------------------------------------------------------------------------


def _enc(v: Any, depth: int) -> pb.Value:
    t = type(v)
    if t is str:
        return _Value(string_value=v)
    if t is int:
        if _INT64_MIN <= v < _INT64_END:
            return _Value(number_value=str(v))
        return _Value(number_value=format_number(_number(v)))
    if t is Decimal or t is float:
        return _Value(number_value=format_number(_number(v)))
    if t is bytes:
        return _Value(binary_value=v)
    if t is bool:
        return _Value(bool_value=v)
    if v is None:
        return _Value(null_value=_NULL)
    if t is dict:
        if depth > MAX_NESTING_DEPTH:
            raise _Bad(_TOO_DEEP)
        depth += 1
        fields = {}
        for key, sub in v.items():
            if type(key) is not str:
                raise _Bad(f"map keys must be str, got {key!r}")
            try:
                fields[key] = _enc(sub, depth)
            except _Bad as exc:
                exc.parts.append(key)
                raise
        return _Value(map_value=_MapValue(fields=fields))
    if t is list or t is tuple:
        if depth > MAX_NESTING_DEPTH:
            raise _Bad(_TOO_DEEP)
        depth += 1
        items = []
        for i, sub in enumerate(v):
            try:
                items.append(_enc(sub, depth))
            except _Bad as exc:
                exc.parts.append(i)
                raise
        return _Value(list_value=_ListValue(items=items))
    if t is set or t is frozenset:
        return _enc_set(v)
    if t is Vector or isinstance(v, Vector):
        return _Value(vector_value=pb.VectorValue(values=v.tolist()))
    if t is _dt.datetime:
        try:
            return _Value(timestamp_value=datetime_to_ms(v))
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


def _number(v: Any) -> int | Decimal:
    try:
        return normalize_number(v)
    except ValidationError:
        raise _Bad("invalid number", lambda path: normalize_number(v, path)) from None


def _enc_set(v: set[Any] | frozenset[Any]) -> pb.Value:
    if v:
        for e in v:
            if type(e) is not str:
                break
        else:
            return _Value(string_set=pb.StringSet(values=list(v)))
    try:
        normal = normalize_value(v)
    except ValidationError:
        raise _Bad("invalid set", lambda path: normalize_value(v, path)) from None
    kind = set_kind(normal)
    if kind == "NS":
        return _Value(number_set=pb.StringSet(values=[format_number(n) for n in normal]))
    if kind == "BS":
        return _Value(binary_set=pb.BinarySet(values=list(normal)))
    return _Value(string_set=pb.StringSet(values=list(normal)))


def value_to_proto(value: Any, path: str = "value") -> pb.Value:
    """The ``Value`` message of one keystone value (``ValidationError`` if invalid)."""
    try:
        return _enc(value, 1)
    except _Bad as exc:
        _fail(exc, path)


def item_to_proto(item: Mapping[str, Any]) -> pb.Item:
    """The ``Item`` message of an item (a mapping of attribute name to value)."""
    attributes = {}
    try:
        for name, v in item.items():
            if type(name) is not str:
                raise ValidationError(f"attribute names must be str, got {name!r}")
            attributes[name] = _enc(v, 1)
    except _Bad as exc:
        _fail(exc, name)
    return _Item(attributes=attributes)


def items_to_proto(items: Iterable[Mapping[str, Any]]) -> list[pb.Item]:
    """``Item`` messages of many items (query pages, batch results)."""
    return [item_to_proto(item) for item in items]


def values_to_proto(values: Mapping[str, Any] | None) -> dict[str, pb.Value]:
    """An ``expression_values`` map (placeholder -> ``Value``); ``None`` is empty."""
    if not values:
        return {}
    out = {}
    try:
        for name, v in values.items():
            if type(name) is not str:
                raise ValidationError(f"placeholder names must be str, got {name!r}")
            out[name] = _enc(v, 1)
    except _Bad as exc:
        _fail(exc, name)
    return out


# --------------------------------------------------------------------------
# proto -> Python
# --------------------------------------------------------------------------


def _dec(msg: pb.Value | None, depth: int) -> Any:
    if msg is None:  # a map entry without its value
        raise _Bad("the value is missing (no field of Value is set)")
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
        try:
            return ms_to_datetime(v)
        except OverflowError:
            raise _Bad(f"timestamp {v} ms is out of range") from None
    v = msg.vector_value
    if v is not None:
        try:
            return Vector(v.values)
        except ValidationError as exc:
            raise _Bad(str(exc)) from None
    v = msg.string_set
    if v is not None:
        if not v.values:
            raise _Bad("sets must not be empty")
        return set(v.values)
    v = msg.number_set
    if v is not None:
        if not v.values:
            raise _Bad("sets must not be empty")
        return {_parse_number(n) for n in v.values}
    v = msg.binary_set
    if v is not None:
        if not v.values:
            raise _Bad("sets must not be empty")
        return set(v.values)
    raise _Bad("the value has no type (no field of Value is set)")


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


def value_from_proto(msg: pb.Value, path: str = "value") -> Any:
    """The keystone value of a ``Value`` message (``ValidationError`` if malformed)."""
    try:
        return _dec(msg, 1)
    except _Bad as exc:
        _fail(exc, path)


def item_from_proto(msg: pb.Item) -> dict[str, Any]:
    """The item (``dict``) of an ``Item`` message."""
    out = {}
    try:
        for name, v in msg.attributes.items():
            out[name] = _dec(v, 1)
    except _Bad as exc:
        _fail(exc, name)
    return out


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
        cursor=bytes(item_to_proto(last_key)),
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
            parsed = _Item.parse(msg.cursor)
        except Exception:
            parsed = _Item()
        if not parsed.attributes:
            raise ValidationError("exclusive_start_key: the cursor is not valid")
        return item_from_proto(parsed)
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
            raw = bytes(item_to_proto(exc.item))
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
        return item_from_proto(_Item.parse(raw)) or None
    except Exception:
        return None
