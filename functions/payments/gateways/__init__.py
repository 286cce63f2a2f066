"""The gateway adapter interface (after Hyperswitch's connectors): authorize, capture, refund.

Every call carries an idempotency key derived from the payment (or refund) id, so a call repeated after a
lost response (the event is redelivered after a 503) returns the first call's result instead of charging
again. A decline is a result; only a failure worth retrying raises GatewayUnavailableError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from shared.money import Money


class GatewayUnavailableError(Exception):
    """Timeout, connection error, 5xx, processing error: retry later with the same idempotency key."""


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    payment_id: str
    amount: Money
    method_type: Literal["card", "bank_transfer", "wallet"]
    token: str
    customer_id: str
    merchant_id: str
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def idempotency_key(self, step: str) -> str:
        return f"paymesh-{self.payment_id}-{step}"


@dataclass(frozen=True, slots=True)
class GatewayResult:
    approved: bool
    reference: str | None = None
    reason: str | None = None  # a code of reasons.py when not approved
    message: str = ""


@dataclass(frozen=True, slots=True)
class RefundCall:
    refund_id: str
    payment_reference: str
    amount: Money

    @property
    def idempotency_key(self) -> str:
        return f"paymesh-refund-{self.refund_id}"


class Gateway(Protocol):
    name: str

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        """Reserve the amount on the payment method; the result's reference identifies it."""
        ...

    def capture(self, request: ChargeRequest, reference: str) -> GatewayResult:
        """Capture an authorization in full."""
        ...

    def refund(self, call: RefundCall) -> GatewayResult:
        ...
