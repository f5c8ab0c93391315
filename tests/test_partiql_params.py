"""PartiQL ``?`` parameters: every KeystoneDB value type, bound positionally and normalised."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from keystone import ValidationError, Vector

UTC = dt.UTC

VALUES = [
    pytest.param("text", "text", id="str"),
    pytest.param("", "", id="empty-str"),
    pytest.param(42, 42, id="int"),
    pytest.param(-(10**37), -(10**37), id="big-int"),
    pytest.param(Decimal("3.14"), Decimal("3.14"), id="decimal"),
    pytest.param(Decimal("2.000"), 2, id="integral-decimal"),
    pytest.param(0.5, Decimal("0.5"), id="float"),
    pytest.param(b"\x00\xff", b"\x00\xff", id="bytes"),
    pytest.param(bytearray(b"ab"), b"ab", id="bytearray"),
    pytest.param(memoryview(b"cd"), b"cd", id="memoryview"),
    pytest.param(True, True, id="bool"),
    pytest.param(None, None, id="null"),
    pytest.param([1, "a", [None]], [1, "a", [None]], id="list"),
    pytest.param((1, 2), [1, 2], id="tuple"),
    pytest.param({"k": {"n": 1}}, {"k": {"n": 1}}, id="map"),
    pytest.param({"a", "b"}, {"a", "b"}, id="string-set"),
    pytest.param(frozenset({1, Decimal("1.5")}), {1, Decimal("1.5")}, id="number-set"),
    pytest.param({b"x", b"y"}, {b"x", b"y"}, id="binary-set"),
    pytest.param(Vector([0.5, -1.0]), Vector([0.5, -1.0]), id="vector"),
    pytest.param(
        dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
        dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
        id="datetime",
    ),
    pytest.param(
        dt.datetime(2024, 5, 6, 9, 8, 9, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        id="datetime-offset",
    ),
]


@pytest.mark.parametrize(("given", "stored"), VALUES)
def test_a_parameter_round_trips_through_insert_and_select(store, given, stored):
    store.execute("INSERT INTO t VALUE {'pk': 'p', 'sk': 's', 'v': ?}", [given])
    item = store.get("p", "s")
    assert item["v"] == stored and type(item["v"]) is type(stored)
    page = store.execute("SELECT v FROM t WHERE pk = ? AND v = ?", ["p", given])
    assert page.items == [{"v": stored}]


@pytest.mark.parametrize(("given", "stored"), VALUES)
def test_a_parameter_in_update_set_and_condition(store, given, stored):
    store.put({"pk": "p", "sk": "s"})
    page = store.execute("UPDATE t SET v = ? WHERE pk = ? AND sk = ?", [given, "p", "s"])
    assert page.items[0]["v"] == stored
    store.execute("DELETE FROM t WHERE pk = 'p' AND sk = 's' AND v = ?", [given])
    assert store.get("p", "s") is None


def test_bytes_keys(store):
    store.execute("INSERT INTO t VALUE {'pk': ?, 'sk': ?}", [b"\x01", b"\x02"])
    page = store.execute("SELECT * FROM t WHERE pk = ? AND sk = ?", [b"\x01", b"\x02"])
    assert page.items == [{"pk": b"\x01", "sk": b"\x02"}]
    page = store.execute("SELECT * FROM t WHERE pk = ? AND begins_with(sk, ?)", [b"\x01", b"\x02"])
    assert page.count == 1


def test_the_same_statement_binds_new_values_each_time(store):
    for i in range(5):
        store.execute("INSERT INTO t VALUE {'pk': 'p', 'sk': ?, 'n': ?}", [f"k{i}", i])
    for i in range(5):
        page = store.execute("SELECT n FROM t WHERE pk = 'p' AND sk = ?", [f"k{i}"])
        assert page.items == [{"n": i}]
    page = store.execute("SELECT n FROM t WHERE pk = 'p' AND n IN [?, ?]", [1, 3])
    assert [i["n"] for i in page] == [1, 3]


def test_parameters_in_a_set_literal(store):
    store.execute("INSERT INTO t VALUE {'pk': 'p', 's': <<?, ?>>}", [1, Decimal("2.5")])
    assert store.get("p")["s"] == {1, Decimal("2.5")}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "cannot be converted to a numeric value"),
        (float("inf"), "cannot be converted to a numeric value"),
        (10**40 + 1, "more than 38 significant digits"),
        (set(), "sets must not be empty"),
        ({1, "a"}, "one kind of element"),
        (dt.datetime(2024, 1, 1), "timezone-aware"),
        ({1: "a"}, "map keys must be str"),
        (object(), "unsupported value type object"),
    ],
)
def test_invalid_parameters_are_refused(store, value, message):
    with pytest.raises(ValidationError, match=message) as info:
        store.execute("SELECT * FROM t WHERE v = ?", [value])
    assert "parameter" in str(info.value)  # a remote client may refuse it before sending
    with pytest.raises(ValidationError, match=message):
        store.execute("INSERT INTO t VALUE {'pk': 'p', 'v': ?}", [value])
    assert store.get("p") is None


def test_an_invalid_parameter_is_named_by_its_position(db):
    with pytest.raises(ValidationError) as info:
        db.execute("SELECT * FROM t WHERE a = 1 AND\n v = ?", [float("nan")])
    assert str(info.value) == (
        "parameter 1 (line 2, column 6): The parameter cannot be converted to a numeric value: nan"
    )


def test_an_unhashable_parameter_in_a_set_literal(store):
    with pytest.raises(ValidationError, match=r"parameter 1 .*sets hold strings, numbers or bytes"):
        store.execute("INSERT INTO t VALUE {'pk': 'p', 's': <<?>>}", [[1]])
