"""The four functions in one process for hostile-input tests, with a way to see every side effect.

A side effect is anything a refused event must not leave behind: a row in any table the function owns
(processed_events included), an event published, a call to the payment gateway, a webhook posted.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from functions.payments.gateways.simulated import SimulatedGateway
from shared.publish import MemoryPublisher
from shared.runtime import FunctionApp
from tests.support import build_app, flask_client, temporary_store
from tests.support.http_recorder import Recorder, recording_server
from tests.support.mesh import FUNCTIONS, Mesh, settings_class

STATUSES_REFUSED = {400, 413, 415, 422}
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# Well-formed data of every type a function consumes; each test corrupts a copy.
PAYMENT_REQUESTED: dict[str, Any] = {
    "paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1", "amount": "12.34", "currency": "EUR",
    "method": {"type": "card", "token": "tok_visa", "country": "DE"}, "billingCountry": "DE",
    "description": "order 1"}
REFUND_REQUESTED: dict[str, Any] = {"refundId": "ref_1", "paymentId": "pay_1", "amount": "1.00", "currency": "EUR"}
PAYMENT_PROCESSED: dict[str, Any] = {
    "paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1", "amount": "12.34", "currency": "EUR",
    "fee": {"amount": "0.30", "currency": "EUR"}, "net": {"amount": "12.04", "currency": "EUR"},
    "gateway": "simulated", "gatewayReference": "ch_1", "processedAt": "2026-11-29T10:00:00Z"}
PAYMENT_FAILED: dict[str, Any] = {
    "paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1", "amount": "12.34", "currency": "EUR",
    "reason": "card_declined", "message": "declined", "failedAt": "2026-11-29T10:00:00Z"}
REFUND_PROCESSED: dict[str, Any] = {
    "refundId": "ref_1", "paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1", "amount": "1.00",
    "currency": "EUR", "refundedTotal": "1.00", "gateway": "simulated", "gatewayReference": "re_1",
    "processedAt": "2026-11-29T10:00:00Z"}
TRANSACTION_REQUESTED: dict[str, Any] = {
    "transactionId": "txn_1", "description": "transfer", "effectiveAt": "2026-11-29T10:00:00Z",
    "postings": [{"account": "assets:cash", "direction": "debit", "amount": "5.00", "currency": "EUR"},
                 {"account": "equity:owner", "direction": "credit", "amount": "5.00", "currency": "EUR"}]}
NOTIFICATION_REQUESTED: dict[str, Any] = {
    "notificationId": "ntf_1", "channel": "webhook", "recipient": "http://127.0.0.1:9/hook", "subject": "hello",
    "body": "hello", "variables": {"name": "Jane"}}
AUDIT_EVENT: dict[str, Any] = {
    "service": "payments", "action": "payment.captured", "outcome": "success", "subject": "pay_1",
    "occurredAt": "2026-11-29T10:00:00Z", "details": {"amount": "12.34", "currency": "EUR", "customerId": "cus_1"}}
GATEWAY_EVENT_RECEIVED: dict[str, Any] = {
    "gateway": "simulated", "gatewayEventId": "evt_1", "gatewayEventType": "charge.dispute.created",
    "kind": "dispute_opened", "reference": "pi_sim_1", "amount": "12.34", "currency": "EUR", "disputeId": "dp_1",
    "disputeReason": "fraudulent", "occurredAt": "2026-11-29T10:00:00Z"}
DISPUTE_OPENED: dict[str, Any] = {
    "disputeId": "dp_1", "paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1", "amount": "12.34",
    "currency": "EUR", "reason": "fraudulent", "gateway": "simulated", "gatewayReference": "ch_1",
    "openedAt": "2026-11-29T10:00:00Z"}
DISPUTE_CLOSED: dict[str, Any] = {
    "disputeId": "dp_1", "paymentId": "pay_1", "customerId": "cus_1", "merchantId": "mer_1", "amount": "12.34",
    "currency": "EUR", "outcome": "lost", "fee": {"amount": "15.00", "currency": "EUR"}, "gateway": "simulated",
    "closedAt": "2026-11-29T11:00:00Z"}
SETTLEMENT_REPORTED: dict[str, Any] = {
    "gateway": "simulated", "batchId": "po_1", "currency": "EUR", "settledThrough": "2026-11-29T12:00:00Z",
    "lines": [{"gatewayReference": "ch_1", "gross": "12.34", "fee": "0.30", "net": "12.04"}]}

VALID_DATA: dict[str, dict[str, Any]] = {
    "payments.payment-requested": PAYMENT_REQUESTED,
    "payments.refund-requested": REFUND_REQUESTED,
    "payments.payment-processed": PAYMENT_PROCESSED,
    "payments.payment-failed": PAYMENT_FAILED,
    "payments.refund-processed": REFUND_PROCESSED,
    "payments.refund-failed": {"refundId": "ref_1", "paymentId": "pay_1", "merchantId": "mer_1", "amount": "1.00",
                               "currency": "EUR", "reason": "payment_not_found", "failedAt": "2026-11-29T10:00:00Z"},
    "ledger.transaction-requested": TRANSACTION_REQUESTED,
    "notifications.notification-requested": NOTIFICATION_REQUESTED,
    "audit.payment-events": AUDIT_EVENT,
    "audit.ledger-events": {**AUDIT_EVENT, "service": "ledger"},
    "audit.notification-events": {**AUDIT_EVENT, "service": "notifications"},
    "payments.gateway-event-received": GATEWAY_EVENT_RECEIVED,
    "payments.dispute-opened": DISPUTE_OPENED,
    "payments.dispute-closed": DISPUTE_CLOSED,
    "ledger.settlement-reported": SETTLEMENT_REPORTED,
    "ledger.settlement-requested": {"period": "2026-11-28", "currency": "EUR"},
    "ledger.payout-paid": {"payoutId": "po_unknown", "reference": "bank_1"},
    "ledger.payout-failed": {"payoutId": "po_unknown", "reason": "account_closed"},
}


@dataclass
class World:
    """The four functions on one backend, with the payments gateway and a webhook receiver to watch."""

    mesh: Mesh
    gateway: SimulatedGateway
    webhooks: Recorder

    @property
    def clients(self) -> dict[str, FlaskClient]:
        return self.mesh.clients

    @property
    def apps(self) -> dict[str, FunctionApp]:
        return self.mesh.apps


# The audit log keeps and publishes its newest signed checkpoint from a timer, on its own schedule, not
# because of the request at hand (functions/audit/integrator.py).
BACKGROUND_TYPES = frozenset({"audit.checkpoints"})
BACKGROUND_TABLES = frozenset({"audit_checkpoints"})


def state(world: World, function: str) -> dict[str, int]:
    """Rows per table, events published, gateway calls and webhooks posted: equal before and after a request
    means it had no side effect."""
    app = world.apps[function]
    published = [event for event in world.mesh.publishers[function].events if event.type not in BACKGROUND_TYPES]
    counts = {"published": len(published),
              "gateway_calls": len(world.gateway.results), "webhooks_posted": len(world.webhooks.requests)}
    with app.store.engine.connect() as connection:
        for table in sorted(app.spec.tables - BACKGROUND_TABLES | {"processed_events"}):
            counts[table] = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    return counts


def consumed(world: World) -> dict[str, list[str]]:
    """Function -> the types it consumes."""
    return {name: sorted(app.spec.consumes) for name, app in world.apps.items()}


def refusal(response: Any) -> dict[str, Any]:
    """The JSON error of a refused event; fails the test when the answer is not a 4xx naming a field."""
    assert response.status_code in STATUSES_REFUSED, (response.status_code, response.data[:400])
    body: dict[str, Any] = json.loads(response.data)
    assert body["error"] and body["message"] and body.get("field"), body
    return body


@contextmanager
def world(backend: str, tmp_path: Path, environment: Mapping[str, str] | None = None) -> Iterator[World]:
    """Each function built from its settings and spec, on a temporary store of `backend`; webhooks may go to
    the local receiver (127.0.0.1 is allow-listed), the gateway is the simulated one (no card network here)."""
    monkeypatch = pytest.MonkeyPatch()
    settings_env = {"PAYMESH_HOME": str(tmp_path / "home"), "PAYMESH_NOTIFICATIONS_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "PAYMESH_NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS": "127.0.0.1", **(environment or {})}
    for name, value in settings_env.items():
        monkeypatch.setenv(name, value)
    gateway = SimulatedGateway()
    try:
        with ExitStack() as stack:
            webhooks = stack.enter_context(recording_server(default_status=204))
            apps: dict[str, FunctionApp] = {}
            publishers: dict[str, MemoryPublisher] = {}
            for function in FUNCTIONS:
                module = importlib.import_module(f"functions.{function}.app")
                settings = settings_class(function)()
                spec = module.build_spec(settings, gateway) if function == "payments" else module.build_spec(settings)
                store = stack.enter_context(temporary_store(backend, function, spec.migrations, tmp_path))
                publishers[function] = MemoryPublisher()
                apps[function] = build_app(spec, store, settings, publishers[function])
            clients = {name: flask_client(app) for name, app in apps.items()}
            for client in clients.values():
                # A handler's exception reaches the test with its type (functions-framework would answer 500).
                client.application.config["PROPAGATE_EXCEPTIONS"] = True
            VALID_DATA["notifications.notification-requested"]["recipient"] = webhooks.url + "/hook"
            yield World(Mesh(apps, clients, publishers), gateway, webhooks)
    finally:
        monkeypatch.undo()
