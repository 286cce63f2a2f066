"""The fraud rules engine: each rule that fires adds its score; the total decides.

Rules (ids as reported in `rules` and in the audit event; scores and thresholds from PaymentsSettings):
- amount_high / amount_very_high: the amount reaches the currency's threshold (only the higher one fires).
- velocity_count: the customer's payment attempts in the sliding window, this one included, exceed the limit.
- velocity_amount: the customer's attempted amount in the window and currency, this one included, exceeds
  the limit. The window is read from the payments store; every recorded attempt counts, declined ones too
  (card testing is a burst of declines). Requests refused as invalid (4xx) or retried (503) leave no record.
- blocked_country: the card's or the billing country is on the blocked list.
- country_mismatch: the card's country differs from the billing country (both given).
- blocked_bin: the card's BIN (first 6-8 digits, `method.bin`) starts with a blocked prefix.

Decision: score >= decline score -> decline (payment-failed fraud_declined, the gateway is not called);
score >= review score -> review; otherwise approve. `review` works like Stripe Radar's review: the payment
goes through the gateway as usual and, besides its outcome, a `fraud.review` audit event asks for a
manual review (refund it if the review finds fraud). It is never silently held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from functions.payments.settings import PaymentsSettings
from shared.money import Money

Decision = Literal["approve", "review", "decline"]
RULE_IDS = ("amount_high", "amount_very_high", "velocity_count", "velocity_amount", "blocked_country",
            "country_mismatch", "blocked_bin")


@dataclass(frozen=True, slots=True)
class FraudInput:
    customer_id: str
    amount: Money
    card_country: str | None
    billing_country: str | None
    card_bin: str | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    score: int
    decision: Decision
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Window:
    """A customer's attempts in the velocity window before this one (all currencies), and their sum in the
    payment's currency; read from the payments store by repository.recent_activity."""

    count: int
    sum_minor: int


def assess(settings: PaymentsSettings, payment: FraudInput, window: Window) -> Assessment:
    """Score one payment; `window` is the customer's activity before it."""
    currency = payment.amount.currency
    minor = payment.amount.minor
    fired: list[str] = []

    very_high = settings.payments_fraud_amount_very_high.get(currency)
    high = settings.payments_fraud_amount_high.get(currency)
    if very_high is not None and minor >= settings.minor(very_high, currency):
        fired.append("amount_very_high")
    elif high is not None and minor >= settings.minor(high, currency):
        fired.append("amount_high")

    if window.count + 1 > settings.payments_fraud_velocity_max_count:
        fired.append("velocity_count")
    max_sum = settings.payments_fraud_velocity_max_amount.get(currency)
    if max_sum is not None and window.sum_minor + minor > settings.minor(max_sum, currency):
        fired.append("velocity_amount")

    blocked = settings.payments_fraud_blocked_countries
    if payment.card_country in blocked or payment.billing_country in blocked:
        fired.append("blocked_country")
    if payment.card_country and payment.billing_country and payment.card_country != payment.billing_country:
        fired.append("country_mismatch")
    if payment.card_bin and any(payment.card_bin.startswith(prefix) for prefix in settings.payments_fraud_blocked_bins):
        fired.append("blocked_bin")

    scores = settings.payments_fraud_rule_scores
    score = sum(scores.get(rule, 0) for rule in fired)
    decision: Decision = "approve"
    if score >= settings.payments_fraud_decline_score:
        decision = "decline"
    elif score >= settings.payments_fraud_review_score:
        decision = "review"
    return Assessment(score, decision, tuple(fired))


def window_start(settings: PaymentsSettings, now: datetime) -> datetime:
    """Where the velocity window of a payment made at `now` begins."""
    return now - timedelta(seconds=settings.payments_fraud_velocity_window_seconds)
