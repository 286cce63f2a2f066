"""Every gateway call behind a circuit breaker and as a client span of the delivery's trace.

The breaker (shared/breaker.py) lives in this process's memory: after `failures_to_open` consecutive
unavailable answers it opens, and for `cooldown` every call is refused without reaching the gateway (the
delivery answers 503 and Knative retries later); then one call goes through as a probe. Declines are answers,
not failures: only GatewayUnavailableError counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from functions.payments.gateways import ChargeRequest, Gateway, GatewayResult, GatewayUnavailableError, RefundCall
from functions.payments.metrics import GATEWAY_BREAKER_REFUSALS
from shared.breaker import Breaker, BreakerState
from shared.tracing import span

T = TypeVar("T")


@dataclass
class GuardedGateway:
    """Wraps the configured gateway; the handlers only ever see this."""

    inner: Gateway
    breaker: Breaker
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    name: str = ""
    state: BreakerState = field(default_factory=BreakerState)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        with self._lock:
            now = self.clock()
            if not self.breaker.allows(self.state, now):
                GATEWAY_BREAKER_REFUSALS.labels(self.name).inc()
                raise GatewayUnavailableError("circuit open: the gateway failed repeatedly; not called")
            self.state = self.breaker.probing(self.state, now)
        with span(f"gateway.{operation}", {"paymesh.gateway": self.name}, kind="client"):
            try:
                result = call()
            except GatewayUnavailableError:
                with self._lock:
                    self.state = self.breaker.failed(self.state, self.clock())
                raise
        with self._lock:
            self.state = self.breaker.succeeded(self.state)
        return result

    def authorize(self, request: ChargeRequest) -> GatewayResult:
        return self._call("authorize", lambda: self.inner.authorize(request))

    def capture(self, request: ChargeRequest, reference: str) -> GatewayResult:
        return self._call("capture", lambda: self.inner.capture(request, reference))

    def refund(self, call: RefundCall) -> GatewayResult:
        return self._call("refund", lambda: self.inner.refund(call))
