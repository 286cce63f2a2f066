"""payment-requested through the real HTTP path: test tokens, reason codes, fees, outputs, validation."""

from __future__ import annotations

from typing import Any

import pytest

from functions.payments import reasons
from functions.payments.gateways.simulated import SimulatedGateway
from tests.payments.harness import Harness, payment
from tests.support import reply_json

PROCESSED = "payments.payment-processed"
FAILED = "payments.payment-failed"


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard", "tok_amex", "tok_discover", "tok_bankTransfer",
                                   "tok_wallet"])
def test_approved_tokens_capture_with_fee_and_gateway_reference(payments: Harness, token: str) -> None:
    method = {"type": "card", "token": token, "country": "DE"}
    response = payments.pay(payment(method=method, metadata={"customerEmail": "j@example.com",
                                                             "webhookUrl": "https://m.example/hook"}))
    assert response.status_code == 200, response.data
    assert response.headers["ce-type"] == PROCESSED
    [processed] = payments.of_type(PROCESSED)
    assert processed["status"] == "captured"
    assert processed["amount"] == "100.00" and processed["currency"] == "EUR"
    # 2.9 % of 100.00 + 0.25 fixed
    assert processed["fee"] == {"amount": "3.15", "currency": "EUR"}
    assert processed["net"] == {"amount": "96.85", "currency": "EUR"}
    assert processed["gateway"] == "simulated"
    assert processed["gatewayReference"].startswith("pi_sim_")
    assert processed["metadata"] == {"customerEmail": "j@example.com", "webhookUrl": "https://m.example/hook"}
    [captured] = payments.audits()
    assert captured["action"] == "payment.captured" and captured["outcome"] == "success"
    assert captured["subject"] == "pay_1"
    assert captured["details"]["customerId"] == "cus_1" and captured["details"]["merchantId"] == "mer_1"
    assert captured["details"]["amount"] == "100.00" and captured["details"]["currency"] == "EUR"
    stored = payments.payment("pay_1")
    assert stored is not None and stored.status == "captured"
    assert (stored.amount_minor, stored.fee_minor, stored.net_minor) == (10000, 315, 9685)
    assert stored.gateway_reference == processed["gatewayReference"]


@pytest.mark.parametrize(("token", "reason"), [
    ("tok_chargeDeclined", reasons.CARD_DECLINED),
    ("tok_insufficientFunds", reasons.INSUFFICIENT_FUNDS),
    ("tok_chargeDeclinedInsufficientFunds", reasons.INSUFFICIENT_FUNDS),
    ("tok_expiredCard", reasons.EXPIRED_CARD),
    ("tok_chargeDeclinedExpiredCard", reasons.EXPIRED_CARD),
    ("tok_incorrectCvc", reasons.INCORRECT_CVC),
    ("tok_chargeDeclinedIncorrectCvc", reasons.INCORRECT_CVC),
    ("tok_lostCard", reasons.LOST_OR_STOLEN_CARD),
    ("tok_stolenCard", reasons.LOST_OR_STOLEN_CARD),
    ("tok_unknownToSimulator", reasons.INVALID_PAYMENT_METHOD),
])
def test_declining_tokens_fail_with_their_reason(payments: Harness, token: str, reason: str) -> None:
    response = payments.pay(payment(method={"type": "card", "token": token}, metadata={"customerPhone": "+4411"}))
    assert response.status_code == 200
    assert response.headers["ce-type"] == FAILED
    [failed] = payments.of_type(FAILED)
    assert failed["reason"] == reason and reason in reasons.PAYMENT_FAILURE_REASONS
    assert failed["metadata"] == {"customerPhone": "+4411"}
    [audit] = payments.audits()
    assert audit["action"] == "payment.failed" and audit["outcome"] == "failure"
    assert audit["details"]["reason"] == reason
    assert {"customerId", "merchantId", "amount", "currency"} <= set(audit["details"])
    stored = payments.payment("pay_1")
    assert stored is not None and stored.status == "failed" and stored.failure_reason == reason
    assert payments.of_type(PROCESSED) == []


@pytest.mark.parametrize("token", ["tok_processingError", "tok_chargeDeclinedProcessingError"])
def test_processing_error_is_503_and_leaves_nothing(payments: Harness, token: str) -> None:
    response = payments.pay(payment(method={"type": "card", "token": token}))
    assert response.status_code == 503
    assert payments.publisher.events == []
    assert payments.payments() == []


def test_redelivery_after_a_lost_capture_response_charges_once(payments: Harness) -> None:
    gateway = payments.gateway
    assert isinstance(gateway, SimulatedGateway)
    gateway.lose_responses("capture")
    first = payments.pay(payment(), event_id="evt-1")
    assert first.status_code == 503
    assert payments.payments() == [] and payments.publisher.events == []
    again = payments.pay(payment(), event_id="evt-1")
    assert again.status_code == 200 and again.headers["ce-type"] == PROCESSED
    third = payments.pay(payment(), event_id="evt-1")  # a plain duplicate: the stored answer
    assert third.status_code == 200 and third.data == again.data
    assert gateway.effects == {"authorize": 1, "capture": 1}
    assert len(payments.of_type(PROCESSED)) == 1 + 1  # the duplicate's answer is published again, same id
    assert len({event.id for event in payments.publisher.of_type(PROCESSED)}) == 1


def test_redelivery_after_a_lost_authorization_response_authorizes_once(payments: Harness) -> None:
    gateway = payments.gateway
    assert isinstance(gateway, SimulatedGateway)
    gateway.lose_responses("authorize", 2)
    assert payments.pay(payment(), event_id="evt-1").status_code == 503
    assert payments.pay(payment(), event_id="evt-1").status_code == 503
    assert payments.pay(payment(), event_id="evt-1").status_code == 200
    assert gateway.effects == {"authorize": 1, "capture": 1}
    assert len(payments.of_type(PROCESSED)) == 1


def test_a_new_event_for_a_recorded_payment_id_charges_nothing(payments: Harness) -> None:
    assert payments.pay(payment(), event_id="evt-1").status_code == 200
    again = payments.pay(payment(amount="5.00"), event_id="evt-2")
    # issue 13: other parameters are no longer a silent 204 but a refusal (tests/payments/test_idempotency.py)
    assert again.status_code == 422 and reply_json(again)["error"] == "idempotency_conflict"
    assert len(payments.of_type(PROCESSED)) == 1
    stored = payments.payment("pay_1")
    assert stored is not None and stored.amount_minor == 10000


@pytest.mark.parametrize(("amount", "currency", "fee", "net"), [
    ("0.50", "EUR", "0.26", "0.24"),       # 1.45 cents rounds down to 1, + 25
    ("0.52", "EUR", "0.27", "0.25"),       # 1.508 cents rounds up to 2, + 25
    ("1000", "JPY", "29", "971"),          # zero-decimal currency, no fixed part
    ("10.000", "KWD", "0.290", "9.710"),   # three-decimal currency
    ("12.34", "USD", "0.66", "11.68"),     # 35.786 -> 36 cents, + 30
])
def test_fees_are_integer_minor_units_rounded_half_up(payments: Harness, amount: str, currency: str, fee: str,
                                                      net: str) -> None:
    response = payments.pay(payment(amount=amount, currency=currency))
    assert response.status_code == 200, response.data
    [processed] = payments.of_type(PROCESSED)
    assert processed["fee"] == {"amount": fee, "currency": currency}
    assert processed["net"] == {"amount": net, "currency": currency}


@pytest.mark.parametrize(("overrides", "field", "rule"), [
    ({"amount": "0.49"}, "data.amount", "min_amount"),
    ({"amount": "1000000.00"}, "data.amount", "max_amount"),
    ({"currency": "HUF", "amount": "100"}, "data.currency", "supported_currency"),
    ({"currency": "XYZ"}, "data.currency", "iso4217"),
    ({"amount": "1.001"}, "data.amount", "decimal_places"),
    ({"amount": "0"}, "data.amount", "positive"),
    ({"amount": "-5.00"}, "data.amount", "positive"),
    ({"customerId": ""}, "data.customerId", "string_too_short"),
    ({"merchantId": None}, "data.merchantId", "string_type"),
])
def test_invalid_requests_are_422_naming_the_field(payments: Harness, overrides: dict[str, Any], field: str,
                                                   rule: str) -> None:
    response = payments.pay(payment(**overrides))
    assert response.status_code == 422, response.data
    body = reply_json(response)
    assert body["field"] == field and body["rule"] == rule
    assert payments.publisher.events == [] and payments.payments() == []


def test_missing_merchant_is_422(payments: Harness) -> None:
    data = payment()
    del data["merchantId"]
    response = payments.pay(data)
    assert response.status_code == 422
    assert reply_json(response)["field"] == "data.merchantId"
