"""The Stripe adapter on the official SDK, against a local server speaking the PaymentIntents endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.payments import reasons
from functions.payments.app import build_gateway
from functions.payments.settings import PaymentsSettings
from tests.payments.fake_stripe import FakeStripe, fake_stripe
from tests.payments.harness import Harness, harness, payment


@pytest.fixture
def stripe_server() -> Iterator[FakeStripe]:
    with fake_stripe() as server:
        yield server


@pytest.fixture
def on_stripe(backend: str, tmp_path: Path, stripe_server: FakeStripe) -> Iterator[Harness]:
    settings = PaymentsSettings(payments_gateway="stripe", payments_stripe_api_key="sk_test_paymesh",
                                payments_stripe_api_base=stripe_server.url, payments_stripe_timeout_seconds=5)
    with harness(backend, tmp_path, settings, build_gateway(settings)) as built:
        yield built


def test_capture_makes_exactly_these_requests(on_stripe: Harness, stripe_server: FakeStripe) -> None:
    response = on_stripe.pay(payment(amount="12.34", method={"type": "card", "token": "tok_visa"}))
    assert response.status_code == 200 and response.headers["ce-type"] == "payments.payment-processed"
    processed = on_stripe.of_type("payments.payment-processed")[0]
    assert processed["gateway"] == "stripe" and processed["gatewayReference"] == "pi_0001"

    made = [(request.method, request.path, request.headers.get("Idempotency-Key")) for request in stripe_server.requests]
    assert made == [
        ("POST", "/v1/payment_intents", "paymesh-pay_1-create"),
        ("POST", "/v1/payment_intents/pi_0001/confirm", "paymesh-pay_1-confirm"),
        ("POST", "/v1/payment_intents/pi_0001/capture", "paymesh-pay_1-capture"),
    ]
    create = stripe_server.requests[0]
    assert create.headers["Authorization"] == "Bearer sk_test_paymesh"
    assert create.form == {
        "amount": "1234", "currency": "eur", "capture_method": "manual", "payment_method_types[0]": "card",
        "payment_method_data[type]": "card", "payment_method_data[card][token]": "tok_visa",
        "metadata[paymentId]": "pay_1", "metadata[customerId]": "cus_1", "metadata[merchantId]": "mer_1",
        "description": "order 1",
    }
    assert stripe_server.requests[1].form == {} and stripe_server.requests[2].form == {}


@pytest.mark.parametrize(("token", "reason"), [
    ("tok_chargeDeclined", reasons.CARD_DECLINED),
    ("tok_chargeDeclinedInsufficientFunds", reasons.INSUFFICIENT_FUNDS),
    ("tok_chargeDeclinedExpiredCard", reasons.EXPIRED_CARD),
    ("tok_chargeDeclinedIncorrectCvc", reasons.INCORRECT_CVC),
])
def test_card_errors_become_payment_failed(on_stripe: Harness, stripe_server: FakeStripe, token: str,
                                           reason: str) -> None:
    response = on_stripe.pay(payment(method={"type": "card", "token": token}))
    assert response.headers["ce-type"] == "payments.payment-failed"
    assert on_stripe.of_type("payments.payment-failed")[0]["reason"] == reason
    stored = on_stripe.payment("pay_1")
    assert stored is not None and stored.status == "failed" and stored.gateway_reference == "pi_0001"
    assert stripe_server.captures == 0


def test_processing_error_is_503(on_stripe: Harness, stripe_server: FakeStripe) -> None:
    response = on_stripe.pay(payment(method={"type": "card", "token": "tok_chargeDeclinedProcessingError"}))
    assert response.status_code == 503
    assert on_stripe.payments() == []


def test_bank_transfer_is_not_supported_by_the_adapter(on_stripe: Harness, stripe_server: FakeStripe) -> None:
    on_stripe.pay(payment(method={"type": "bank_transfer", "token": "btok_1"}))
    assert on_stripe.of_type("payments.payment-failed")[0]["reason"] == reasons.METHOD_NOT_SUPPORTED
    assert stripe_server.requests == []


def test_redelivery_after_a_lost_capture_response_charges_once(on_stripe: Harness, stripe_server: FakeStripe) -> None:
    stripe_server.lose["/capture"] = 1
    assert on_stripe.pay(payment(), event_id="evt-1").status_code == 503
    again = on_stripe.pay(payment(), event_id="evt-1")
    assert again.status_code == 200 and again.headers["ce-type"] == "payments.payment-processed"
    assert len(stripe_server.intents) == 1 and stripe_server.captures == 1
    keys = [request.headers.get("Idempotency-Key") for request in stripe_server.requests]
    assert keys == ["paymesh-pay_1-create", "paymesh-pay_1-confirm", "paymesh-pay_1-capture"] * 2
    assert len(on_stripe.of_type("payments.payment-processed")) == 1


def test_refund_goes_to_the_refunds_endpoint(on_stripe: Harness, stripe_server: FakeStripe) -> None:
    on_stripe.pay(payment())
    response = on_stripe.refund({"refundId": "re_a", "paymentId": "pay_1", "amount": "40.00", "currency": "EUR"})
    assert response.headers["ce-type"] == "payments.refund-processed"
    processed = on_stripe.of_type("payments.refund-processed")[0]
    assert processed["gateway"] == "stripe" and processed["gatewayReference"] == "re_0001"
    last = stripe_server.requests[-1]
    assert (last.path, last.headers["Idempotency-Key"]) == ("/v1/refunds", "paymesh-refund-re_a")
    assert last.form == {"payment_intent": "pi_0001", "amount": "4000"}
