"""The events a decision emits: the outcome event always first (it is the HTTP reply), then the audit records."""

from __future__ import annotations

from typing import Any

from functions.payments import reasons
from functions.payments.audit import Outcome, audit
from functions.payments.models import Payment
from shared.contract import Context, Emit
from shared.events import (
    PaymentFailed,
    PaymentProcessed,
    PaymentRequested,
    RefundFailed,
    RefundProcessed,
    RefundRequested,
)
from shared.money import Money


def payment_processed(ctx: Context, data: PaymentRequested, *, fee: Money, gateway: str, reference: str,
                      fraud: dict[str, Any], review: list[Emit]) -> list[Emit]:
    """payment-processed, then the `review` audit records (if any), then the payment.captured record."""
    amount = data.money
    net = amount - fee
    processed = PaymentProcessed(
        payment_id=data.payment_id, customer_id=data.customer_id, merchant_id=data.merchant_id,
        amount=amount.amount, currency=amount.currency, fee=fee.to_wire(), net=net.to_wire(),
        gateway=gateway, gateway_reference=reference, processed_at=ctx.now, metadata=data.metadata)
    return [Emit(processed), *review,
            audit(ctx, "payment.captured", "success", data.payment_id, customer_id=data.customer_id,
                  merchant_id=data.merchant_id, amount=amount,
                  extra={"gateway": gateway, "gatewayReference": reference, "fee": fee.amount,
                         "net": net.amount, **fraud})]


def payment_failed(ctx: Context, data: PaymentRequested, *, reason: str, message: str, action: str, gateway: str,
                   fraud: dict[str, Any], review: list[Emit]) -> list[Emit]:
    """payment-failed, then the `review` audit records (if any), then the failure's audit record."""
    failed = PaymentFailed(payment_id=data.payment_id, customer_id=data.customer_id,
                           merchant_id=data.merchant_id, amount=data.amount, currency=data.currency,
                           reason=reason, message=message, failed_at=ctx.now, metadata=data.metadata)
    outcome: Outcome = "rejected" if reason == reasons.FRAUD_DECLINED else "failure"
    return [Emit(failed), *review,
            audit(ctx, action, outcome, data.payment_id, customer_id=data.customer_id,
                  merchant_id=data.merchant_id, amount=data.money, reason=reason,
                  extra={"gateway": gateway, "message": message, **fraud})]


def refund_processed(ctx: Context, data: RefundRequested, payment: Payment, *, refunded_total: Money, status: str,
                     gateway: str, reference: str | None) -> list[Emit]:
    amount = data.money
    processed = RefundProcessed(
        refund_id=data.refund_id, payment_id=data.payment_id, customer_id=payment.customer_id,
        merchant_id=payment.merchant_id, amount=amount.amount, currency=amount.currency,
        refunded_total=refunded_total.amount, gateway=gateway, gateway_reference=reference or "",
        processed_at=ctx.now, metadata=data.metadata)
    return [Emit(processed),
            audit(ctx, "refund.processed", "success", data.payment_id, customer_id=payment.customer_id,
                  merchant_id=payment.merchant_id, amount=amount,
                  extra={"refundId": data.refund_id, "refundedTotal": refunded_total.amount, "status": status,
                         "gateway": gateway, "gatewayReference": reference})]


def refund_failed(ctx: Context, data: RefundRequested, payment: Payment | None, *, reason: str,
                  message: str) -> list[Emit]:
    failed = RefundFailed(refund_id=data.refund_id, payment_id=data.payment_id, amount=data.amount,
                          currency=data.currency, reason=reason, message=message, failed_at=ctx.now,
                          metadata=data.metadata)
    return [Emit(failed),
            audit(ctx, "refund.failed", "failure", data.payment_id,
                  customer_id=payment.customer_id if payment else None,
                  merchant_id=payment.merchant_id if payment else None, amount=data.money, reason=reason,
                  extra={"refundId": data.refund_id, "message": message})]
