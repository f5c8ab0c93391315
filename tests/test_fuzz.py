"""Bad input never escapes as anything but a KeystoneError, and never changes the file.

Random text goes into every expression kind and PartiQL; random values into
put. Whatever happens, the only exceptions are ValidationError (or a
failed condition), and the database still holds exactly what it held.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keystone
from keystone import KeystoneError, ValidationError

TOKENS = [
    "a",
    "b.c",
    "l[0]",
    "#n",
    ":v",
    ":w",
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "(",
    ")",
    ",",
    "AND",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "SET",
    "REMOVE",
    "ADD",
    "DELETE",
    "+",
    "-",
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
    "list_append",
    "if_not_exists",
    "[",
    "]",
    ".",
    "'x'",
    "1",
    "\x00",
    "é",
]
PARTIQL = [
    "SELECT",
    "*",
    "FROM",
    "t",
    "WHERE",
    "pk",
    "=",
    "'a'",
    "AND",
    "sk",
    "<",
    "?",
    "INSERT",
    "INTO",
    "VALUE",
    "{",
    "}",
    "'k'",
    ":",
    "1",
    "UPDATE",
    "SET",
    "REMOVE",
    "DELETE",
    "ORDER",
    "BY",
    "DESC",
    "LIMIT",
    "OFFSET",
    "<<",
    ">>",
    "[",
    "]",
    ",",
    "IS",
    "MISSING",
    '"t"',
    "(",
    ")",
]
settings_ = settings(
    max_examples=int(os.environ.get("KEYSTONE_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory):
    db = keystone.Database.open(tmp_path_factory.mktemp("fuzz") / "f.keystone")
    db.put({"pk": "a", "sk": "1", "b": {"c": 1}, "l": [1, 2], "n": 5, "s": {"x"}})
    yield db
    db.close()


def snapshot(db):
    return sorted(repr(i) for i in db.scan_all())


@settings_
@given(text=st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join))
def test_random_conditions_and_updates(fuzz_db, text):
    before = snapshot(fuzz_db)
    names, values = {"#n": "n"}, {":v": 1, ":w": "x"}
    for call in (
        lambda: fuzz_db.put(
            {"pk": "a", "sk": "1", "z": 1}, condition=text or None, names=names, values=values
        ),
        lambda: fuzz_db.update(
            "a", "1", update=text, condition="attribute_not_exists(pk)", names=names, values=values
        ),
        lambda: fuzz_db.query(
            "a", filter=text or None, projection=None, names=names, values=values
        ),
        lambda: fuzz_db.get("a", "1", projection=text or None, names={"#n": "n"}),
    ):
        try:
            call()
        except KeystoneError:
            pass
    assert snapshot(fuzz_db) == before


@settings_
@given(
    text=st.lists(st.sampled_from(PARTIQL), max_size=14).map(" ".join),
    params=st.lists(st.integers(0, 3), max_size=2),
)
def test_random_partiql(fuzz_db, text, params):
    before = snapshot(fuzz_db)
    try:
        fuzz_db.execute(
            text.replace("INSERT", "SELECT")
            .replace("UPDATE", "SELECT")
            .replace("DELETE", "SELECT"),
            params,
        )
    except KeystoneError:
        pass
    assert snapshot(fuzz_db) == before


values = st.recursive(
    st.one_of(
        st.text(max_size=5),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True),
        st.binary(max_size=5),
        st.booleans(),
        st.none(),
        st.datetimes(),
        st.datetimes(timezones=st.just(dt.UTC)),
        st.frozensets(
            st.one_of(st.text(max_size=3), st.integers(), st.binary(max_size=3)), max_size=3
        ),
        st.builds(object),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), children, max_size=3),
    ),
    max_leaves=12,
)


@settings_
@given(value=values)
def test_random_values_are_stored_exactly_or_refused(fuzz_db, value):
    before = snapshot(fuzz_db)
    try:
        fuzz_db.put({"pk": "fuzz", "v": value})
    except ValidationError:
        assert snapshot(fuzz_db) == before
        return
    stored = fuzz_db.get("fuzz")
    assert stored is not None and "v" in stored
    again = fuzz_db.get("fuzz")
    assert repr(again) == repr(stored)  # decoding is deterministic
    fuzz_db.delete("fuzz")
    if isinstance(value, Decimal) and value.is_finite():
        assert stored["v"] == value
