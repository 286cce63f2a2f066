"""A raw card number anywhere in the payload is refused with 422 naming the field, never stored or logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from functions.payments.pan import find_pan
from shared.cards import contains_pan, luhn_valid
from tests.payments.harness import Harness, payment
from tests.support import reply_json

VISA = "4242424242424242"


@pytest.mark.parametrize(("text", "found"), [
    (VISA, True),
    ("4242 4242 4242 4242", True),
    ("4242-4242-4242-4242", True),
    ("card 378282246310005 amex", True),          # 15 digits
    ("4222222222222", True),                      # 13 digits
    ("6250941006528599", True),                   # UnionPay, 16
    ("4242424242424241", False),                  # fails Luhn
    ("424242424242", False),                      # 12 digits
    ("42424242424242424242", False),              # 20-digit run is not a PAN
    ("order 2024-01-01 12:00", False),
    ("+44 7700 900123", False),
    ("pay_1234567890", False),
])
def test_detection(text: str, found: bool) -> None:
    assert contains_pan(text) is found


def test_luhn() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")


def test_find_pan_names_nested_paths_and_keys() -> None:
    assert find_pan({"metadata": {"cart": [{"note": f"pay with {VISA}"}]}}) == "metadata.cart.0.note"
    assert find_pan({"metadata": {VISA: "x"}}) == "metadata.<key>"
    assert find_pan({"metadata": {"n": int(VISA)}}) == "metadata.n"
    assert find_pan({"metadata": {"ok": "nothing"}}) is None


@pytest.mark.parametrize(("overrides", "field"), [
    ({"metadata": {"note": VISA}}, "data.metadata.note"),
    ({"metadata": {"deep": {"list": ["a", {"card": "4242 4242 4242 4242"}]}}}, "data.metadata.deep.list.1.card"),
    ({"method": {"type": "card", "token": VISA}}, "data.method.token"),
    ({"description": f"card {VISA} exp 12/30"}, "data.description"),
    ({"cardNumber": VISA}, "data.metadata.cardNumber"),   # an unknown top-level field lands in metadata
])
def test_pan_in_the_payload_is_422_and_never_stored_or_logged(payments: Harness, overrides: dict[str, Any],
                                                               field: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    response = payments.pay(payment(**overrides))
    assert response.status_code == 422
    body = reply_json(response)
    assert body["field"] == field and body["rule"] == "no_pan"
    assert VISA not in response.get_data(as_text=True) and "4242 4242" not in response.get_data(as_text=True)
    assert VISA not in caplog.text and "4242 4242 4242 4242" not in caplog.text
    assert payments.payments() == [] and payments.publisher.events == []


def test_pan_in_a_refund_request_is_refused(payments: Harness) -> None:
    response = payments.refund({"refundId": "re_1", "paymentId": "pay_1", "amount": "1.00", "currency": "EUR",
                                "metadata": {"why": f"customer card {VISA}"}})
    assert response.status_code == 422
    assert reply_json(response)["field"] == "data.metadata.why"
    assert payments.refunds() == []
