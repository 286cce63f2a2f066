"""What a gateway's dispute report may do to its payment: the refusals, the state a close leads to and the
chargeback fee. No SQL here: the handlers (gateway_reports.py) read and write through repository.py.

A refused report changes nothing and is audited (outcome "rejected") rather than answered with a 4xx: the
report itself is well formed, it is about a payment this function cannot apply it to.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from functions.payments.models import Payment
from functions.payments.states import PaymentState, check_transition
from shared.money import Money

DISPUTABLE = frozenset({PaymentState.CAPTURED, PaymentState.PARTIALLY_REFUNDED})

# Why a report was not applied (details.reason of its audit record).
PAYMENT_NOT_FOUND = "payment_not_found"
PAYMENT_NOT_DISPUTABLE = "payment_not_disputable"
CURRENCY_MISMATCH = "currency_mismatch"
AMOUNT_EXCEEDS_DISPUTABLE = "amount_exceeds_disputable"
DISPUTE_NOT_FOUND = "dispute_not_found"
AMOUNT_MISMATCH = "amount_mismatch"


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    message: str


def open_refusal(payment: Payment | None, amount: Money) -> Refusal | None:
    """Why a dispute of `amount` cannot be opened on `payment`, or None when it can."""
    if payment is None:
        return Refusal(PAYMENT_NOT_FOUND, "no payment has this gateway reference")
    if payment.currency != amount.currency:
        return Refusal(CURRENCY_MISMATCH, f"the payment is in {payment.currency}")
    if payment.status not in DISPUTABLE:
        return Refusal(PAYMENT_NOT_DISPUTABLE, f"the payment is {payment.status}")
    disputable = payment.amount_minor - payment.refunded_minor
    if amount.minor > disputable:
        return Refusal(AMOUNT_EXCEEDS_DISPUTABLE, f"at most {Money(payment.currency, disputable)} can be disputed")
    return None


def state_after(payment: Payment, outcome: Literal["won", "lost"]) -> PaymentState:
    """Won: back to captured, or partially_refunded when part was refunded before; lost: charged_back."""
    if outcome == "lost":
        target = PaymentState.CHARGED_BACK
    elif payment.refunded_minor:
        target = PaymentState.PARTIALLY_REFUNDED
    else:
        target = PaymentState.CAPTURED
    return check_transition(payment.status, target)


def chargeback_fee(fees: dict[str, Decimal], currency: str, outcome: Literal["won", "lost"]) -> Money:
    """The fee the merchant bears for a lost dispute (zero when won, or for a currency without a fee)."""
    if outcome == "won" or currency not in fees:
        return Money.zero(currency)
    return Money.parse(fees[currency], currency)
