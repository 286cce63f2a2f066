"""A reused paymentId or refundId: the same parameters are a harmless duplicate (204, nothing emitted); other
parameters are refused with 422 idempotency_conflict naming every field that differs (as Stripe answers an
idempotency key reused with other parameters). A redelivery of one CloudEvent answers its stored outcome.
"""

from __future__ import annotations

from typing import Any

import pytest

from functions.payments.gateways.simulated import SimulatedGateway
from tests.payments.harness import Harness, payment
from tests.support import reply_json

PROCESSED = "payments.payment-processed"
CARD = {"type": "card", "token": "tok_visa", "bin": "424242", "last4": "4242", "brand": "visa", "country": "DE"}


def first(payments: Harness, **overrides: Any) -> None:
    response = payments.pay(payment(method=dict(CARD), **overrides), event_id="evt-1")
    assert response.status_code == 200 and response.headers["ce-type"] == PROCESSED
    payments.publisher.events.clear()


def conflict_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.data
    body = reply_json(response)
    assert body["error"] == "idempotency_conflict"
    assert all(problem["rule"] == "idempotency_conflict" for problem in body["errors"])
    return [problem["field"] for problem in body["errors"]]


def effects(payments: Harness) -> dict[str, int]:
    assert isinstance(payments.gateway, SimulatedGateway)
    return dict(payments.gateway.effects)


@pytest.mark.parametrize(("overrides", "fields"), [
    ({"amount": "5.00"}, ["data.amount"]),
    ({"amount": "100.00", "currency": "USD"}, ["data.currency"]),
    ({"amount": "5.00", "currency": "USD"}, ["data.amount", "data.currency"]),
    ({"customerId": "cus_2", "merchantId": "mer_2"}, ["data.customerId", "data.merchantId"]),
    ({"billingCountry": "FR"}, ["data.billingCountry"]),
    ({"method": {**CARD, "token": "tok_mastercard"}}, ["data.method.token"]),
    ({"method": {**CARD, "type": "wallet"}}, ["data.method.type"]),
    ({"method": {**CARD, "bin": "555555", "last4": "4444", "brand": "mastercard", "country": "FR"}},
     ["data.method.bin", "data.method.last4", "data.method.brand", "data.method.country"]),
])
def test_a_reused_payment_id_with_other_parameters_is_422_naming_each_field(
        payments: Harness, overrides: dict[str, Any], fields: list[str]) -> None:
    first(payments)
    data = payment(method=dict(CARD))
    data.update(overrides)
    response = payments.pay(data, event_id="evt-2")
    assert conflict_fields(response) == fields
    assert "tok_" not in response.get_data(as_text=True)  # the token is named, never echoed
    assert payments.publisher.events == []
    assert effects(payments) == {"authorize": 1, "capture": 1}
    stored = payments.payment("pay_1")
    assert stored is not None and (stored.amount_minor, stored.currency, stored.status) == (10000, "EUR", "captured")


def test_the_same_parameters_in_a_new_event_are_a_harmless_duplicate(payments: Harness) -> None:
    first(payments)
    # Amount written differently, description and metadata changed: not parameters of the charge.
    again = payments.pay(payment(method=dict(CARD), amount="100", description="order 1, again",
                                 metadata={"note": "retry"}), event_id="evt-2")
    assert again.status_code == 204 and again.data == b""
    assert payments.publisher.events == []
    assert effects(payments) == {"authorize": 1, "capture": 1}


def test_a_redelivered_event_answers_its_stored_outcome(payments: Harness) -> None:
    original = payments.pay(payment(method=dict(CARD)), event_id="evt-1")
    redelivered = payments.pay(payment(method=dict(CARD)), event_id="evt-1")
    assert redelivered.status_code == 200 and redelivered.data == original.data
    assert effects(payments) == {"authorize": 1, "capture": 1}


def test_a_refused_conflict_is_refused_again_when_redelivered(payments: Harness) -> None:
    first(payments)
    conflicting = payment(method=dict(CARD), amount="5.00")
    assert conflict_fields(payments.pay(conflicting, event_id="evt-2")) == ["data.amount"]
    assert conflict_fields(payments.pay(conflicting, event_id="evt-2")) == ["data.amount"]


def test_a_failed_payment_id_is_a_business_key_too(payments: Harness) -> None:
    declined = {**CARD, "token": "tok_chargeDeclined"}
    assert payments.pay(payment(method=declined), event_id="evt-1").headers["ce-type"] == "payments.payment-failed"
    assert payments.pay(payment(method=declined), event_id="evt-2").status_code == 204
    assert conflict_fields(payments.pay(payment(method=dict(CARD)), event_id="evt-3")) == ["data.method.token"]


# ---- refunds ---------------------------------------------------------------------------------------

def refund(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"refundId": "re_1", "paymentId": "pay_1", "amount": "10.00", "currency": "EUR",
                            "reason": "requested_by_customer"}
    data.update(overrides)
    return data


def refunded_once(payments: Harness) -> None:
    first(payments)
    assert payments.refund(refund(), event_id="evt-r1").headers["ce-type"] == "payments.refund-processed"
    payments.publisher.events.clear()


@pytest.mark.parametrize(("overrides", "fields"), [
    ({"amount": "20.00"}, ["data.amount"]),
    ({"currency": "USD"}, ["data.currency"]),
    ({"paymentId": "pay_2"}, ["data.paymentId"]),
])
def test_a_reused_refund_id_with_other_parameters_is_422(payments: Harness, overrides: dict[str, Any],
                                                         fields: list[str]) -> None:
    refunded_once(payments)
    assert conflict_fields(payments.refund(refund(**overrides), event_id="evt-r2")) == fields
    assert payments.publisher.events == []
    assert effects(payments)["refund"] == 1
    stored = payments.payment("pay_1")
    assert stored is not None and (stored.status, stored.refunded_minor) == ("partially_refunded", 1000)


def test_a_reused_refund_id_with_the_same_parameters_is_a_harmless_duplicate(payments: Harness) -> None:
    refunded_once(payments)
    again = payments.refund(refund(amount="10", reason="asked twice", metadata={"ticket": "T-2"}), event_id="evt-r2")
    assert again.status_code == 204
    assert payments.publisher.events == [] and effects(payments)["refund"] == 1


def test_a_failed_refund_id_is_a_business_key_too(payments: Harness) -> None:
    assert payments.refund(refund(), event_id="evt-r1").headers["ce-type"] == "payments.refund-failed"
    assert payments.refund(refund(), event_id="evt-r2").status_code == 204
    assert conflict_fields(payments.refund(refund(amount="1.00"), event_id="evt-r3")) == ["data.amount"]
