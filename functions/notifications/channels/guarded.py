"""A provider channel (email, SMS, push) behind a circuit breaker and as a client span of the delivery's trace.

The breaker (shared/breaker.py) lives in this process's memory. After `failures_to_open` consecutive transient
failures of the provider it opens: sends are answered "provider_unavailable" without calling the provider (the
delivery answers 503 and Knative retries it later, as it would after a failed call), until one send goes through
as a probe after the cooldown. A permanent refusal (a bad address) is an answer from a working provider.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from functions.notifications import metrics
from functions.notifications.channels import Channel, Message, Outcome, Undelivered
from shared.breaker import Breaker, BreakerState
from shared.tracing import span


@dataclass
class GuardedChannel:
    inner: Channel
    breaker: Breaker
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    name: str = ""
    state: BreakerState = field(default_factory=BreakerState)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    def configured(self) -> str | None:
        return self.inner.configured()

    def send(self, message: Message) -> Outcome:
        with self._lock:
            now = self.clock()
            if not self.breaker.allows(self.state, now):
                metrics.PROVIDER_BREAKER_REFUSALS.labels(self.name).inc()
                return Undelivered(permanent=False, reason="provider_unavailable",
                                   error=f"circuit open: the {self.name} provider failed repeatedly; not called")
            self.state = self.breaker.probing(self.state, now)
        with span(f"provider.{self.name}", {"paymesh.channel": self.name}, kind="client"):
            outcome = self.inner.send(message)
        with self._lock:
            failed = isinstance(outcome, Undelivered) and not outcome.permanent
            self.state = self.breaker.failed(self.state, self.clock()) if failed else self.breaker.succeeded(self.state)
        return outcome
