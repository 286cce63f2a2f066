"""Stripe webhook bodies shaped like Stripe's documented events, signed the way Stripe documents it
(Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the endpoint secret>), computed here
independently of the SDK the service verifies with."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

SECRET = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"


def sign(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def event(event_type: str, item: dict[str, Any], event_id: str = "evt_1NG8Du2eZvKYlo2CUI79vXWy") -> dict[str, Any]:
    return {"id": event_id, "object": "event", "api_version": "2024-06-20", "created": 1732870000,
            "type": event_type, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "data": {"object": item}}


def dispute(payment_intent: str, status: str = "needs_response", amount: int = 10000, currency: str = "eur",
            dispute_id: str = "dp_1Q2w3E4r5T6y7U8i") -> dict[str, Any]:
    return {"id": dispute_id, "object": "dispute", "amount": amount, "currency": currency,
            "charge": "ch_3Q2w3E4r5T6y7U8i0", "payment_intent": payment_intent, "reason": "fraudulent",
            "status": status, "is_charge_refundable": False, "livemode": False, "metadata": {},
            "evidence_details": {"due_by": 1733734000, "has_evidence": False, "past_due": False,
                                 "submission_count": 0}}


def payment_intent(intent_id: str, amount: int = 10000, currency: str = "eur") -> dict[str, Any]:
    return {"id": intent_id, "object": "payment_intent", "amount": amount, "amount_received": amount,
            "currency": currency, "status": "succeeded", "latest_charge": "ch_3Q2w3E4r5T6y7U8i0",
            "metadata": {"paymentId": "pay_1"}}


def payout(payout_id: str = "po_1Q2w3E4r5T6y7U8i", amount: int = 250000, currency: str = "eur") -> dict[str, Any]:
    return {"id": payout_id, "object": "payout", "amount": amount, "currency": currency, "arrival_date": 1732924800,
            "status": "paid", "automatic": True}


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
