"""The payment state machine, after Stripe's PaymentIntent lifecycle.

    requested -> authorized -> captured -> partially_refunded -> refunded
        |            |             \\------------------------------^
        +------------+--> failed

An illegal transition raises IllegalTransitionError and changes nothing.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentState(StrEnum):
    REQUESTED = "requested"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    FAILED = "failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


TRANSITIONS: dict[PaymentState, frozenset[PaymentState]] = {
    PaymentState.REQUESTED: frozenset({PaymentState.AUTHORIZED, PaymentState.FAILED}),
    PaymentState.AUTHORIZED: frozenset({PaymentState.CAPTURED, PaymentState.FAILED}),
    PaymentState.CAPTURED: frozenset({PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED}),
    # A second partial refund keeps the payment partially refunded.
    PaymentState.PARTIALLY_REFUNDED: frozenset({PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED}),
    PaymentState.FAILED: frozenset(),
    PaymentState.REFUNDED: frozenset(),
}

REFUNDABLE = frozenset({PaymentState.CAPTURED, PaymentState.PARTIALLY_REFUNDED})


class IllegalTransitionError(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a payment cannot go from {current} to {target}")
        self.current = current
        self.target = target


def check_transition(current: str, target: str) -> PaymentState:
    """The target state if current -> target is legal; raises IllegalTransitionError otherwise."""
    try:
        source, destination = PaymentState(current), PaymentState(target)
    except ValueError:
        raise IllegalTransitionError(current, target) from None
    if destination not in TRANSITIONS[source]:
        raise IllegalTransitionError(current, target)
    return destination
