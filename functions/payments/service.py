"""The payments handlers: payment-requested -> fraud rules -> gateway -> payment-processed | payment-failed,
and refund-requested -> refund-processed | refund-failed. Every decision is audited.

A payment id is a business key: a second request for a payment id already in the store (a new event,
not a redelivery, which the runtime answers itself) charges nothing and emits nothing; it is logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from functions.payments import reasons
from functions.payments.audit import Outcome, audit
from functions.payments.fees import FeeSchedule
from functions.payments.fraud import Assessment, FraudInput, evaluate
from functions.payments.gateways import ChargeRequest, Gateway, GatewayUnavailableError, RefundCall
from functions.payments.metrics import PAYMENTS_FAILED, PAYMENTS_PROCESSED, PROCESSING_SECONDS
from functions.payments.models import Payment, Refund
from functions.payments.pan import reject_pans
from functions.payments.states import REFUNDABLE, PaymentState, check_transition
from functions.payments.validation import check_amount
from shared.contract import Context, Emit
from shared.errors import TransientError
from shared.events import (
    PaymentFailed,
    PaymentProcessed,
    PaymentRequested,
    RefundFailed,
    RefundProcessed,
    RefundRequested,
)
from shared.money import Money

if TYPE_CHECKING:
    from functions.payments.app import PaymentsSettings

log = logging.getLogger("paymesh.payments")


def transition(payment: Payment, target: PaymentState, ctx: Context) -> None:
    """Apply a state change, or raise IllegalTransitionError leaving the record untouched."""
    payment.status = check_transition(payment.status, target)
    payment.updated_at = ctx.now


@dataclass
class Payments:
    settings: PaymentsSettings
    gateway: Gateway

    @property
    def fees(self) -> FeeSchedule:
        return FeeSchedule(self.settings.payments_fee_percent_bps, self.settings.payments_fee_fixed)

    # ---- payments -------------------------------------------------------------------------------

    def handle_payment(self, ctx: Context, data: PaymentRequested) -> list[Emit]:
        started = time.perf_counter()
        reject_pans(data.model_dump(mode="json", by_alias=True))
        amount = data.money
        check_amount(self.settings, amount)
        if ctx.session.get(Payment, data.payment_id) is not None:
            log.warning("payment id already recorded; nothing charged",
                        extra={"payment_id": data.payment_id, "event_id": ctx.event.id})
            return []
        method = data.method
        fraud_input = FraudInput(data.customer_id, amount, method.country, data.billing_country, method.bin)
        assessment = evaluate(ctx.session, self.settings, fraud_input, ctx.now)
        payment = Payment(
            payment_id=data.payment_id, customer_id=data.customer_id, merchant_id=data.merchant_id,
            amount_minor=amount.minor, currency=amount.currency, status=PaymentState.REQUESTED,
            method_type=method.type, card_brand=method.brand, card_last4=method.last4, card_country=method.country,
            billing_country=data.billing_country, gateway=self.gateway.name, fraud_score=assessment.score,
            fraud_decision=assessment.decision, fraud_rules=",".join(assessment.rules),
            created_at=ctx.now, updated_at=ctx.now,
        )
        ctx.session.add(payment)
        try:
            emits = self._decide(ctx, data, payment, assessment)
        finally:
            PROCESSING_SECONDS.observe(time.perf_counter() - started)
        ctx.session.flush()
        return emits

    def _decide(self, ctx: Context, data: PaymentRequested, payment: Payment, assessment: Assessment) -> list[Emit]:
        amount = data.money
        fraud: dict[str, Any] = {"fraudScore": assessment.score, "fraudDecision": assessment.decision,
                 "fraudRules": list(assessment.rules)}
        if assessment.decision == "decline":
            return self._fail(ctx, data, payment, reason=reasons.FRAUD_DECLINED,
                              message=f"declined by fraud rules: {', '.join(assessment.rules)}",
                              action="fraud.declined", fraud=fraud)
        emits: list[Emit] = []
        if assessment.decision == "review":
            emits.append(audit(ctx, "fraud.review", "info", data.payment_id, customer_id=data.customer_id,
                               merchant_id=data.merchant_id, amount=amount, extra=fraud))
        request = ChargeRequest(
            payment_id=data.payment_id, amount=amount, method_type=data.method.type, token=data.method.token,
            customer_id=data.customer_id, merchant_id=data.merchant_id, description=data.description,
            metadata={"paymentId": data.payment_id, "customerId": data.customer_id,
                      "merchantId": data.merchant_id})
        try:
            authorization = self.gateway.authorize(request)
            if not authorization.approved or authorization.reference is None:
                reason = authorization.reason or reasons.CARD_DECLINED
                payment.gateway_reference = authorization.reference
                return emits + self._fail(ctx, data, payment, reason=reason, message=authorization.message,
                                          action="payment.failed", fraud=fraud)
            payment.gateway_reference = authorization.reference
            transition(payment, PaymentState.AUTHORIZED, ctx)
            capture = self.gateway.capture(request, authorization.reference)
        except GatewayUnavailableError as error:
            raise TransientError(f"gateway {self.gateway.name} unavailable: {error}") from None
        if not capture.approved:
            reason = capture.reason or reasons.GATEWAY_REJECTED
            return emits + self._fail(ctx, data, payment, reason=reason, message=capture.message,
                                      action="payment.failed", fraud=fraud)
        transition(payment, PaymentState.CAPTURED, ctx)
        fee = self.fees.fee(amount)
        net = amount - fee
        payment.fee_minor, payment.net_minor = fee.minor, net.minor
        reference = capture.reference or authorization.reference
        payment.gateway_reference = reference
        ctx.after_commit(PAYMENTS_PROCESSED.inc)
        processed = PaymentProcessed(
            payment_id=data.payment_id, customer_id=data.customer_id, merchant_id=data.merchant_id,
            amount=amount.amount, currency=amount.currency, fee=fee.to_wire(), net=net.to_wire(),
            gateway=self.gateway.name, gateway_reference=reference, processed_at=ctx.now, metadata=data.metadata)
        return [Emit(processed), *emits,
                audit(ctx, "payment.captured", "success", data.payment_id, customer_id=data.customer_id,
                      merchant_id=data.merchant_id, amount=amount,
                      extra={"gateway": self.gateway.name, "gatewayReference": reference, "fee": fee.amount,
                             "net": net.amount, **fraud})]

    def _fail(self, ctx: Context, data: PaymentRequested, payment: Payment, *, reason: str, message: str,
              action: str, fraud: dict[str, Any]) -> list[Emit]:
        transition(payment, PaymentState.FAILED, ctx)
        payment.failure_reason = reason
        ctx.after_commit(PAYMENTS_FAILED.labels(reason).inc)
        failed = PaymentFailed(payment_id=data.payment_id, customer_id=data.customer_id,
                               merchant_id=data.merchant_id, amount=data.amount, currency=data.currency,
                               reason=reason, message=message, failed_at=ctx.now, metadata=data.metadata)
        outcome: Outcome = "rejected" if reason == reasons.FRAUD_DECLINED else "failure"
        return [Emit(failed),
                audit(ctx, action, outcome, data.payment_id, customer_id=data.customer_id,
                      merchant_id=data.merchant_id, amount=data.money, reason=reason,
                      extra={"gateway": self.gateway.name, "message": message, **fraud})]

    # ---- refunds --------------------------------------------------------------------------------

    def handle_refund(self, ctx: Context, data: RefundRequested) -> list[Emit]:
        reject_pans(data.model_dump(mode="json", by_alias=True))
        if ctx.session.get(Refund, data.refund_id) is not None:
            log.warning("refund id already recorded; nothing refunded",
                        extra={"refund_id": data.refund_id, "event_id": ctx.event.id})
            return []
        amount = data.money
        payment = ctx.session.exec(
            select(Payment).where(Payment.payment_id == data.payment_id).with_for_update()).first()
        refund = Refund(refund_id=data.refund_id, payment_id=data.payment_id, amount_minor=amount.minor,
                        currency=amount.currency, status="failed", reason=data.reason, gateway=self.gateway.name,
                        created_at=ctx.now)
        ctx.session.add(refund)
        if payment is None:
            return self._refund_failed(ctx, data, refund, None, reason=reasons.PAYMENT_NOT_FOUND,
                                       message="no such payment")
        if payment.currency != amount.currency:
            return self._refund_failed(ctx, data, refund, payment, reason=reasons.CURRENCY_MISMATCH,
                                       message=f"the payment is in {payment.currency}")
        if payment.status not in REFUNDABLE:
            return self._refund_failed(ctx, data, refund, payment, reason=reasons.PAYMENT_NOT_REFUNDABLE,
                                       message=f"the payment is {payment.status}")
        refundable = payment.amount_minor - payment.refunded_minor
        if amount.minor > refundable:
            left = Money(payment.currency, refundable)
            return self._refund_failed(ctx, data, refund, payment, reason=reasons.AMOUNT_EXCEEDS_REFUNDABLE,
                                       message=f"at most {left} can still be refunded")
        target = PaymentState.REFUNDED if amount.minor == refundable else PaymentState.PARTIALLY_REFUNDED
        check_transition(payment.status, target)  # an illegal change is refused before the gateway is asked
        try:
            result = self.gateway.refund(RefundCall(data.refund_id, payment.gateway_reference or "", amount))
        except GatewayUnavailableError as error:
            raise TransientError(f"gateway {self.gateway.name} unavailable: {error}") from None
        if not result.approved:
            return self._refund_failed(ctx, data, refund, payment, reason=result.reason or reasons.REFUND_DECLINED,
                                       message=result.message)
        transition(payment, target, ctx)
        payment.refunded_minor += amount.minor
        refund.status = "processed"
        refund.gateway_reference = result.reference
        ctx.session.flush()
        total = Money(payment.currency, payment.refunded_minor)
        processed = RefundProcessed(
            refund_id=data.refund_id, payment_id=data.payment_id, customer_id=payment.customer_id,
            merchant_id=payment.merchant_id, amount=amount.amount, currency=amount.currency,
            refunded_total=total.amount, gateway=self.gateway.name, gateway_reference=result.reference or "",
            processed_at=ctx.now, metadata=data.metadata)
        return [Emit(processed),
                audit(ctx, "refund.processed", "success", data.payment_id, customer_id=payment.customer_id,
                      merchant_id=payment.merchant_id, amount=amount,
                      extra={"refundId": data.refund_id, "refundedTotal": total.amount, "status": payment.status,
                             "gateway": self.gateway.name, "gatewayReference": result.reference})]

    def _refund_failed(self, ctx: Context, data: RefundRequested, refund: Refund, payment: Payment | None,
                       *, reason: str, message: str) -> list[Emit]:
        refund.failure_reason = reason
        ctx.session.flush()
        failed = RefundFailed(refund_id=data.refund_id, payment_id=data.payment_id, amount=data.amount,
                              currency=data.currency, reason=reason, message=message, failed_at=ctx.now,
                              metadata=data.metadata)
        return [Emit(failed),
                audit(ctx, "refund.failed", "failure", data.payment_id,
                      customer_id=payment.customer_id if payment else None,
                      merchant_id=payment.merchant_id if payment else None, amount=data.money, reason=reason,
                      extra={"refundId": data.refund_id, "message": message})]
