"""A reused business key: a harmless duplicate, or a conflict refused with 422 idempotency_conflict.

A paymentId (refundId) names one charge (refund). A new CloudEvent reusing a recorded id -- not a
redelivery, which the runtime answers with the stored outcome -- is compared with the record, the way
Stripe compares a reused idempotency key with the request it first came with:

- the same parameters: a harmless duplicate; nothing is charged or emitted (204);
- other parameters: refused (422), naming every field that differs; nothing is charged or emitted.

"The parameters" are what decides the money movement, and nothing else:
- payment-requested: customerId, merchantId, amount (compared in minor units, so "100" equals "100.00"),
  currency, billingCountry and the payment method's type, token, bin, last4, brand and country. The token
  is compared through its SHA-256 and never echoed. Payments recorded before migration 0002 kept no token
  digest or BIN; theirs are not compared.
- refund-requested: paymentId, amount and currency.
Descriptive fields are not parameters: description, customerEmail and metadata of a payment, reason and
metadata of a refund. A request differing only there is a duplicate.
"""

from __future__ import annotations

import hashlib

from functions.payments.models import Payment, Refund
from shared.errors import EventError, FieldProblem
from shared.events import PaymentRequested, RefundRequested

RULE = "idempotency_conflict"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def payment_conflicts(recorded: Payment, data: PaymentRequested) -> list[str]:
    """The fields (wire paths) in which `data` differs from the recorded payment of its paymentId."""
    amount, method = data.money, data.method
    compared: list[tuple[str, object, object]] = [
        ("customerId", recorded.customer_id, data.customer_id),
        ("merchantId", recorded.merchant_id, data.merchant_id),
        ("amount", recorded.amount_minor, amount.minor),
        ("currency", recorded.currency, amount.currency),
        ("billingCountry", recorded.billing_country, data.billing_country),
        ("method.type", recorded.method_type, method.type),
    ]
    if recorded.method_token_sha256 is not None:
        compared += [("method.token", recorded.method_token_sha256, token_digest(method.token)),
                     ("method.bin", recorded.card_bin, method.bin)]
    compared += [("method.last4", recorded.card_last4, method.last4),
                 ("method.brand", recorded.card_brand, method.brand),
                 ("method.country", recorded.card_country, method.country)]
    return [f"data.{name}" for name, was, now in compared if was != now]


def refund_conflicts(recorded: Refund, data: RefundRequested) -> list[str]:
    """The fields (wire paths) in which `data` differs from the recorded refund of its refundId."""
    amount = data.money
    compared: list[tuple[str, object, object]] = [
        ("paymentId", recorded.payment_id, data.payment_id),
        ("amount", recorded.amount_minor, amount.minor),
        ("currency", recorded.currency, amount.currency),
    ]
    return [f"data.{name}" for name, was, now in compared if was != now]


def conflict(key: str, fields: list[str]) -> EventError:
    """422: `key` was first used with other parameters. Names the fields, never their values."""
    names = ", ".join(field.removeprefix("data.") for field in fields)
    message = f"this {key} was already used with other parameters; they differ in: {names}"
    problems = [FieldProblem(field, RULE, f"differs from the request that first used this {key}")
                for field in fields]
    return EventError(422, RULE, message, problems)
