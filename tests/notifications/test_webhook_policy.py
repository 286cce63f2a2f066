"""The pure parts of merchant webhooks: retry schedule, Retry-After, token bucket, circuit breaker, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from functions.notifications.settings import NotificationsSettings
from functions.notifications.webhooks.policy import Bucket, next_attempt, parse_retry_after, parse_schedule
from shared.breaker import Breaker, BreakerState

NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)


def test_schedule_steps_then_none() -> None:
    schedule = parse_schedule("5,300, 1800")
    assert schedule == (5.0, 300.0, 1800.0)
    assert next_attempt(schedule, 1, NOW, None) == NOW + timedelta(seconds=5)
    assert next_attempt(schedule, 3, NOW, None) == NOW + timedelta(seconds=1800)
    assert next_attempt(schedule, 4, NOW, None) is None
    # Retry-After lengthens a step, never shortens it, and is capped at a day
    assert next_attempt(schedule, 1, NOW, timedelta(seconds=60)) == NOW + timedelta(seconds=60)
    assert next_attempt(schedule, 2, NOW, timedelta(seconds=60)) == NOW + timedelta(seconds=300)
    assert next_attempt(schedule, 1, NOW, timedelta(days=9)) == NOW + timedelta(days=1)
    for bad in ("", "5,-1", "0", "soon", "nan", "inf", "5,1e9"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_a_bad_schedule_stops_start_up() -> None:
    with pytest.raises(ValidationError, match="seconds"):
        NotificationsSettings(notifications_webhook_retry_schedule="5,soon")
    assert NotificationsSettings().retry_schedule == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert NotificationsSettings().notifications_endpoint_disable_after == timedelta(days=5)


def test_retry_after_as_seconds_or_http_date() -> None:
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after("Sun, 29 Nov 2026 18:10:00 GMT", NOW) == timedelta(minutes=10)
    assert parse_retry_after("Sun, 29 Nov 2026 17:00:00 GMT", NOW) == timedelta(0)
    for ignored in (None, "", "soon", "-5", "١٢"):
        assert parse_retry_after(ignored, NOW) is None


def test_token_bucket() -> None:
    bucket = Bucket(tokens=2.0, at=None)
    taken = []
    for _ in range(3):
        ok, bucket = bucket.take(2, NOW)
        taken.append(ok)
    assert taken == [True, True, False]
    ok, bucket = bucket.take(2, NOW + timedelta(milliseconds=500))  # one token back after half a second at 2/s
    assert ok
    ok, _ = bucket.take(2, NOW + timedelta(milliseconds=600))
    assert not ok


def test_breaker_opens_refuses_then_lets_one_probe_through() -> None:
    breaker = Breaker(failures_to_open=2, cooldown=timedelta(seconds=30))
    state = breaker.failed(BreakerState(), NOW)
    assert breaker.allows(state, NOW) and breaker.state_name(state) == "closed"
    state = breaker.failed(state, NOW)
    assert breaker.state_name(state) == "open" and not breaker.allows(state, NOW + timedelta(seconds=29))
    later = NOW + timedelta(seconds=30)
    assert breaker.allows(state, later)
    probing = breaker.probing(state, later)
    assert not breaker.allows(probing, later + timedelta(seconds=1))  # one probe at a time
    assert breaker.state_name(breaker.failed(probing, later)) == "open"  # a failed probe opens it again
    assert breaker.succeeded(probing) == BreakerState()
