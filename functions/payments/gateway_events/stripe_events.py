"""Stripe webhook events -> payments.gateway-event-received. Pure: no HTTP, no SQL, no secrets.

| Stripe event type          | kind              | reference                                  |
|----------------------------|-------------------|--------------------------------------------|
| payment_intent.succeeded   | payment_succeeded | the PaymentIntent id (our gatewayReference) |
| charge.dispute.created     | dispute_opened    | the dispute's payment_intent (else charge)  |
| charge.dispute.closed      | dispute_closed    | as above; outcome from status won / lost    |
| payout.paid                | payout_paid       | the payout id                               |

Any other type is not wanted (None: acknowledged, nothing published). So are inquiries: a dispute whose
status starts with "warning_" (an early fraud inquiry) moves no money until it becomes a real dispute.
Amounts are in the currency's smallest unit, as in ISO 4217 for the currencies paymesh accepts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared.errors import EventError, FieldProblem
from shared.events import GatewayEventKind, GatewayEventReceived
from shared.money import Money, MoneyError

GATEWAY = "stripe"
CREATED_MAX = 32_503_680_000  # year 3000: a later `created` is not a time Stripe sends
KINDS: dict[str, GatewayEventKind] = {
    "payment_intent.succeeded": "payment_succeeded",
    "charge.dispute.created": "dispute_opened",
    "charge.dispute.closed": "dispute_closed",
    "payout.paid": "payout_paid",
}


def bad_event(field: str, rule: str, message: str) -> EventError:
    return EventError.field(400, "invalid_gateway_event", field, rule, message)


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_event(field, "required", f"{field} must be a non-empty string")
    return value


def _money(item: dict[str, Any]) -> Money:
    amount, currency = item.get("amount"), item.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise bad_event("data.object.amount", "integer", "amount must be an integer in the currency's smallest unit")
    if not isinstance(currency, str):
        raise bad_event("data.object.currency", "iso4217", "currency must be a three-letter code")
    try:
        return Money(currency.upper(), amount)
    except MoneyError as error:
        raise bad_event(f"data.object.{'currency' if error.rule == 'iso4217' else 'amount'}", error.rule,
                        str(error)) from None


def translate(event: Any) -> GatewayEventReceived | None:
    """The catalog event for a verified Stripe event, None when it is not wanted; 400 when malformed."""
    if not isinstance(event, dict):
        raise bad_event("body", "object", "a Stripe event is a JSON object")
    kind = KINDS.get(str(event.get("type")))
    if kind is None:
        return None
    event_id = _text(event.get("id"), "id")
    data = event.get("data")
    item = data.get("object") if isinstance(data, dict) else None
    if not isinstance(item, dict):
        raise bad_event("data.object", "object", "data.object must be a JSON object")
    fields: dict[str, Any] = {}
    if kind.startswith("dispute_"):
        status = str(item.get("status", ""))
        if status.startswith("warning_"):
            return None
        reference = item.get("payment_intent") or item.get("charge")
        fields.update(dispute_id=_text(item.get("id"), "data.object.id"), dispute_reason=item.get("reason"),
                      dispute_outcome=(status if status in {"won", "lost"} else None) if kind == "dispute_closed"
                      else None)
    else:
        reference = item.get("id")
    money = _money(item)
    created = event.get("created")
    occurred_at = None
    if isinstance(created, int) and not isinstance(created, bool) and 0 < created < CREATED_MAX:
        occurred_at = datetime.fromtimestamp(created, UTC)
    try:
        return GatewayEventReceived(
            gateway=GATEWAY, gateway_event_id=event_id, gateway_event_type=str(event["type"]), kind=kind,
            reference=_text(reference, "data.object.payment_intent"), amount=money.amount, currency=money.currency,
            **fields, **({"occurred_at": occurred_at} if occurred_at else {}))
    except ValidationError as error:
        problems = [FieldProblem(".".join(str(part) for part in item_error["loc"]) or "data.object",
                                 item_error["type"], item_error["msg"]) for item_error in error.errors()]
        raise EventError(400, "invalid_gateway_event", f"the Stripe event cannot be used: {problems[0].message}",
                         problems) from None
