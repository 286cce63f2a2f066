"""The gateway events service: Stripe webhooks verified with the stripe SDK, published as
payments.gateway-event-received; every bad input a 4xx JSON naming what is wrong, never a 5xx, and the signing
secret never in an answer or a log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient

from functions.payments.gateway_events.service import GatewayEventsApp
from shared.envelope import Envelope
from shared.errors import TransientError
from shared.publish import MemoryPublisher
from tests.payments import stripe_webhooks as hooks

GATEWAY_EVENT = "payments.gateway-event-received"


def client_for(app: GatewayEventsApp) -> FlaskClient:
    server = flask.Flask("test-gateway-events")

    def view(path: str) -> flask.Response:
        return app(flask.request)

    server.add_url_rule("/", "run", view, defaults={"path": ""}, methods=["GET", "POST", "PUT"])
    server.add_url_rule("/<path:path>", "run", view, methods=["GET", "POST"])
    return server.test_client()


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def client(publisher: MemoryPublisher) -> FlaskClient:
    return client_for(GatewayEventsApp(hooks.SECRET, publisher, tolerance_seconds=300, body_bytes_max=64 * 1024))


def post(client: FlaskClient, payload: bytes, signature: str | None = "sign") -> Any:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        headers["Stripe-Signature"] = hooks.sign(payload)
    elif signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post("/", data=payload, headers=headers)


def published(publisher: MemoryPublisher) -> list[dict[str, Any]]:
    return [event.data or {} for event in publisher.of_type(GATEWAY_EVENT)]


def test_a_dispute_created_webhook_is_published_as_a_gateway_event(client: FlaskClient,
                                                                   publisher: MemoryPublisher) -> None:
    response = post(client, hooks.body(hooks.event("charge.dispute.created", hooks.dispute("pi_3Q2w"))))
    assert response.status_code == 200 and response.get_json()["published"]["type"] == GATEWAY_EVENT
    [data] = published(publisher)
    assert data == {"gateway": "stripe", "gatewayEventId": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
                    "gatewayEventType": "charge.dispute.created", "kind": "dispute_opened", "reference": "pi_3Q2w",
                    "amount": "100.00", "currency": "EUR", "disputeId": "dp_1Q2w3E4r5T6y7U8i",
                    "disputeReason": "fraudulent", "occurredAt": "2024-11-29T08:46:40Z", "metadata": {}}
    [envelope] = publisher.events
    assert (envelope.attributes["partitionkey"], envelope.attributes["correlationid"]) == (
        "pi_3Q2w", "evt_1NG8Du2eZvKYlo2CUI79vXWy")


def test_a_webhook_delivered_twice_is_the_same_cloudevent(client: FlaskClient, publisher: MemoryPublisher) -> None:
    payload = hooks.body(hooks.event("charge.dispute.created", hooks.dispute("pi_3Q2w")))
    post(client, payload)
    post(client, payload)
    first, second = publisher.events
    assert first.to_structured() == second.to_structured()


@pytest.mark.parametrize(("stripe_type", "item", "expected"), [
    ("charge.dispute.closed", hooks.dispute("pi_9", status="lost", amount=500, currency="jpy"),
     {"kind": "dispute_closed", "disputeOutcome": "lost", "amount": "500", "currency": "JPY", "reference": "pi_9"}),
    ("charge.dispute.closed", hooks.dispute("pi_9", status="won"), {"kind": "dispute_closed", "disputeOutcome": "won"}),
    ("payment_intent.succeeded", hooks.payment_intent("pi_7", amount=1999, currency="usd"),
     {"kind": "payment_succeeded", "reference": "pi_7", "amount": "19.99", "currency": "USD"}),
    ("payout.paid", hooks.payout(), {"kind": "payout_paid", "reference": "po_1Q2w3E4r5T6y7U8i", "amount": "2500.00"}),
])
def test_each_wanted_type_is_translated(client: FlaskClient, publisher: MemoryPublisher, stripe_type: str,
                                        item: dict[str, Any], expected: dict[str, str]) -> None:
    assert post(client, hooks.body(hooks.event(stripe_type, item))).status_code == 200
    [data] = published(publisher)
    assert {key: data.get(key) for key in expected} == expected


@pytest.mark.parametrize("payload", [
    hooks.event("customer.created", {"id": "cus_1", "object": "customer"}),
    hooks.event("charge.dispute.created", hooks.dispute("pi_1", status="warning_needs_response")),
])
def test_types_and_inquiries_paymesh_does_not_use_are_acknowledged_not_published(
        client: FlaskClient, publisher: MemoryPublisher, payload: dict[str, Any]) -> None:
    response = post(client, hooks.body(payload))
    assert response.status_code == 200 and response.get_json() == {"received": True, "published": None}
    assert publisher.events == []


def refused(response: Any, status: int, field: str, rule: str) -> None:
    assert response.status_code == status, response.data
    body = response.get_json()
    assert (body["field"], body["rule"]) == (field, rule), body


def test_bad_signatures_are_refused_with_json_and_nothing_published(client: FlaskClient,
                                                                    publisher: MemoryPublisher) -> None:
    payload = hooks.body(hooks.event("charge.dispute.created", hooks.dispute("pi_1")))
    refused(post(client, payload, signature=None), 400, "Stripe-Signature", "required")
    refused(post(client, payload, signature=hooks.sign(payload, "whsec_other")), 401, "Stripe-Signature", "signature")
    refused(post(client, payload, signature=hooks.sign(payload, timestamp=int(time.time()) - 301)), 401,
            "Stripe-Signature", "signature")
    refused(post(client, payload, signature="garbage"), 401, "Stripe-Signature", "signature")
    altered = payload.replace(b'"amount": 10000', b'"amount": 10')
    assert altered != payload
    refused(post(client, altered, signature=hooks.sign(payload)), 401, "Stripe-Signature", "signature")
    assert publisher.events == []


def test_malformed_bodies_are_400_naming_the_field(client: FlaskClient, publisher: MemoryPublisher) -> None:
    refused(post(client, b"\xff\xfe not utf-8"), 400, "body", "utf8")
    refused(post(client, b"{not json"), 400, "body", "json")
    refused(post(client, b"[1, 2]"), 400, "body", "object")
    bad_currency = hooks.event("charge.dispute.created", hooks.dispute("pi_1", currency="xxq"))
    refused(post(client, hooks.body(bad_currency)), 400, "data.object.currency", "iso4217")
    no_reference = hooks.event("charge.dispute.created", {**hooks.dispute(""), "charge": None})
    refused(post(client, hooks.body(no_reference)), 400, "data.object.payment_intent", "required")
    float_amount = hooks.event("payout.paid", {**hooks.payout(), "amount": 12.5})
    refused(post(client, hooks.body(float_amount)), 400, "data.object.amount", "integer")
    assert publisher.events == []


def test_too_large_and_wrong_method_and_unknown_path(client: FlaskClient) -> None:
    response = post(client, b"{" + b" " * (64 * 1024) + b"}")
    refused(response, 413, "body", "max_bytes")
    assert client.get("/").status_code == 405 and client.get("/").get_json()["error"] == "method_not_allowed"
    assert client.post("/other", data=b"{}").status_code == 404
    assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200
    assert client.get("/metrics").status_code == 200


class FailingPublisher(MemoryPublisher):
    def publish(self, events: Sequence[Envelope]) -> None:
        raise TransientError("KafkaSink http://sink answered 500, not 202")


def test_a_publisher_failure_is_503_so_stripe_retries() -> None:
    client = client_for(GatewayEventsApp(hooks.SECRET, FailingPublisher()))
    response = post(client, hooks.body(hooks.event("charge.dispute.created", hooks.dispute("pi_1"))))
    assert response.status_code == 503 and response.get_json()["error"] == "unavailable"


def test_the_signing_secret_is_never_logged_or_answered(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    payload = hooks.body(hooks.event("charge.dispute.created", hooks.dispute("pi_1")))
    answers = [post(client, payload, signature=hooks.sign(payload, "whsec_other")).data,
               post(client, payload, signature=None).data, post(client, payload).data, post(client, b"{x").data]
    secret_key = hooks.SECRET.removeprefix("whsec_")
    for text in [*(answer.decode() for answer in answers), caplog.text,
                 *(repr(record.__dict__) for record in caplog.records)]:
        assert secret_key not in text
    assert caplog.records, "nothing was logged: the check above proves nothing"
