"""keystone.codec.number_key: bytes that order as the numbers do."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from keystone.codec import number_key
from keystone.types import normalize_number

# Numbers as the value model allows them: up to 38 significant digits,
# magnitudes from 1E-130 to 9.99...E+125.
numbers = st.builds(
    lambda digits, exponent, negative: normalize_number(
        Decimal(f"{'-' if negative else ''}{digits}E{exponent}")
    ),
    st.integers(0, 10**38 - 1),
    st.integers(-130, 88),
    st.booleans(),
)


def _cmp(a: object, b: object) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]


@given(numbers, numbers)
def test_keys_order_as_the_numbers(a, b):
    assert _cmp(number_key(a), number_key(b)) == _cmp(a, b)


@given(numbers)
def test_equal_numbers_have_equal_keys_whatever_their_form(n):
    d = Decimal(n)
    sign, digits, exponent = d.as_tuple()
    padded = Decimal((sign, (*digits, 0, 0), exponent - 2))  # the same value, two more zeros
    assert padded == d
    assert number_key(n) == number_key(d) == number_key(padded)


def test_edges():
    ordered = [
        Decimal("-9.99E+125"),
        -1,
        Decimal("-0.123"),
        Decimal("-0.12"),
        Decimal("-1E-130"),
        0,
        Decimal("1E-130"),
        Decimal("0.12"),
        Decimal("0.123"),
        1,
        10,
        Decimal("9.99E+125"),
    ]
    assert sorted(ordered, key=number_key) == ordered
    assert number_key(100) == number_key(Decimal("1E+2")) == number_key(Decimal("100.000"))
