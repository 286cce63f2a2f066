"""One CloudEvent per function for load tests; `{n}` is replaced by a per-request counter."""

from __future__ import annotations

import json

PAYMENT: dict[str, object] = {
    "paymentId": "pay_{n}", "customerId": "cus_{n}", "merchantId": "mer_bench", "amount": "12.34",
    "currency": "EUR", "method": {"type": "card", "token": "tok_visa", "country": "DE"},
    "billingCountry": "DE"}

TEMPLATES: dict[str, tuple[str, dict[str, object]]] = {
    "empty": ("payments.payment-requested", PAYMENT),
    "noop": ("payments.payment-requested", PAYMENT),
    "payments": ("payments.payment-requested", PAYMENT),
    "ledger": ("ledger.transaction-requested", {
        "transactionId": "txn_{n}", "description": "bench transfer",
        "postings": [{"account": "assets:bench_{n}", "direction": "debit", "amount": "5.00", "currency": "EUR"},
                     {"account": "equity:bench", "direction": "credit", "amount": "5.00", "currency": "EUR"}]}),
    "notifications": ("notifications.notification-requested", {
        "notificationId": "ntf_{n}", "channel": "webhook", "recipient": "{webhook}",
        "body": "bench {n}", "subject": "bench"}),
    "audit": ("audit.payment-events", {
        "service": "payments", "action": "payment.captured", "outcome": "success", "subject": "pay_{n}",
        "details": {"customerId": "cus_{n}", "merchantId": "mer_bench", "amount": "12.34", "currency": "EUR"}}),
}


def body_template(name: str, webhook: str = "") -> tuple[str, str]:
    event_type, data = TEMPLATES[name]
    return event_type, json.dumps(data).replace("{webhook}", webhook)
