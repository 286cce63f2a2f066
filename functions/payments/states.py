"""The payment state machine, after Stripe's PaymentIntent lifecycle.

    requested -> authorized -> captured -> partially_refunded -> refunded
        |            |             \\------------------------------^
        +------------+--> failed

    captured | partially_refunded --opened--> disputed --won--> captured | partially_refunded (as it was)
                                                   \\--lost--> charged_back

A dispute (chargeback) can be opened on a captured or partly refunded payment; while it is open nothing
is refunded (the card network decides the money). Won, the payment returns to where it was; lost, the
disputed amount went back to the cardholder and the payment is closed as charged_back.

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
    DISPUTED = "disputed"
    CHARGED_BACK = "charged_back"


TRANSITIONS: dict[PaymentState, frozenset[PaymentState]] = {
    PaymentState.REQUESTED: frozenset({PaymentState.AUTHORIZED, PaymentState.FAILED}),
    PaymentState.AUTHORIZED: frozenset({PaymentState.CAPTURED, PaymentState.FAILED}),
    PaymentState.CAPTURED: frozenset({PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED,
                                      PaymentState.DISPUTED}),
    # A second partial refund keeps the payment partially refunded.
    PaymentState.PARTIALLY_REFUNDED: frozenset({PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED,
                                                PaymentState.DISPUTED}),
    PaymentState.FAILED: frozenset(),
    PaymentState.REFUNDED: frozenset(),
    PaymentState.DISPUTED: frozenset({PaymentState.CAPTURED, PaymentState.PARTIALLY_REFUNDED,
                                      PaymentState.CHARGED_BACK}),
    PaymentState.CHARGED_BACK: frozenset(),
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
