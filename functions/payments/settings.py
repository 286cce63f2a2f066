"""PaymentsSettings: every setting of the payments function, from PAYMESH_PAYMENTS_* variables.

Amounts are decimal strings in major units per currency, e.g.
PAYMESH_PAYMENTS_AMOUNT_LIMITS='{"EUR": ["0.50", "999999.99"]}'. Dict settings are JSON.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, model_validator

from shared.config import RuntimeSettings
from shared.money import Money, MoneyError

__all__ = ["DEFAULT_AMOUNT_LIMITS", "PaymentsSettings"]

# Stripe's minimum charge amounts; maximum 999,999.99 in two-decimal currencies.
DEFAULT_AMOUNT_LIMITS: dict[str, tuple[Decimal, Decimal]] = {
    "USD": (Decimal("0.50"), Decimal("999999.99")),
    "EUR": (Decimal("0.50"), Decimal("999999.99")),
    "GBP": (Decimal("0.30"), Decimal("999999.99")),
    "CHF": (Decimal("0.50"), Decimal("999999.99")),
    "CAD": (Decimal("0.50"), Decimal("999999.99")),
    "AUD": (Decimal("0.50"), Decimal("999999.99")),
    "SEK": (Decimal("3.00"), Decimal("9999999.99")),
    "NOK": (Decimal("3.00"), Decimal("9999999.99")),
    "DKK": (Decimal("2.50"), Decimal("9999999.99")),
    "PLN": (Decimal("2.00"), Decimal("9999999.99")),
    "JPY": (Decimal("50"), Decimal("99999999")),
    "KWD": (Decimal("0.100"), Decimal("99999.999")),
}


class PaymentsSettings(RuntimeSettings):
    payments_gateway: Literal["simulated", "stripe"] = "simulated"
    payments_stripe_api_key: SecretStr | None = None
    # e.g. http://127.0.0.1:12111 for stripe-mock or the tests' local server; None = api.stripe.com.
    payments_stripe_api_base: str | None = None
    payments_stripe_timeout_seconds: float = Field(default=20.0, gt=0)
    # The gateway's circuit breaker: this many consecutive unavailable answers open it; while open, deliveries
    # answer 503 without calling the gateway, until one probe call is let through after the cooldown.
    payments_gateway_breaker_failures: int = Field(default=5, ge=1)
    payments_gateway_breaker_cooldown_seconds: float = Field(default=30.0, gt=0)

    # Accepted currencies and their per-payment [minimum, maximum]; any other currency is refused (422).
    payments_amount_limits: dict[str, tuple[Decimal, Decimal]] = Field(
        default_factory=lambda: dict(DEFAULT_AMOUNT_LIMITS))

    # Fee = amount * bps / 10000 rounded half-up to the minor unit, plus the currency's fixed part.
    payments_fee_percent_bps: int = Field(default=290, ge=0, le=10_000)
    payments_fee_fixed: dict[str, Decimal] = Field(
        default_factory=lambda: {"USD": Decimal("0.30"), "EUR": Decimal("0.25"), "GBP": Decimal("0.20")})

    # Fraud: the scores of the rules that fire are added; the total decides.
    payments_fraud_review_score: int = Field(default=50, ge=1)
    payments_fraud_decline_score: int = Field(default=90, ge=1)
    payments_fraud_rule_scores: dict[str, int] = Field(default_factory=lambda: {
        "amount_high": 40, "amount_very_high": 90, "velocity_count": 60, "velocity_amount": 60,
        "blocked_country": 100, "country_mismatch": 50, "blocked_bin": 100,
    })
    payments_fraud_amount_high: dict[str, Decimal] = Field(default_factory=lambda: {
        "USD": Decimal("5000"), "EUR": Decimal("5000"), "GBP": Decimal("4000"), "JPY": Decimal("700000")})
    payments_fraud_amount_very_high: dict[str, Decimal] = Field(default_factory=lambda: {
        "USD": Decimal("20000"), "EUR": Decimal("20000"), "GBP": Decimal("16000"), "JPY": Decimal("3000000")})
    payments_fraud_velocity_window_seconds: int = Field(default=3600, ge=1)
    # Attempts per customer in the window, this one included, above which velocity_count fires.
    payments_fraud_velocity_max_count: int = Field(default=10, ge=1)
    # Sum per customer and currency in the window, this one included, above which velocity_amount fires.
    payments_fraud_velocity_max_amount: dict[str, Decimal] = Field(default_factory=lambda: {
        "USD": Decimal("25000"), "EUR": Decimal("25000"), "GBP": Decimal("20000"), "JPY": Decimal("3500000")})
    payments_fraud_blocked_countries: frozenset[str] = frozenset({"KP", "IR", "CU", "SY"})
    # BIN prefixes (1-8 digits) of card ranges to refuse, e.g. ranges seen in card-testing attacks.
    payments_fraud_blocked_bins: frozenset[Annotated[str, Field(pattern=r"^[0-9]{1,8}$")]] = frozenset()

    @model_validator(mode="after")
    def _amounts_fit_their_currency(self) -> Self:
        def check(name: str, currency: str, value: Decimal) -> None:
            try:
                Money.parse(value, currency)
            except MoneyError as error:
                raise ValueError(f"{name}[{currency}]: {error}") from None

        for currency, (low, high) in self.payments_amount_limits.items():
            check("payments_amount_limits", currency, low)
            check("payments_amount_limits", currency, high)
            if not 0 < low <= high:
                raise ValueError(f"payments_amount_limits[{currency}]: need 0 < minimum <= maximum")
        per_currency = {"payments_fee_fixed": self.payments_fee_fixed,
                        "payments_fraud_amount_high": self.payments_fraud_amount_high,
                        "payments_fraud_amount_very_high": self.payments_fraud_amount_very_high,
                        "payments_fraud_velocity_max_amount": self.payments_fraud_velocity_max_amount}
        for name, amounts in per_currency.items():
            for currency, value in amounts.items():
                check(name, currency, value)
        if self.payments_fraud_review_score > self.payments_fraud_decline_score:
            raise ValueError("payments_fraud_review_score must not exceed payments_fraud_decline_score")
        if self.payments_gateway == "stripe" and self.payments_stripe_api_key is None:
            raise ValueError("payments_gateway=stripe needs PAYMESH_PAYMENTS_STRIPE_API_KEY")
        return self

    def minor(self, value: Decimal, currency: str) -> int:
        return Money.parse(value, currency).minor
