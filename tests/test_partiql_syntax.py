"""PartiQL text: keywords, literals, identifiers, comments, parameters and syntax errors.

Syntax errors are ValidationErrors naming the line and column of the problem
and what was expected there.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

import keystone
from keystone import ValidationError
from keystone.partiql import parse
from keystone.partiql.ast import Insert, Literal, MapValue, Select


@pytest.fixture
def mem():
    database = keystone.Database.memory()
    database.put({"pk": "a", "sk": "1", "n": 1, "it's": "quoted", "select": "kw", "x y": 2})
    yield database
    database.close()


def literal(text: str):
    """The value of the literal in ``SELECT * FROM t WHERE a = <text>``."""
    statement = parse(f"SELECT * FROM t WHERE a = {text}")
    assert isinstance(statement, Select)
    value = statement.where.condition.right  # type: ignore[union-attr]
    assert isinstance(value, Literal)
    return value.value


class TestKeywordsAndIdentifiers:
    def test_keywords_are_case_insensitive(self, mem):
        page = mem.execute("sElEcT * fRoM t wHeRe pk = 'a' AnD sk = '1'")
        assert page.count == 1

    def test_the_table_name_is_any_identifier(self, mem):
        for name in ("t", "orders", '"my table"', "Items_2"):
            assert mem.execute(f"SELECT * FROM {name} WHERE pk = 'a'").count == 1

    def test_attribute_names_are_case_sensitive(self, mem):
        assert mem.execute("SELECT * FROM t WHERE N = 1").count == 0
        assert mem.execute("SELECT * FROM t WHERE n = 1").count == 1

    def test_double_quotes_name_attributes_that_are_keywords_or_odd(self, mem):
        assert mem.execute('SELECT "select", "x y" FROM t').items == [{"select": "kw", "x y": 2}]
        assert mem.execute("SELECT * FROM t WHERE \"it's\" = 'quoted'").count == 1

    def test_doubled_double_quote_escapes_inside_a_quoted_identifier(self):
        statement = parse('SELECT "say ""hi""" FROM t')
        assert isinstance(statement, Select)
        assert statement.projection[0].elements == ('say "hi"',)  # type: ignore[index]

    def test_a_keyword_as_a_bare_name_is_refused_with_a_hint(self, mem):
        with pytest.raises(ValidationError, match=r'line 1, column 8: .*write "value"'):
            mem.execute("SELECT value FROM t")

    def test_trailing_semicolon_and_comments_are_allowed(self, mem):
        page = mem.execute(
            "-- the one item\nSELECT * /* everything */ FROM t\nWHERE pk = 'a' -- key\n;"
        )
        assert page.count == 1


class TestLiterals:
    def test_single_quoted_strings_with_doubled_quote_escape(self):
        assert literal("'it''s'") == "it's"
        assert literal("''") == ""

    def test_double_quotes_are_identifiers_not_strings(self):
        statement = parse('SELECT * FROM t WHERE a = "b"')
        assert statement.where.condition.right.elements == ("b",)  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ("42", 42),
            ("-7", -7),
            ("0", 0),
            ("1.50", Decimal("1.5")),
            ("0.1", Decimal("0.1")),
            ("1e3", 1000),
            ("2.5E-3", Decimal("0.0025")),
            ("12345678901234567890123456789012345678", 12345678901234567890123456789012345678),
        ],
    )
    def test_numbers_are_exact_and_int_when_integral(self, text, value):
        got = literal(text)
        assert got == value and type(got) is type(value)

    def test_true_false_null(self):
        assert literal("TRUE") is True
        assert literal("false") is False
        assert literal("Null") is None

    def test_lists_maps_and_sets_nest(self, mem):
        mem.execute(
            "INSERT INTO t VALUE {'pk': 'lit', 'l': [1, 'two', [3]], "
            "'m': {'k': {'deep': true}}, 'ss': <<'a', 'b'>>, 'ns': <<1, 2.5>>}"
        )
        item = mem.get("lit")
        assert item == {
            "pk": "lit",
            "l": [1, "two", [3]],
            "m": {"k": {"deep": True}},
            "ss": {"a", "b"},
            "ns": {1, Decimal("2.5")},
        }

    def test_map_keys_must_be_single_quoted_strings(self, mem):
        with pytest.raises(
            ValidationError, match=r"column 22: expected a map key in single quotes"
        ):
            mem.execute("INSERT INTO t VALUE {pk: 'a'}")

    def test_a_map_key_given_twice_is_refused(self):
        with pytest.raises(ValidationError, match=r"column 33: map key 'pk' appears twice"):
            parse("INSERT INTO t VALUE {'pk': 'a', 'pk': 'b'}")

    def test_insert_value_is_parsed_into_a_map(self):
        statement = parse("INSERT INTO t VALUE {'pk': 'a', 'n': 1}")
        assert isinstance(statement, Insert) and isinstance(statement.value, MapValue)

    def test_a_bad_set_literal_names_its_position(self, mem):
        with pytest.raises(
            ValidationError, match=r"column 38: set literal: a set must hold one kind"
        ):
            mem.execute("INSERT INTO t VALUE {'pk': 'x', 's': <<1, 'a'>>}")
        with pytest.raises(ValidationError, match=r"sets hold strings, numbers or bytes"):
            mem.execute("INSERT INTO t VALUE {'pk': 'x', 's': <<[1]>>}")

    def test_numbers_beyond_dynamodb_range_are_refused_at_their_position(self, mem):
        with pytest.raises(ValidationError, match=r"line 1, column 27: .*Number overflow"):
            mem.execute("SELECT * FROM t WHERE a = 1e500")


class TestParameters:
    def test_parameters_are_numbered_in_statement_order(self):
        statement = parse("UPDATE t SET a = ?, b = ? WHERE pk = ? AND sk = ?")
        assert statement.param_count == 4

    def test_too_few_or_too_many_parameters(self, mem):
        with pytest.raises(ValidationError, match=r"has 2 \? parameters, but 1 value was given"):
            mem.execute("SELECT * FROM t WHERE pk = ? AND sk = ?", ["a"])
        with pytest.raises(ValidationError, match=r"has 0 \? parameters, but 1 value was given"):
            mem.execute("SELECT * FROM t", ["a"])
        with pytest.raises(ValidationError, match=r"has 1 \? parameter, but 0 values were given"):
            mem.execute("SELECT * FROM t WHERE pk = ?")

    def test_parameters_must_be_a_sequence(self, mem):
        with pytest.raises(ValidationError, match="parameters must be a list"):
            mem.execute("SELECT * FROM t WHERE pk = ?", "a")
        with pytest.raises(ValidationError, match="parameters must be a list"):
            mem.execute("SELECT * FROM t WHERE pk = ?", {"pk": "a"})

    def test_tuples_are_accepted(self, mem):
        assert mem.execute("SELECT * FROM t WHERE pk = ? AND sk = ?", ("a", "1")).count == 1

    def test_a_statement_must_be_a_str(self, mem):
        with pytest.raises(ValidationError, match="must be a str"):
            mem.execute(b"SELECT * FROM t")  # type: ignore[arg-type]


class TestSyntaxErrors:
    def test_the_error_names_line_column_what_was_expected_and_what_was_found(self, mem):
        with pytest.raises(ValidationError) as info:
            mem.execute("SELECT a, b.c FORM t")
        assert str(info.value) == (
            "PartiQL syntax error at line 1, column 15: expected ',' or FROM, found 'FORM'"
        )

    def test_select_star_form(self, mem):
        with pytest.raises(
            ValidationError,
            match=re.escape(
                "PartiQL syntax error at line 1, column 10: expected FROM, found 'FORM'"
            ),
        ):
            mem.execute("SELECT * FORM t")

    def test_positions_count_lines_and_columns_from_one(self, mem):
        statement = "SELECT *\nFROM t\nWHERE pk = 'a'\n  AND sk >> 'b'"
        with pytest.raises(ValidationError, match=r"at line 4, column 10: expected a comparison"):
            mem.execute(statement)

    def test_the_end_of_the_statement_is_named(self, mem):
        with pytest.raises(
            ValidationError, match=r"line 2, column 12: expected a condition, found the end"
        ):
            mem.execute("SELECT * FROM t WHERE\n  a = 1 AND")

    def test_positions_after_multi_line_strings_and_comments(self, mem):
        with pytest.raises(ValidationError, match=r"line 3, column 4: expected the end"):
            mem.execute("SELECT * FROM t WHERE a = 'x\ny' /* a\n*/ b")

    @pytest.mark.parametrize(
        ("statement", "message"),
        [
            ("", r"column 1: expected SELECT, INSERT, UPDATE or DELETE, found the end"),
            (
                "SELEC * FROM t",
                r"column 1: expected SELECT, INSERT, UPDATE or DELETE, found 'SELEC'",
            ),
            ("SELECT FROM t", r"column 8: expected '\*' or an attribute name"),
            ("SELECT * FROM", r"column 14: expected a table name, found the end"),
            ("SELECT * FROM t WHERE", r"column 22: expected a condition"),
            ("SELECT * FROM t WHERE a", r"column 24: expected a comparison"),
            ("SELECT * FROM t WHERE a = ", r"column 27: expected an attribute path or a value"),
            ("SELECT * FROM t WHERE (a = 1", r"column 29: expected '\)', AND or OR"),
            ("SELECT * FROM t WHERE a BETWEEN 1 2", r"column 35: expected AND between the bounds"),
            ("SELECT * FROM t WHERE a IN 1", r"column 28: expected '\[' or '\('"),
            ("SELECT * FROM t WHERE a IN []", r"column 28: the IN list must not be empty"),
            ("SELECT * FROM t WHERE a IS EMPTY", r"column 28: expected MISSING or NULL after IS"),
            ("SELECT * FROM t WHERE 1 IS NULL", r"column 28: IS NULL applies to an attribute path"),
            (
                "SELECT * FROM t WHERE nope(a)",
                r"column 23: expected a condition, found 'nope' \(known functions",
            ),
            ("SELECT * FROM t WHERE a = 'open", r"column 27: unterminated string"),
            ('SELECT "open FROM t', r"column 8: unterminated quoted identifier"),
            ("SELECT * FROM t /* never closed", r"column 17: unterminated comment"),
            ("SELECT * FROM t WHERE a = 1 ^", r"column 29: unexpected character '\^'"),
            ("SELECT * FROM t WHERE a = 12abc", r"column 27: a number runs into a word"),
            ("SELECT * FROM t WHERE a = 1e", r"column 27: malformed number"),
            ("SELECT * FROM t LIMIT -1", r"column 23: expected a non-negative integer after LIMIT"),
            (
                "SELECT * FROM t LIMIT 1.5",
                r"column 23: expected a non-negative integer after LIMIT",
            ),
            (
                "SELECT * FROM t OFFSET 1 LIMIT 2",
                r"column 26: expected the end.*LIMIT before OFFSET",
            ),
            ("SELECT * FROM t WHERE pk = 'a' ORDER sk", r"column 38: expected BY after ORDER"),
            ("SELECT * FROM t WHERE pk = 'a' ORDER BY sk, n", r"column 43: ORDER BY takes one"),
            ("SELECT * FROM t extra", r"column 17: expected the end of the statement"),
            ("INSERT t VALUE {}", r"column 8: expected INTO after INSERT"),
            ("INSERT INTO t VALUES {'pk': 'a'}", r"column 15: expected VALUE.*inserts one item"),
            ("INSERT INTO t VALUE {'pk': 'a'", r"column 31: expected ',' or '\}'"),
            ("INSERT INTO t VALUE {'a' 1}", r"column 26: expected ':' after the map key"),
            ("INSERT INTO t VALUE [1, 2", r"column 26: expected ',' or '\]'"),
            ("UPDATE t WHERE pk = 'a'", r"column 10: expected SET or REMOVE"),
            ("UPDATE t SET a 1 WHERE pk = 'a'", r"column 16: expected '=' after a in SET"),
            ("UPDATE t SET a = 1", r"column 19: expected ',', SET, REMOVE or WHERE"),
            ("UPDATE t SET a = nope(a, 1) WHERE pk = 'a'", r"column 18: expected a SET value"),
            ("DELETE t WHERE pk = 'a'", r"column 8: expected FROM after DELETE"),
            ("DELETE FROM t", r"column 14: expected WHERE.*DELETE needs WHERE"),
            ("SELECT a[x] FROM t", r"column 10: expected a list index"),
        ],
    )
    def test_error(self, mem, statement, message):
        with pytest.raises(ValidationError, match="PartiQL (syntax )?error at line 1, " + message):
            mem.execute(statement)

    def test_deeply_nested_values_and_conditions_are_refused_not_crashing(self, mem):
        with pytest.raises(ValidationError, match="nest deeper than the limit"):
            mem.execute("INSERT INTO t VALUE {'pk': 'a', 'l': " + "[" * 40 + "]" * 40 + "}")
        with pytest.raises(ValidationError, match="nest deeper than the limit"):
            mem.execute("SELECT * FROM t WHERE " + "(" * 100 + "a = 1" + ")" * 100)
        with pytest.raises(ValidationError, match="nest deeper than the limit"):
            mem.execute("SELECT * FROM t WHERE " + "NOT " * 100 + "a = 1")
        nested = "list_append(" * 2000 + "x" + ", [1])" * 2000
        with pytest.raises(ValidationError, match="nest deeper than the limit"):
            mem.execute(f"UPDATE t SET x = {nested} WHERE pk = 'a' AND sk = 'b'")

    def test_long_and_chains_do_not_recurse(self, mem):
        chain = " AND ".join(["n = 1"] * 2000)
        # Planning handles it; the generated filter is then over the 4 KB expression limit.
        with pytest.raises(
            ValidationError, match="Expression size has exceeded the maximum allowed size"
        ):
            mem.execute(f"SELECT * FROM t WHERE {chain}")

    def test_in_lists_are_limited_to_100_values(self, mem):
        values = ", ".join(str(i) for i in range(101))
        with pytest.raises(
            ValidationError, match=r"column 25: IN has 101 values; the limit is 100"
        ):
            mem.execute(f"SELECT * FROM t WHERE n IN [{values}]")


class TestCaching:
    def test_a_statement_is_parsed_and_planned_once(self, mem):
        from keystone.partiql.planner import cached_plan as planned

        parse.cache_clear()
        planned.cache_clear()
        for sk in ("1", "2", "3"):
            mem.execute("SELECT * FROM t WHERE pk = ? AND sk = ?", ["a", sk])
        assert parse.cache_info().misses == 1
        assert planned.cache_info().misses == 1 and planned.cache_info().hits == 2

    def test_the_generated_expressions_are_the_same_text_whatever_the_values(self, mem):
        from keystone.partiql import prepare

        plan = prepare(mem, "SELECT * FROM t WHERE n > ? AND n < 10")
        assert plan is prepare(mem, "SELECT * FROM t WHERE n > ? AND n < 10")
        assert plan.filter == "(#p0 > :p0 AND #p0 < :p1)"  # type: ignore[attr-defined]
        assert plan.bindings.names == {"#p0": "n"}
