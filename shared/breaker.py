"""A circuit breaker whose state lives with its caller (e.g. a database row), so it survives restarts.

closed: calls go through and consecutive failures are counted; `failures_to_open` of them open it.
open: calls are refused until `cooldown` has passed since it opened; then one call is let through as a
probe (half-open). The probe's success closes the breaker; its failure opens it again for a cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta


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
