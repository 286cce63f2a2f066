"""refund-requested: full, partial, never more than captured; illegal states refused and nothing applied."""

from __future__ import annotations

from typing import Any

import pytest

from functions.payments import reasons
from functions.payments.gateways.simulated import SimulatedGateway
from tests.payments.harness import Harness, payment

PROCESSED = "payments.refund-processed"
FAILED = "payments.refund-failed"


def refund(refund_id: str = "re_1", amount: str = "100.00", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"refundId": refund_id, "paymentId": "pay_1", "amount": amount, "currency": "EUR",
                            "reason": "requested_by_customer"}
    data.update(overrides)
    return data


def captured(payments: Harness) -> None:
    assert payments.pay(payment()).headers["ce-type"] == "payments.payment-processed"
    payments.publisher.events.clear()


def state(payments: Harness) -> tuple[str, int]:
    stored = payments.payment("pay_1")
    assert stored is not None
    return stored.status, stored.refunded_minor


def test_full_refund(payments: Harness) -> None:
    captured(payments)
    response = payments.refund(refund(metadata={"ticket": "T-1"}))
    assert response.status_code == 200 and response.headers["ce-type"] == PROCESSED
    [processed] = payments.of_type(PROCESSED)
    assert processed["amount"] == "100.00" and processed["refundedTotal"] == "100.00"
    assert processed["gateway"] == "simulated" and processed["gatewayReference"].startswith("re_sim_")
    assert processed["customerId"] == "cus_1" and processed["merchantId"] == "mer_1"
    assert processed["metadata"] == {"ticket": "T-1"}
    assert state(payments) == ("refunded", 10000)
    [audit] = payments.audits()
    assert audit["action"] == "refund.processed" and audit["subject"] == "pay_1"
    assert audit["details"]["customerId"] == "cus_1" and audit["details"]["amount"] == "100.00"


def test_partial_refunds_up_to_the_captured_amount(payments: Harness) -> None:
    captured(payments)
    payments.refund(refund("re_1", "30.00"))
    assert state(payments) == ("partially_refunded", 3000)
    payments.refund(refund("re_2", "50.00"))
    assert state(payments) == ("partially_refunded", 8000)
    over = payments.refund(refund("re_3", "20.01"))
    assert over.status_code == 200 and over.headers["ce-type"] == FAILED
    assert payments.of_type(FAILED)[0]["reason"] == reasons.AMOUNT_EXCEEDS_REFUNDABLE
    assert state(payments) == ("partially_refunded", 8000)
    payments.refund(refund("re_4", "20.00"))
    assert state(payments) == ("refunded", 10000)
    assert [event["refundedTotal"] for event in payments.of_type(PROCESSED)] == ["30.00", "80.00", "100.00"]
    after = payments.refund(refund("re_5", "0.01"))
    assert after.headers["ce-type"] == FAILED
    assert payments.of_type(FAILED)[-1]["reason"] == reasons.PAYMENT_NOT_REFUNDABLE
    assert state(payments) == ("refunded", 10000)


def test_over_refund_in_one_go(payments: Harness) -> None:
    captured(payments)
    response = payments.refund(refund(amount="100.01"))
    assert response.headers["ce-type"] == FAILED
    [failed] = payments.of_type(FAILED)
    assert failed["reason"] == reasons.AMOUNT_EXCEEDS_REFUNDABLE and "100.00 EUR" in failed["message"]
    assert state(payments) == ("captured", 0)
    [audit] = payments.audits()
    assert audit["action"] == "refund.failed" and audit["details"]["reason"] == reasons.AMOUNT_EXCEEDS_REFUNDABLE
    assert isinstance(payments.gateway, SimulatedGateway) and payments.gateway.effects["refund"] == 0


def test_refund_of_a_failed_payment_is_refused_and_not_applied(payments: Harness) -> None:
    payments.pay(payment(method={"type": "card", "token": "tok_chargeDeclined"}))
    response = payments.refund(refund())
    assert response.headers["ce-type"] == FAILED
    assert payments.of_type(FAILED)[0]["reason"] == reasons.PAYMENT_NOT_REFUNDABLE
    assert state(payments) == ("failed", 0)


def test_refund_of_an_unknown_payment(payments: Harness) -> None:
    response = payments.refund(refund())
    assert response.status_code == 200 and response.headers["ce-type"] == FAILED
    assert payments.of_type(FAILED)[0]["reason"] == reasons.PAYMENT_NOT_FOUND
    [audit] = payments.audits()
    assert audit["action"] == "refund.failed" and "customerId" not in audit["details"]


def test_refund_in_another_currency(payments: Harness) -> None:
    captured(payments)
    payments.refund(refund(currency="USD"))
    assert payments.of_type(FAILED)[0]["reason"] == reasons.CURRENCY_MISMATCH
    assert state(payments) == ("captured", 0)


def test_a_recorded_refund_id_refunds_nothing_again(payments: Harness) -> None:
    captured(payments)
    payments.refund(refund("re_1", "10.00"), event_id="evt-a")
    second = payments.refund(refund("re_1", "10.00"), event_id="evt-b")
    assert second.status_code == 204
    assert state(payments) == ("partially_refunded", 1000)


def test_refund_redelivered_after_a_lost_gateway_response_refunds_once(payments: Harness) -> None:
    captured(payments)
    gateway = payments.gateway
    assert isinstance(gateway, SimulatedGateway)
    gateway.lose_responses("refund")
    assert payments.refund(refund(amount="40.00"), event_id="evt-r").status_code == 503
    assert state(payments) == ("captured", 0) and payments.refunds() == []
    assert payments.refund(refund(amount="40.00"), event_id="evt-r").status_code == 200
    assert gateway.effects["refund"] == 1
    assert state(payments) == ("partially_refunded", 4000)


@pytest.mark.parametrize(("overrides", "field"), [({"amount": "0"}, "data.amount"),
                                                  ({"refundId": ""}, "data.refundId")])
def test_invalid_refund_requests_are_422(payments: Harness, overrides: dict[str, Any], field: str) -> None:
    response = payments.refund(refund(**overrides))
    assert response.status_code == 422
    assert response.get_json()["field"] == field
