from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.currencies import EXPONENTS
from shared.money import MAX_MINOR_UNITS, Money, MoneyError, format_minor

currencies = st.sampled_from(sorted(EXPONENTS))
minor_units = st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS)


@given(currencies, minor_units)
def test_decimal_string_round_trip_is_exact(currency: str, minor: int) -> None:
    money = Money(currency, minor)
    assert Money.parse(money.amount, currency) == money
    assert Decimal(money.amount) == Decimal(minor).scaleb(-EXPONENTS[currency])


@given(currencies, minor_units)
def test_json_number_input_parsed_as_decimal_is_exact(currency: str, minor: int) -> None:
    as_number = Decimal(minor).scaleb(-EXPONENTS[currency])
    assert Money.parse(as_number, currency).minor == minor


@given(currencies, minor_units, st.integers(min_value=1, max_value=9))
def test_more_decimals_than_the_currency_allows_are_rejected(currency: str, minor: int, digit: int) -> None:
    text = Money(currency, minor).amount
    exponent = EXPONENTS[currency]
    too_precise = f"{text}{digit}" if exponent else f"{text}.{digit}"
    with pytest.raises(MoneyError) as error:
        Money.parse(too_precise, currency)
    assert error.value.rule == "decimal_places"


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_a_float_is_accepted_only_when_its_binary_value_is_exact(value: float) -> None:
    exact_cents = Decimal(value).scaleb(2)
    if exact_cents == exact_cents.to_integral_value():
        assert Money.parse(value, "USD").minor == int(exact_cents)
    else:
        with pytest.raises(MoneyError):
            Money.parse(value, "USD")


def test_common_inexact_float_is_rejected_and_its_decimal_text_accepted() -> None:
    with pytest.raises(MoneyError):
        Money.parse(0.1, "USD")
    assert Money.parse("0.1", "USD").minor == 10
    assert Money.parse(0.5, "USD").minor == 50


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("-Infinity"), float("inf"), float("nan")])
def test_nan_and_infinity_are_rejected(value: object) -> None:
    with pytest.raises(MoneyError) as error:
        Money.parse(value, "USD")
    assert error.value.rule == "finite"


@pytest.mark.parametrize("value", ["NaN", "nan", "Infinity", "-Infinity", "sNaN", "1e999999", "1E+2", "1e-2",
                                   "+1.00", "1.", ".5", "\uff11\uff12", "1\n", "9" * 41])
def test_only_plain_decimal_strings_are_amounts(value: str) -> None:
    with pytest.raises(MoneyError) as error:
        Money.parse(value, "USD")
    assert error.value.rule == "format"


@pytest.mark.parametrize(("value", "rule"), [
    (Decimal("1E+999999"), "range"), (Decimal("-1E+19"), "range"), (10**400, "range"),
    (Decimal("1E-999999"), "decimal_places"), ("1." + "0" * 30 + "1", "decimal_places")])
def test_extreme_numbers_are_refused_before_any_arithmetic(value: object, rule: str) -> None:
    with pytest.raises(MoneyError) as error:
        Money.parse(value, "USD")
    assert error.value.rule == rule


def test_a_json_number_in_exponent_form_becomes_a_plain_amount() -> None:
    assert Money.parse(Decimal("1E+2"), "USD").amount == "100.00"
    assert Money.parse(Decimal("0E+999999"), "USD").amount == "0.00"


@pytest.mark.parametrize("value", ["", " 1.00", "1,00", "1_000", "abc", True, None, [1]])
def test_malformed_amounts_are_rejected(value: object) -> None:
    with pytest.raises(MoneyError):
        Money.parse(value, "USD")


@pytest.mark.parametrize(("currency", "text", "minor"), [("JPY", "500", 500), ("USD", "99.99", 9999),
                                                        ("KWD", "1.234", 1234), ("CLF", "0.0001", 1)])
def test_exponents_follow_iso_4217(currency: str, text: str, minor: int) -> None:
    money = Money.parse(text, currency)
    assert money.minor == minor
    assert money.amount == text


def test_unknown_currency_and_overflow_are_rejected() -> None:
    with pytest.raises(MoneyError) as unknown:
        Money.parse("1", "XYZ")
    assert unknown.value.rule == "iso4217"
    with pytest.raises(MoneyError) as huge:
        Money.parse("100000000000000000000", "USD")
    assert huge.value.rule == "range"


def test_arithmetic_keeps_currency() -> None:
    total = Money("EUR", 150) + Money("EUR", 275)
    assert total == Money("EUR", 425)
    assert str(-total) == "-4.25 EUR"
    with pytest.raises(MoneyError):
        _ = Money("EUR", 1) + Money("USD", 1)
    assert format_minor(-5, "JPY") == "-5"
