"""Projection expressions: which parts of an item come back, and in what shape."""

from __future__ import annotations

from typing import Any

import pytest

from keystone.errors import ValidationError
from keystone.expressions import Placeholders, parse_projection, projection
from keystone.expressions.evaluate import compile_projection

ITEM: dict[str, Any] = {
    "pk": "k",
    "a": {"b": 1, "x": 2, "deep": {"y": [10, 20]}},
    "c": [5, 6, 7],
    "l": [{"n": 1, "m": 2}, {"n": 3}],
    "s": "text",
}


def project(text: str, item: dict[str, Any] = ITEM, names: dict[str, str] | None = None) -> Any:
    ph = Placeholders(names, None)
    bound = projection(text, ph)
    ph.check_all_used()
    return bound(item)


class TestShape:
    def test_top_level_attributes(self) -> None:
        assert project("pk, s") == {"pk": "k", "s": "text"}

    def test_nested_paths_keep_their_structure(self) -> None:
        assert project("a.b, c[1]") == {"a": {"b": 1}, "c": [6]}

    def test_several_paths_under_one_map_merge(self) -> None:
        assert project("a.b, a.deep.y[1]") == {"a": {"b": 1, "deep": {"y": [20]}}}

    def test_list_elements_come_back_in_index_order(self) -> None:
        assert project("c[2], c[0]") == {"c": [5, 7]}

    def test_paths_inside_list_elements(self) -> None:
        assert project("l[0].m, l[1].n") == {"l": [{"m": 2}, {"n": 3}]}

    def test_name_placeholders(self) -> None:
        item = {"my-attr": {"x.y": 1}, "z": 2}
        assert project("#a.#b", item, {"#a": "my-attr", "#b": "x.y"}) == {"my-attr": {"x.y": 1}}


class TestMissingPaths:
    @pytest.mark.parametrize(
        "text",
        ["nope", "a.nope", "c[9]", "s.x", "s[0]", "c.x", "a[0]", "l[1].m", "a.deep.y[5]"],
    )
    def test_missing_paths_are_left_out(self, text: str) -> None:
        assert project(f"pk, {text}") == {"pk": "k"}

    def test_projection_of_an_empty_item_is_empty(self) -> None:
        assert project("a, b.c", {}) == {}


class TestCopies:
    def test_result_is_a_new_dict_and_input_is_untouched(self) -> None:
        item = {"a": {"b": 1, "x": 2}, "c": [1, 2]}
        result = project("a.b, c", item)
        result["new"] = 1
        result["a"]["b"] = 99
        assert item == {"a": {"b": 1, "x": 2}, "c": [1, 2]}

    def test_a_bound_projection_can_be_reused(self) -> None:
        bound = projection("a", Placeholders(None, None))
        assert [bound({"a": i, "b": 0}) for i in range(3)] == [{"a": 0}, {"a": 1}, {"a": 2}]


class TestErrors:
    @pytest.mark.parametrize(
        "text, one, two",
        [
            ("a, a", "[a]", "[a]"),
            ("a, a.b", "[a]", "[a, b]"),
            ("c[1].x, c[1]", "[c, [1], x]", "[c, [1]]"),
        ],
    )
    def test_overlapping_paths_are_an_error(self, text: str, one: str, two: str) -> None:
        with pytest.raises(ValidationError, match="overlap") as info:
            project(text)
        assert f"path one: {one}, path two: {two}" in str(info.value)

    def test_map_and_list_access_to_one_value_conflict(self) -> None:
        with pytest.raises(ValidationError, match="conflict"):
            project("a.b, a[0]")

    @pytest.mark.parametrize(
        "text, fragment",
        [
            ("a,", 'Syntax error; token: "<EOF>", near: ","'),
            ("a..b", 'Syntax error; token: ".", near: "..b"'),
            ("a[x]", 'Syntax error; token: "x", near: "[x]"'),
            ("a b", 'Syntax error; token: "b", near: "a b"'),
            (":v", 'Syntax error; token: ":v", near: ":v"'),
            ("a[1", 'Syntax error; token: "<EOF>", near: "1"'),
            ("and", 'Syntax error; token: "and", near: "and"'),
            ("name", "Attribute name is a reserved keyword; reserved keyword: name"),
            (
                ".".join(["a"] * 33),
                "The document path has too many nesting levels; nesting levels: 33, limit: 32",
            ),
        ],
    )
    def test_bad_projections_get_dynamodbs_message(self, text: str, fragment: str) -> None:
        with pytest.raises(ValidationError) as info:
            parse_projection(text)
        assert str(info.value) == f"Invalid ProjectionExpression: {fragment}"

    def test_a_path_32_levels_deep_is_accepted(self) -> None:
        assert project(".".join(["a"] * 31) + "[0]", {"a": 1}) == {}

    def test_undefined_name_is_an_error(self) -> None:
        with pytest.raises(ValidationError, match="attribute name: #x"):
            projection("#x", Placeholders(None, None))

    def test_unused_name_is_an_error(self) -> None:
        ph = Placeholders({"#x": "x", "#y": "y"}, None)
        projection("#x", ph)
        with pytest.raises(ValidationError, match=r"\{#y\}"):
            ph.check_all_used()

    def test_projection_longer_than_4096_bytes_is_refused(self) -> None:
        text = ", ".join(f"attribute_{i}" for i in range(400))
        with pytest.raises(
            ValidationError, match="Expression size has exceeded the maximum allowed size"
        ):
            parse_projection(text)

    def test_a_hot_projection_is_parsed_once(self) -> None:
        text = "projection_cache_probe, cache_probe_two"
        projection(text, Placeholders(None, None))
        parses = parse_projection.cache_info().misses
        hits = compile_projection.cache_info().hits
        projection(text, Placeholders(None, None))
        assert parse_projection.cache_info().misses == parses
        assert compile_projection.cache_info().hits == hits + 1
