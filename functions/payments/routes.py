"""Read-only HTTP routes of the payments function."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from functions.payments import repository
from functions.payments.models import Payment
from shared.contract import Query, Reply, bad_query
from shared.money import format_minor

# The event catalog's Identifier: an id outside it was never stored.
PAYMENT_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")


def _time(value: datetime) -> str:
    # SQLite hands back the naive UTC time it was given
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


def payment_json(payment: Payment) -> dict[str, Any]:
    currency = payment.currency
    return {
        "paymentId": payment.payment_id,
        "status": payment.status,
        "amount": format_minor(payment.amount_minor, currency),
        "currency": currency,
        "refundedAmount": format_minor(payment.refunded_minor, currency),
        "gateway": payment.gateway,
        "gatewayReference": payment.gateway_reference,
        # the reason code of a failed payment (functions/payments/reasons.py), else null
        "reason": payment.failure_reason,
        "createdAt": _time(payment.created_at),
        "updatedAt": _time(payment.updated_at),
    }


def payment_view(q: Query) -> Reply:
    """GET /payments/{payment_id}: the stored payment, or 404."""
    payment_id = q.params["payment_id"]
    if PAYMENT_ID.fullmatch(payment_id) is None:
        raise bad_query("paymentId", "identifier",
                        "paymentId must be 1-128 characters of letters, digits and _ . : -")
    payment = repository.find_payment(q.session, payment_id)
    if payment is None:
        # the id is not echoed: whatever was typed into the path stays out of the answer
        return Reply({"error": "not_found", "message": "no payment with this paymentId"}, 404)
    return Reply(payment_json(payment))


# The 200 body of GET /payments/{paymentId}, for the OpenAPI document.
PAYMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["paymentId", "status", "amount", "currency", "refundedAmount", "gateway", "createdAt",
                 "updatedAt"],
    "properties": {
        "paymentId": {"type": "string"}, "status": {"type": "string"},
        "amount": {"type": "string", "description": "decimal, major units"}, "currency": {"type": "string"},
        "refundedAmount": {"type": "string"}, "gateway": {"type": "string"},
        "gatewayReference": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]},
        "createdAt": {"type": "string", "format": "date-time"}, "updatedAt": {"type": "string", "format": "date-time"},
    },
}
