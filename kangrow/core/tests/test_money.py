import pytest
from hypothesis import given
from hypothesis import strategies as st

from kangrow.core.money import Money, apply_rate


@pytest.mark.parametrize(
    ("amount", "bps", "expected"),
    [
        (4900, 3000, 1470),
        (999, 3000, 300),
        (1, 5000, 1),
        (1, 4999, 0),
        (-999, 3000, -300),
        (0, 3000, 0),
    ],
)
def test_apply_rate_rounds_half_up(amount, bps, expected):
    assert apply_rate(amount, bps) == expected


@given(st.integers(-(10**12), 10**12), st.integers(0, 10_000))
def test_apply_rate_is_within_half_a_cent_of_exact(amount, bps):
    assert abs(apply_rate(amount, bps) * 10_000 - amount * bps) <= 5_000


def test_money_formats_per_currency_exponent():
    assert Money(10000, "usd").format() == "100.00 USD"
    assert Money(-5, "EUR").format() == "-0.05 EUR"
    assert Money(1500, "JPY").format() == "1500 JPY"


def test_money_refuses_floats_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(1, "USD") + Money(1, "EUR")
