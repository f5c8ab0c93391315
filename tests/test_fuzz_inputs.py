"""No input crashes the library: hypothesis feeds adversarial input to every public method.

Expression text up to 4 KB (deep nesting, long chains, every token of the
grammar, lone surrogates), numbers of any magnitude, attribute and
placeholder names of any length and character, items of any shape, and
arguments of the wrong type. Whatever happens, only ``keystone`` exceptions
escape, a rejected call changes nothing, and the file stays readable.

``KEYSTONE_FUZZ_EXAMPLES`` sets the examples per test (``make fuzz`` runs many).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keystone
from keystone import KeystoneError, sk
from keystone.types import normalize_number, parse_number

EXAMPLES = int(os.environ.get("KEYSTONE_FUZZ_EXAMPLES", "100"))
fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- strategies -------------------------------------------------------------------

WORDS = [
    "a", "b.c", "l[0]", "l[4294967295]", "l[99999999999999]", "#n", "#", ":v", ":w", ":",
    "=", "<>", "<", "<=", ">", ">=", "(", ")", ",", "[", "]", ".", "+", "-",
    "AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE",
    "attribute_exists", "attribute_not_exists", "attribute_type", "begins_with",
    "contains", "size", "list_append", "if_not_exists", "status", "_x", "1", "'s'",
    "\x00", "\udcff", "é", "\U0001f600", "pk", "sk",
]  # fmt: skip

atoms = st.sampled_from(["a = :v", "attribute_exists(a)", "size(l) > :v", "b.c <> :w",
                         "begins_with(a, :w)", "a BETWEEN :v AND :v", "a IN (:v, :w)"])  # fmt: skip


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        children.map(lambda c: f"({c})"),
        children.map(lambda c: f"NOT {c}"),
        st.tuples(children, st.sampled_from([" AND ", " OR "]), children).map("".join),
    )


structured = st.recursive(atoms, _combine, max_leaves=40)
repeated = st.tuples(
    st.sampled_from(["(", "NOT ", "a = :v OR ", "a = :v AND ", "if_not_exists(a, ", "a.", "l[0]"]),
    st.integers(1, 1400),
    atoms,
).map(lambda t: (t[0] * t[1] + t[2])[:4096])
token_soup = st.lists(st.sampled_from(WORDS), max_size=60).map(" ".join)
expression_text = st.one_of(structured, repeated, token_soup, st.text(max_size=200))

number = st.one_of(
    st.integers(min_value=-(10**60), max_value=10**60),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(
        lambda digits, exponent: Decimal(f"{digits}e{exponent}"),
        st.integers(1, 10**45),
        st.integers(-(10**12), 10**12),
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([5000, 200_000]).map(lambda digits: 10**digits),
)
name = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "\udcff", "a" * 65_536, "pk", "sk", "#n", ":v"]),
)
leaf = st.one_of(
    st.text(max_size=8),
    number,
    st.binary(max_size=8),
    st.booleans(),
    st.none(),
    st.frozensets(st.one_of(st.text(max_size=3), st.integers(), st.binary(max_size=3)), max_size=3),
    st.builds(object),
)
value = st.recursive(
    leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(name, children, max_size=3),
    ),
    max_leaves=20,
)
deep = st.integers(20, 60).map(lambda n: _nest(n))
anything = st.one_of(value, deep, st.integers(), st.text(max_size=5), st.lists(st.integers()))


def _nest(levels: int) -> Any:
    out: Any = "x"
    for i in range(levels):
        out = [out] if i % 2 else {"k": out}
    return out


# -- harness ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    schema = keystone.Schema(
        local_indexes=[keystone.LocalIndex("by_rank", "rank", projection="KEYS_ONLY")],
        global_indexes=[keystone.GlobalIndex("by_kind", "kind", "rank")],
    )
    db = keystone.Database.open(tmp_path_factory.mktemp("fuzzin") / "f.keystone", schema=schema)
    db.put({"pk": "a", "sk": "1", "rank": "r", "kind": "k", "b": {"c": 1}, "l": [1, 2], "n": 5})
    db.put({"pk": "a", "sk": "2", "s": {"x"}, "a": "text"})
    yield db
    db.close()


def state(db: keystone.Database) -> list[str]:
    return sorted(repr(item) for item in db.scan_all())


def attempt(db: keystone.Database, call: Callable[[], Any]) -> None:
    """Run ``call``: only a KeystoneError may escape, and a refusal changes nothing."""
    before = state(db)
    try:
        call()
    except KeystoneError:
        assert state(db) == before, "a rejected call changed the database"
    # Any other exception fails the test by propagating.


NAMES = {"#n": "n"}
VALUES = {":v": 1, ":w": "x"}


@fuzz_settings
@given(text=expression_text)
def test_any_expression_text_into_every_method(fuzz_db: keystone.Database, text: str) -> None:
    db = fuzz_db
    calls: list[Callable[[], Any]] = [
        lambda: db.put({"pk": "a", "sk": "1", "z": 1}, condition=text, names=NAMES, values=VALUES),
        lambda: db.update(
            "a", "1", update=text, names=NAMES, values=VALUES, condition="attribute_not_exists(pk)"
        ),  # fmt: skip
        lambda: db.update("zz", "1", update="SET z = :v", condition=text, values=VALUES),
        lambda: db.delete("a", "1", condition=text, names=NAMES, values=VALUES),
        lambda: db.get("a", "1", projection=text, names=NAMES),
        lambda: db.query("a", filter=text, names=NAMES, values=VALUES),
        lambda: db.query(key_condition=text, names=NAMES, values=VALUES),
        lambda: db.query("k", index="by_kind", projection=text),
        lambda: db.scan(filter=text, projection="a", values=VALUES, names=NAMES),
        lambda: db.batch_get([("a", "1")], projection=text),
        lambda: db.transact_get([("a", "1")], projection=text, names=NAMES),
        lambda: db.transact_write(
            [
                keystone.ConditionCheck("a", "1", condition=text),
                keystone.Update("a", "2", update=text),
            ],
            names=NAMES,
            values=VALUES,
        ),  # fmt: skip
        lambda: db.execute(f"SELECT * FROM t WHERE {text}"),
        lambda: db.execute(f"UPDATE t SET {text} WHERE pk = 'a' AND sk = '1'"),
    ]
    for call in calls:
        attempt(db, call)


@fuzz_settings
@given(number=number)
def test_any_number_is_stored_exactly_or_refused(fuzz_db: keystone.Database, number: Any) -> None:
    attempt(fuzz_db, lambda: fuzz_db.put({"pk": "num", "sk": "1", "v": number}))
    attempt(fuzz_db, lambda: fuzz_db.update("num", "1", update="ADD v :v", values={":v": number}))
    attempt(fuzz_db, lambda: fuzz_db.query("a", filter="n < :v", values={":v": number}))
    try:
        normalize_number(number)
    except KeystoneError as exc:
        assert len(str(exc)) < 300  # a huge number is never echoed whole


@fuzz_settings
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.from_regex(r"[-+ ]?[0-9._]{0,8}([eE][-+]?[0-9]{0,20})?", fullmatch=True),
    )
)
def test_any_number_text_parses_or_is_refused(text: str) -> None:
    try:
        parsed = parse_number(text)
    except KeystoneError:
        return
    assert parsed == normalize_number(parsed)


@fuzz_settings
@given(
    names=st.dictionaries(name, name, max_size=3), values=st.dictionaries(name, value, max_size=3)
)
def test_any_placeholders(fuzz_db: keystone.Database, names: Any, values: Any) -> None:
    db = fuzz_db
    attempt(db, lambda: db.query("a", filter="attribute_exists(a)", names=names, values=values))
    attempt(db, lambda: db.update("a", "2", update="SET a = :v", names=names, values=values))
    attempt(db, lambda: db.transact_write([keystone.Put({"pk": "t"})], names=names, values=values))


@fuzz_settings
@given(item=st.dictionaries(name, anything, max_size=5))
def test_any_item_into_every_write(fuzz_db: keystone.Database, item: Any) -> None:
    db = fuzz_db
    keyed = {**item, "pk": "fz", "sk": "1"}
    attempt(db, lambda: db.put(item))
    attempt(db, lambda: db.put(keyed))
    attempt(db, lambda: db.batch_write(puts=[keyed, item]))
    attempt(db, lambda: db.transact_write([keystone.Put(item)]))
    attempt(db, lambda: db.delete("fz", "1"))


@fuzz_settings
@given(args=st.lists(anything, min_size=12, max_size=12))
def test_arguments_of_the_wrong_type(fuzz_db: keystone.Database, args: list[Any]) -> None:
    db = fuzz_db
    a = args
    calls: list[Callable[[], Any]] = [
        lambda: db.get(a[0], a[1], projection=a[2]),
        lambda: db.put(a[0], condition=a[1], names=a[2], values=a[3], returns=a[4]),
        lambda: db.delete(a[0], a[1], condition=a[2], returns=a[3]),
        lambda: db.update(
            a[0], a[1], update=a[2], returns=a[3], return_values_on_condition_check_failure=a[4]
        ),  # fmt: skip
        lambda: db.query(a[0], sk=a[1], limit=a[2], start=a[3], index=a[4], select=a[5]),
        lambda: db.query("a", sk.between(a[6], a[7]), reverse=a[8]),
        lambda: db.scan(limit=a[0], start=a[1], segment=a[2], total_segments=a[3], select=a[4]),
        lambda: db.batch_get(a[0]),
        lambda: db.batch_get([a[0], a[1]], projection=a[2], names=a[3]),
        lambda: db.batch_write(puts=a[0], deletes=a[1]),
        lambda: db.transact_get(a[0], projection=a[1]),
        lambda: db.transact_write(a[0], names=a[1], values=a[2], token=a[3]),
        lambda: db.transact_write(
            [
                keystone.Update(
                    a[0],
                    a[1],
                    update=a[2],
                    condition=a[3],
                    return_values_on_condition_check_failure=a[4],
                )
            ]
        ),  # fmt: skip
        lambda: db.execute(a[0], a[1]),
        lambda: db.stream(a[0], a[1]),
    ]
    for call in calls:
        attempt(db, call)


def test_the_database_is_readable_after_the_fuzzing(fuzz_db: keystone.Database) -> None:
    assert fuzz_db.get("a", "1") is not None
    assert fuzz_db.query("k", index="by_kind").count >= 0
