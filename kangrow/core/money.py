"""Money: integer minor units plus an ISO 4217 currency. Never floats.

Percentages are basis points (1% = 100 bp). `apply_rate` is the single place where a rate is
applied to an amount, with one rounding rule: half-up on the exact rational result.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# Minor-unit exponents for the currencies KanGrow may see; ISO 4217 default is 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "HUF": 2, "TWD": 2, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3}


def currency_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def normalize_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise ValueError(f"not an ISO 4217 currency code: {currency!r}")
    return code


def apply_rate(amount_minor: int, rate_bps: int) -> int:
    """rate × amount, rounded half-up (away from zero for negatives) to a whole minor unit."""
    exact = Fraction(amount_minor * rate_bps, 10_000)
    sign = -1 if exact < 0 else 1
    magnitude = abs(exact)
    whole = magnitude.numerator // magnitude.denominator
    if magnitude - whole >= Fraction(1, 2):
        whole += 1
    return sign * whole


@dataclass(frozen=True, slots=True)
class Money:
    amount: int  # minor units
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")
        object.__setattr__(self, "currency", normalize_currency(self.currency))

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def format(self) -> str:
        """'49.00 USD', '1000 JPY': exact decimal string, as PayPal and people read it."""
        exp = currency_exponent(self.currency)
        sign = "-" if self.amount < 0 else ""
        units, minor = divmod(abs(self.amount), 10**exp)
        value = f"{units}.{minor:0{exp}d}" if exp else str(units)
        return f"{sign}{value} {self.currency}"

    def decimal_string(self) -> str:
        return self.format().split(" ")[0]
