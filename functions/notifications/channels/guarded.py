"""A provider channel (email, SMS, push) behind a circuit breaker and as a client span of the delivery's trace.

The breaker (shared/breaker.py) lives in this process's memory. After `failures_to_open` consecutive transient
failures of the provider it opens: sends are answered "provider_unavailable" without calling the provider (the
delivery answers 503 and Knative retries it later, as it would after a failed call), until one send goes through
as a probe after the cooldown. A permanent refusal (a bad address) is an answer from a working provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from functions.notifications import metrics
from functions.notifications.channels import Channel, Message, Outcome, Undelivered
from shared.breaker import Breaker, LocalBreaker
from shared.tracing import span


@dataclass
class GuardedChannel:
    inner: Channel
    breaker: Breaker
    name: str = ""
    guard: LocalBreaker = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name
        self.guard = LocalBreaker(self.breaker)

    def configured(self) -> str | None:
        return self.inner.configured()

    def send(self, message: Message) -> Outcome:
        if not self.guard.admit():
            metrics.PROVIDER_BREAKER_REFUSALS.labels(self.name).inc()
            return Undelivered(permanent=False, reason="provider_unavailable",
                               error=f"circuit open: the {self.name} provider failed repeatedly; not called")
        with span(f"provider.{self.name}", {"paymesh.channel": self.name}, kind="client"):
            outcome = self.inner.send(message)
        self.guard.record(failed=isinstance(outcome, Undelivered) and not outcome.permanent)
        return outcome
