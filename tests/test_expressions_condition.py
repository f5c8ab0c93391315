"""Condition and filter expressions: DynamoDB's comparison rules, functions,
precedence, placeholders, syntax errors and limits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from keystone.errors import ValidationError
from keystone.expressions import Placeholders, condition, parse_condition
from keystone.expressions.compare import order_kind
from keystone.expressions.evaluate import compile_condition
from keystone.types import TYPE_CODES, Vector

UTC = dt.UTC


def check(
    text: str,
    item: dict[str, Any] | None,
    values: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
) -> bool:
    ph = Placeholders(names, values)
    result = condition(text, ph)(item)
    ph.check_all_used()
    return result


# Pairs (low, high) of each orderable type, low < high in DynamoDB's order.
ORDERED_PAIRS = {
    "S": ("apple", "banana"),
    "S code points": ("Z", "a"),
    "S non-ascii": ("z", "é"),
    "S prefix": ("ab", "abc"),
    "N": (1, Decimal("1.5")),
    "N negative": (-10, -2),
    "N big": (Decimal("1E+100"), Decimal("2E+100")),
    "B": (b"\x00\xff", b"\x01"),
    "B prefix": (b"ab", b"abc"),
    "Ts": (dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2021, 6, 1, 12, tzinfo=UTC)),
}


class TestOrderedComparisons:
    @pytest.mark.parametrize("low, high", ORDERED_PAIRS.values(), ids=ORDERED_PAIRS.keys())
    def test_every_comparator_orders_values_of_one_type(self, low: Any, high: Any) -> None:
        expected = {"=": False, "<>": True, "<": True, "<=": True, ">": False, ">=": False}
        for op, outcome in expected.items():
            assert check(f"a {op} :v", {"a": low}, {":v": high}) is outcome, op
            assert check(f"a {op} :v", {"a": high}, {":v": low}) is (
                outcome if op in ("=", "<>") else not outcome
            ), op

    @pytest.mark.parametrize("low, high", ORDERED_PAIRS.values(), ids=ORDERED_PAIRS.keys())
    def test_equal_values_compare_equal(self, low: Any, high: Any) -> None:
        expected = {"=": True, "<>": False, "<": False, "<=": True, ">": False, ">=": True}
        for op, outcome in expected.items():
            assert check(f"a {op} :v", {"a": high}, {":v": high}) is outcome, op

    @pytest.mark.parametrize("low, high", ORDERED_PAIRS.values(), ids=ORDERED_PAIRS.keys())
    def test_between_is_inclusive(self, low: Any, high: Any) -> None:
        values = {":lo": low, ":hi": high}
        assert check("a BETWEEN :lo AND :hi", {"a": low}, values)
        assert check("a BETWEEN :lo AND :hi", {"a": high}, values)
        assert not check("a BETWEEN :lo AND :lo", {"a": high}, {":lo": low})

    def test_int_and_decimal_are_one_number_type(self) -> None:
        assert check("a = :v", {"a": 3}, {":v": Decimal("3")})
        assert check("a < :v", {"a": 3}, {":v": Decimal("3.01")})

    def test_strings_order_like_utf8_bytes(self) -> None:
        # U+FFFF sorts before U+10000 in both code-point and UTF-8 byte order.
        assert check("a < :v", {"a": "\uffff"}, {":v": "\U00010000"})

    def test_comparing_two_attributes(self) -> None:
        assert check("a < b", {"a": 1, "b": 2})
        assert not check("a = b", {"a": 1, "b": "1"})

    def test_between_with_lower_bound_above_upper_is_an_error(self) -> None:
        with pytest.raises(
            ValidationError,
            match="The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
        ):
            check("a BETWEEN :lo AND :hi", {"a": 1}, {":lo": 5, ":hi": 1})


CROSS_TYPE = [
    ("1", 1),
    (b"1", "1"),
    (True, 1),
    (False, 0),
    (None, 0),
    ([1], 1),
    ({"x": 1}, "x"),
    ({1, 2}, 1),
    (dt.datetime(2020, 1, 1, tzinfo=UTC), 1577836800000),
    (Vector([1.0]), [1.0]),
]


class TestCrossTypeComparisons:
    @pytest.mark.parametrize("a, b", CROSS_TYPE)
    def test_only_not_equal_is_true_across_types(self, a: Any, b: Any) -> None:
        expected = {"=": False, "<>": True, "<": False, "<=": False, ">": False, ">=": False}
        for op, outcome in expected.items():
            assert check(f"a {op} :v", {"a": a}, {":v": b}) is outcome, op
            assert check(f"a {op} :v", {"a": b}, {":v": a}) is outcome, op

    @pytest.mark.parametrize("a, b", CROSS_TYPE)
    def test_between_across_types_is_false_not_an_error(self, a: Any, b: Any) -> None:
        if order_kind(b) is None:  # constant bounds of an unorderable type: refused up front
            with pytest.raises(ValidationError, match="Incorrect operand type"):
                check("a BETWEEN :v AND :v", {"a": a}, {":v": b})
        else:
            assert not check("a BETWEEN :v AND :v", {"a": a}, {":v": b})

    def test_bool_is_not_a_number_inside_lists(self) -> None:
        assert not check("a = :v", {"a": [1]}, {":v": [True]})
        assert check("a <> :v", {"a": [1]}, {":v": [True]})
        assert not check("a = :v", {"a": {"k": 0}}, {":v": {"k": False}})

    @pytest.mark.parametrize(
        "value",
        [[1, 2], {"k": 1}, True, None, {"a"}, Vector([1.0, 2.0])],
        ids=["L", "M", "BOOL", "NULL", "SS", "VecF32"],
    )
    def test_unorderable_types_never_order_even_with_themselves(self, value: Any) -> None:
        for op in ("<", "<=", ">", ">="):
            assert not check(f"a {op} :v", {"a": value}, {":v": value}), op
        assert not check("a BETWEEN b AND b", {"a": value, "b": value})
        with pytest.raises(ValidationError, match="operator or function: BETWEEN, operand type"):
            check("a BETWEEN :v AND :v", {"a": value}, {":v": value})
        assert check("a = :v", {"a": value}, {":v": value})


class TestEquality:
    def test_lists_compare_deeply_and_in_order(self) -> None:
        assert check("a = :v", {"a": [1, "x", [b"y"]]}, {":v": [1, "x", [b"y"]]})
        assert not check("a = :v", {"a": [1, 2]}, {":v": [2, 1]})
        assert not check("a = :v", {"a": [1, 2]}, {":v": [1, 2, 3]})

    def test_maps_compare_deeply_ignoring_key_order(self) -> None:
        assert check("a = :v", {"a": {"x": 1, "y": [2]}}, {":v": {"y": [2], "x": 1}})
        assert not check("a = :v", {"a": {"x": 1}}, {":v": {"x": 1, "y": 2}})

    def test_sets_compare_as_sets_of_one_kind(self) -> None:
        assert check("a = :v", {"a": {1, 2}}, {":v": {2, 1}})
        assert not check("a = :v", {"a": {"1"}}, {":v": {1}})
        assert not check("a = :v", {"a": {1, 2}}, {":v": {1}})

    def test_null_bool_vector_and_timestamp_equality(self) -> None:
        assert check("a = :v", {"a": None}, {":v": None})
        assert check("a = :v", {"a": False}, {":v": False})
        assert not check("a = :v", {"a": False}, {":v": True})
        assert check("a = :v", {"a": Vector([1.0, 2.5])}, {":v": Vector([1.0, 2.5])})
        when = dt.datetime(2024, 2, 29, tzinfo=UTC)
        assert check("a = :v", {"a": when}, {":v": when})


class TestMissingAttributes:
    @pytest.mark.parametrize("path", ["absent", "a.absent", "a.b.c", "l[5]", "s[0]", "a[0]"])
    def test_every_comparison_is_false_but_not_equal(self, path: str) -> None:
        item = {"a": {"b": 1}, "l": [1], "s": "text"}
        for op in ("=", "<", "<=", ">", ">="):
            assert not check(f"{path} {op} :v", item, {":v": 1}), op
        assert check(f"{path} <> :v", item, {":v": 1})
        assert not check(f"{path} BETWEEN :v AND :v", item, {":v": 1})
        assert not check(f"{path} IN (:v)", item, {":v": 1})

    def test_absent_item_behaves_as_empty(self) -> None:
        assert check("attribute_not_exists(pk)", None)
        assert not check("pk = :v", None, {":v": "k"})
        assert check("pk <> :v", None, {":v": "k"})

    def test_two_missing_attributes_are_not_equal(self) -> None:
        assert not check("x = y", {})
        assert check("x <> y", {})

    def test_nested_paths_and_indexes_read_the_document(self) -> None:
        item = {"a": {"b": [{"c": 5}, {"c": 6}]}}
        assert check("a.b[1].c = :v", item, {":v": 6})
        assert check("#a.#b[0].#c = :v", item, {":v": 5}, {"#a": "a", "#b": "b", "#c": "c"})


TYPE_EXAMPLES: dict[str, Any] = {
    "S": "s",
    "N": 1,
    "B": b"b",
    "BOOL": True,
    "NULL": None,
    "L": [1],
    "M": {"k": 1},
    "SS": {"x"},
    "NS": {1},
    "BS": {b"x"},
    "VecF32": Vector([0.5]),
    "Ts": dt.datetime(2020, 1, 1, tzinfo=UTC),
}


class TestFunctions:
    def test_type_examples_cover_every_type_code(self) -> None:
        assert set(TYPE_EXAMPLES) == set(TYPE_CODES)

    @pytest.mark.parametrize("code", TYPE_CODES)
    def test_attribute_type_matches_exactly_its_own_type(self, code: str) -> None:
        item = {"a": TYPE_EXAMPLES[code]}
        for other in TYPE_CODES:
            assert check("attribute_type(a, :t)", item, {":t": other}) is (other == code), other

    def test_attribute_type_of_missing_attribute_is_false(self) -> None:
        assert not check("attribute_type(a, :t)", {}, {":t": "S"})

    @pytest.mark.parametrize("bad", ["STRING", "s", 1])
    def test_attribute_type_refuses_an_unknown_type_code(self, bad: Any) -> None:
        with pytest.raises(ValidationError, match="Invalid attribute type name found"):
            check("attribute_type(a, :t)", {"a": 1}, {":t": bad})

    def test_attribute_exists_and_not_exists(self) -> None:
        item = {"a": {"b": None}, "l": [0]}
        assert check("attribute_exists(a.b)", item)
        assert check("attribute_exists(l[0])", item)
        assert not check("attribute_exists(l[1])", item)
        assert check("attribute_not_exists(a.c)", item)
        assert not check("attribute_not_exists(a)", item)

    def test_begins_with_strings_and_binary(self) -> None:
        assert check("begins_with(a, :p)", {"a": "hello"}, {":p": "he"})
        assert not check("begins_with(a, :p)", {"a": "hello"}, {":p": "lo"})
        assert check("begins_with(a, :p)", {"a": b"\x01\x02"}, {":p": b"\x01"})
        assert not check("begins_with(a, :p)", {"a": b"\x01\x02"}, {":p": "\x01"})
        assert not check("begins_with(a, :p)", {"a": ["he"]}, {":p": "he"})
        assert not check("begins_with(a, :p)", {}, {":p": "he"})

    def test_begins_with_a_number_operand_is_an_error(self) -> None:
        with pytest.raises(ValidationError, match="begins_with"):
            check("begins_with(a, :p)", {"a": "1"}, {":p": 1})

    def test_contains_substring_set_element_list_element_and_bytes(self) -> None:
        assert check("contains(a, :v)", {"a": "hello"}, {":v": "ell"})
        assert not check("contains(a, :v)", {"a": "hello"}, {":v": "xyz"})
        assert check("contains(a, :v)", {"a": {"x", "y"}}, {":v": "y"})
        assert check("contains(a, :v)", {"a": {1, Decimal("2.5")}}, {":v": Decimal("2.5")})
        assert check("contains(a, :v)", {"a": {b"x"}}, {":v": b"x"})
        assert check("contains(a, :v)", {"a": [1, {"k": "v"}]}, {":v": {"k": "v"}})
        assert check("contains(a, :v)", {"a": b"\x00\x01\x02"}, {":v": b"\x01\x02"})

    def test_contains_respects_types(self) -> None:
        assert not check("contains(a, :v)", {"a": [1]}, {":v": True})
        assert not check("contains(a, :v)", {"a": {1}}, {":v": "1"})
        assert not check("contains(a, :v)", {"a": "123"}, {":v": 2})
        assert not check("contains(a, :v)", {"a": 123}, {":v": 2})
        assert not check("contains(a, :v)", {}, {":v": 2})

    @pytest.mark.parametrize(
        "value, size",
        [
            ("héllo", 5),
            (b"\x00\x01\x02", 3),
            ({"a", "b"}, 2),
            ({1, 2, 3}, 3),
            ({b"x"}, 1),
            ([1, [2, 3]], 2),
            ({"k": 1, "j": 2}, 2),
            (Vector([1.0, 2.0, 3.0, 4.0]), 4),
            ("", 0),
        ],
    )
    def test_size_in_comparisons(self, value: Any, size: int) -> None:
        item = {"a": value}
        assert check("size(a) = :n", item, {":n": size})
        assert check("size(a) < :n", item, {":n": size + 1})
        assert check("size(a) BETWEEN :lo AND :hi", item, {":lo": size, ":hi": size + 1})
        assert check("size(a) IN (:x, :n)", item, {":x": -1, ":n": size})
        assert check(":n >= size(a)", item, {":n": size})

    @pytest.mark.parametrize("value", [1, True, None, dt.datetime(2020, 1, 1, tzinfo=UTC)])
    def test_size_of_unsized_types_makes_comparisons_false(self, value: Any) -> None:
        assert not check("size(a) >= :n", {"a": value}, {":n": 0})
        assert not check("size(absent) >= :n", {"a": value}, {":n": 0})

    def test_unknown_function_is_an_invalid_function_name(self) -> None:
        with pytest.raises(ValidationError, match="Invalid function name; function: exists"):
            check("exists(a)", {})


class TestIn:
    def test_in_is_true_when_equal_to_any_operand(self) -> None:
        values = {":a": 1, ":b": "x", ":c": [1]}
        assert check("v IN (:a, :b, :c)", {"v": "x"}, values)
        assert check("v IN (:a, :b, :c)", {"v": [1]}, values)
        assert not check("v IN (:a, :b, :c)", {"v": True}, values)
        assert check("v IN (w)", {"v": 2, "w": 2})

    def test_in_accepts_one_hundred_operands(self) -> None:
        values = {f":v{i}": i for i in range(100)}
        text = "a IN (" + ", ".join(values) + ")"
        assert check(text, {"a": 99}, values)

    def test_in_refuses_more_than_one_hundred_operands(self) -> None:
        values = {f":v{i}": i for i in range(101)}
        text = "a IN (" + ", ".join(values) + ")"
        with pytest.raises(
            ValidationError,
            match="The IN operator is provided with too many operands; number of operands: 101",
        ):
            check(text, {"a": 1}, values)


class TestLogic:
    def test_and_binds_tighter_than_or(self) -> None:
        item = {"a": True, "b": False, "c": False}
        # a OR (b AND c) is true; (a OR b) AND c would be false.
        assert check("a = :t OR b = :t AND c = :t", item, {":t": True})
        assert not check("(a = :t OR b = :t) AND c = :t", item, {":t": True})

    def test_not_binds_tighter_than_and(self) -> None:
        item = {"a": True, "b": True}
        # (NOT a) AND b is false; NOT (a AND b) would be true.
        values = {":t": True, ":f": False}
        assert not check("NOT a = :t AND b = :f", item, values)
        assert check("NOT (a = :t AND b = :f)", item, values)
        assert check("NOT NOT a = :t", item, {":t": True})

    def test_keywords_are_case_insensitive(self) -> None:
        item = {"a": 2}
        values = {":x": 1, ":y": 3}
        assert check("a between :x and :y", item, values)
        assert check("not a in (:x, :y) or a = :x", item, values)

    def test_nested_parentheses(self) -> None:
        item = {"a": 1, "b": 2}
        assert check("((a = :one) AND ((b = :two)))", item, {":one": 1, ":two": 2})

    def test_functions_combine_with_logic(self) -> None:
        item = {"a": "abc"}
        assert check("attribute_exists(a) AND NOT begins_with(a, :p)", item, {":p": "x"})


class TestPlaceholders:
    def test_names_substitute_attribute_names_that_are_not_identifiers(self) -> None:
        item = {"my-attr": 1, "a.b": 2, "AND": 3}
        names = {"#x": "my-attr", "#y": "a.b", "#z": "AND"}
        values = {":one": 1, ":two": 2, ":three": 3}
        assert check("#x = :one AND #y = :two AND #z = :three", item, values, names)

    def test_value_used_but_not_given_is_an_error(self) -> None:
        with pytest.raises(ValidationError, match="attribute value: :x"):
            check("a = :x", {})

    def test_name_used_but_not_given_is_an_error(self) -> None:
        with pytest.raises(ValidationError, match="attribute name: #n"):
            check("#n = :x", {}, {":x": 1})

    def test_value_given_but_not_used_is_an_error(self) -> None:
        ph = Placeholders(None, {":x": 1, ":unused": 2})
        condition("a = :x", ph)
        with pytest.raises(ValidationError, match=r"ExpressionAttributeValues.*\{:unused\}"):
            ph.check_all_used()

    def test_name_given_but_not_used_is_an_error(self) -> None:
        ph = Placeholders({"#a": "a", "#b": "b"}, {":x": 1})
        condition("#a = :x", ph)
        with pytest.raises(ValidationError, match=r"ExpressionAttributeNames.*\{#b\}"):
            ph.check_all_used()

    def test_uses_accumulate_over_the_expressions_of_one_request(self) -> None:
        ph = Placeholders({"#a": "a"}, {":x": 1, ":y": 2})
        condition("#a = :x", ph)
        condition("b = :y", ph)
        ph.check_all_used()

    @pytest.mark.parametrize(
        "names, values",
        [({"a": "a"}, None), (None, {"x": 1}), ({"#": "a"}, None), ({"#a": ""}, None)],
    )
    def test_badly_formed_placeholder_keys_are_refused(
        self, names: dict[str, str] | None, values: dict[str, Any] | None
    ) -> None:
        with pytest.raises(ValidationError):
            Placeholders(names, values)

    def test_values_are_normalised_and_bad_ones_name_the_placeholder(self) -> None:
        assert check("a = :v", {"a": [1, 2]}, {":v": (1, 2)})
        assert check("a = :v", {"a": Decimal("0.5")}, {":v": 0.5})
        with pytest.raises(ValidationError, match=":bad"):
            Placeholders(None, {":bad": float("nan")})

    def test_one_bound_condition_can_be_reused(self) -> None:
        cond = condition("a = :v", Placeholders(None, {":v": 1}))
        assert [cond({"a": i}) for i in range(3)] == [False, True, False]


class TestSyntaxErrors:
    @pytest.mark.parametrize(
        "text, fragment",
        [
            ("a BETWEN :x AND :y", 'token: "BETWEN", near: "a BETWEN :x"'),
            ("a = ", 'token: "<EOF>", near: "= "'),
            ("a = :v)", 'token: ")", near: ":v)"'),
            ("(a = :v", 'token: "<EOF>", near: ":v"'),
            ("a = 1", 'token: "1", near: "= 1"'),
            ("a-b = :v", 'token: "-", near: "a-b"'),
            ("a = :v AND", 'token: "<EOF>", near: "AND"'),
            ("a BETWEEN :x OR :y", 'token: "OR", near: ":x OR :y"'),
            ("a IN :x", 'token: ":x", near: "IN :x"'),
            ("a[x] = :v", 'token: "x", near: "[x]"'),
            ("a.in = :v", 'token: "in", near: ".in ="'),
            ("a = :v $", 'token: "$", near: ":v $"'),
            ("a = :", 'token: ":", near: "= :"'),
            ("size(a)", 'token: "<EOF>", near: ")"'),
            ("_a = :v", 'token: "_", near: "_a"'),
        ],
    )
    def test_syntax_errors_name_the_token_and_its_neighbours(
        self, text: str, fragment: str
    ) -> None:
        with pytest.raises(ValidationError) as info:
            parse_condition(text)
        assert str(info.value).startswith("Invalid ConditionExpression: Syntax error; ")
        assert fragment in str(info.value)

    @pytest.mark.parametrize(
        "text, message",
        [
            (
                "attribute_exists(a, b)",
                "Incorrect number of operands for operator or function; "
                "operator or function: attribute_exists, number of operands: 2",
            ),
            (
                "a = contains(b, :v)",
                "The function is not allowed to be used this way in an expression; "
                "function: contains",
            ),
            (
                "attribute_exists(:v)",
                "Operator or function requires a document path; "
                "operator or function: attribute_exists",
            ),
            ("status = :v", "Attribute name is a reserved keyword; reserved keyword: status"),
            ("a.Name = :v", "Attribute name is a reserved keyword; reserved keyword: Name"),
        ],
    )
    def test_misused_functions_and_reserved_words_get_dynamodbs_messages(
        self, text: str, message: str
    ) -> None:
        with pytest.raises(ValidationError) as info:
            parse_condition(text)
        assert str(info.value) == f"Invalid ConditionExpression: {message}"

    def test_empty_expression_is_an_error(self) -> None:
        with pytest.raises(ValidationError, match="empty"):
            parse_condition("   ")


class TestLimitsAndCaching:
    def test_expression_of_4096_bytes_is_accepted(self) -> None:
        text = "a = :v" + " " * (4096 - 6)
        assert check(text, {"a": 1}, {":v": 1})

    def test_expression_longer_than_4096_bytes_is_refused(self) -> None:
        text = "a = :v" + " " * (4097 - 6)
        with pytest.raises(
            ValidationError,
            match="Expression size has exceeded the maximum allowed size; expression size: 4097",
        ):
            parse_condition(text)

    def test_length_is_counted_in_utf8_bytes(self) -> None:
        names = {"#n": "x"}
        text = "#n = :v" + " " * 2040 + "é" * 1025  # 7 + 2040 + 2050 bytes
        assert len(text) < 4096
        with pytest.raises(ValidationError, match="expression size: 4097"):
            check(text, {}, {":v": 1}, names)

    def test_a_hot_condition_is_parsed_once(self) -> None:
        text = "cache_probe_attr = :v AND other_probe > :n"
        condition(text, Placeholders(None, {":v": 1, ":n": 2}))
        parses = parse_condition.cache_info().misses
        hits = compile_condition.cache_info().hits
        for i in range(5):
            bound = condition(text, Placeholders(None, {":v": i, ":n": 0}))
            assert bound({"cache_probe_attr": i, "other_probe": 1})
        assert parse_condition.cache_info().misses == parses
        assert compile_condition.cache_info().hits == hits + 5

    def test_parse_function_caches_by_text(self) -> None:
        text = "parse_cache_probe = :v"
        parse_condition(text)
        hits = parse_condition.cache_info().hits
        assert parse_condition(text) is parse_condition(text)
        assert parse_condition.cache_info().hits == hits + 2
