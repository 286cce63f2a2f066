"""PingSources run by the local engine: read from eventing/, cron schedules, and the event Knative sends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paymesh.local.pings import Cron, PingRunner, load_pings, ping_request
from tests.notifications.harness import MakeHarness, harness_factory
from tests.notifications.webhook_support import PROCESSED, processed, register
from tests.support.http_recorder import recording_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[MakeHarness]:
    yield from harness_factory("sqlite", tmp_path)


def test_the_webhook_retry_ping_source_is_read_from_eventing() -> None:
    [ping] = [p for p in load_pings(ROOT / "eventing") if p.name == "notifications-ticks"]
    assert ping.sink == "notifications" and ping.content_type == "application/json"
    assert ping.source == "/apis/v1/namespaces/paymesh/pingsources/notifications-ticks"
    assert all(ping.due(datetime(2026, 11, 29, 17, minute, tzinfo=UTC)) for minute in range(60))


def test_cron_schedules() -> None:
    office = Cron.parse("*/15 9-17 * * 1-5")
    assert office.matches(datetime(2026, 11, 30, 9, 45, tzinfo=UTC))  # a Monday
    assert not office.matches(datetime(2026, 11, 30, 9, 46, tzinfo=UTC))
    assert not office.matches(datetime(2026, 11, 29, 9, 45, tzinfo=UTC))  # a Sunday
    assert Cron.parse("0 0 1 * 0").matches(datetime(2026, 11, 29, 0, 0, tzinfo=UTC))  # Sunday: either day field
    for bad in ("* * * *", "60 * * * *", "*/0 * * * *", "a * * * *"):
        with pytest.raises(ValueError):
            Cron.parse(bad)


def test_a_tick_reaches_its_service_with_knative_attributes() -> None:
    [ping] = [p for p in load_pings(ROOT / "eventing") if p.name == "notifications-ticks"]
    with recording_server(204) as service:
        runner = PingRunner([ping], {"notifications": service.url})
        runner.tick(datetime(2026, 11, 29, 17, 0, tzinfo=UTC))
        runner.stop()
    [request] = service.requests
    assert request.headers["ce-type"] == "dev.knative.sources.ping"
    assert request.headers["ce-source"] == ping.source
    assert request.headers["ce-time"] == "2026-11-29T17:00:00Z"
    assert request.body == b'{"tick":"webhook-retries"}'
    assert runner.sent == [("notifications-ticks", 204)]


def test_the_manifest_tick_sends_due_webhook_retries(make_harness: MakeHarness) -> None:
    [ping] = [p for p in load_pings(ROOT / "eventing") if p.name == "notifications-ticks"]
    app = make_harness(notifications_webhook_retry_schedule="0.01")
    with recording_server(200) as hook:
        hook.statuses = [502]
        register(app, hook.url + "/h")
        app.post(PROCESSED, processed("pay_1"), event_id="e1")
        time.sleep(0.05)  # the retry is due 0.01 s after the failed attempt
        headers, body = ping_request(ping, datetime.now(UTC))
        response = app.client.post("/", data=body, headers=headers)
    assert response.status_code in {200, 204}, response.data
    assert [r.status for r in hook.requests] == [502, 200]
