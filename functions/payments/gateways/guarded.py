"""Every gateway call behind a circuit breaker and as a client span of the delivery's trace.

The breaker (shared/breaker.py) lives in this process's memory: after `failures_to_open` consecutive
unavailable answers it opens, and for `cooldown` every call is refused without reaching the gateway (the
delivery answers 503 and Knative retries later); then one call goes through as a probe. Declines are answers,
not failures: only GatewayUnavailableError counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from functions.payments.gateways import ChargeRequest, Gateway, GatewayResult, GatewayUnavailableError, RefundCall
from functions.payments.metrics import GATEWAY_BREAKER_REFUSALS
from shared.breaker import Breaker, LocalBreaker
from shared.tracing import span

T = TypeVar("T")


@dataclass
class GuardedGateway:
    """Wraps the configured gateway; the handlers only ever see this."""

    inner: Gateway
    breaker: Breaker
    name: str = ""
    guard: LocalBreaker = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name
        self.guard = LocalBreaker(self.breaker)

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        if not self.guard.admit():
            GATEWAY_BREAKER_REFUSALS.labels(self.name).inc()
            raise GatewayUnavailableError("circuit open: the gateway failed repeatedly; not called")
        with span(f"gateway.{operation}", {"paymesh.gateway": self.name}, kind="client"):
            try:
                result = call()
            except GatewayUnavailableError:
                self.guard.record(failed=True)
                raise
        self.guard.record(failed=False)
        return result

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        return self._call("authorize", lambda: self.inner.authorize(request))

    def capture(self, request: ChargeRequest, reference: str) -> GatewayResult:
        return self._call("capture", lambda: self.inner.capture(request, reference))

    def refund(self, call: RefundCall) -> GatewayResult:
        return self._call("refund", lambda: self.inner.refund(call))
