"""Helpers of the merchant webhook tests: register endpoints, post payment events and PingSource ticks,
and verify deliveries with two independent Standard Webhooks libraries."""

from __future__ import annotations

import uuid
from typing import Any

from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook

from tests.notifications.harness import Harness
from tests.support import post_event, reply_json
from tests.support.http_recorder import Recorded

PROCESSED = "payments.payment-processed"
PAYMENT_FAILED = "payments.payment-failed"
REFUND_PROCESSED = "payments.refund-processed"
PING = "dev.knative.sources.ping"
PING_SOURCE = "/apis/v1/namespaces/paymesh/pingsources/notifications-ticks"


def processed(payment_id: str, merchant_id: str = "mer_1") -> dict[str, Any]:
    return {"paymentId": payment_id, "customerId": "cus_1", "merchantId": merchant_id, "amount": "20.00",
            "currency": "EUR", "fee": {"amount": "0.60", "currency": "EUR"},
            "net": {"amount": "19.40", "currency": "EUR"}, "gateway": "simulated", "gatewayReference": "sim_1"}


def payment_failed(payment_id: str, merchant_id: str = "mer_1") -> dict[str, Any]:
    return {"paymentId": payment_id, "customerId": "cus_1", "merchantId": merchant_id, "amount": "20.00",
            "currency": "EUR", "reason": "card_declined"}


def register(app: Harness, url: str, merchant_id: str = "mer_1", event_types: list[str] | None = None,
             **extra: Any) -> dict[str, Any]:
    response = app.client.post("/endpoints", json={"merchantId": merchant_id, "url": url,
                                                   "eventTypes": event_types or [PROCESSED, PAYMENT_FAILED],
                                                   **extra})
    assert response.status_code == 201, response.data
    body: dict[str, Any] = reply_json(response)
    return body


def tick(app: Harness) -> Any:
    """One PingSource event, as Knative's PingSource sends it (data from the manifest)."""
    response = post_event(app.client, PING, {"tick": "webhook-retries"}, event_id=str(uuid.uuid4()),
                          source=PING_SOURCE)
    assert response.status_code in {200, 204}, response.data
    return response


def attempts(app: Harness, message_id: str) -> list[dict[str, Any]]:
    response = app.client.get(f"/messages/{message_id}/attempts")
    assert response.status_code == 200, response.data
    found: list[dict[str, Any]] = reply_json(response)["attempts"]
    return found


def verify(secret: str, request: Recorded) -> dict[str, Any]:
    """The payload, checked by standardwebhooks and by svix (each raises on a bad signature)."""
    headers = {key.lower(): value for key, value in request.headers.items()}
    payload: dict[str, Any] = StandardWebhook(secret).verify(request.body, headers)
    SvixWebhook(secret).verify(request.body, headers)
    return payload
