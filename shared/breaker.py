"""A circuit breaker whose state lives with its caller (e.g. a database row), so it survives restarts.

closed: calls go through and consecutive failures are counted; `failures_to_open` of them open it.
open: calls are refused until `cooldown` has passed since it opened; then one call is let through as a
probe (half-open). The probe's success closes the breaker; its failure opens it again for a cooldown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class BreakerState:
    consecutive_failures: int = 0
    opened_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Breaker:
    failures_to_open: int
    cooldown: timedelta

    def allows(self, state: BreakerState, now: datetime) -> bool:
        """Whether a call may go out now (closed, or open long enough for a probe)."""
        return state.opened_at is None or now - state.opened_at >= self.cooldown

    def probing(self, state: BreakerState, now: datetime) -> BreakerState:
        """Claim the half-open probe: other callers are refused until its outcome is known."""
        if state.opened_at is None:
            return state
        return replace(state, opened_at=now)

    def succeeded(self, state: BreakerState) -> BreakerState:
        return BreakerState()

    def failed(self, state: BreakerState, now: datetime) -> BreakerState:
        failures = state.consecutive_failures + 1
        if state.opened_at is not None or failures >= self.failures_to_open:
            return BreakerState(failures, now)
        return BreakerState(failures, None)

    @staticmethod
    def state_name(state: BreakerState) -> str:
        return "closed" if state.opened_at is None else "open"


class LocalBreaker:
    """A breaker whose state lives in this process (one per provider or gateway, per replica), safe across the
    request threads: `admit()` before a call (False: refuse it without calling), `record(failed)` after it."""

    def __init__(self, breaker: Breaker, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.breaker = breaker
        self.clock = clock
        self.state = BreakerState()
        self._lock = threading.Lock()

    def admit(self) -> bool:
        with self._lock:
            now = self.clock()
            if not self.breaker.allows(self.state, now):
                return False
            self.state = self.breaker.probing(self.state, now)
            return True

    def record(self, *, failed: bool) -> None:
        with self._lock:
            self.state = self.breaker.failed(self.state, self.clock()) if failed else self.breaker.succeeded(self.state)
