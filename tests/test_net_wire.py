"""keystone_net.grpc.convert's byte-level codec: the same rules as the betterproto2 path.

Items travel through ``item_to_bytes``/``item_from_bytes`` (the fast path);
``item_to_proto``/``item_from_proto`` work on betterproto2 messages. Both must
accept, produce and refuse exactly the same things, and their bytes must be
protobuf that any parser reads.
"""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from keystone.errors import ValidationError
from keystone.types import MAX_NESTING_DEPTH, Vector
from keystone_net._proto import keystone as pb
from keystone_net.grpc import convert

UTC = dt.UTC

VALUES: list[Any] = [
    "",
    "héllo ☃ \x00",
    0,
    -17,
    2**63 - 1,
    2**63,
    -(10**37),
    Decimal("0.1"),
    Decimal("-1.5E-100"),
    Decimal("12345.678"),
    b"",
    bytes(range(256)),
    True,
    False,
    None,
    [],
    {},
    [1, "a", b"b", None, [2, [3, {"x": [True]}]]],
    {"a": {"b": {"c": [1, {"d": Decimal("2.5")}]}}, "e": []},
    {"a", "b", ""},
    {1, Decimal("2.5"), -3},
    {b"x", b"", b"\xff"},
    Vector([0.1, -2.5, 3e38, 0.0]),
    Vector([]),
    dt.datetime(2024, 2, 29, 12, 30, 15, 123000, tzinfo=UTC),
    "x" * 20_000,  # a length that needs a 3-byte varint
    b"y" * 70_000,
]


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"m": value}
    return value


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_bytes_and_betterproto2_agree_on_every_value_kind(value: Any) -> None:
    item = {"a": value, "pk": "k"}
    raw = convert.item_to_bytes(item)
    # betterproto2 parses our bytes into the same message we decode ...
    assert convert.item_from_proto(pb.Item.parse(raw)) == item
    # ... and we decode betterproto2's bytes into the same item.
    assert convert.item_from_bytes(bytes(pb.Item.parse(raw))) == item
    back = convert.item_from_bytes(raw)["a"]
    assert back == value and type(back) is type(value)


def test_google_protobuf_reads_and_writes_our_items() -> None:
    """The C++ (upb) protobuf runtime, generated from the same schema, agrees byte for byte."""
    Item, Value = _google_classes()
    item = {
        "s": "x",
        "n": Decimal("1.25"),
        "l": [1, {"m": b"\x00"}],
        "v": Vector([1.5, -2.0]),
        "ss": {"a"},
        "t": dt.datetime(2020, 1, 1, tzinfo=UTC),
        "z": None,
        "f": False,
    }
    theirs = Item.FromString(convert.item_to_bytes(item))
    assert theirs.attributes["n"].number_value == "1.25"
    assert list(theirs.attributes["v"].vector_value.values) == [1.5, -2.0]
    assert theirs.attributes["f"].WhichOneof("value") == "bool_value"
    assert convert.item_from_bytes(theirs.SerializeToString()) == item


def _google_classes() -> tuple[Any, Any]:
    proto = descriptor_pb2.FileDescriptorProto(name="wire_test.proto", package="wiretest")
    proto.syntax = "proto3"
    f = descriptor_pb2.FieldDescriptorProto
    value = proto.message_type.add(name="Value")
    value.oneof_decl.add(name="value")
    scalars = [
        ("string_value", 1, f.TYPE_STRING),
        ("number_value", 2, f.TYPE_STRING),
        ("binary_value", 3, f.TYPE_BYTES),
        ("bool_value", 4, f.TYPE_BOOL),
        ("null_value", 5, f.TYPE_INT32),
        ("timestamp_value", 9, f.TYPE_UINT64),
    ]
    for name, number, kind in scalars:
        value.field.add(name=name, number=number, type=kind, label=f.LABEL_OPTIONAL, oneof_index=0)
    for name, number, type_name in [
        ("list_value", 6, ".wiretest.ListValue"),
        ("map_value", 7, ".wiretest.MapValue"),
        ("vector_value", 8, ".wiretest.VectorValue"),
        ("string_set", 100, ".wiretest.StringSet"),
        ("number_set", 101, ".wiretest.StringSet"),
        ("binary_set", 102, ".wiretest.BinarySet"),
    ]:
        value.field.add(
            name=name,
            number=number,
            type=f.TYPE_MESSAGE,
            type_name=type_name,
            label=f.LABEL_OPTIONAL,
            oneof_index=0,
        )
    lst = proto.message_type.add(name="ListValue")
    lst.field.add(
        name="items",
        number=1,
        type=f.TYPE_MESSAGE,
        type_name=".wiretest.Value",
        label=f.LABEL_REPEATED,
    )
    vec = proto.message_type.add(name="VectorValue")
    vec.field.add(name="values", number=1, type=f.TYPE_FLOAT, label=f.LABEL_REPEATED)
    for name, kind in (("StringSet", f.TYPE_STRING), ("BinarySet", f.TYPE_BYTES)):
        msg = proto.message_type.add(name=name)
        msg.field.add(name="values", number=1, type=kind, label=f.LABEL_REPEATED)
    for name, field in (("MapValue", "fields"), ("Item", "attributes")):
        msg = proto.message_type.add(name=name)
        entry = msg.nested_type.add(name=field.capitalize() + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
        entry.field.add(
            name="value",
            number=2,
            type=f.TYPE_MESSAGE,
            type_name=".wiretest.Value",
            label=f.LABEL_OPTIONAL,
        )
        msg.field.add(
            name=field,
            number=1,
            type=f.TYPE_MESSAGE,
            type_name=f".wiretest.{name}.{field.capitalize()}Entry",
            label=f.LABEL_REPEATED,
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    item = message_factory.GetMessageClass(pool.FindMessageTypeByName("wiretest.Item"))
    value_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("wiretest.Value"))
    return item, value_cls


# --------------------------------------------------------------------------
# Invalid values refuse the same way
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (float("nan"), "cannot be converted to a numeric value"),
        (10**38 + 1, "38"),
        (Decimal("1E+126"), "Number overflow"),
        (dt.datetime(2024, 1, 1), "naive"),
        (dt.datetime(1960, 1, 1, tzinfo=UTC), "before 1970"),
        (set(), "empty"),
        ({1, "a"}, "one kind"),
        (object(), "unsupported"),
        ({1: "x"}, "str"),
        (nested(MAX_NESTING_DEPTH + 1), "nesting"),
        ("\ud800", "Unicode"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_invalid_values_name_their_path(value: Any, words: str) -> None:
    with pytest.raises(ValidationError, match=words) as info:
        convert.item_to_bytes({"outer": {"list": [0, value]}})
    assert str(info.value).startswith("outer.list[1]")


def test_placeholders_and_parameters_name_their_root() -> None:
    with pytest.raises(
        ValidationError, match=r"^:v\[0\]: .*cannot be converted to a numeric value"
    ):
        convert.values_field(5, {":v": [float("nan")]})
    with pytest.raises(ValidationError, match=r"^parameters\[2\]: "):
        convert.value_to_bytes(object(), "parameters[2]")
    with pytest.raises(ValidationError, match="attribute names must be str"):
        convert.item_to_bytes({1: "x"})  # type: ignore[dict-item]


# --------------------------------------------------------------------------
# Malformed bytes: refused with the attribute path, never a crash
# --------------------------------------------------------------------------


def _value_item(value: bytes) -> bytes:
    """An Item ``{"a": <value bytes>}`` built by hand."""
    entry = b"\x0a\x01a" + b"\x12" + bytes([len(value)]) + value
    return b"\x0a" + bytes([len(entry)]) + entry


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (b"", "no type"),
        (b"\x12\x03abc", "cannot be converted to a numeric value"),
        (b"\x12\x03NaN", "cannot be converted to a numeric value"),
        (b"\x0a\x02\xff\xfe", "UTF-8"),
        (b"\xa2\x06\x00", "empty"),
        (b"\xaa\x06\x03\x0a\x01x", "cannot be converted to a numeric value"),
        (b"\x42\x06\x0a\x04" + struct.pack("<f", float("inf")), "finite"),
        (b"\x42\x05\x0a\x03abc", "malformed"),
        (b"\x48" + b"\xff" * 9 + b"\x01", "out of range"),
        (b"\x0a\x05ab", "malformed"),  # a length past the end
        (b"\x0b", "malformed"),  # a group start: not proto3
    ],
)
def test_malformed_values_are_validation_errors(value: bytes, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        convert.item_from_bytes(_value_item(value))


def test_a_map_entry_without_a_value_is_refused() -> None:
    entry = b"\x0a\x01x"
    with pytest.raises(ValidationError, match="^x: .*missing"):
        convert.item_from_bytes(b"\x0a" + bytes([len(entry)]) + entry)


def test_truncated_messages_are_refused() -> None:
    raw = convert.item_to_bytes({"a": "hello", "b": [1, 2, {"c": b"x"}]})
    for cut in range(1, len(raw)):
        try:
            convert.item_from_bytes(raw[:cut])
        except ValidationError:
            pass  # some prefixes are valid shorter items; none may crash


def test_deep_nesting_stops_at_the_limit_without_recursion_errors() -> None:
    value = b"\x20\x01"
    for _ in range(5000):
        value = (
            b"\x32"
            + convert._varint(len(value) + 1 + len(convert._varint(len(value))))
            + (b"\x0a" + convert._varint(len(value)) + value)
        )
    entry = b"\x0a\x01a\x12" + convert._varint(len(value)) + value
    raw = b"\x0a" + convert._varint(len(entry)) + entry
    with pytest.raises(ValidationError, match="nesting"):
        convert.item_from_bytes(raw)


def test_unknown_fields_are_skipped_and_the_last_oneof_member_wins() -> None:
    # field 15 (varint), field 16 (fixed64), then string "a", then number "1": "1" wins.
    value = b"\x78\x05" + b"\x81\x01" + b"\x00" * 8 + b"\x0a\x01a" + b"\x12\x011"
    assert convert.item_from_bytes(_value_item(value)) == {"a": 1}


def test_vectors_may_arrive_unpacked() -> None:
    value = b"\x42\x0a" + b"\x0d" + struct.pack("<f", 1.5) + b"\x0d" + struct.pack("<f", -2.0)
    assert convert.item_from_bytes(_value_item(value)) == {"a": Vector([1.5, -2.0])}


def test_repeated_item_fields_merge_as_protobuf_requires() -> None:
    first = convert.item_field(3, {"a": 1, "b": 2})
    second = convert.item_field(3, {"b": 3})
    rest, found = convert.split_fields(b"\x0a\x01p" + first + second, (3,))
    assert rest == b"\x0a\x01p"
    assert convert.item_from_spans(b"\x0a\x01p" + first + second, found[3]) == {"a": 1, "b": 3}


def test_split_fields_keeps_the_rest_parseable() -> None:
    request = pb.PutRequest(partition_key=b"p", condition_expression="attribute_not_exists(pk)")
    data = bytes(request) + convert.values_field(5, {":v": 1}) + convert.item_field(3, {"v": 2})
    rest, found = convert.split_fields(data, (3, 5))
    assert pb.PutRequest.parse(rest).condition_expression == "attribute_not_exists(pk)"
    assert convert.values_from_spans(data, found[5]) == {":v": 1}
    assert convert.item_from_spans(data, found[3]) == {"v": 2}
    assert convert.item_from_spans(data, found.get(4, ())) is None
    with pytest.raises(ValidationError, match="malformed"):
        convert.split_fields(data[:-1], (3, 5))
