"""Every transition of the payment state machine, legal and illegal."""

from __future__ import annotations

import itertools

import pytest

from functions.payments.states import TRANSITIONS, IllegalTransitionError, PaymentState, check_transition

S = PaymentState
LEGAL = {
    (S.REQUESTED, S.AUTHORIZED), (S.REQUESTED, S.FAILED),
    (S.AUTHORIZED, S.CAPTURED), (S.AUTHORIZED, S.FAILED),
    (S.CAPTURED, S.PARTIALLY_REFUNDED), (S.CAPTURED, S.REFUNDED),
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED), (S.PARTIALLY_REFUNDED, S.REFUNDED),
    (S.CAPTURED, S.DISPUTED), (S.PARTIALLY_REFUNDED, S.DISPUTED),
    (S.DISPUTED, S.CAPTURED), (S.DISPUTED, S.PARTIALLY_REFUNDED), (S.DISPUTED, S.CHARGED_BACK),
}
ALL_PAIRS = list(itertools.product(PaymentState, PaymentState))


def test_the_table_is_exactly_the_documented_machine() -> None:
    assert {(source, target) for source, targets in TRANSITIONS.items() for target in targets} == LEGAL


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_legal_transitions_are_applied(source: PaymentState, target: PaymentState) -> None:
    assert check_transition(source, target) is target


@pytest.mark.parametrize(("source", "target"), [pair for pair in ALL_PAIRS if pair not in LEGAL])
def test_illegal_transitions_are_rejected(source: PaymentState, target: PaymentState) -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        check_transition(source, target)
    assert (raised.value.current, raised.value.target) == (source, target)


@pytest.mark.parametrize(("source", "target"), [("captured", "voided"), ("pending", "captured")])
def test_unknown_states_are_rejected(source: str, target: str) -> None:
    with pytest.raises(IllegalTransitionError):
        check_transition(source, target)
