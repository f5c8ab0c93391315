"""What each call of the clients sends and receives, without any I/O.

Arguments become request bytes here (refusing, in the local database's
words, what the wire cannot carry; everything else is the server's to
check), and reply bytes become keystone values: pages, items, and the key
dicts of continuation keys (:class:`KeySchema`). ``keystone_net.grpc.client``
strings these together with ``keystone_net.grpc.transport``; values, items and
keys themselves are encoded by ``keystone_net.grpc.convert``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from keystone import ConditionCheck, Delete, Put, Update, checks
from keystone.errors import KeystoneError, ValidationError
from keystone.table import Page
from keystone.types import Item
from keystone.writes import check_token
from keystone_net._proto import keystone as pb
from keystone_net.grpc import convert

_UINT32_MAX: Final = 2**32 - 1
#: The typed key fields of ``Key`` and ``DeleteKey`` (ours; ``convert.typed_key``).
_KEY_VALUES: Final = (104, 105)

# --------------------------------------------------------------------------
# Argument checks: what the wire cannot carry is refused here, with the
# local database's words; everything else is checked by the server.
# --------------------------------------------------------------------------


def opt_str(value: object, what: str) -> str | None:
    if value is None or type(value) is str:
        return value
    raise ValidationError(f"{what} must be a str, got {type(value).__name__}")


def names_arg(names: Mapping[str, str] | None) -> dict[str, str]:
    if not names:
        return {}
    if not isinstance(names, Mapping):
        raise ValidationError(f"names must be a dict of '#name' -> attribute name, got {names!r}")
    for key, value in names.items():
        if type(key) is not str or type(value) is not str:
            raise ValidationError(f"names must map str to str, got {key!r}: {value!r}")
    return dict(names)


def check_limit(limit: object) -> int | None:
    """The library's limit check, clamped to what the wire's uint32 carries."""
    checked = checks.check_limit(limit)
    return None if checked is None else min(checked, _UINT32_MAX)


def uint32(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{what} must be an int, got {value!r}")
    if not 0 <= value <= _UINT32_MAX:
        raise ValidationError(f"{what} is out of range, got {value}")
    return value


def item_arg(item: object, where: str = "") -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise ValidationError(
            f"{where}an item must be a dict of attributes, got {type(item).__name__}"
        )
    return item


def parameters_field(statement: str, parameters: Sequence[Any] | None) -> bytes:
    """``ExecuteStatementRequest.parameters`` (field 100), one ``Value`` per ``?``."""
    if parameters is None:
        return b""
    if not isinstance(parameters, Sequence) or isinstance(
        parameters, (str, bytes, bytearray, memoryview)
    ):
        raise ValidationError(
            "parameters must be a list of values, one for each ? in the statement; "
            f"got {type(parameters).__name__}"
        )
    out = []
    for i, value in enumerate(parameters):
        try:
            out.append(convert.len_field(100, convert.value_to_bytes(value, "?")))
        except ValidationError as exc:
            # A value the wire cannot carry: name it as the server would.
            message = str(exc).removeprefix("?")
            raise ValidationError(parameter_label(statement, i) + message) from None
    return b"".join(out)


def parameter_label(statement: str, index: int) -> str:
    """How the database names the ``index``-th ``?`` of a statement in errors."""
    from keystone.partiql.lexer import PARAM, tokenize

    marks = [token for token in tokenize(statement) if token.kind == PARAM]
    if index >= len(marks):
        return f"parameter {index + 1}"
    mark = marks[index]
    return f"parameter {index + 1} (line {mark.line}, column {mark.column})"


def is_select(statement: str) -> bool:
    """A PartiQL SELECT: read-only, so it may be retried (anything else is a write)."""
    head = statement.lstrip()[:7]
    return head[:6].upper() == "SELECT" and not (head[6:].isalnum() or head[6:] == "_")


# --------------------------------------------------------------------------
# Replies, and keys both ways
# --------------------------------------------------------------------------


def page_of(data: bytes, start: int, end: int, pk: str, sk: str) -> Page:
    """A Page of a QueryResponse, ScanResponse or SelectResult (same field numbers)."""
    rest, found = convert.split_fields(data, (1,), start, end)
    items = convert.items_from_spans(data, found.get(1, ()))
    try:
        envelope = pb.QueryResponse.parse(rest)
        convert.check_parsed(envelope, "QueryResponse")
    except Exception as exc:  # the server's fault, not the caller's
        raise KeystoneError(f"malformed reply from the server: {exc}") from None
    last_key = convert.last_key_from_proto(envelope.last_evaluated_key, pk, sk)
    return Page(items, envelope.count, envelope.scanned_count, last_key)


def optional_item(data: bytes, field: int) -> Item | None:
    return convert.item_from_spans(data, convert.split_fields(data, (field,))[1].get(field, ()))


class KeySchema:
    """The table's key attribute names, and what the client does with them.

    The wire carries keys as bytes; key dicts and ``(pk, sk)`` tuples become
    those bytes, and continuation keys and pages come back as key dicts,
    with these names (the client cannot ask the server for them).
    """

    __slots__ = ("pk", "sk")

    def __init__(self, pk: str = "pk", sk: str = "sk") -> None:
        self.pk = pk
        self.sk = sk

    def page(self, data: bytes, start: int = 0, end: int | None = None) -> Page:
        """The Page of a QueryResponse, ScanResponse or SelectResult in ``data[start:end]``."""
        return page_of(data, start, len(data) if end is None else end, self.pk, self.sk)

    def last_key(self, start: Mapping[str, Any] | None) -> pb.LastKey | None:
        if start is None:
            return None
        if not isinstance(start, Mapping):
            raise ValidationError(
                f"start must be a dict of key attributes, got {type(start).__name__}"
            )
        return convert.last_key_to_proto(start, self.pk, self.sk)

    def key(self, key: object, what: str) -> tuple[bytes, bytes | None, bytes]:
        """A key given as a key dict, ``(pk, sk)``, ``(pk,)`` or a bare pk, for a
        ``Key`` or ``DeleteKey`` message: its bytes and its typed fields (104, 105)."""
        try:
            if isinstance(key, Mapping):
                if self.pk not in key:
                    raise ValidationError(f"has no partition key attribute {self.pk!r}")
                extra = set(key) - {self.pk, self.sk}
                if extra:
                    raise ValidationError(
                        f"has attributes that are not key attributes: {sorted(extra)}"
                    )
                return convert.typed_key(key[self.pk], key.get(self.sk), *_KEY_VALUES)
            if isinstance(key, tuple):
                if len(key) == 1:
                    return convert.typed_key(key[0], None, *_KEY_VALUES)
                if len(key) == 2:
                    return convert.typed_key(key[0], key[1], *_KEY_VALUES)
                raise ValidationError(f"must be (pk,) or (pk, sk), got a tuple of {len(key)}")
            return convert.typed_key(key, None, *_KEY_VALUES)
        except ValidationError as exc:
            sep = " " if str(exc).startswith(("has ", "must ")) else ": "
            raise ValidationError(f"{what}{sep}{exc}") from None

    def key_list(
        self,
        keys: Iterable[object],
        what: str,
        schemas: Mapping[str, KeySchema] | None = None,
    ) -> bytes:
        """``Key`` messages (field 1) of a batch_get/transact_get ``keys`` argument.

        A ``(table, key)`` pair names another table: its ``Key.table`` is set,
        and a key dict is read with that table's names from ``schemas``.
        """
        if isinstance(keys, (str, bytes, Mapping)):
            raise ValidationError(f"{what}: keys must be a list of (pk, sk) tuples or key dicts")
        key_field = convert.key_field
        out = []
        for i, key in enumerate(keys):
            table = table_of_pair(key)
            if table is None:
                pk, sk, typed = self.key(key, f"{what} keys[{i}]")
                out.append(key_field(1, pk, sk, None, typed))
                continue
            names = (schemas or {}).get(table, self)
            pair: Any = key
            pk, sk, typed = names.key(pair[1], f"{what} keys[{i}]")
            out.append(key_field(1, pk, sk, table, typed))
        return b"".join(out)


def table_of_pair(key: object) -> str | None:
    """The table a ``(table, key)`` pair names (as the library reads one), else ``None``."""
    if (
        isinstance(key, tuple)
        and len(key) == 2
        and isinstance(key[0], str)
        and isinstance(key[1], (tuple, Mapping))
    ):
        return key[0]
    return None


def tables_with_key_dicts(keys: Iterable[object]) -> set[str]:
    """Tables of ``(table, key dict)`` pairs (whose key attribute names the client needs)."""
    if isinstance(keys, (str, bytes, Mapping)) or not isinstance(keys, Iterable):
        return set()
    out = set()
    for key in keys:
        table = table_of_pair(key)
        if table is not None and isinstance(key[1], Mapping):  # type: ignore[index]
            out.add(table)
        elif isinstance(key, Delete) and key.table is not None:
            out.add(key.table)
    return out


# --------------------------------------------------------------------------
# Requests with parts
# --------------------------------------------------------------------------


def scan_request(
    keys: KeySchema,
    filter: str | None = None,
    names: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    projection: str | None = None,
    index: str | None = None,
    limit: int | None = None,
    start: Mapping[str, Any] | None = None,
    segment: int = 0,
    total_segments: int = 1,
    select: str | None = None,
    table: str | None = None,
) -> tuple[pb.ScanRequest, bytes]:
    """A ScanRequest envelope (resumable: the client updates its start key and
    limit) and its ``expression_values`` field (2) as bytes."""
    segment = uint32(segment, "segment")
    total_segments = uint32(total_segments, "total_segments")
    envelope = pb.ScanRequest(
        filter_expression=opt_str(filter, "filter"),
        limit=check_limit(limit),
        exclusive_start_key=keys.last_key(start),
        index_name=opt_str(index, "index"),
        segment=segment if segment or total_segments != 1 else None,
        total_segments=total_segments if segment or total_segments != 1 else None,
        expression_names=names_arg(names),
        projection_expression=opt_str(projection, "projection"),
        select=opt_str(select, "select"),
        table=table,
    )
    return envelope, convert.values_field(2, values)


def on_failure_arg(value: object) -> str | None:
    """``return_values_on_condition_check_failure`` for the wire (``None``: the default)."""
    return "ALL_OLD" if checks.keep_old_on_failure(value) else None


def token_arg(token: object) -> str | None:
    """``transact_write``'s ``token`` for the wire, checked as the library checks it."""
    if token is None:
        return None
    check_token(token)
    return token  # type: ignore[return-value]


def table_arg(table: object) -> str | None:
    """A part's ``table=`` for the wire (``None``: the table of the call)."""
    if table is None or type(table) is str:
        return table or None
    raise ValidationError(f"a table name is a str, got {type(table).__name__}")


def transact_part(part: object) -> tuple[int, bytes]:
    """``(TransactWriteItem field, message bytes)`` of one part (the keys of an
    update, delete or condition check with their typed fields 105 and 106)."""
    if isinstance(part, (Put, Update, Delete, ConditionCheck)):
        table = table_arg(part.table)
        on_failure = on_failure_arg(part.return_values_on_condition_check_failure)
    if isinstance(part, Put):
        cond = opt_str(part.condition, "condition")
        envelope = bytes(
            pb.TransactPut(
                condition_expression=cond,
                table=table,
                return_values_on_condition_check_failure=on_failure,
            )
        )
        return 1, envelope + convert.item_field(3, item_arg(part.item))
    if isinstance(part, Update):
        pk_bytes, sk_bytes, typed = convert.typed_key(part.pk, part.sk, 105, 106)
        return 2, typed + bytes(
            pb.TransactUpdate(
                partition_key=pk_bytes,
                sort_key=sk_bytes,
                update_expression=part.update if type(part.update) is str else "",
                condition_expression=opt_str(part.condition, "condition"),
                table=table,
                return_values_on_condition_check_failure=on_failure,
            )
        )
    if isinstance(part, Delete):
        pk_bytes, sk_bytes, typed = convert.typed_key(part.pk, part.sk, 105, 106)
        return 3, typed + bytes(
            pb.TransactDelete(
                partition_key=pk_bytes,
                sort_key=sk_bytes,
                condition_expression=opt_str(part.condition, "condition"),
                table=table,
                return_values_on_condition_check_failure=on_failure,
            )
        )
    if isinstance(part, ConditionCheck):
        pk_bytes, sk_bytes, typed = convert.typed_key(part.pk, part.sk, 105, 106)
        condition = part.condition if type(part.condition) is str else ""
        return 4, typed + bytes(
            pb.ConditionCheck(
                partition_key=pk_bytes,
                sort_key=sk_bytes,
                condition_expression=condition,
                table=table,
                return_values_on_condition_check_failure=on_failure,
            )
        )
    raise ValidationError(
        f"parts must be keystone.Put, Update, Delete or ConditionCheck, got {type(part).__name__}"
    )
