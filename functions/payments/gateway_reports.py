"""Handlers of payments.gateway-event-received: what a gateway reported asynchronously (the gateway events
service turns verified Stripe webhooks into this event; see gateway_events/).

- dispute_opened: the payment becomes disputed, a dispute row is claimed, payments.dispute-opened is
  emitted (the ledger holds the amount from the merchant, the merchant is told);
- dispute_closed: won -> the payment returns to where it was; lost -> charged_back with the chargeback fee;
  payments.dispute-closed is emitted either way;
- payment_succeeded: the gateway confirms a capture; audited as confirmed, or as unconfirmed when no
  captured payment of that reference and amount is known;
- payout_paid: the gateway paid out to the bank; audited (the settlement report moves the money in the books).

A report repeated under a new gateway event id (gateways deliver at least once) changes nothing and emits
nothing; a report that cannot be applied is audited with outcome "rejected" and changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.payments import disputes, repository
from functions.payments.audit import Outcome, audit
from functions.payments.models import Dispute, Payment
from functions.payments.settings import PaymentsSettings
from functions.payments.states import PaymentState, check_transition
from shared.contract import Context, Emit
from shared.events import DisputeClosed, DisputeOpened, GatewayEventReceived
from shared.money import Money, format_minor

log = logging.getLogger("paymesh.payments")


class GatewayReportHandlers:
    """Bound by app.py to the function's settings."""

    def __init__(self, settings: PaymentsSettings) -> None:
        self.settings = settings

    def gateway_event_received(self, ctx: Context, data: GatewayEventReceived) -> list[Emit]:
        if data.kind == "dispute_opened":
            return self._dispute_opened(ctx, data)
        if data.kind == "dispute_closed":
            return self._dispute_closed(ctx, data)
        if data.kind == "payment_succeeded":
            return self._payment_succeeded(ctx, data)
        return [self._audit(ctx, data, "gateway.payout_paid", "info", payment=None, subject=data.reference)]

    def _audit(self, ctx: Context, data: GatewayEventReceived, action: str, outcome: Outcome, *,
               payment: Payment | None, subject: str, reason: str | None = None, **extra: Any) -> Emit:
        return audit(ctx, action, outcome, subject,
                     customer_id=payment.customer_id if payment else None,
                     merchant_id=payment.merchant_id if payment else None, amount=data.money, reason=reason,
                     extra={"gateway": data.gateway, "gatewayEventId": data.gateway_event_id,
                            "gatewayEventType": data.gateway_event_type, "gatewayReference": data.reference,
                            "disputeId": data.dispute_id, **extra})

    def _dispute_opened(self, ctx: Context, data: GatewayEventReceived) -> list[Emit]:
        assert data.dispute_id is not None  # the event's own validator requires it
        if repository.lock_dispute(ctx.session, data.dispute_id) is not None:
            log.info("dispute already recorded; nothing done", extra={"dispute_id": data.dispute_id})
            return []
        amount = data.money
        payment = repository.lock_payment_by_reference(ctx.session, data.gateway, data.reference)
        refused = disputes.open_refusal(payment, amount)
        if refused is not None:
            subject = payment.payment_id if payment else data.reference
            return [self._audit(ctx, data, "dispute.rejected", "rejected", payment=payment, subject=subject,
                                reason=refused.reason,
                                message=refused.message)]
        assert payment is not None
        check_transition(payment.status, PaymentState.DISPUTED)
        reason = data.dispute_reason or "general"
        repository.insert_dispute(ctx.session, Dispute(
            dispute_id=data.dispute_id, payment_id=payment.payment_id, amount_minor=amount.minor,
            currency=amount.currency, status="open", reason=reason, opened_at=ctx.now))
        repository.set_payment_status(ctx.session, payment.payment_id, PaymentState.DISPUTED, ctx.now)
        opened = DisputeOpened(
            dispute_id=data.dispute_id, payment_id=payment.payment_id, customer_id=payment.customer_id,
            merchant_id=payment.merchant_id, amount=amount.amount, currency=amount.currency, reason=reason,
            gateway=data.gateway, gateway_reference=data.reference, opened_at=data.occurred_at)
        return [Emit(opened), self._audit(ctx, data, "dispute.opened", "success", payment=payment,
                                          subject=payment.payment_id,
                                          previousStatus=payment.status)]

    def _dispute_closed(self, ctx: Context, data: GatewayEventReceived) -> list[Emit]:
        assert data.dispute_id is not None and data.dispute_outcome is not None
        dispute = repository.lock_dispute(ctx.session, data.dispute_id)
        if dispute is None:
            return [self._audit(ctx, data, "dispute.rejected", "rejected", payment=None,
                                subject=data.reference, reason=disputes.DISPUTE_NOT_FOUND,
                                message="no open dispute has this id")]
        if dispute.status != "open":
            log.info("dispute already closed; nothing done", extra={"dispute_id": dispute.dispute_id})
            return []
        payment = repository.lock_payment(ctx.session, dispute.payment_id)
        assert payment is not None  # a dispute row is only written for a recorded payment
        outcome = data.dispute_outcome
        target = disputes.state_after(payment, outcome)
        fee = disputes.chargeback_fee(self.settings.payments_dispute_fee, dispute.currency, outcome)
        repository.close_dispute(ctx.session, dispute.dispute_id, status=outcome, fee_minor=fee.minor,
                                 closed_at=ctx.now)
        repository.set_payment_status(ctx.session, payment.payment_id, target, ctx.now)
        disputed = Money(dispute.currency, dispute.amount_minor)
        closed = DisputeClosed(
            dispute_id=dispute.dispute_id, payment_id=payment.payment_id, customer_id=payment.customer_id,
            merchant_id=payment.merchant_id, amount=disputed.amount, currency=disputed.currency, outcome=outcome,
            fee=fee.to_wire(), gateway=data.gateway, closed_at=data.occurred_at)
        return [Emit(closed), self._audit(ctx, data, f"dispute.{outcome}", "success", payment=payment,
                                          subject=payment.payment_id,
                                          status=target.value, chargebackFee=fee.amount)]

    def _payment_succeeded(self, ctx: Context, data: GatewayEventReceived) -> list[Emit]:
        payment = repository.lock_payment_by_reference(ctx.session, data.gateway, data.reference)
        if payment is None:
            return [self._audit(ctx, data, "gateway.payment_unconfirmed", "failure", payment=None,
                                subject=data.reference, reason=disputes.PAYMENT_NOT_FOUND)]
        if (payment.currency, payment.amount_minor) != (data.currency, data.money.minor):
            return [self._audit(ctx, data, "gateway.payment_unconfirmed", "failure", payment=payment,
                                subject=payment.payment_id, reason=disputes.AMOUNT_MISMATCH,
                                recordedAmount=format_minor(payment.amount_minor, payment.currency))]
        return [self._audit(ctx, data, "gateway.payment_confirmed", "info", payment=payment,
                            subject=payment.payment_id,
                            status=payment.status)]
