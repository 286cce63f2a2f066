"""GET /payments/{paymentId}: the stored payment as the function recorded it, 404 when unknown."""

from __future__ import annotations

import pytest

from functions.payments import reasons
from tests.payments.harness import Harness, payment
from tests.support import reply_json


def test_a_captured_payment_then_refunded_in_part(payments: Harness) -> None:
    assert payments.pay(payment("pay_7")).status_code == 200
    response = payments.client.get("/payments/pay_7")
    assert response.status_code == 200
    body = reply_json(response)
    [event] = payments.of_type("payments.payment-processed")
    assert body["paymentId"] == "pay_7" and body["status"] == "captured"
    assert (body["amount"], body["currency"], body["refundedAmount"]) == ("100.00", "EUR", "0.00")
    assert body["gatewayReference"] == event["gatewayReference"] and body["reason"] is None
    assert body["createdAt"].endswith("Z")

    refund = {"refundId": "re_1", "paymentId": "pay_7", "amount": "30.50", "currency": "EUR"}
    assert payments.refund(refund).headers["ce-type"] == "payments.refund-processed"
    after = reply_json(payments.client.get("/payments/pay_7/"))
    assert (after["status"], after["refundedAmount"]) == ("partially_refunded", "30.50")


def test_a_failed_payment_answers_its_reason(payments: Harness) -> None:
    payments.pay(payment(method={"type": "card", "token": "tok_insufficientFunds"}))
    body = reply_json(payments.client.get("/payments/pay_1"))
    assert body["status"] == "failed" and body["reason"] == reasons.INSUFFICIENT_FUNDS
    assert body["amount"] == "100.00" and body["refundedAmount"] == "0.00"


def test_zero_decimal_currency_amounts(payments: Harness) -> None:
    payments.pay(payment(amount="1000", currency="JPY"))
    body = reply_json(payments.client.get("/payments/pay_1"))
    assert (body["amount"], body["currency"], body["refundedAmount"]) == ("1000", "JPY", "0")


def test_an_unknown_payment_is_404_json(payments: Harness) -> None:
    response = payments.client.get("/payments/pay_missing")
    assert response.status_code == 404
    assert response.content_type == "application/json"
    assert reply_json(response)["error"] == "not_found"


@pytest.mark.parametrize("payment_id", ["x" * 129, "pay%201", "4242424242424242%20x"])
def test_an_id_that_cannot_exist_is_400_naming_it(payments: Harness, payment_id: str) -> None:
    response = payments.client.get(f"/payments/{payment_id}")
    assert response.status_code == 400
    body = reply_json(response)
    assert body["field"] == "paymentId" and body["rule"] == "identifier"
    assert "4242424242424242" not in response.get_data(as_text=True)
