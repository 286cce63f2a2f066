"""The four functions in one process for hostile-input tests, with a way to see every side effect.

A side effect is anything a refused event must not leave behind: a row in any table the function owns
(processed_events included), an event published, a call to the payment gateway. Webhook posts and
emails show up as rows first (notifications records a delivery before sending), so rows cover them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.mesh import Mesh, mesh

STATUSES_REFUSED = {400, 413, 415, 422}
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
    "notificationId": "ntf_1", "channel": "email", "recipient": "jane@example.com", "subject": "hello",
    "body": "hello", "variables": {"name": "Jane"}}
AUDIT_EVENT: dict[str, Any] = {
    "service": "payments", "action": "payment.captured", "outcome": "success", "subject": "pay_1",
    "occurredAt": "2026-11-29T10:00:00Z", "details": {"amount": "12.34", "currency": "EUR", "customerId": "cus_1"}}

VALID_DATA: dict[str, dict[str, Any]] = {
    "payments.payment-requested": PAYMENT_REQUESTED,
    "payments.refund-requested": REFUND_REQUESTED,
    "payments.payment-processed": PAYMENT_PROCESSED,
    "payments.payment-failed": PAYMENT_FAILED,
    "payments.refund-processed": REFUND_PROCESSED,
    "ledger.transaction-requested": TRANSACTION_REQUESTED,
    "notifications.notification-requested": NOTIFICATION_REQUESTED,
    "audit.payment-events": AUDIT_EVENT,
    "audit.ledger-events": {**AUDIT_EVENT, "service": "ledger"},
    "audit.notification-events": {**AUDIT_EVENT, "service": "notifications"},
}


def state(world: Mesh, function: str) -> dict[str, int]:
    """Rows per table of `function` plus events it published: equal before and after = no side effect."""
    app = world.apps[function]
    counts = {"published": len(world.publishers[function].events)}
    with app.store.engine.connect() as connection:
        for table in sorted(app.spec.tables | {"processed_events"}):
            counts[table] = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    return counts


def consumers(world: Mesh) -> dict[str, list[str]]:
    """Function -> the types it consumes."""
    return {name: sorted(app.spec.consumes) for name, app in world.apps.items()}


def refusal(response: Any) -> dict[str, Any]:
    """The JSON error of a refused event; fails the test when the answer is not a 4xx naming a field."""
    assert response.status_code in STATUSES_REFUSED, (response.status_code, response.data[:400])
    body: dict[str, Any] = json.loads(response.data)
    assert body["error"] and body["message"] and body.get("field"), body
    return body


@contextmanager
def world(backend: str, tmp_path: Path, environment: Mapping[str, str] | None = None) -> Iterator[Mesh]:
    monkeypatch = pytest.MonkeyPatch()
    settings = {"PAYMESH_HOME": str(tmp_path / "home"), **(environment or {})}
    try:
        with mesh(backend, tmp_path, settings, monkeypatch) as created:
            yield created
    finally:
        monkeypatch.undo()
