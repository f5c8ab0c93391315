"""keystone_net.grpc.convert: values, items, keys and errors across the wire."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError
from grpclib.testing import ChannelFor

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
from keystone.types import MAX_NESTING_DEPTH, Vector
from keystone_net._proto import keystone as pb
from keystone_net.errors import AuthenticationError
from keystone_net.grpc import convert

UTC = dt.UTC


def over_the_wire(value: Any) -> Any:
    """Encode, serialize, parse and decode one value as an item attribute."""
    raw = bytes(convert.item_to_proto({"a": value}))
    return convert.item_from_proto(pb.Item.parse(raw))["a"]


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` levels of lists and maps around ``leaf`` (alternating)."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"m": value}
    return value


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------

ROUND_TRIPS = [
    pytest.param("", id="empty-string"),
    pytest.param("héllo ☃ \x00", id="unicode-string"),
    pytest.param(0, id="zero"),
    pytest.param(-17, id="negative-int"),
    pytest.param(2**63 - 1, id="int64-max"),
    pytest.param(10**37, id="38-digit-int"),
    pytest.param(-(10**38 - 1), id="38-nines"),
    pytest.param(Decimal("0.1"), id="decimal-0.1"),
    pytest.param(Decimal("-1.5E-100"), id="tiny-decimal"),
    pytest.param(Decimal("1234567890123456789.0123456789012345678"), id="38-digit-decimal"),
    pytest.param(int(Decimal("9.9999999999999999999999999999999999999E+125")), id="largest-number"),
    pytest.param(Decimal("1E-130"), id="smallest-number"),
    pytest.param(b"", id="empty-bytes"),
    pytest.param(bytes(range(256)), id="all-bytes"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(None, id="null"),
    pytest.param([], id="empty-list"),
    pytest.param({}, id="empty-map"),
    pytest.param([1, "a", b"b", None, [2, [3, {"x": [True]}]]], id="nested-list"),
    pytest.param({"a": {"b": {"c": [1, {"d": Decimal("2.5")}]}}, "e": []}, id="nested-map"),
    pytest.param({"a", "b", ""}, id="string-set"),
    pytest.param({1, Decimal("2.5"), -3, Decimal("1E+100")}, id="number-set"),
    pytest.param({b"x", b"", b"\xff"}, id="binary-set"),
    pytest.param(Vector([0.1, -2.5, 3e38, 0.0]), id="vector"),
    pytest.param(Vector([]), id="empty-vector"),
    pytest.param(dt.datetime(2024, 2, 29, 12, 30, 15, 123000, tzinfo=UTC), id="timestamp"),
    pytest.param(dt.datetime(1970, 1, 1, tzinfo=UTC), id="epoch"),
    pytest.param(nested(MAX_NESTING_DEPTH), id="deepest-nesting"),
]


@pytest.mark.parametrize("value", ROUND_TRIPS)
def test_every_value_kind_survives_the_wire(value: Any) -> None:
    back = over_the_wire(value)
    assert back == value
    assert type(back) is type(value)


def test_numbers_keep_their_exact_decimal_value() -> None:
    back = over_the_wire(Decimal("0.1"))
    assert back == Decimal("0.1") and str(back) == "0.1"
    assert over_the_wire(Decimal("0.1")) + over_the_wire(Decimal("0.2")) == Decimal("0.3")
    digits = "12345678901234567890123456789012345678"
    assert over_the_wire(Decimal(digits)) == int(digits)


def test_numbers_come_back_as_int_when_integral_else_decimal() -> None:
    assert type(over_the_wire(Decimal("4.000"))) is int
    assert over_the_wire(Decimal("4.000")) == 4
    assert over_the_wire(0.5) == Decimal("0.5")
    assert type(over_the_wire(1.0)) is int
    assert over_the_wire(2**70) == 2**70


def test_numbers_travel_as_canonical_decimal_strings() -> None:
    assert convert.value_to_proto(Decimal("1.50")).number_value == "1.5"
    assert convert.value_to_proto(0.1).number_value == "0.1"
    assert convert.value_to_proto(-(10**20)).number_value == "-100000000000000000000"
    assert convert.value_to_proto(True).bool_value is True  # bool is not a number


def test_python_input_types_normalise_like_the_library() -> None:
    assert over_the_wire((1, "a")) == [1, "a"]
    assert over_the_wire(bytearray(b"ab")) == b"ab"
    assert over_the_wire(memoryview(b"cd")) == b"cd"
    assert over_the_wire(frozenset({"x"})) == {"x"}
    assert type(over_the_wire(frozenset({"x"}))) is set
    assert over_the_wire({1.5, 2}) == {Decimal("1.5"), 2}


def test_timestamps_come_back_as_aware_utc_datetimes() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    back = over_the_wire(dt.datetime(2024, 1, 1, 12, 0, 0, 999999, tzinfo=plus_two))
    assert back == dt.datetime(2024, 1, 1, 10, 0, 0, 999000, tzinfo=UTC)
    assert back.tzinfo is UTC
    assert (
        convert.value_to_proto(dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)).timestamp_value == 1000
    )


def test_vectors_travel_as_float32() -> None:
    vec = Vector([0.1, 0.2])
    msg = convert.value_to_proto(vec)
    assert msg.vector_value is not None
    assert msg.vector_value.values == vec.tolist()
    assert over_the_wire(vec) == vec


def test_items_round_trip_with_every_attribute() -> None:
    item = {
        "pk": "user#1",
        "sk": b"\x00profile",
        "age": 42,
        "balance": Decimal("10.05"),
        "tags": {"a", "b"},
        "address": {"city": "Oslo", "zip": ["0150"]},
        "embedding": Vector([1.0, 2.0]),
        "seen": dt.datetime(2020, 5, 17, tzinfo=UTC),
        "deleted": None,
    }
    raw = bytes(convert.item_to_proto(item))
    assert convert.item_from_proto(pb.Item.parse(raw)) == item
    assert convert.items_from_proto(convert.items_to_proto([item, {}])) == [item, {}]


def test_expression_values_round_trip() -> None:
    values = {":a": 1, ":b": "x", ":c": [Decimal("0.5")]}
    request = pb.PutRequest(expression_values=convert.values_to_proto(values))
    parsed = pb.PutRequest.parse(bytes(request))
    assert convert.values_from_proto(parsed.expression_values) == values
    assert convert.values_to_proto(None) == {}
    assert convert.values_from_proto({}) == {}


# --------------------------------------------------------------------------
# Invalid values (client side) and malformed messages (server side)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param(float("nan"), "cannot be converted to a numeric value", id="nan"),
        pytest.param(float("inf"), "cannot be converted to a numeric value", id="infinity"),
        pytest.param(Decimal("NaN"), "cannot be converted to a numeric value", id="decimal-nan"),
        pytest.param(10**38 + 1, "38", id="39-digit-int"),
        pytest.param(Decimal("1E+126"), "Number overflow", id="too-large"),
        pytest.param(dt.datetime(2024, 1, 1), "naive", id="naive-datetime"),
        pytest.param(set(), "empty", id="empty-set"),
        pytest.param({1, "a"}, "one kind", id="mixed-set"),
        pytest.param({True}, "bool", id="bool-set"),
        pytest.param(object(), "unsupported", id="object"),
        pytest.param({1: "x"}, "str", id="non-str-map-key"),
        pytest.param(nested(MAX_NESTING_DEPTH + 1), "nesting", id="too-deep"),
    ],
)
def test_invalid_values_raise_validation_error_naming_the_path(value: Any, words: str) -> None:
    with pytest.raises(ValidationError, match=words) as info:
        convert.item_to_proto({"outer": {"list": [0, value]}})
    assert str(info.value).startswith("outer.list[1]")


def test_invalid_values_errors_name_the_path_for_single_values() -> None:
    with pytest.raises(ValidationError, match=r"^:v\[0\]: "):
        convert.values_to_proto({":v": [float("nan")]})
    with pytest.raises(ValidationError, match=r"^value: "):
        convert.value_to_proto(object())
    with pytest.raises(ValidationError, match="attribute names must be str"):
        convert.item_to_proto({1: "x"})  # type: ignore[dict-item]


def test_too_deep_nesting_names_the_deepest_allowed_container() -> None:
    with pytest.raises(ValidationError, match="nesting") as info:
        convert.item_to_proto({"a": nested(MAX_NESTING_DEPTH + 1)})
    # The path goes down to the container one level too deep.
    assert str(info.value).count(".m") + str(info.value).count("[0]") == MAX_NESTING_DEPTH


def bad_item(value: pb.Value) -> pb.Item:
    """An item whose attribute ``a.b[1]`` holds ``value``, through bytes."""
    inner = pb.Value(list_value=pb.ListValue(items=[pb.Value(string_value="ok"), value]))
    outer = pb.Value(map_value=pb.MapValue(fields={"b": inner}))
    return pb.Item.parse(bytes(pb.Item(attributes={"a": outer})))


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param(pb.Value(), "no type", id="unset-oneof"),
        pytest.param(
            pb.Value(number_value="abc"),
            "cannot be converted to a numeric value",
            id="not-a-number",
        ),
        pytest.param(
            pb.Value(number_value=""), "cannot be converted to a numeric value", id="empty-number"
        ),
        pytest.param(
            pb.Value(number_value="NaN"), "cannot be converted to a numeric value", id="nan-number"
        ),
        pytest.param(
            pb.Value(number_value="Infinity"),
            "cannot be converted to a numeric value",
            id="infinite-number",
        ),
        pytest.param(pb.Value(number_value="1" * 39), "38", id="39-digits"),
        pytest.param(pb.Value(number_value="1e999"), "Number overflow", id="out-of-range"),
        pytest.param(pb.Value(string_set=pb.StringSet()), "empty", id="empty-string-set"),
        pytest.param(pb.Value(number_set=pb.StringSet()), "empty", id="empty-number-set"),
        pytest.param(pb.Value(binary_set=pb.BinarySet()), "empty", id="empty-binary-set"),
        pytest.param(
            pb.Value(number_set=pb.StringSet(values=["1", "x"])),
            "cannot be converted to a numeric value",
            id="bad-number-set",
        ),
        pytest.param(
            pb.Value(vector_value=pb.VectorValue(values=[1.0, float("nan")])),
            "finite",
            id="nan-vector",
        ),
        pytest.param(pb.Value(timestamp_value=2**63), "out of range", id="huge-timestamp"),
    ],
)
def test_malformed_messages_raise_validation_error_naming_the_path(
    value: pb.Value, words: str
) -> None:
    with pytest.raises(ValidationError, match=words) as info:
        convert.item_from_proto(bad_item(value))
    assert str(info.value).startswith("a.b[1]: ")


def test_malformed_nesting_past_the_limit_is_rejected() -> None:
    def deep(levels: int) -> pb.Value:
        value = pb.Value(bool_value=True)
        for _ in range(levels):
            value = pb.Value(list_value=pb.ListValue(items=[value]))
        return value

    ok = pb.Item.parse(bytes(pb.Item(attributes={"a": deep(MAX_NESTING_DEPTH)})))
    expected: Any = True
    for _ in range(MAX_NESTING_DEPTH):
        expected = [expected]
    assert convert.item_from_proto(ok)["a"] == expected
    too_deep = pb.Item.parse(bytes(pb.Item(attributes={"a": deep(MAX_NESTING_DEPTH + 1)})))
    with pytest.raises(ValidationError, match="nesting") as info:
        convert.item_from_proto(too_deep)
    assert str(info.value).startswith("a" + "[0]" * MAX_NESTING_DEPTH + ": ")


def test_map_entry_without_a_value_is_rejected() -> None:
    entry = b"\x0a\x01x"  # key "x", no value
    raw = b"\x0a" + bytes([len(entry)]) + entry
    with pytest.raises(ValidationError, match="^x: .*missing"):
        convert.item_from_proto(pb.Item.parse(raw))


def test_malformed_single_values_and_placeholders_name_their_path() -> None:
    with pytest.raises(ValidationError, match=r"^:n: "):
        convert.values_from_proto({":n": pb.Value(number_value="x")})
    with pytest.raises(ValidationError, match=r"^parameters\[2\]: "):
        convert.value_from_proto(pb.Value(), "parameters[2]")


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------


def test_keys_travel_as_bytes_str_as_utf8() -> None:
    assert convert.key_to_proto("ü", None) == ("ü".encode(), None)
    assert convert.key_to_proto(b"\xff", "s") == (b"\xff", b"s")
    assert convert.key_to_proto(bytearray(b"a"), memoryview(b"b")) == (b"a", b"b")  # type: ignore[arg-type]
    assert convert.key_from_proto(b"a", None) == (b"a", None)
    assert convert.key_from_proto(b"a", b"") == (b"a", b"")


def test_number_keys_travel_as_their_canonical_dynamodb_text() -> None:
    assert convert.key_to_proto(1) == (b"1", None)
    assert convert.key_to_proto("a", 2.5) == (b"a", b"2.5")
    assert convert.key_to_proto(Decimal("1.50E+2"), Decimal("-0.000")) == (b"150", b"0")
    assert convert.key_value(b"150", "N", "partition_key") == 150
    assert convert.key_value(b"-1.5e-3", "N", "sort_key") == Decimal("-0.0015")
    assert convert.key_value("ü".encode(), "S", "partition_key") == "ü"
    assert convert.key_value(b"\xff", "B", "partition_key") == b"\xff"
    assert convert.key_value(b"\xff", None, "partition_key") == b"\xff"


def test_key_bytes_that_do_not_fit_the_declared_type_are_rejected() -> None:
    with pytest.raises(ValidationError, match="partition_key: .*declared S.*not UTF-8"):
        convert.key_value(b"\xff", "S", "partition_key")
    with pytest.raises(ValidationError, match="sort_key"):
        convert.key_value(b"1_000", "N", "sort_key")
    with pytest.raises(ValidationError, match="sort_key"):
        convert.key_value(b"NaN", "N", "sort_key")


def test_keys_of_other_types_are_rejected() -> None:
    with pytest.raises(ValidationError, match="partition key must be str, bytes or a number"):
        convert.key_to_proto(None)
    with pytest.raises(ValidationError, match="sort key must be str, bytes or a number"):
        convert.key_to_proto("a", True)
    with pytest.raises(ValidationError, match="sort key"):
        convert.key_to_proto("a", float("nan"))


def test_key_messages_round_trip() -> None:
    request = pb.BatchGetRequest(
        keys=[
            convert.key_message("a"),
            convert.key_message("b", b"\x00"),
            convert.key_message("c", ""),
        ]
    )
    parsed = pb.BatchGetRequest.parse(bytes(request))
    assert convert.keys_from_proto(parsed.keys) == [(b"a", None), (b"b", b"\x00"), (b"c", b"")]


def test_put_item_takes_missing_key_attributes_from_the_request_as_bytes() -> None:
    item = convert.item_with_key({"v": 1}, b"p", b"s")
    assert item == {"v": 1, "pk": b"p", "sk": b"s"}
    item = convert.item_with_key({"v": 1}, b"p", None, "id", "range")
    assert item == {"v": 1, "id": b"p"}


def test_put_item_key_attributes_must_match_the_request() -> None:
    assert convert.item_with_key({"pk": "p", "sk": b"s"}, b"p", b"s") == {"pk": "p", "sk": b"s"}
    with pytest.raises(ValidationError, match="^pk: .*partition_key"):
        convert.item_with_key({"pk": "other"}, b"p", None)
    with pytest.raises(ValidationError, match="^sk: .*sort_key"):
        convert.item_with_key({"pk": "p", "sk": "x"}, b"p", b"s")
    with pytest.raises(ValidationError, match="str, bytes or a number"):
        convert.item_with_key({"pk": None}, b"5", None)


def test_put_key_bytes_are_read_by_the_declared_key_types() -> None:
    typed = {"pk_name": "id", "sk_name": "at", "pk_type": "S", "sk_type": "N"}
    item = convert.item_with_key({"v": 1}, b"a", b"1.50", **typed)  # type: ignore[arg-type]
    assert item == {"v": 1, "id": "a", "at": Decimal("1.5")}
    item = convert.item_with_key({"id": "a", "at": 2}, b"a", b"2.0", **typed)  # type: ignore[arg-type]
    assert item == {"id": "a", "at": 2}
    with pytest.raises(ValidationError, match="^at: .*sort_key"):
        convert.item_with_key({"id": "a", "at": 3}, b"a", b"2", **typed)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="sort_key"):
        convert.item_with_key({"id": "a"}, b"a", b"two", **typed)  # type: ignore[arg-type]


def test_put_item_without_request_keys_lets_the_item_decide() -> None:
    # proto3 cannot tell an empty partition_key from none; sort_key absent.
    assert convert.item_with_key({"pk": "p", "sk": "s"}, b"", None) == {"pk": "p", "sk": "s"}
    assert convert.item_with_key({"v": 1}, b"", None) == {"v": 1}


def test_last_key_round_trips_exactly_through_the_cursor() -> None:
    last_key = {"pk": "user#1", "sk": b"\x01", "gsi_pk": "x", "n": 3}
    msg = convert.last_key_to_proto(last_key)
    assert msg is not None
    assert msg.partition_key == b"user#1" and msg.sort_key == b"\x01"
    parsed = pb.LastKey.parse(bytes(msg))
    assert convert.last_key_from_proto(parsed) == last_key
    assert convert.last_key_to_proto(None) is None
    assert convert.last_key_from_proto(None) is None


def test_last_key_without_cursor_uses_the_key_bytes() -> None:
    # A client of the original protocol sends only partition_key/sort_key.
    msg = pb.LastKey(partition_key=b"p", sort_key=b"s")
    assert convert.last_key_from_proto(msg) == {"pk": b"p", "sk": b"s"}
    assert convert.last_key_from_proto(pb.LastKey(partition_key=b"p"), "id", "r") == {"id": b"p"}


def test_last_key_with_a_bad_cursor_is_rejected() -> None:
    with pytest.raises(ValidationError, match="cursor"):
        convert.last_key_from_proto(pb.LastKey(partition_key=b"p", cursor=b"\xff\xff\xff"))


@pytest.mark.parametrize(
    ("op", "values"),
    [
        ("eq", ("a",)),
        ("lt", (b"b",)),
        ("le", ("c",)),
        ("gt", ("d",)),
        ("ge", ("e",)),
        ("begins_with", ("order#",)),
        ("between", ("a", "m")),
    ],
)
def test_sort_key_conditions_round_trip(op: str, values: tuple[Any, ...]) -> None:
    msg = convert.sort_key_condition_to_proto(op, *values)
    parsed = pb.SortKeyCondition.parse(bytes(msg))
    assert convert.sort_key_condition_from_proto(parsed) == (op, values)


def test_bad_sort_key_conditions_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown"):
        convert.sort_key_condition_to_proto("contains", "a")
    with pytest.raises(ValidationError, match="two values"):
        convert.sort_key_condition_to_proto("between", "a")
    with pytest.raises(ValidationError, match="one value"):
        convert.sort_key_condition_to_proto("eq", "a", "b")
    with pytest.raises(ValidationError, match="no condition"):
        convert.sort_key_condition_from_proto(pb.SortKeyCondition())
    with pytest.raises(ValidationError, match="lower and upper"):
        convert.sort_key_condition_from_proto(
            pb.SortKeyCondition(between=pb.BetweenCondition(lower=pb.Value(string_value="a")))
        )


# --------------------------------------------------------------------------
# Errors <-> gRPC statuses
# --------------------------------------------------------------------------

ERRORS = [
    (ValidationError("a.b: bad value"), Status.INVALID_ARGUMENT),
    (NotFound("no index named 'x'"), Status.NOT_FOUND),
    (ConditionalCheckFailed(), Status.FAILED_PRECONDITION),
    (
        ConditionalCheckFailed("nope", item={"pk": "a", "n": Decimal("1.5")}),
        Status.FAILED_PRECONDITION,
    ),
    (TransactionCanceled([None, "ConditionalCheckFailed", "ValidationError"]), Status.ABORTED),
    (ResourceExhausted("too many connections"), Status.RESOURCE_EXHAUSTED),
    (Corruption("bad page"), Status.DATA_LOSS),
    (Timeout("deadline exceeded"), Status.DEADLINE_EXCEEDED),
    (Unavailable("server is gone"), Status.UNAVAILABLE),
    (DatabaseClosed("the database is closed"), Status.UNAVAILABLE),
    (KeystoneError("something keystone"), Status.INTERNAL),
]


def assert_same_error(rebuilt: KeystoneError, exc: KeystoneError) -> None:
    assert type(rebuilt) is type(exc)
    assert str(rebuilt) == str(exc)
    if isinstance(exc, TransactionCanceled):
        assert isinstance(rebuilt, TransactionCanceled)
        assert rebuilt.reasons == exc.reasons
    if isinstance(exc, ConditionalCheckFailed):
        assert isinstance(rebuilt, ConditionalCheckFailed)
        assert rebuilt.item == exc.item


@pytest.mark.parametrize(("exc", "status"), ERRORS, ids=lambda e: type(e).__name__)
def test_every_keystone_error_round_trips_through_a_status(
    exc: KeystoneError, status: Status
) -> None:
    got_status, message, metadata = convert.status_for(exc)
    assert got_status is status
    assert_same_error(convert.exception_for(got_status, message, metadata), exc)
    # metadata as grpclib would carry it: a list of pairs
    assert_same_error(convert.exception_for(got_status, message, list(metadata.items())), exc)


def test_cancellation_reasons_travel_as_json_in_trailing_metadata() -> None:
    exc = TransactionCanceled([None, "ConditionalCheckFailed"])
    _, _, metadata = convert.status_for(exc)
    assert json.loads(metadata["keystone-cancellation-reasons"]) == [None, "ConditionalCheckFailed"]


def test_unexpected_errors_are_internal_without_details() -> None:
    try:
        raise RuntimeError("secret /etc/passwd traceback details")
    except RuntimeError as exc:
        status, message, metadata = convert.status_for(exc)
    assert status is Status.INTERNAL
    assert "secret" not in message and "Traceback" not in message
    assert metadata == {}
    assert type(convert.exception_for(status, message, metadata)) is KeystoneError


def test_grpc_errors_pass_through_and_memory_errors_are_resource_exhausted() -> None:
    assert convert.status_for(GRPCError(Status.UNAUTHENTICATED, "who?")) == (
        Status.UNAUTHENTICATED,
        "who?",
        {},
    )
    assert convert.status_for(MemoryError())[0] is Status.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (Status.INVALID_ARGUMENT, ValidationError),
        (Status.OUT_OF_RANGE, ValidationError),
        (Status.NOT_FOUND, NotFound),
        (Status.FAILED_PRECONDITION, ConditionalCheckFailed),
        (Status.ALREADY_EXISTS, ConditionalCheckFailed),
        (Status.ABORTED, TransactionCanceled),
        (Status.RESOURCE_EXHAUSTED, ResourceExhausted),
        (Status.DATA_LOSS, Corruption),
        (Status.DEADLINE_EXCEEDED, Timeout),
        (Status.UNAVAILABLE, Unavailable),
        (Status.CANCELLED, Unavailable),
        (Status.INTERNAL, KeystoneError),
        (Status.UNKNOWN, KeystoneError),
        (Status.UNIMPLEMENTED, KeystoneError),
        (Status.PERMISSION_DENIED, AuthenticationError),
        (Status.UNAUTHENTICATED, AuthenticationError),
    ],
)
def test_statuses_from_any_server_map_to_keystone_errors(status: Status, cls: type) -> None:
    exc = convert.exception_for(status, "from a foreign server", None)
    assert type(exc) is cls
    assert str(exc) == "from a foreign server"


def test_status_without_message_still_explains_itself() -> None:
    exc = convert.exception_for(Status.ABORTED, None)
    assert isinstance(exc, TransactionCanceled) and exc.reasons == []
    assert "ABORTED" in str(exc)


def test_error_class_metadata_is_only_trusted_when_it_fits_the_status() -> None:
    exc = convert.exception_for(Status.NOT_FOUND, "x", {"keystone-error": "Corruption"})
    assert type(exc) is NotFound
    exc = convert.exception_for(Status.UNAVAILABLE, "x", {"keystone-error": "DatabaseClosed"})
    assert type(exc) is DatabaseClosed


def test_garbage_metadata_does_not_break_error_rebuilding() -> None:
    exc = convert.exception_for(
        Status.ABORTED, "x", {"keystone-cancellation-reasons": "{not json", "keystone-error": "?"}
    )
    assert isinstance(exc, TransactionCanceled) and exc.reasons == []
    exc = convert.exception_for(Status.FAILED_PRECONDITION, "x", {"keystone-item-bin": b"\xff\xff"})
    assert isinstance(exc, ConditionalCheckFailed) and exc.item is None


def test_huge_old_items_are_left_out_of_trailing_metadata() -> None:
    big = {"blob": b"x" * (convert.MAX_ITEM_METADATA_BYTES + 1)}
    _, _, metadata = convert.status_for(ConditionalCheckFailed("no", item=big))
    assert "keystone-item-bin" not in metadata


def test_long_messages_are_truncated() -> None:
    _, message, _ = convert.status_for(ValidationError("x" * 100_000))
    assert len(message) <= 4096


# The same mapping over a real grpclib call: the server sends the status and
# trailing metadata of status_for; the client reads stream.trailing_metadata.


class FailingService(pb.KeystoneDbBase):
    """A service whose Get raises; errors go out through status_for."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def get(self, message: pb.GetRequest) -> pb.GetResponse:
        raise self.exc

    def __mapping__(self) -> dict[str, Any]:
        def wrap(func: Callable[[Any], Awaitable[None]]) -> Callable[[Any], Awaitable[None]]:
            async def handler(stream: Any) -> None:
                try:
                    await func(stream)
                except Exception as exc:
                    status, message, metadata = convert.status_for(exc)
                    await stream.send_trailing_metadata(
                        status=status, status_message=message, metadata=metadata
                    )

            return handler

        return {
            route: handler._replace(func=wrap(handler.func))
            for route, handler in super().__mapping__().items()
        }


async def call_get(exc: BaseException) -> KeystoneError:
    async with (
        ChannelFor([FailingService(exc)]) as channel,
        channel.request(
            "/keystone.KeystoneDB/Get", Cardinality.UNARY_UNARY, pb.GetRequest, pb.GetResponse
        ) as stream,
    ):
        await stream.send_message(pb.GetRequest(partition_key=b"k"), end=True)
        try:
            await stream.recv_message()
        except GRPCError as err:
            return convert.exception_for(err.status, err.message, stream.trailing_metadata)
    raise AssertionError("the call did not fail")


@pytest.mark.parametrize(
    "exc",
    [
        TransactionCanceled([None, "ConditionalCheckFailed"]),
        ConditionalCheckFailed("the conditional request failed", item={"pk": "a", "v": {1, 2}}),
        ValidationError("a.b[1]: 'x' is not a number — ünïcode"),
        DatabaseClosed("closed"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_a_real_grpclib_call(exc: KeystoneError) -> None:
    assert_same_error(asyncio.run(call_get(exc)), exc)


def test_unexpected_errors_over_grpclib_are_internal() -> None:
    rebuilt = asyncio.run(call_get(RuntimeError("boom")))
    assert type(rebuilt) is KeystoneError
    assert "boom" not in str(rebuilt)
