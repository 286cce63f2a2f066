"""audit.payment-events for every decision the payments function makes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from shared.contract import Context, Emit
from shared.events import PaymentAuditEvent
from shared.money import Money

Outcome = Literal["success", "failure", "rejected", "info"]


def audit(ctx: Context, action: str, outcome: Outcome, subject: str, *, customer_id: str | None,
          merchant_id: str | None, amount: Money, reason: str | None = None,
          extra: Mapping[str, Any] | None = None) -> Emit:
    details: dict[str, Any] = {"amount": amount.amount, "currency": amount.currency}
    if customer_id is not None:
        details["customerId"] = customer_id
    if merchant_id is not None:
        details["merchantId"] = merchant_id
    if reason is not None:
        details["reason"] = reason
    details.update({key: value for key, value in (extra or {}).items() if value is not None})
    return Emit(PaymentAuditEvent(service="payments", action=action, outcome=outcome, subject=subject,
                                  correlation_id=ctx.event.correlation_id, occurred_at=ctx.now, details=details))
