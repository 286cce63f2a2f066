"""Money as integer minor units with the ISO 4217 exponent of its currency. Never a float.

On the wire an amount is a decimal string in major units ("99.99"); input also accepts a JSON
number, which the runtime decodes as a Decimal so that no binary rounding happens on the way in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Self

from shared.currencies import EXPONENTS

# Largest amount in minor units: fits a signed 64-bit column with room for sums of many postings.
MAX_MINOR_UNITS = 10**15
# A plain decimal string: ASCII digits, an optional sign and point; no exponent, grouping or spaces.
PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
AMOUNT_TEXT_MAX_CHARS = 40
# Bounds on any amount before it is scaled: decimal digits left and right of the point.
_INTEGER_DIGITS_MAX = 18
_FRACTION_DIGITS_MAX = 18


class MoneyError(ValueError):
    """An amount or currency that breaks a rule; `rule` is a short machine-readable name."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def currency_exponent(code: str) -> int:
    try:
        return EXPONENTS[code]
    except KeyError:
        raise MoneyError("iso4217", f"{code!r} is not an active ISO 4217 currency code") from None


def validate_currency(code: object) -> str:
    if not isinstance(code, str):
        raise MoneyError("iso4217", "currency must be a three-letter ISO 4217 code")
    currency_exponent(code)
    return code


def to_decimal(value: object) -> Decimal:
    """Turn a wire amount into an exact Decimal; rejects what cannot be an exact amount."""
    if isinstance(value, bool):
        raise MoneyError("type", "amount must be a decimal string or number, not a boolean")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # Decimal(float) is the exact binary value: 0.5 stays 0.5, 0.1 grows 50 digits and is refused below.
        number = Decimal(value)
    elif isinstance(value, str):
        if len(value) > AMOUNT_TEXT_MAX_CHARS or not PLAIN_DECIMAL.fullmatch(value):
            # The value is never echoed: it could be a card number typed into the wrong field.
            raise MoneyError("format", "amount must be a plain decimal string (ASCII digits, an optional "
                                       "sign and point; no exponent)")
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise MoneyError("format", "amount is not a decimal number") from None
    else:
        raise MoneyError("type", "amount must be a decimal string or number")
    if not number.is_finite():
        raise MoneyError("finite", "amount must be a finite number (no NaN or infinity)")
    # Checked before any arithmetic: scaling 1e999999 would overflow the decimal context.
    if number and number.adjusted() >= _INTEGER_DIGITS_MAX:
        raise MoneyError("range", f"amount exceeds the limit of {MAX_MINOR_UNITS} minor units")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_FRACTION_DIGITS_MAX and number != number.to_integral_value():
        raise MoneyError("decimal_places", f"amount has more than {_FRACTION_DIGITS_MAX} decimal places")
    return number


def plain(number: Decimal) -> str:
    """A Decimal as a plain decimal string (1E+2 -> "100"): the only form amounts take on the wire."""
    return format(number, "f")


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An exact amount: `minor` units of `currency` (cents for USD, yen for JPY, fils for KWD)."""

    currency: str
    minor: int

    def __post_init__(self) -> None:
        currency_exponent(self.currency)
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise MoneyError("type", "minor units must be an integer")
        if abs(self.minor) > MAX_MINOR_UNITS:
            raise MoneyError("range", f"amount exceeds the limit of {MAX_MINOR_UNITS} minor units")

    @classmethod
    def parse(cls, amount: object, currency: str) -> Self:
        """Parse a wire amount in major units, refusing more decimals than the currency has."""
        exponent = currency_exponent(currency)
        number = to_decimal(amount)
        scaled = number.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise MoneyError(
                "decimal_places", f"{currency} allows at most {exponent} decimal places"
            )
        if abs(scaled) > MAX_MINOR_UNITS:
            raise MoneyError("range", f"amount exceeds the limit of {MAX_MINOR_UNITS} minor units")
        return cls(currency, int(scaled))

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(currency, 0)

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)

    @property
    def amount(self) -> str:
        """Major units as a decimal string with exactly the currency's number of decimals."""
        return format_minor(self.minor, self.currency)

    def to_wire(self) -> dict[str, str]:
        return {"amount": self.amount, "currency": self.currency}

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError("currency_mismatch", f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.minor + other.minor)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.currency, self.minor - other.minor)

    def __neg__(self) -> Money:
        return Money(self.currency, -self.minor)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def format_minor(minor: int, currency: str) -> str:
    exponent = currency_exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}" if exponent else f"{sign}{whole}"
