"""A dispute from the gateway's webhook to the merchant's balance and the merchant's own webhook endpoint: a payment
captured through the Stripe adapter (against the local fake Stripe), then Stripe's charge.dispute.created and
charge.dispute.closed webhooks through the gateway events service, and every resulting event delivered to the four
functions on a real store; the merchant's endpoint (a real local HTTP server) gets both dispute messages, signed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.payments.gateway_events.service import GatewayEventsApp
from shared.envelope import Envelope
from shared.publish import MemoryPublisher
from tests.notifications.webhook_support import verify
from tests.payments import stripe_webhooks as hooks
from tests.payments.fake_stripe import fake_stripe
from tests.payments.test_gateway_events import client_for
from tests.support.http_recorder import recording_server
from tests.support.mesh import Mesh, mesh

MERCHANT = "merchant:mer_1"


def payment_request() -> Envelope:
    data = {"paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1", "amount": "100.00", "currency": "EUR",
            "method": {"type": "card", "token": "tok_visa", "country": "DE"}, "billingCountry": "DE"}
    return Envelope({"specversion": "1.0", "id": "req-1", "source": "/tests/shop", "type": "payments.payment-requested",
                     "datacontenttype": "application/json", "partitionkey": "pay_1"}, data)


def webhook(app_mesh: Mesh, client: FlaskClient, publisher: MemoryPublisher, stripe_type: str,
            item: dict[str, Any], event_id: str) -> None:
    payload = hooks.body(hooks.event(stripe_type, item, event_id))
    response = client.post("/", data=payload, headers={"Stripe-Signature": hooks.sign(payload)})
    assert response.status_code == 200, response.data
    app_mesh.send(publisher.events[-1])


def merchant(app_mesh: Mesh) -> dict[str, str]:
    body = app_mesh.get("ledger", f"/accounts/{MERCHANT}/balances")
    return {key: value for key, value in body["balances"][0].items() if key != "currency"}


@pytest.mark.parametrize("redeliveries", [1, 2])
def test_a_lost_dispute_reaches_the_merchants_balance(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     redeliveries: int) -> None:
    with fake_stripe() as stripe_server, recording_server(default_status=204) as endpoint:
        environment = {"PAYMESH_PAYMENTS_GATEWAY": "stripe", "PAYMESH_PAYMENTS_STRIPE_API_KEY": "sk_test_local",
                       "PAYMESH_PAYMENTS_STRIPE_API_BASE": stripe_server.url,
                       "PAYMESH_NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}
        with mesh(backend, tmp_path, environment, monkeypatch) as app_mesh:
            app_mesh.deliveries = redeliveries
            registered = app_mesh.clients["notifications"].post("/endpoints", json={
                "merchantId": "mer_1", "url": endpoint.url + "/disputes",
                "eventTypes": ["payments.dispute-opened", "payments.dispute-closed"]})
            assert registered.status_code == 201, registered.data
            app_mesh.send(payment_request())
            intent = app_mesh.get("payments", "/payments/pay_1")["gatewayReference"]
            assert intent and intent.startswith("pi_")
            assert merchant(app_mesh) == {"posted": "-96.85", "pending": "-96.85", "available": "-96.85"}

            publisher = MemoryPublisher()
            client = client_for(GatewayEventsApp(hooks.SECRET, publisher))
            webhook(app_mesh, client, publisher, "charge.dispute.created", hooks.dispute(intent), "evt_open")
            assert app_mesh.get("payments", "/payments/pay_1")["status"] == "disputed"
            assert merchant(app_mesh) == {"posted": "-96.85", "pending": "3.15", "available": "3.15"}
            assert app_mesh.get("ledger", "/trial-balance")["balanced"]
            # Stripe delivers the same webhook again: nothing moves twice
            webhook(app_mesh, client, publisher, "charge.dispute.created", hooks.dispute(intent), "evt_open")
            assert merchant(app_mesh)["pending"] == "3.15"

            webhook(app_mesh, client, publisher, "charge.dispute.closed", hooks.dispute(intent, status="lost"),
                    "evt_close")
            assert app_mesh.get("payments", "/payments/pay_1")["status"] == "charged_back"
            assert merchant(app_mesh) == {"posted": "18.15", "pending": "18.15", "available": "18.15"}
            trial = app_mesh.get("ledger", "/trial-balance")
            assert trial["balanced"] and trial["currencies"][0]["pendingDebits"] == trial["currencies"][0][
                "pendingCredits"]
            assert set(status for _, _, status in app_mesh.statuses) <= {200, 204}
            audit_actions = [event.data["action"] for event in app_mesh.publishers["payments"].events
                             if event.type == "audit.payment-events" and event.data]
            assert "dispute.opened" in audit_actions and "dispute.lost" in audit_actions
            assert app_mesh.get("audit", "/verify")["ok"]
            # the merchant was told, once per dispute event, with messages its Standard Webhooks library accepts
            messages = [verify(registered.get_json()["secret"], request) for request in endpoint.requests]
            assert [(message["type"], message["data"]["disputeId"], message["data"].get("outcome"))
                    for message in messages] == [("payments.dispute-opened", "dp_1Q2w3E4r5T6y7U8i", None),
                                                 ("payments.dispute-closed", "dp_1Q2w3E4r5T6y7U8i", "lost")]
