"""Update expressions: SET (values, arithmetic, list_append, if_not_exists),
REMOVE, ADD and DELETE on flat and nested paths, and the errors DynamoDB
raises for overlapping paths, repeated clauses and type mismatches."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from keystone.errors import ValidationError
from keystone.expressions import Placeholders, parse_update, update
from keystone.expressions.update import compile_update


def apply(
    text: str,
    item: dict[str, Any] | None,
    values: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    ph = Placeholders(names, values)
    bound = update(text, ph)
    ph.check_all_used()
    before = copy.deepcopy(item)
    result = bound.apply(item)
    assert item == before, "apply() must not modify its input"
    return result


class TestSet:
    def test_set_top_level_attribute(self) -> None:
        assert apply("SET a = :v", {"pk": "k"}, {":v": 1}) == {"pk": "k", "a": 1}
        assert apply("SET a = :v", {"a": "old"}, {":v": [1]}) == {"a": [1]}

    def test_set_on_absent_item_starts_from_empty(self) -> None:
        assert apply("SET a = :v, b = :w", None, {":v": 1, ":w": "x"}) == {"a": 1, "b": "x"}

    def test_set_nested_map_key(self) -> None:
        item = {"m": {"x": 1, "nested": {"y": 2}}}
        assert apply("SET m.nested.z = :v", item, {":v": 3}) == {
            "m": {"x": 1, "nested": {"y": 2, "z": 3}}
        }
        assert apply("SET #m.#x = :v", item, {":v": 9}, {"#m": "m", "#x": "x"}) == {
            "m": {"x": 9, "nested": {"y": 2}}
        }

    def test_set_list_element_replaces_it(self) -> None:
        assert apply("SET l[1] = :v", {"l": [0, 1, 2]}, {":v": "x"}) == {"l": [0, "x", 2]}

    def test_set_past_the_end_of_a_list_appends(self) -> None:
        assert apply("SET l[10] = :v", {"l": [0, 1]}, {":v": "x"}) == {"l": [0, 1, "x"]}

    def test_set_several_indexes_past_the_end_append_in_index_order(self) -> None:
        result = apply("SET l[9] = :b, l[5] = :a", {"l": [0]}, {":a": "a", ":b": "b"})
        assert result == {"l": [0, "a", "b"]}

    def test_set_inside_list_of_maps(self) -> None:
        item = {"l": [{"a": 1}, {"a": 2}]}
        assert apply("SET l[1].a = :v", item, {":v": 5}) == {"l": [{"a": 1}, {"a": 5}]}

    @pytest.mark.parametrize(
        "text, item, reason",
        [
            ("SET m.x = :v", {}, "m does not exist"),
            ("SET m.x.y = :v", {"m": {}}, "m.x does not exist"),
            ("SET m.x = :v", {"m": "text"}, "m is S, not M"),
            ("SET l[0] = :v", {"l": {"k": 1}}, "l is M, not L"),
            ("SET l[3].a = :v", {"l": [{}]}, "l[3] does not exist"),
        ],
    )
    def test_set_below_a_missing_or_wrong_parent_is_an_invalid_path(
        self, text: str, item: dict[str, Any], reason: str
    ) -> None:
        with pytest.raises(ValidationError, match="invalid for update") as info:
            apply(text, item, {":v": 1})
        assert reason in str(info.value)

    def test_set_copies_another_attribute(self) -> None:
        assert apply("SET b = a.x", {"a": {"x": [1]}}) == {"a": {"x": [1]}, "b": [1]}

    def test_set_values_are_read_from_the_item_before_the_update(self) -> None:
        assert apply("SET a = b, b = a", {"a": 1, "b": 2}) == {"a": 2, "b": 1}

    def test_set_from_a_missing_attribute_is_an_error(self) -> None:
        with pytest.raises(
            ValidationError, match="attribute that does not exist in the item; path: nope"
        ):
            apply("SET a = nope", {})
        with pytest.raises(ValidationError, match="does not exist in the item; path: n"):
            apply("SET a = n + :one", {}, {":one": 1})

    def test_set_values_are_copies_not_shared_with_placeholders(self) -> None:
        ph = Placeholders(None, {":v": {"list": [1]}})
        bound = update("SET a = :v", ph)
        first = bound.apply({})
        first["a"]["list"].append(2)
        assert bound.apply({}) == {"a": {"list": [1]}}


class TestArithmetic:
    def test_plus_and_minus(self) -> None:
        assert apply("SET n = n + :d", {"n": 5}, {":d": 3}) == {"n": 8}
        assert apply("SET n = n - :d", {"n": 5}, {":d": 8}) == {"n": -3}
        assert apply("SET n = :a - n", {"n": 5}, {":a": 1}) == {"n": -4}
        assert apply("SET t = a + b", {"a": 1, "b": 2}) == {"a": 1, "b": 2, "t": 3}

    def test_decimal_arithmetic_is_exact(self) -> None:
        result = apply("SET n = :a + :b", {}, {":a": Decimal("0.1"), ":b": Decimal("0.2")})
        assert result["n"] == Decimal("0.3")
        result = apply("SET n = :a + :b", {}, {":a": 0.1, ":b": 0.2})
        assert result["n"] == Decimal("0.3")

    def test_integral_results_become_int(self) -> None:
        result = apply("SET n = n + :b", {"n": Decimal("1.5")}, {":b": Decimal("1.5")})
        assert result["n"] == 3 and type(result["n"]) is int

    def test_more_than_38_significant_digits_is_an_error(self) -> None:
        with pytest.raises(ValidationError, match="38 significant digits"):
            apply("SET n = n + :two", {"n": 10**38 - 1}, {":two": 2})
        with pytest.raises(ValidationError, match="38 significant digits"):
            apply("SET n = n + :tiny", {"n": Decimal("1E+100")}, {":tiny": Decimal("1E-100")})

    def test_38_digit_results_are_kept_exactly(self) -> None:
        result = apply("SET n = n + :one", {"n": 10**37}, {":one": 1})
        assert result["n"] == 10**37 + 1

    def test_a_round_38_digit_boundary_is_fine(self) -> None:
        assert apply("SET n = n + :one", {"n": 10**38 - 1}, {":one": 1}) == {"n": 10**38}

    def test_overflowing_the_number_range_is_an_error(self) -> None:
        with pytest.raises(ValidationError, match="^Number overflow"):
            apply("SET n = n + n", {"n": Decimal("9E+125")})

    @pytest.mark.parametrize("other", ["1", True, [1], {1}, None])
    def test_arithmetic_on_non_numbers_is_an_error(self, other: Any) -> None:
        with pytest.raises(ValidationError, match="Incorrect operand type"):
            apply("SET n = n + :v", {"n": 1}, {":v": other})
        with pytest.raises(ValidationError, match="Incorrect operand type"):
            apply("SET n = :v - n", {"n": 1}, {":v": other})


class TestFunctions:
    def test_list_append_with_paths_and_values(self) -> None:
        item = {"l": [1, 2]}
        assert apply("SET l = list_append(l, :v)", item, {":v": [3]}) == {"l": [1, 2, 3]}
        assert apply("SET l = list_append(:v, l)", item, {":v": [0]}) == {"l": [0, 1, 2]}
        assert apply("SET m = list_append(:a, :b)", {}, {":a": [1], ":b": ["x"]}) == {"m": [1, "x"]}
        assert apply("SET m = list_append(l, l)", item) == {"l": [1, 2], "m": [1, 2, 1, 2]}

    @pytest.mark.parametrize("bad", ["x", 1, {"x"}, {"k": 1}])
    def test_list_append_of_a_non_list_is_an_error(self, bad: Any) -> None:
        with pytest.raises(ValidationError, match="list_append"):
            apply("SET l = list_append(l, :v)", {"l": [1]}, {":v": bad})

    def test_list_append_to_a_missing_list_is_an_error(self) -> None:
        with pytest.raises(ValidationError, match="does not exist in the item; path: l"):
            apply("SET l = list_append(l, :v)", {}, {":v": [1]})

    def test_if_not_exists_keeps_the_existing_value(self) -> None:
        assert apply("SET a = if_not_exists(a, :d)", {"a": 1}, {":d": 0}) == {"a": 1}
        assert apply("SET a = if_not_exists(a, :d)", {}, {":d": 0}) == {"a": 0}
        assert apply("SET b = if_not_exists(a.x, c)", {"c": "y"}) == {"b": "y", "c": "y"}

    def test_if_not_exists_inside_list_append_and_arithmetic(self) -> None:
        values = {":empty": [], ":new": ["x"]}
        text = "SET l = list_append(if_not_exists(l, :empty), :new)"
        assert apply(text, {}, values) == {"l": ["x"]}
        assert apply(text, {"l": ["w"]}, values) == {"l": ["w", "x"]}
        counter = "SET c = if_not_exists(c, :zero) + :one"
        assert apply(counter, {}, {":zero": 0, ":one": 1}) == {"c": 1}
        assert apply(counter, {"c": 41}, {":zero": 0, ":one": 1}) == {"c": 42}


class TestRemove:
    def test_remove_top_level_and_nested(self) -> None:
        item = {"a": 1, "m": {"x": 1, "y": 2}}
        assert apply("REMOVE a, m.x", item) == {"m": {"y": 2}}

    def test_remove_missing_attribute_is_a_no_op(self) -> None:
        assert apply("REMOVE nope, m.nope, l[7]", {"m": {}, "l": [1]}) == {"m": {}, "l": [1]}

    def test_remove_below_a_missing_parent_is_an_invalid_path(self) -> None:
        with pytest.raises(ValidationError, match="invalid for update"):
            apply("REMOVE m.x", {})

    def test_remove_list_element_shifts_the_rest(self) -> None:
        assert apply("REMOVE l[1]", {"l": [0, 1, 2, 3]}) == {"l": [0, 2, 3]}

    def test_remove_several_indexes_names_positions_in_the_original_list(self) -> None:
        assert apply("REMOVE l[0], l[2]", {"l": [0, 1, 2, 3]}) == {"l": [1, 3]}
        assert apply("REMOVE l[2], l[0], l[3]", {"l": [0, 1, 2, 3]}) == {"l": [1]}

    def test_remove_with_set_on_the_same_list(self) -> None:
        result = apply("SET l[2] = :x REMOVE l[0]", {"l": [0, 1, 2]}, {":x": "x"})
        assert result == {"l": [1, "x"]}

    def test_remove_inside_nested_lists(self) -> None:
        item = {"l": [[0, 1], {"k": 1, "j": 2}]}
        assert apply("REMOVE l[0][0], l[1].k", item) == {"l": [[1], {"j": 2}]}


class TestAdd:
    def test_add_to_an_existing_number(self) -> None:
        assert apply("ADD n :d", {"n": 5}, {":d": -2}) == {"n": 3}

    def test_add_to_an_absent_number_starts_from_zero(self) -> None:
        assert apply("ADD n :d", {}, {":d": Decimal("2.5")}) == {"n": Decimal("2.5")}
        assert apply("ADD n :d", None, {":d": 7}) == {"n": 7}

    def test_add_is_exact(self) -> None:
        result = apply("ADD n :d", {"n": Decimal("0.1")}, {":d": Decimal("0.2")})
        assert result == {"n": Decimal("0.3")}

    def test_add_overflowing_38_digits_is_an_error(self) -> None:
        with pytest.raises(ValidationError, match="38 significant digits"):
            apply("ADD n :d", {"n": 10**38 - 1}, {":d": 2})

    def test_add_nested_and_in_a_list(self) -> None:
        item = {"m": {"n": 1}, "l": [10]}
        assert apply("ADD m.n :d, l[0] :d", item, {":d": 1}) == {"m": {"n": 2}, "l": [11]}

    @pytest.mark.parametrize(
        "existing, added, expected",
        [
            ({"a"}, {"b", "a"}, {"a", "b"}),
            ({1, 2}, {Decimal("2.5")}, {1, 2, Decimal("2.5")}),
            ({b"x"}, {b"y"}, {b"x", b"y"}),
        ],
        ids=["SS", "NS", "BS"],
    )
    def test_add_to_a_set_is_a_union(self, existing: Any, added: Any, expected: Any) -> None:
        assert apply("ADD s :v", {"s": existing}, {":v": added}) == {"s": expected}

    def test_add_to_an_absent_set_creates_it(self) -> None:
        assert apply("ADD s :v", {}, {":v": {"x"}}) == {"s": {"x"}}

    @pytest.mark.parametrize("value", ["x", [1], {"k": 1}, True, None, b"b"])
    def test_add_of_anything_but_numbers_and_sets_is_an_error(self, value: Any) -> None:
        with pytest.raises(
            ValidationError, match="Incorrect operand type for operator or function; operator: ADD"
        ):
            apply("ADD n :v", {"n": 1}, {":v": value})

    @pytest.mark.parametrize(
        "existing, added",
        [(1, {1}), ({1}, 1), ({"a"}, {1}), ("text", 1), ([1], {1})],
    )
    def test_add_of_a_mismatched_type_is_an_error(self, existing: Any, added: Any) -> None:
        with pytest.raises(ValidationError):
            apply("ADD n :v", {"n": existing}, {":v": added})


class TestDelete:
    def test_delete_removes_elements(self) -> None:
        assert apply("DELETE s :v", {"s": {"a", "b", "c"}}, {":v": {"a", "z"}}) == {"s": {"b", "c"}}
        assert apply("DELETE s :v", {"s": {1, 2}}, {":v": {2}}) == {"s": {1}}

    def test_a_set_emptied_by_delete_disappears(self) -> None:
        assert apply("DELETE s :v", {"s": {b"a"}, "x": 1}, {":v": {b"a", b"b"}}) == {"x": 1}
        assert apply("DELETE m.s :v", {"m": {"s": {"a"}}}, {":v": {"a"}}) == {"m": {}}

    def test_an_emptied_set_in_a_list_is_removed_like_a_remove(self) -> None:
        item = {"l": [{"a"}, "x", "y", "z"]}
        result = apply("DELETE l[0] :s REMOVE l[2]", item, {":s": {"a"}})
        assert result == {"l": ["x", "z"]}

    def test_delete_from_an_absent_attribute_is_a_no_op(self) -> None:
        assert apply("DELETE s :v", {"x": 1}, {":v": {"a"}}) == {"x": 1}

    @pytest.mark.parametrize("existing", [{1}, "a", 1, ["a"]])
    def test_delete_from_a_mismatched_type_is_an_error(self, existing: Any) -> None:
        with pytest.raises(
            ValidationError, match="An operand in the update expression has an incorrect data type"
        ):
            apply("DELETE s :v", {"s": existing}, {":v": {"a"}})

    @pytest.mark.parametrize("value", ["a", 1, ["a"]])
    def test_delete_with_a_non_set_operand_is_an_error(self, value: Any) -> None:
        with pytest.raises(
            ValidationError,
            match="Incorrect operand type for operator or function; operator: DELETE",
        ):
            apply("DELETE s :v", {"s": {"a"}}, {":v": value})


class TestClausesAndPaths:
    def test_all_clauses_in_any_order(self) -> None:
        item = {"gone": 1, "n": 1, "s": {"a", "b"}}
        text = "DELETE s :del ADD n :one REMOVE gone SET fresh = :v"
        values = {":del": {"a"}, ":one": 1, ":v": "x"}
        assert apply(text, item, values) == {"n": 2, "s": {"b"}, "fresh": "x"}

    def test_clause_keywords_are_case_insensitive(self) -> None:
        assert apply("set a = :v remove b", {"b": 1}, {":v": 1}) == {"a": 1}

    @pytest.mark.parametrize(
        "text",
        [
            "SET a = :v SET b = :v",
            "REMOVE a REMOVE b",
            "ADD a :v add b :v",
            "DELETE a :v DELETE b :v",
        ],
    )
    def test_a_repeated_clause_is_an_error(self, text: str) -> None:
        with pytest.raises(
            ValidationError, match="section can only be used once in an update expression"
        ):
            parse_update(text)

    @pytest.mark.parametrize(
        "text, names, one, two",
        [
            ("SET a.b = :v REMOVE a", None, "[a, b]", "[a]"),
            ("SET a = :v, a = :v", None, "[a]", "[a]"),
            ("SET #x = :v REMOVE a", {"#x": "a"}, "[a]", "[a]"),
            ("ADD a.b.c :n DELETE a.b :s", None, "[a, b, c]", "[a, b]"),
            ("REMOVE l[1], l[1].x", None, "[l, [1]]", "[l, [1], x]"),
        ],
    )
    def test_overlapping_paths_are_an_error_naming_both(
        self, text: str, names: dict[str, str] | None, one: str, two: str
    ) -> None:
        values = {":v": 1, ":n": 1, ":s": {"x"}}
        with pytest.raises(ValidationError, match="overlap") as info:
            update(text, Placeholders(names, values))
        assert f"path one: {one}, path two: {two}" in str(info.value)

    def test_map_and_list_access_to_one_value_conflict(self) -> None:
        with pytest.raises(ValidationError, match="conflict"):
            update("SET a.b = :v, a[0] = :v", Placeholders(None, {":v": 1}))

    def test_sibling_paths_do_not_overlap(self) -> None:
        item = {"a": {"b": 1, "c": 2}, "l": [0, 1]}
        result = apply("SET a.b = :v, l[0] = :v REMOVE a.c, l[1]", item, {":v": 9})
        assert result == {"a": {"b": 9}, "l": [9]}

    def test_top_level_names_lists_every_touched_attribute(self) -> None:
        bound = update(
            "SET #k = :v, m.x = :v REMOVE r ADD n :v DELETE s :s",
            Placeholders({"#k": "pk"}, {":v": 1, ":s": {"a"}}),
        )
        assert bound.top_level_names == frozenset({"pk", "m", "r", "n", "s"})

    def test_updated_projection_selects_the_touched_paths(self) -> None:
        bound = update("SET m.x = :v ADD n :v", Placeholders(None, {":v": 1}))
        old = {"pk": "k", "m": {"x": 0, "y": 5}, "n": 1, "other": 2}
        new = bound.apply(old)
        assert bound.updated_projection(old) == {"m": {"x": 0}, "n": 1}
        assert bound.updated_projection(new) == {"m": {"x": 1}, "n": 2}


class TestInputIsNeverModified:
    def test_nested_containers_of_the_input_are_untouched(self) -> None:
        item = {
            "m": {"deep": {"x": 1}, "l": [1, 2, 3]},
            "s": {"a", "b"},
            "n": 1,
            "l": [{"k": 1}, [1, 2]],
        }
        snapshot = copy.deepcopy(item)
        bound = update(
            "SET m.deep.x = :v, l[0].k = :v REMOVE m.l[0], l[1][0] ADD s :t, n :v",
            Placeholders(None, {":v": 9, ":t": {"c"}}),
        )
        result = bound.apply(item)
        assert item == snapshot
        assert result == {
            "m": {"deep": {"x": 9}, "l": [2, 3]},
            "s": {"a", "b", "c"},
            "n": 10,
            "l": [{"k": 9}, [2]],
        }

    def test_a_bound_update_can_be_applied_many_times(self) -> None:
        bound = update(
            "ADD n :one SET l = list_append(l, :x)", Placeholders(None, {":one": 1, ":x": [0]})
        )
        item: dict[str, Any] = {"n": 0, "l": []}
        for _ in range(3):
            item = bound.apply(item)
        assert item == {"n": 3, "l": [0, 0, 0]}


class TestErrors:
    @pytest.mark.parametrize(
        "text, fragment",
        [
            ("SET a :v", 'Syntax error; token: ":v", near: "a :v"'),
            ("SET = :v", 'Syntax error; token: "=", near: "SET = :v"'),
            ("ADD a", 'Syntax error; token: "<EOF>", near: "a"'),
            ("DELETE a b", 'Syntax error; token: "b", near: "a b"'),
            ("REMOVE", 'Syntax error; token: "<EOF>", near: "REMOVE"'),
            ("SET a = :v,", 'Syntax error; token: "<EOF>", near: ","'),
            ("SET a = :v b = :w", 'Syntax error; token: "b", near: ":v b ="'),
            ("UPDATE a = :v", 'Syntax error; token: "UPDATE", near: "UPDATE a"'),
            ("SET a = foo(b)", "Invalid function name; function: foo"),
            ("SET a = :v + :w + :x", 'Syntax error; token: "+", near: ":w + :x"'),
            (
                "SET a = size(b)",
                "The function is not allowed to be used this way in an expression; function: size",
            ),
            (
                "SET a = if_not_exists(:v, :w)",
                "Operator or function requires a document path; "
                "operator or function: if_not_exists",
            ),
            (
                "SET a = list_append(list_append(:v, :w), :x)",
                "The function is not allowed to be used this way in an expression; "
                "function: list_append",
            ),
            (
                "SET a = list_append(:v)",
                "Incorrect number of operands for operator or function; "
                "operator or function: list_append, number of operands: 1",
            ),
            ("SET a = 5", 'Syntax error; token: "5", near: "= 5"'),
            ("SET a[-1] = :v", 'Syntax error; token: "-", near: "[-1"'),
            ("REMOVE set", 'Syntax error; token: "set", near: "REMOVE set"'),
            ("SET _a = :v", 'Syntax error; token: "_", near: "SET _a"'),
            ("SET status = :v", "Attribute name is a reserved keyword; reserved keyword: status"),
            (
                "SET a[4294967295] = :v",
                "List index is not within the allowable range; index: [4294967295]",
            ),
        ],
    )
    def test_bad_update_expressions_get_dynamodbs_message(self, text: str, fragment: str) -> None:
        with pytest.raises(ValidationError) as info:
            parse_update(text)
        assert str(info.value) == f"Invalid UpdateExpression: {fragment}"

    def test_undefined_placeholders_are_errors(self) -> None:
        with pytest.raises(ValidationError, match="attribute value: :nope"):
            update("SET a = :nope", Placeholders(None, None))
        with pytest.raises(ValidationError, match="attribute name: #n"):
            update("REMOVE #n", Placeholders(None, None))
        with pytest.raises(ValidationError, match="attribute value: :d"):
            update("SET a = if_not_exists(a, :d)", Placeholders(None, None))

    def test_unused_placeholders_are_reported(self) -> None:
        ph = Placeholders({"#n": "n", "#spare": "x"}, {":v": 1, ":spare": 2})
        update("SET #n = :v", ph)
        with pytest.raises(ValidationError) as info:
            ph.check_all_used()
        assert "{#spare}" in str(info.value) and "{:spare}" in str(info.value)

    def test_update_longer_than_4096_bytes_is_refused(self) -> None:
        text = "SET " + ", ".join(f"a{i} = :v" for i in range(600))
        assert len(text.encode()) > 4096
        with pytest.raises(
            ValidationError,
            match=r"Expression size has exceeded the maximum allowed size; expression size: \d+",
        ):
            update(text, Placeholders(None, {":v": 1}))

    def test_a_hot_update_is_parsed_once(self) -> None:
        text = "SET update_cache_probe = update_cache_probe + :one"
        update(text, Placeholders(None, {":one": 1}))
        parses = parse_update.cache_info().misses
        hits = compile_update.cache_info().hits
        for i in range(3):
            assert update(text, Placeholders(None, {":one": 1})).apply(
                {"update_cache_probe": i}
            ) == {"update_cache_probe": i + 1}
        assert parse_update.cache_info().misses == parses
        assert compile_update.cache_info().hits == hits + 3
