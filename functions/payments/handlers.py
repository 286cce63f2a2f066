"""The payments handlers: payment-requested -> fraud rules -> gateway -> payment-processed | payment-failed,
and refund-requested -> refund-processed | refund-failed. Every decision is audited.

A paymentId (refundId) is a business key: a new event reusing a recorded one charges (refunds) nothing; with
the same parameters it is a harmless duplicate (204), with other parameters a 422 idempotency_conflict
naming the fields (conflicts.py says what the parameters are). A redelivery of one event is answered by the
runtime with its stored outcome. The whole event is validated before the gateway is asked, and the key is
claimed (its row inserted) first, so a concurrent request for the same key waits for this one to end.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from functions.payments import conflicts, outcomes, reasons, refunds, repository
from functions.payments.audit import audit
from functions.payments.fees import FeeSchedule
from functions.payments.fraud import Assessment, FraudInput, assess, window_start
from functions.payments.gateways import ChargeRequest, Gateway, GatewayUnavailableError, RefundCall
from functions.payments.metrics import PAYMENTS_FAILED, PAYMENTS_PROCESSED, PROCESSING_SECONDS
from functions.payments.models import Payment, Refund
from functions.payments.pan import reject_pans
from functions.payments.settings import PaymentsSettings
from functions.payments.states import PaymentState, check_transition
from functions.payments.validation import check_amount
from shared.contract import Context, Emit
from shared.errors import TransientError
from shared.events import PaymentRequested, RefundRequested
from shared.money import Money

log = logging.getLogger("paymesh.payments")


def transition(payment: Payment, target: PaymentState, ctx: Context) -> None:
    """Apply a state change to the record being built, or raise IllegalTransitionError leaving it untouched."""
    payment.status = check_transition(payment.status, target)
    payment.updated_at = ctx.now


def _reused(ctx: Context, key: str, value: str, differing: list[str]) -> list[Emit]:
    """A new event for a recorded paymentId/refundId: nothing is done; other parameters are refused (422)."""
    fields = {"key": key, "key_value": value, "event_id": ctx.event.id}
    if differing:
        log.warning("business key reused with other parameters; refused", extra={**fields, "differing": differing})
        raise conflicts.conflict(key, differing)
    log.warning("business key already recorded with the same parameters; nothing done", extra=fields)
    return []


class PaymentHandlers:
    """Bound by app.py to the function's settings and its gateway."""

    def __init__(self, settings: PaymentsSettings, gateway: Gateway) -> None:
        self.settings = settings
        self.gateway = gateway
        self.fees = FeeSchedule(settings.payments_fee_percent_bps, settings.payments_fee_fixed)

    # ---- payments.payment-requested -------------------------------------------------------------

    def payment_requested(self, ctx: Context, data: PaymentRequested) -> list[Emit]:
        started = time.perf_counter()
        reject_pans(data.model_dump(mode="json", by_alias=True))
        amount = data.money
        check_amount(self.settings, amount)
        recorded = (repository.find_payment(ctx.session, data.payment_id)
                    if repository.payment_recorded(ctx.session, data.payment_id) else None)
        if recorded is not None:
            return _reused(ctx, "paymentId", data.payment_id, conflicts.payment_conflicts(recorded, data))
        method = data.method
        window = repository.recent_activity(ctx.session, data.customer_id, amount.currency,
                                            window_start(self.settings, ctx.now))
        assessment = assess(self.settings, FraudInput(data.customer_id, amount, method.country,
                                                      data.billing_country, method.bin), window)
        payment = Payment(
            payment_id=data.payment_id, customer_id=data.customer_id, merchant_id=data.merchant_id,
            amount_minor=amount.minor, currency=amount.currency, status=PaymentState.REQUESTED,
            method_type=method.type, card_brand=method.brand, card_last4=method.last4, card_country=method.country,
            card_bin=method.bin, method_token_sha256=conflicts.token_digest(method.token),
            billing_country=data.billing_country, gateway=self.gateway.name, fraud_score=assessment.score,
            fraud_decision=assessment.decision, fraud_rules=",".join(assessment.rules),
            created_at=ctx.now, updated_at=ctx.now,
        )
        repository.insert_payment(ctx.session, payment)  # the claim: a concurrent request for this id waits here
        try:
            emits = self._decide(ctx, data, payment, assessment)
        finally:
            PROCESSING_SECONDS.observe(time.perf_counter() - started)
        repository.finish_payment(ctx.session, payment)
        return emits

    def _decide(self, ctx: Context, data: PaymentRequested, payment: Payment, assessment: Assessment) -> list[Emit]:
        amount = data.money
        fraud: dict[str, Any] = {"fraudScore": assessment.score, "fraudDecision": assessment.decision,
                                 "fraudRules": list(assessment.rules)}
        if assessment.decision == "decline":
            return self._fail(ctx, data, payment, reason=reasons.FRAUD_DECLINED,
                              message=f"declined by fraud rules: {', '.join(assessment.rules)}",
                              action="fraud.declined", fraud=fraud, review=[])
        review: list[Emit] = []
        if assessment.decision == "review":
            review.append(audit(ctx, "fraud.review", "info", data.payment_id, customer_id=data.customer_id,
                                merchant_id=data.merchant_id, amount=amount, extra=fraud))
        request = ChargeRequest(
            payment_id=data.payment_id, amount=amount, method_type=data.method.type, token=data.method.token,
            customer_id=data.customer_id, merchant_id=data.merchant_id, description=data.description,
            metadata={"paymentId": data.payment_id, "customerId": data.customer_id,
                      "merchantId": data.merchant_id})
        try:
            authorization = self.gateway.authorize(request)
            payment.gateway_reference = authorization.reference
            if not authorization.approved or authorization.reference is None:
                return self._fail(ctx, data, payment, reason=authorization.reason or reasons.CARD_DECLINED,
                                  message=authorization.message, action="payment.failed", fraud=fraud, review=review)
            transition(payment, PaymentState.AUTHORIZED, ctx)
            capture = self.gateway.capture(request, authorization.reference)
        except GatewayUnavailableError as error:
            raise TransientError(f"gateway {self.gateway.name} unavailable: {error}") from None
        if not capture.approved:
            return self._fail(ctx, data, payment, reason=capture.reason or reasons.GATEWAY_REJECTED,
                              message=capture.message, action="payment.failed", fraud=fraud, review=review)
        transition(payment, PaymentState.CAPTURED, ctx)
        fee = self.fees.fee(amount)
        payment.fee_minor, payment.net_minor = fee.minor, (amount - fee).minor
        reference = capture.reference or authorization.reference
        payment.gateway_reference = reference
        ctx.after_commit(PAYMENTS_PROCESSED.inc)
        return outcomes.payment_processed(ctx, data, fee=fee, gateway=self.gateway.name, reference=reference,
                                          fraud=fraud, review=review)

    def _fail(self, ctx: Context, data: PaymentRequested, payment: Payment, *, reason: str, message: str,
              action: str, fraud: dict[str, Any], review: list[Emit]) -> list[Emit]:
        transition(payment, PaymentState.FAILED, ctx)
        payment.failure_reason = reason
        ctx.after_commit(PAYMENTS_FAILED.labels(reason).inc)
        return outcomes.payment_failed(ctx, data, reason=reason, message=message, action=action,
                                       gateway=self.gateway.name, fraud=fraud, review=review)

    # ---- payments.refund-requested --------------------------------------------------------------

    def refund_requested(self, ctx: Context, data: RefundRequested) -> list[Emit]:
        reject_pans(data.model_dump(mode="json", by_alias=True))
        recorded = repository.find_refund(ctx.session, data.refund_id)
        if recorded is not None:
            return _reused(ctx, "refundId", data.refund_id, conflicts.refund_conflicts(recorded, data))
        amount = data.money
        refund = Refund(refund_id=data.refund_id, payment_id=data.payment_id, amount_minor=amount.minor,
                        currency=amount.currency, status="requested", reason=data.reason,
                        gateway=self.gateway.name, created_at=ctx.now)
        repository.insert_refund(ctx.session, refund)  # the claim: a concurrent request for this id waits here
        payment = repository.lock_payment(ctx.session, data.payment_id)
        refused = refunds.refusal(payment, amount)
        if refused is not None:
            return self._refund_failed(ctx, data, refund, payment, reason=refused.reason, message=refused.message)
        assert payment is not None
        target = refunds.next_state(payment, amount)  # an illegal change is refused before the gateway is asked
        try:
            result = self.gateway.refund(RefundCall(data.refund_id, payment.gateway_reference or "", amount))
        except GatewayUnavailableError as error:
            raise TransientError(f"gateway {self.gateway.name} unavailable: {error}") from None
        if not result.approved:
            return self._refund_failed(ctx, data, refund, payment, reason=result.reason or reasons.REFUND_DECLINED,
                                       message=result.message)
        refunded = Money(payment.currency, payment.refunded_minor + amount.minor)
        repository.record_refund(ctx.session, payment.payment_id, status=target, refunded_minor=refunded.minor,
                                 updated_at=ctx.now)
        refund.status = "processed"
        refund.gateway_reference = result.reference
        repository.finish_refund(ctx.session, refund)
        return outcomes.refund_processed(ctx, data, payment, refunded_total=refunded, status=target,
                                         gateway=self.gateway.name, reference=result.reference)

    def _refund_failed(self, ctx: Context, data: RefundRequested, refund: Refund, payment: Payment | None,
                       *, reason: str, message: str) -> list[Emit]:
        refund.status = "failed"
        refund.failure_reason = reason
        repository.finish_refund(ctx.session, refund)
        return outcomes.refund_failed(ctx, data, payment, reason=reason, message=message)
