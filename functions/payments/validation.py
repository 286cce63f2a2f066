"""Checks beyond the event schema (which already enforces ISO 4217, the currency's decimals, amount > 0 and
non-empty ids): the currency must be accepted and the amount within its configured limits."""

from __future__ import annotations

from functions.payments.settings import PaymentsSettings
from shared.errors import invalid_data
from shared.money import Money, format_minor


def check_amount(settings: PaymentsSettings, amount: Money) -> None:
    limits = settings.payments_amount_limits.get(amount.currency)
    if limits is None:
        accepted = ", ".join(sorted(settings.payments_amount_limits))
        raise invalid_data("currency", "supported_currency",
                           f"{amount.currency} is not accepted; accepted currencies: {accepted}")
    low, high = (settings.minor(value, amount.currency) for value in limits)
    if amount.minor < low:
        raise invalid_data("amount", "min_amount",
                           f"the minimum {amount.currency} amount is {format_minor(low, amount.currency)}")
    if amount.minor > high:
        raise invalid_data("amount", "max_amount",
                           f"the maximum {amount.currency} amount is {format_minor(high, amount.currency)}")
