"""What a refund may do to its payment: the refusals (refund-failed reasons) and the payment's next state."""

from __future__ import annotations

from dataclasses import dataclass

from functions.payments import reasons
from functions.payments.models import Payment
from functions.payments.states import REFUNDABLE, PaymentState, check_transition
from shared.money import Money


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    message: str


def refusal(payment: Payment | None, amount: Money) -> Refusal | None:
    """Why this refund cannot be applied to `payment`, or None when it can (the gateway may still decline)."""
    if payment is None:
        return Refusal(reasons.PAYMENT_NOT_FOUND, "no such payment")
    if payment.currency != amount.currency:
        return Refusal(reasons.CURRENCY_MISMATCH, f"the payment is in {payment.currency}")
    if payment.status not in REFUNDABLE:
        return Refusal(reasons.PAYMENT_NOT_REFUNDABLE, f"the payment is {payment.status}")
    refundable = payment.amount_minor - payment.refunded_minor
    if amount.minor > refundable:
        left = Money(payment.currency, refundable)
        return Refusal(reasons.AMOUNT_EXCEEDS_REFUNDABLE, f"at most {left} can still be refunded")
    return None


def next_state(payment: Payment, amount: Money) -> PaymentState:
    """The payment's state once `amount` is refunded; raises IllegalTransitionError if that change is illegal."""
    refundable = payment.amount_minor - payment.refunded_minor
    target = PaymentState.REFUNDED if amount.minor == refundable else PaymentState.PARTIALLY_REFUNDED
    return check_transition(payment.status, target)
