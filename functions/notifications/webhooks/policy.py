"""When to try a webhook message again, and how fast an endpoint may be called (token bucket)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_AFTER_MAX = timedelta(days=1)
STEP_MAX_SECONDS = 7 * 86400.0


def parse_schedule(text: str) -> tuple[float, ...]:
    """'5,300,1800' -> (5.0, 300.0, 1800.0); ValueError unless every step is a positive number."""
    problem = "must be positive numbers of seconds, comma-separated, e.g. 5,300,1800"
    try:
        steps = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(problem) from None
    if not steps or not all(0 < step <= STEP_MAX_SECONDS for step in steps):  # also refuses nan and inf
        raise ValueError(problem + f" (each at most {STEP_MAX_SECONDS:.0f})")
    return steps


def next_attempt(schedule: tuple[float, ...], failed_steps: int, now: datetime,
                 retry_after: timedelta | None) -> datetime | None:
    """After `failed_steps` failures: when to try again, or None when the schedule is used up."""
    if failed_steps > len(schedule):
        return None
    delay = timedelta(seconds=schedule[failed_steps - 1])
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
    return now + delay


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as delay-seconds or an HTTP date; None when absent or malformed."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return timedelta(seconds=min(int(value[:9]), int(RETRY_AFTER_MAX.total_seconds())))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(moment - now, timedelta(0))


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket holding up to `rate` tokens (one second's worth), refilled at `rate` per second."""

    tokens: float
    at: datetime | None

    def take(self, rate: int, now: datetime) -> tuple[bool, Bucket]:
        """Take one token if there is one: (taken, the bucket after)."""
        elapsed = (now - self.at).total_seconds() if self.at is not None else float(rate)
        tokens = min(float(rate), self.tokens + max(elapsed, 0.0) * rate)
        if tokens >= 1.0:
            return True, Bucket(tokens - 1.0, now)
        return False, Bucket(tokens, now)
