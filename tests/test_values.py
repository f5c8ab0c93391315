"""SPEC section 1: every row of the value table, and every rejected input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import keystone
from keystone import ValidationError, Vector

UTC = dt.UTC


def roundtrip(store: keystone.Store, value: object) -> object:
    store.put({"pk": "v", "val": value})
    item = store.get("v")
    assert item is not None
    return item["val"]


class TestAcceptedTypes:
    def test_str_comes_back_as_str(self, store):
        assert roundtrip(store, "héllo ✓") == "héllo ✓"

    def test_empty_string_is_a_valid_non_key_value(self, store):
        assert roundtrip(store, "") == ""

    def test_int_comes_back_as_int(self, store):
        out = roundtrip(store, 42)
        assert out == 42 and type(out) is int

    def test_negative_and_large_ints_keep_every_digit(self, store):
        big = 10**37 + 12345
        assert roundtrip(store, big) == big
        assert roundtrip(store, -(2**70)) == -(2**70)

    def test_decimal_keeps_precision(self, store):
        out = roundtrip(store, Decimal("0.1"))
        assert out == Decimal("0.1") and isinstance(out, Decimal)

    def test_38_significant_digits_are_kept(self, store):
        d = Decimal("1.2345678901234567890123456789012345678")
        assert roundtrip(store, d) == d

    def test_integral_decimal_comes_back_as_int(self, store):
        out = roundtrip(store, Decimal("5.000"))
        assert out == 5 and type(out) is int

    def test_finite_float_is_stored_as_its_shortest_decimal(self, store):
        assert roundtrip(store, 0.1) == Decimal("0.1")
        assert roundtrip(store, 2.0) == 2

    def test_bytes_like_values_come_back_as_bytes(self, store):
        assert roundtrip(store, b"\x00\xff") == b"\x00\xff"
        assert roundtrip(store, bytearray(b"ab")) == b"ab"
        assert roundtrip(store, memoryview(b"cd")) == b"cd"

    def test_bool_stays_bool(self, store):
        assert roundtrip(store, True) is True
        assert roundtrip(store, False) is False

    def test_none_is_null(self, store):
        store.put({"pk": "v", "val": None})
        item = store.get("v")
        assert item is not None and "val" in item and item["val"] is None

    def test_list_and_tuple_come_back_as_list(self, store):
        assert roundtrip(store, [1, "a", [b"x"]]) == [1, "a", [b"x"]]
        assert roundtrip(store, (1, 2)) == [1, 2]

    def test_dict_comes_back_as_dict(self, store):
        value = {"a": {"b": [1, {"c": None}]}, "empty": {}}
        assert roundtrip(store, value) == value

    def test_string_set(self, store):
        out = roundtrip(store, {"a", "b"})
        assert out == {"a", "b"} and isinstance(out, set)

    def test_number_set_normalises_its_members(self, store):
        assert roundtrip(store, frozenset({1, Decimal("2.5"), 0.5})) == {
            1,
            Decimal("2.5"),
            Decimal("0.5"),
        }

    def test_binary_set(self, store):
        assert roundtrip(store, {b"a", b"\x00"}) == {b"a", b"\x00"}

    def test_vector_of_float32(self, store):
        out = roundtrip(store, Vector([0.5, -1.25, 3.0]))
        assert isinstance(out, Vector)
        assert list(out) == [0.5, -1.25, 3.0]

    def test_vector_values_are_float32(self):
        v = Vector([0.1])
        assert v[0] != 0.1 and abs(v[0] - 0.1) < 1e-7

    def test_aware_datetime_comes_back_in_utc_with_ms_precision(self, store):
        tz = dt.timezone(dt.timedelta(hours=5))
        value = dt.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=tz)
        out = roundtrip(store, value)
        assert out == dt.datetime(2024, 3, 1, 7, 30, 15, 123000, tzinfo=UTC)
        assert out.tzinfo == UTC


class TestRejectedValues:
    @pytest.mark.parametrize(
        "value",
        [float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("Infinity")],
        ids=["nan", "inf", "-inf", "Decimal-nan", "Decimal-inf"],
    )
    def test_non_finite_numbers(self, store, value):
        with pytest.raises(
            ValidationError, match="The parameter cannot be converted to a numeric value"
        ):
            store.put({"pk": "x", "bad": value})
        assert store.get("x") is None

    def test_more_than_38_digits(self, store):
        with pytest.raises(ValidationError, match="38 significant digits"):
            store.put({"pk": "x", "n": Decimal("1." + "1" * 38)})

    def test_number_out_of_range(self, store):
        with pytest.raises(
            ValidationError,
            match="Number overflow. Attempting to store a number with magnitude larger than supported range",
        ):
            store.put({"pk": "x", "n": Decimal("1E+126")})
        with pytest.raises(
            ValidationError,
            match="Number underflow. Attempting to store a number with magnitude smaller than supported range",
        ):
            store.put({"pk": "x", "n": Decimal("1E-131")})

    def test_naive_datetime_names_the_path(self, store):
        with pytest.raises(ValidationError, match=r"when.*timezone-aware"):
            store.put({"pk": "x", "when": dt.datetime(2024, 1, 1)})

    def test_empty_set(self, store):
        with pytest.raises(ValidationError, match="tags: sets must not be empty"):
            store.put({"pk": "x", "tags": set()})

    def test_mixed_set(self, store):
        with pytest.raises(ValidationError, match="one kind"):
            store.put({"pk": "x", "tags": {"a", 1}})

    def test_non_str_map_key_names_the_path(self, store):
        with pytest.raises(ValidationError, match=r"a\.b: map keys must be str"):
            store.put({"pk": "x", "a": {"b": {1: "one"}}})

    def test_other_objects_name_the_path(self, store):
        with pytest.raises(ValidationError, match=r"m\.list\[1\]: unsupported value type object"):
            store.put({"pk": "x", "m": {"list": [1, object()]}})

    def test_non_finite_vector(self):
        with pytest.raises(ValidationError):
            Vector([float("nan")])

    def test_non_dict_item(self, store):
        with pytest.raises(ValidationError, match="dict"):
            store.put([("pk", "x")])  # type: ignore[arg-type]

    def test_nothing_is_written_when_a_value_is_rejected(self, store):
        store.put({"pk": "x", "v": 1})
        with pytest.raises(ValidationError):
            store.put({"pk": "x", "v": 2, "bad": float("nan")})
        assert store.get("x") == {"pk": "x", "v": 1}


class TestKeys:
    def test_str_and_bytes_keys(self, store):
        store.put({"pk": "a", "sk": b"\x01", "v": 1})
        store.put({"pk": b"\xff", "v": 2})
        assert store.get("a", b"\x01") == {"pk": "a", "sk": b"\x01", "v": 1}
        assert store.get(b"\xff") == {"pk": b"\xff", "v": 2}

    def test_str_key_and_its_utf8_bytes_are_the_same_key(self, store):
        store.put({"pk": "é", "v": 1})
        assert store.get("é".encode()) == {"pk": "é", "v": 1}

    def test_item_without_sort_key_differs_from_items_with_one(self, store):
        store.put({"pk": "a", "v": "none"})
        store.put({"pk": "a", "sk": "x", "v": "x"})
        assert store.get("a")["v"] == "none"
        assert store.get("a", "x")["v"] == "x"

    def test_missing_partition_key(self, store):
        with pytest.raises(ValidationError, match="partition key attribute 'pk'"):
            store.put({"sk": "a"})

    @pytest.mark.parametrize("bad", [1, 1.5, None, True, ["a"]])
    def test_key_values_must_be_str_or_bytes(self, store, bad):
        with pytest.raises(ValidationError, match="must be str or bytes"):
            store.put({"pk": bad})
        with pytest.raises(ValidationError, match="must be str or bytes"):
            store.put({"pk": "a", "sk": bad} if bad is not None else {"pk": "a", "sk": 3})

    def test_empty_key_values(self, store):
        with pytest.raises(
            ValidationError, match="The AttributeValue for a key attribute cannot contain an empty"
        ):
            store.put({"pk": ""})
