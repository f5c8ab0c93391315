"""DynamoDB's answer to the letter: each test pins one behaviour of issue 14.

Inputs that used to crash the library, requests DynamoDB refuses (or accepts)
where the library did otherwise, DynamoDB's limits, and the API additions of
SPEC sections 3 and 4. Every test runs on a real database file.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import keystone
from keystone import ConditionalCheckFailed, TransactionCanceled, ValidationError, sk
from keystone.types import parse_number


def snapshot(db: keystone.Database) -> list[str]:
    return sorted(repr(item) for item in db.scan_all())


@pytest.fixture
def filled(db: keystone.Database) -> keystone.Database:
    db.put({"pk": "a", "sk": "1", "n": 1, "s": "text", "l": [1, 2], "m": {"k": "v"}})
    db.put({"pk": "a", "sk": "2", "n": 2})
    db.put({"pk": "b", "sk": "1", "n": 3})
    return db


class TestInputsThatUsedToCrash:
    @pytest.mark.parametrize(
        "value, message",
        [
            (Decimal("1.0e100000000"), "Number overflow. Attempting to store a number"),
            (Decimal("-1.0e100000000"), "Number overflow. Attempting to store a number"),
            (Decimal("1e-100000000"), "Number underflow. Attempting to store a number"),
            (10**200000, "Number overflow. Attempting to store a number"),
            (Decimal("1" * 39), "Attempting to store more than 38 significant digits"),
        ],
        ids=["huge", "huge-negative", "tiny", "huge-int", "39-digits"],
    )
    def test_out_of_range_numbers_are_dynamodbs_validation_error(
        self, filled: keystone.Database, value: Any, message: str
    ) -> None:
        before = snapshot(filled)
        with pytest.raises(ValidationError, match=message) as info:
            filled.put({"pk": "x", "sk": "1", "v": value})
        assert len(str(info.value)) < 200  # a huge number is never echoed whole
        assert snapshot(filled) == before

    @pytest.mark.parametrize(
        "text",
        [
            "(" * 2000 + "n = :v" + ")" * 2000,
            " OR ".join(["n = :v"] * 450),
            "NOT " * 900 + "n = :v",
            " AND ".join(["(n = :v OR (n = :v AND (n = :v OR n = :v)))"] * 60),
        ],
        ids=["parentheses", "or-chain", "not-chain", "alternation"],
    )
    def test_deep_or_long_conditions_are_a_validation_error_not_a_recursion_error(
        self, filled: keystone.Database, text: str
    ) -> None:
        before = snapshot(filled)
        with pytest.raises(ValidationError, match="^Invalid ConditionExpression: "):
            filled.put({"pk": "a", "sk": "1"}, condition=text, values={":v": 1})
        assert snapshot(filled) == before

    def test_nesting_up_to_the_limit_parses_and_evaluates(self, filled: keystone.Database) -> None:
        text = "(" * 64 + "n = :v" + ")" * 64
        assert filled.query("a", filter=text, values={":v": 2}).count == 1
        assert filled.query("a", filter="NOT NOT NOT n = :v", values={":v": 2}).count == 1
        chain = " OR ".join(["n = :v"] * 150)  # 150 comparisons and 149 ORs
        assert filled.query("a", filter=chain, values={":v": 2}).count == 1

    def test_three_hundred_and_one_operators_are_refused_with_dynamodbs_message(
        self, filled: keystone.Database
    ) -> None:
        chain = " OR ".join(["n = :v"] * 151)  # 151 comparisons and 150 ORs
        with pytest.raises(
            ValidationError,
            match="The expression contains too many operators; operator count: 301",
        ):
            filled.query("a", filter=chain, values={":v": 2})

    def test_deeply_nested_update_functions_are_a_validation_error(
        self, filled: keystone.Database
    ) -> None:
        text = "SET n = " + "if_not_exists(n, " * 300 + ":v" + ")" * 300
        with pytest.raises(ValidationError, match="^Invalid UpdateExpression: "):
            filled.update("a", "1", update=text, values={":v": 1})

    @pytest.mark.parametrize(
        "call",
        [
            lambda db: db.put({"pk": "x", "sk": "1", "v": "\udcff"}),
            lambda db: db.put({"pk": "x\udcff", "sk": "1"}),
            lambda db: db.put({"pk": "x", "sk": "1", "\udcff": 1}),
            lambda db: db.put({"pk": "x", "sk": "1", "m": {"\udcff": 1}}),
            lambda db: db.put({"pk": "x", "sk": "1", "s": {"\udcff"}}),
            lambda db: db.get("a", "\udcff"),
            lambda db: db.query("a", filter="n = :v", values={":v": "\udcff"}),
            lambda db: db.query("a", filter="#n = :v", names={"#n": "\udcff"}, values={":v": 1}),
            lambda db: db.query("a", filter="n = :v\udcff", values={":v": 1}),
            lambda db: db.execute("SELECT * FROM t WHERE pk = '\udcff'"),
        ],
        ids=[
            "value",
            "key",
            "name",
            "map-key",
            "set",
            "get",
            "placeholder",
            "names",
            "text",
            "sql",
        ],
    )
    def test_a_lone_surrogate_anywhere_is_a_validation_error(
        self, filled: keystone.Database, call: Any
    ) -> None:
        before = snapshot(filled)
        with pytest.raises(ValidationError):
            call(filled)
        assert snapshot(filled) == before


class TestUpdateCreatesTheItem:
    def test_remove_only_update_of_a_missing_item_creates_the_key_only_item(
        self, db: keystone.Database
    ) -> None:
        assert db.update("k", "1", update="REMOVE a, b.c") == {"pk": "k", "sk": "1"}
        assert db.get("k", "1") == {"pk": "k", "sk": "1"}

    def test_delete_only_update_of_a_missing_item_creates_the_key_only_item(
        self, db: keystone.Database
    ) -> None:
        db.update("k", "2", update="DELETE s :s", values={":s": {"x"}})
        assert db.get("k", "2") == {"pk": "k", "sk": "2"}

    def test_update_without_actions_creates_the_key_only_item(self, db: keystone.Database) -> None:
        db.update("k", "3")
        assert db.get("k", "3") == {"pk": "k", "sk": "3"}

    def test_remove_below_a_missing_map_raises_only_when_the_item_exists(
        self, filled: keystone.Database
    ) -> None:
        with pytest.raises(ValidationError, match="invalid for update"):
            filled.update("a", "2", update="REMOVE nothere.b")
        assert filled.get("a", "2") == {"pk": "a", "sk": "2", "n": 2}


class TestConstantOperands:
    @pytest.mark.parametrize(
        "text, values, message",
        [
            (":a < :b", {":a": "x", ":b": 1}, "Type mismatch for operator or function"),
            (":a <= :b", {":a": True, ":b": True}, "operand type: BOOL"),
            ("n BETWEEN :a AND :b", {":a": 5, ":b": 1}, "The BETWEEN operator requires upper"),
            ("n BETWEEN :a AND :b", {":a": "a", ":b": 1}, "Type mismatch"),
            ("n BETWEEN :a AND :b", {":a": [1], ":b": [2]}, "operand type: L"),
            ("begins_with(s, :p)", {":p": 1}, "operator or function: begins_with, operand type: N"),
            ("size(:v) > :n", {":v": 5, ":n": 1}, "operator or function: size, operand type: N"),
            ("attribute_type(s, :t)", {":t": "STRING"}, "Invalid attribute type name found"),
        ],
    )
    def test_constants_that_can_never_match_are_refused_before_reading(
        self, filled: keystone.Database, text: str, values: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ValidationError, match=message):
            filled.query("a", filter=text, values=values)

    @pytest.mark.parametrize(
        "text, values, expected",
        [
            ("begins_with(:a, :b)", {":a": "hello", ":b": "he"}, 2),
            ("begins_with(:a, :b)", {":a": "hello", ":b": "x"}, 0),
            ("attribute_type(:a, :t)", {":a": 1, ":t": "N"}, 2),
            ("size(:a) = :n", {":a": "abc", ":n": 3}, 2),
            ("contains(:a, :b)", {":a": "haystack", ":b": "st"}, 2),
            ("contains(:a, :b)", {":a": "haystack", ":b": "x"}, 0),
            (":a < :b", {":a": 1, ":b": 2}, 2),
        ],
    )
    def test_functions_and_comparisons_of_constants_are_evaluated(
        self, filled: keystone.Database, text: str, values: dict[str, Any], expected: int
    ) -> None:
        assert filled.query("a", filter=text, values=values).count == expected

    def test_an_attribute_against_a_constant_of_another_type_is_just_false(
        self, filled: keystone.Database
    ) -> None:
        assert filled.query("a", filter="n < :v", values={":v": "x"}).count == 0
        assert filled.query("a", filter="l < :v", values={":v": [9]}).count == 0


class TestGrammar:
    @pytest.mark.parametrize("name", ["status", "Name", "COUNT", "data", "value", "size"])
    def test_reserved_words_need_a_placeholder(self, filled: keystone.Database, name: str) -> None:
        with pytest.raises(
            ValidationError,
            match=f"^Invalid FilterExpression: Attribute name is a reserved keyword; "
            f"reserved keyword: {name}$",
        ):
            filled.query("a", filter=f"{name} = :v", values={":v": 1})
        assert filled.query("a", filter="#x = :v", names={"#x": name}, values={":v": 1}).count == 0

    @pytest.mark.parametrize("text", ["_a = :v", "1a = :v", "a$ = :v", "é = :v"])
    def test_bare_names_start_with_a_letter(self, filled: keystone.Database, text: str) -> None:
        with pytest.raises(ValidationError, match="Syntax error; token:"):
            filled.query("a", filter=text, values={":v": 1})

    def test_list_append_inside_list_append_is_refused(self, filled: keystone.Database) -> None:
        with pytest.raises(
            ValidationError, match="The function is not allowed to be used this way"
        ):
            filled.update(
                "a", "1", update="SET l = list_append(list_append(l, :x), :x)", values={":x": [3]}
            )

    def test_list_append_of_if_not_exists_is_fine(self, filled: keystone.Database) -> None:
        new = filled.update(
            "a", "2", update="SET l = list_append(if_not_exists(l, :e), :x)",
            values={":e": [], ":x": [3]},
        )  # fmt: skip
        assert new is not None and new["l"] == [3]

    def test_a_projection_33_levels_deep_is_refused(self, filled: keystone.Database) -> None:
        with pytest.raises(ValidationError, match="nesting levels: 33"):
            filled.get("a", "1", projection=".".join(["m"] * 33))
        assert filled.get("a", "1", projection=".".join(["m"] * 32)) == {}

    def test_list_indexes_stop_at_dynamodbs_bound(self, filled: keystone.Database) -> None:
        assert filled.get("a", "1", projection="l[4294967294]") == {}
        with pytest.raises(ValidationError, match=r"index: \[4294967295\]"):
            filled.get("a", "1", projection="l[4294967295]")


class TestNumbers:
    @pytest.mark.parametrize("text", [" 1", "1 ", "1_000", "0x10", "1e", "--1", "NaN", "Infinity"])
    def test_text_that_is_not_dynamodbs_number_form_is_refused(self, text: str) -> None:
        with pytest.raises(
            ValidationError, match="The parameter cannot be converted to a numeric value"
        ):
            parse_number(text)

    @pytest.mark.parametrize(
        "text, value",
        [
            ("1E-130", Decimal("1E-130")),
            ("9.9999999999999999999999999999999999999E+125", Decimal("9.9999999999999999999999999999999999999E+125")),
            ("-0.5", Decimal("-0.5")),
            (".5", Decimal("0.5")),
            ("+7", 7),
            ("1e3", 1000),
            ("00012.50", Decimal("12.5")),
        ],
    )  # fmt: skip
    def test_dynamodbs_number_text_is_accepted(self, text: str, value: Any) -> None:
        assert parse_number(text) == value

    @pytest.mark.parametrize(
        "text, message",
        [
            ("1E+126", "Number overflow"),
            ("1E-131", "Number underflow"),
            ("1e" + "9" * 40, "Number overflow"),
            ("1" * 39, "more than 38 significant digits"),
        ],
    )
    def test_numbers_out_of_range_get_dynamodbs_message(self, text: str, message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            parse_number(text)


class TestLimits:
    def test_a_transaction_of_101_parts_is_refused(self, db: keystone.Database) -> None:
        parts = [keystone.Put({"pk": f"p{i}"}) for i in range(101)]
        with pytest.raises(ValidationError, match="less than or equal to 100"):
            db.transact_write(parts)
        assert db.scan().count == 0
        db.transact_write(parts[:100])
        assert db.scan().count == 100

    def test_a_transaction_over_4_mb_is_refused(self, db: keystone.Database) -> None:
        big = "x" * 390_000
        parts = [keystone.Put({"pk": f"p{i}", "v": big}) for i in range(11)]
        with pytest.raises(ValidationError, match="Transaction request size has exceeded"):
            db.transact_write(parts)
        assert db.scan().count == 0

    def test_two_parts_on_one_item_get_dynamodbs_message(self, db: keystone.Database) -> None:
        with pytest.raises(
            ValidationError,
            match="Transaction request cannot include multiple operations on one item",
        ):
            db.transact_write([keystone.Put({"pk": "a"}), keystone.Delete("a")])

    def test_a_million_scan_segments_are_disjoint_and_cover_the_table(
        self, db: keystone.Database
    ) -> None:
        db.batch_write(puts=[{"pk": f"u{i}"} for i in range(40)])
        total = 1_000_000
        # Segment s reads stripes [s * 65536 // total, (s + 1) * 65536 // total): each of
        # the 65,536 stripes has one owning segment, and the other segments are empty.
        owners = {((j + 1) * total + 65_535) // 65_536 - 1 for j in range(65_536)}
        seen: list[str] = []
        pages = 0
        for segment in sorted(owners):
            page = db.scan(segment=segment, total_segments=total)
            seen += [i["pk"] for i in page]
            pages += 1
        assert pages == 65_536
        assert sorted(seen) == sorted(f"u{i}" for i in range(40))  # disjoint and covering
        with pytest.raises(ValidationError, match="less than or equal to 1000000"):
            db.scan(total_segments=total + 1)

    def test_attribute_names_up_to_64_kb(self, db: keystone.Database) -> None:
        db.put({"pk": "a", "n" * 65_535: 1})
        with pytest.raises(ValidationError, match="the limit is 65535 bytes"):
            db.put({"pk": "b", "n" * 65_536: 1})
        assert db.get("b") is None


class TestKeyConditionQueries:
    def test_partition_equality_and_each_sort_key_form(self, filled: keystone.Database) -> None:
        def sks(text: str, **values: Any) -> list[str]:
            page = filled.query(key_condition=text, values={f":{k}": v for k, v in values.items()})
            return [item["sk"] for item in page]

        assert sks("pk = :p", p="a") == ["1", "2"]
        assert sks("pk = :p AND sk = :s", p="a", s="2") == ["2"]
        assert sks("pk = :p AND sk > :s", p="a", s="1") == ["2"]
        assert sks("pk = :p AND sk <= :s", p="a", s="1") == ["1"]
        assert sks(":s < sk AND pk = :p", p="a", s="1") == ["2"]
        assert sks("pk = :p AND sk BETWEEN :x AND :y", p="a", x="1", y="2") == ["1", "2"]
        assert sks("pk = :p AND begins_with(sk, :x)", p="a", x="2") == ["2"]
        page = filled.query(key_condition="#k = :p", names={"#k": "pk"}, values={":p": "b"})
        assert page.count == 1

    @pytest.mark.parametrize(
        "text, message",
        [
            ("sk = :s", "Query condition missed key schema element: pk"),
            ("pk < :p", "Query key condition not supported"),
            ("pk = :p OR sk = :s", "Invalid operator used in KeyConditionExpression: OR"),
            ("pk = :p AND sk <> :s", "Invalid operator used in KeyConditionExpression: <>"),
            ("pk = :p AND n = :s", "Query key condition not supported"),
            ("pk = :p AND pk = :s", "KeyConditionExpressions must only contain one condition"),
            ("pk = :p AND contains(sk, :s)", "Invalid operator used in KeyConditionExpression"),
        ],
    )
    def test_what_dynamodb_refuses_in_a_key_condition(
        self, filled: keystone.Database, text: str, message: str
    ) -> None:
        values = {":p": "a", ":s": "1"}
        used = {k: v for k, v in values.items() if k in text}
        with pytest.raises(ValidationError, match=message):
            filled.query(key_condition=text, values=used)

    def test_key_condition_and_pk_together_are_refused(self, filled: keystone.Database) -> None:
        with pytest.raises(ValidationError, match="either pk/sk or key_condition"):
            filled.query("a", key_condition="pk = :p", values={":p": "a"})


class TestSelect:
    def test_count_only_query_and_scan(self, filled: keystone.Database) -> None:
        page = filled.query("a", select="COUNT")
        assert (page.items, page.count, page.scanned_count) == ([], 2, 2)
        page = filled.scan(select="COUNT", filter="n > :n", values={":n": 1})
        assert (page.items, page.count, page.scanned_count) == ([], 2, 3)

    def test_count_with_a_projection_is_refused(self, filled: keystone.Database) -> None:
        with pytest.raises(ValidationError, match="when choosing to get only the Count"):
            filled.query("a", select="COUNT", projection="n")

    def test_all_projected_attributes_needs_an_index(self, filled: keystone.Database) -> None:
        with pytest.raises(ValidationError, match="can be used only when Querying using an"):
            filled.scan(select="ALL_PROJECTED_ATTRIBUTES")

    def test_an_unknown_select_is_refused(self, filled: keystone.Database) -> None:
        with pytest.raises(ValidationError, match="failed to satisfy constraint"):
            filled.scan(select="SOME")  # type: ignore[arg-type]


@pytest.fixture
def indexed(tmp_path: Any) -> Any:
    schema = keystone.Schema(
        local_indexes=[keystone.LocalIndex("by_rank", "rank", projection="KEYS_ONLY")],
        global_indexes=[keystone.GlobalIndex("by_kind", "kind", "rank", projection=["n"])],
    )
    with keystone.Database.open(tmp_path / "ix.keystone", schema=schema) as db:
        db.put({"pk": "p", "sk": "1", "rank": "b", "kind": "k", "n": 1, "extra": "e1"})
        db.put({"pk": "p", "sk": "2", "rank": "a", "kind": "k", "n": 2, "extra": "e2"})
        yield db


class TestIndexProjections:
    def test_a_local_index_fetches_attributes_it_does_not_project(self, indexed: Any) -> None:
        page = indexed.query("p", index="by_rank", projection="sk, extra")
        assert page.items == [{"sk": "2", "extra": "e2"}, {"sk": "1", "extra": "e1"}]
        page = indexed.query("p", index="by_rank", select="ALL_ATTRIBUTES")
        assert [i["extra"] for i in page] == ["e2", "e1"]

    def test_a_local_index_filter_on_what_it_does_not_project_reads_the_table(
        self, indexed: Any
    ) -> None:
        page = indexed.query("p", index="by_rank", filter="extra = :e", values={":e": "e1"})
        assert page.items == [{"pk": "p", "sk": "1", "rank": "b"}]  # what the index projects
        page = indexed.query(
            "p", index="by_rank", filter="extra = :e", values={":e": "e2"}, projection="extra"
        )
        assert page.items == [{"extra": "e2"}]

    def test_a_local_index_alone_gives_what_it_projects(self, indexed: Any) -> None:
        page = indexed.query("p", index="by_rank")
        assert page.items == [
            {"pk": "p", "sk": "2", "rank": "a"},
            {"pk": "p", "sk": "1", "rank": "b"},
        ]

    def test_a_global_index_never_fetches_from_the_table(self, indexed: Any) -> None:
        page = indexed.query("k", index="by_kind", projection="n, #r", names={"#r": "rank"})
        assert page.items == [{"n": 2, "rank": "a"}, {"n": 1, "rank": "b"}]
        with pytest.raises(ValidationError, match="Select type ALL_ATTRIBUTES is not supported"):
            indexed.query("k", index="by_kind", select="ALL_ATTRIBUTES")

    def test_a_global_index_asked_to_project_what_it_does_not_is_refused(
        self, indexed: Any
    ) -> None:
        # DynamoDB: "If you query or scan a global secondary index, you can only
        # request attributes that are projected into the index."
        message = (
            "One or more parameter values were invalid: Global secondary index by_kind "
            "does not project [extra, z]"
        )
        for read in (indexed.query, indexed.scan):
            args = ("k",) if read == indexed.query else ()
            with pytest.raises(ValidationError) as err:
                read(*args, index="by_kind", projection="n, extra.x, z[0]")
            assert str(err.value) == message

    def test_a_global_index_filter_on_what_it_does_not_project_is_refused(
        self, indexed: Any
    ) -> None:
        message = (
            "One or more parameter values were invalid: Secondary index by_kind does not "
            "project one or more filter attributes: [extra]"
        )
        with pytest.raises(ValidationError) as err:
            indexed.query("k", index="by_kind", filter="extra = :e", values={":e": "e1"})
        assert str(err.value) == message
        with pytest.raises(ValidationError) as err:
            indexed.scan(index="by_kind", filter="#x = :e", names={"#x": "extra"}, values={":e": 1})
        assert str(err.value) == message
        page = indexed.query("k", index="by_kind", filter="n = :n", values={":n": 1})
        assert page.items == [{"pk": "p", "sk": "1", "kind": "k", "rank": "b", "n": 1}]

    def test_a_query_filter_on_the_queried_key_attributes_is_refused(self, indexed: Any) -> None:
        # DynamoDB: "A FilterExpression does not allow key attributes."
        cases = [
            ({"pk": "p", "filter": "sk = :v"}, "sk"),
            ({"pk": "p", "filter": "#k = :v", "names": {"#k": "pk"}}, "pk"),
            ({"pk": "p", "index": "by_rank", "filter": "#r = :v", "names": {"#r": "rank"}}, "rank"),
            ({"pk": "k", "index": "by_kind", "filter": "kind = :v OR n = :v"}, "kind"),
        ]
        for kwargs, attr in cases:
            with pytest.raises(ValidationError) as err:
                indexed.query(values={":v": "x"}, **kwargs)
            assert str(err.value) == (
                "Filter Expression can only contain non-primary key attributes: "
                f"Primary key attribute: {attr}"
            )
        # The table's keys are not the keys of a global index: it may filter on them;
        # and a scan may filter on any attribute.
        page = indexed.query("k", index="by_kind", filter="sk = :v", values={":v": "1"})
        assert [i["sk"] for i in page] == ["1"]
        assert [i["sk"] for i in indexed.scan(filter="sk = :v", values={":v": "2"})] == ["2"]

    def test_an_index_read_does_not_return_the_ttl_attribute_it_does_not_project(
        self, tmp_path: Any
    ) -> None:
        schema = keystone.Schema(
            ttl_attribute="exp",
            local_indexes=[keystone.LocalIndex("by_rank", "rank", projection="KEYS_ONLY")],
            global_indexes=[keystone.GlobalIndex("by_kind", "kind", projection=["exp"])],
        )
        with keystone.Database.open(tmp_path / "ttl.keystone", schema=schema) as db:
            db.put({"pk": "p", "sk": "1", "rank": "r", "kind": "k", "exp": 4102444800})
            assert db.query("p", index="by_rank").items == [{"pk": "p", "sk": "1", "rank": "r"}]
            assert db.query("k", index="by_kind").items == [
                {"pk": "p", "sk": "1", "kind": "k", "exp": 4102444800}
            ]


class TestStartKeys:
    def test_a_start_with_other_attributes_is_refused(self, filled: keystone.Database) -> None:
        with pytest.raises(ValidationError, match="The provided starting key is invalid"):
            filled.query("a", start={"pk": "a", "sk": "1", "n": 1})
        with pytest.raises(ValidationError, match="The provided starting key is invalid"):
            filled.scan(start={"pk": "a", "sk": "1", "n": 1})

    def test_an_index_start_with_other_attributes_is_refused(self, indexed: Any) -> None:
        page = indexed.query("p", index="by_rank", limit=1)
        assert page.last_key == {"pk": "p", "sk": "2", "rank": "a"}
        nxt = indexed.query("p", index="by_rank", start=page.last_key)
        assert [i["sk"] for i in nxt] == ["1"]
        with pytest.raises(ValidationError, match="The provided starting key is invalid"):
            indexed.query("p", index="by_rank", start={**page.last_key, "extra": "e2"})

    def test_a_start_of_another_partition_is_refused(self, filled: keystone.Database) -> None:
        with pytest.raises(ValidationError, match="The provided starting key is invalid"):
            filled.query("a", start={"pk": "b", "sk": "1"})


class TestOldItemOnFailedCondition:
    def test_put_update_and_delete_carry_the_item_when_asked(
        self, filled: keystone.Database
    ) -> None:
        old = filled.get("a", "2")
        calls = [
            lambda **kw: filled.put({"pk": "a", "sk": "2"}, condition="n = :v", **kw),
            lambda **kw: filled.update("a", "2", update="SET x = :v", condition="n = :v", **kw),
            lambda **kw: filled.delete("a", "2", condition="n = :v", **kw),
        ]
        for call in calls:
            with pytest.raises(ConditionalCheckFailed) as info:
                call(values={":v": 99}, return_values_on_condition_check_failure="ALL_OLD")
            assert info.value.item == old
            with pytest.raises(ConditionalCheckFailed) as info:
                call(values={":v": 99})
            assert info.value.item is None
        assert filled.get("a", "2") == old

    def test_each_cancelled_part_carries_its_item_when_asked(
        self, filled: keystone.Database
    ) -> None:
        with pytest.raises(TransactionCanceled) as info:
            filled.transact_write(
                [
                    keystone.Put({"pk": "new"}),
                    keystone.ConditionCheck(
                        "a", "1", condition="n = :v",
                        return_values_on_condition_check_failure="ALL_OLD",
                    ),
                    keystone.Delete("a", "2", condition="n = :v"),
                ],
                values={":v": 99},
            )  # fmt: skip
        assert info.value.reasons == [None, "ConditionalCheckFailed", "ConditionalCheckFailed"]
        assert info.value.items == [None, filled.get("a", "1"), None]
        assert str(info.value).startswith("Transaction cancelled, please refer cancellation")

    def test_an_unknown_choice_is_refused(self, filled: keystone.Database) -> None:
        with pytest.raises(ValidationError, match="return_values_on_condition_check_failure"):
            filled.put({"pk": "z"}, return_values_on_condition_check_failure="ALL_NEW")  # type: ignore[arg-type]


class TestBatchAndTransactGetProjections:
    def test_batch_get_projects_each_item(self, filled: keystone.Database) -> None:
        got = filled.batch_get([("a", "1"), ("b", "1"), ("zz", "1")], projection="#n, m.k",
                               names={"#n": "n"})  # fmt: skip
        assert got == [{"n": 1, "m": {"k": "v"}}, {"n": 3}]

    def test_transact_get_projects_each_item_and_keeps_missing_ones(
        self, filled: keystone.Database
    ) -> None:
        got = filled.transact_get([("a", "1"), ("zz", "1")], projection="s")
        assert got == [{"s": "text"}, None]

    def test_an_unused_name_is_refused(self, filled: keystone.Database) -> None:
        with pytest.raises(ValidationError, match="unused in expressions"):
            filled.batch_get([("a", "1")], projection="n", names={"#x": "x"})


def test_sort_key_helpers_still_work_next_to_key_conditions(filled: keystone.Database) -> None:
    assert [i["sk"] for i in filled.query("a", sk.gt("1"))] == ["2"]


class TestTransactionTokens:
    def parts(self, amount: int = 1) -> list[Any]:
        return [
            keystone.Update("acct", update="ADD n :a"),
            keystone.Put({"pk": "log", "amount": amount}),
        ]

    def test_the_same_token_and_parts_apply_once(self, db: keystone.Database) -> None:
        for _ in range(3):
            db.transact_write(self.parts(), values={":a": 5}, token="t-1")
        assert db.get("acct") == {"pk": "acct", "n": 5}
        db.transact_write(self.parts(), values={":a": 5}, token="t-2")
        assert db.get("acct") == {"pk": "acct", "n": 10}

    def test_the_same_token_with_other_parts_is_refused(self, db: keystone.Database) -> None:
        db.transact_write(self.parts(), values={":a": 5}, token="t-1")
        before = snapshot(db)
        with pytest.raises(keystone.IdempotentParameterMismatch, match="idempotent token"):
            db.transact_write(self.parts(), values={":a": 6}, token="t-1")
        with pytest.raises(ValidationError):  # it is a ValidationError too
            db.transact_write(self.parts(amount=2), values={":a": 5}, token="t-1")
        assert snapshot(db) == before

    def test_a_token_is_remembered_across_reopening(self, tmp_path: Any) -> None:
        path = tmp_path / "tok.keystone"
        with keystone.Database.open(path) as db:
            db.transact_write(self.parts(), values={":a": 5}, token="durable")
        with keystone.Database.open(path) as db:
            db.transact_write(self.parts(), values={":a": 5}, token="durable")
            assert db.get("acct") == {"pk": "acct", "n": 5}

    def test_a_cancelled_transaction_does_not_use_up_its_token(self, db: keystone.Database) -> None:
        failing = [keystone.ConditionCheck("acct", condition="attribute_exists(pk)")]
        with pytest.raises(TransactionCanceled):
            db.transact_write(failing, token="t-3")
        db.put({"pk": "acct"})
        db.transact_write(failing, token="t-3")  # now it holds, and it runs

    @pytest.mark.parametrize("token", ["", "x" * 37, 7])
    def test_a_token_of_the_wrong_shape_is_refused(self, db: keystone.Database, token: Any) -> None:
        with pytest.raises(ValidationError, match="1 to 36 characters"):
            db.transact_write(self.parts(), values={":a": 1}, token=token)
        assert db.scan().count == 0

    def test_a_token_is_forgotten_after_ten_minutes(
        self, db: keystone.Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import keystone.handles as handles_module

        clock = [1_000_000_000_000]
        monkeypatch.setattr(handles_module, "now_ms", lambda: clock[0])
        db.transact_write(self.parts(), values={":a": 5}, token="old")
        clock[0] += 10 * 60 * 1000 - 1
        db.transact_write(self.parts(), values={":a": 5}, token="old")
        assert db.get("acct") == {"pk": "acct", "n": 5}
        clock[0] += 2
        db.transact_write(self.parts(), values={":a": 6}, token="old")  # a new request now
        assert db.get("acct") == {"pk": "acct", "n": 11}


class TestKeyConditionsOnIndexes:
    def test_an_index_query_takes_the_index_keys(self, indexed: Any) -> None:
        page = indexed.query(
            index="by_kind",
            key_condition="kind = :k AND #r BETWEEN :a AND :b",
            names={"#r": "rank"},
            values={":k": "k", ":a": "a", ":b": "a"},
        )
        assert [i["n"] for i in page] == [2]

    def test_the_tables_keys_are_not_the_indexs(self, indexed: Any) -> None:
        with pytest.raises(
            ValidationError, match="Query condition missed key schema element: kind"
        ):
            indexed.query(index="by_kind", key_condition="pk = :p", values={":p": "p"})


class TestNamingRules:
    def test_a_new_index_name_has_at_least_three_characters(self, tmp_path: Any) -> None:
        short = keystone.Schema(global_indexes=[keystone.GlobalIndex("ab", "kind")])
        with pytest.raises(ValidationError, match="must be 3-255 characters"):
            keystone.Database.open(tmp_path / "short.keystone", schema=short)
        ok = keystone.Schema(global_indexes=[keystone.GlobalIndex("abc", "kind")])
        keystone.Database.open(tmp_path / "ok.keystone", schema=ok).close()

    def test_key_attribute_names_are_at_most_255_bytes(self, tmp_path: Any) -> None:
        with pytest.raises(ValidationError, match="longer than 255 bytes"):
            keystone.Database.open(tmp_path / "k.keystone", schema=keystone.Schema("p" * 256))
        with pytest.raises(ValidationError, match="longer than 255 bytes"):
            keystone.Schema(global_indexes=[keystone.GlobalIndex("by_x", "x" * 256)])

    def test_a_file_with_an_older_short_index_name_keeps_opening(
        self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import keystone.database as database_module

        schema = keystone.Schema(global_indexes=[keystone.GlobalIndex("g", "kind")])
        path = tmp_path / "old.keystone"
        with monkeypatch.context() as m:  # the rule as earlier releases had it: none
            m.setattr(database_module, "check_new_index_names", lambda *a, **k: None)
            with keystone.Database.open(path, schema=schema) as db:
                db.put({"pk": "a", "kind": "k"})
        with keystone.Database.open(path, schema=schema) as db:
            assert db.query("k", index="g").count == 1
        with keystone.Database.open(path) as db:
            assert db.query("k", index="g").count == 1
