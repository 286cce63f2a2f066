"""Every gateway call as a client span of the delivery's trace (a no-op when tracing is off)."""

from __future__ import annotations

from dataclasses import dataclass

from functions.payments.gateways import ChargeRequest, Gateway, GatewayResult, RefundCall
from shared.tracing import span


@dataclass
class GuardedGateway:
    """Wraps the configured gateway; the handlers only ever see this."""

    inner: Gateway
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.inner.name

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        with span("gateway.authorize", {"paymesh.gateway": self.name}, kind="client"):
            return self.inner.authorize(request)

    def capture(self, request: ChargeRequest, reference: str) -> GatewayResult:
        with span("gateway.capture", {"paymesh.gateway": self.name}, kind="client"):
            return self.inner.capture(request, reference)

    def refund(self, call: RefundCall) -> GatewayResult:
        with span("gateway.refund", {"paymesh.gateway": self.name}, kind="client"):
            return self.inner.refund(call)
